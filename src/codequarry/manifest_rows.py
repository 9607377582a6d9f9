"""Files only the manifest reads get their ``files`` row from the parent, in bulk, not one worker task each.

A corpus's data files (``.txt``, test data, images, archives, ``.so``) are read by no extractor but
the manifest (``core.files``): their whole output is one ``files`` row (size, mtime, sha256, language,
line count). Sent to the workers they cost a task each (a read, a buffer per table begun, a share of
a chunk, of its Parquet parts and of its result's trip back), and at 100 copies of the standard
library they were ~65,000 tasks and ~900 small parts. The parent reads them instead, in the same
thread pool that hashes the reuse candidates (reads and sha256 release the GIL), and the run writes
their rows as a few parts.

A row here is the worker's row: the file is read the same way (``reading.read_file``: size and mtime
of the open file, the sha256 of the bytes read), its line count and binary sniff are the worker's,
and the selected manifest extractor itself makes the row. Any file this path cannot serve exactly as
a worker would (unreadable, over ``--max-file-size``, refused by the guarded opener, an extractor
error) goes back to the worklist, where the worker writes its errors row as before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import pyarrow as pa

from codequarry.api import FileExtractor, Outputs
from codequarry.corpus_io import hash_stream, open_corpus, os_path
from codequarry.datasets import File
from codequarry.engine.reading import read_file, text_lines
from codequarry.engine.worker import FileTask
from codequarry.schema import RowBuffer

HASH_THREADS = 4  # reads and sha256 release the GIL: threads overlap them on every core
HASH_BATCH = 32  # files a thread reads per future (a future per file cost ~50 us of parent CPU)

T = TypeVar("T")


@dataclass(frozen=True)
class ReadFile:
    """What the manifest row of one file needs from its bytes (the bytes themselves are not kept)."""

    sha256: str
    size: int
    lines: int | None
    mtime_ns: int


def read_one(task: FileTask, max_size: int) -> ReadFile | None:
    """Read ``task``'s file as a worker would; None when only a worker can serve it (unreadable,
    grown over ``max_size`` since the scan, binary content in a Python file when no Python extractor
    is selected): its errors row is the worker's to write."""
    try:
        data, sha, size, _lines, mtime_ns = read_file(task.root, task.path, max_size)
    except OSError:
        return None
    if data is None or sha is None:
        return None
    lines = text_lines(data)
    if lines is None and task.language == "python":  # skipped with an errors row: the worker's
        return None
    return ReadFile(sha, size, lines, mtime_ns)


def build_rows(
    manifest: FileExtractor, tasks: list[FileTask], read: dict[int, ReadFile]
) -> tuple[pa.RecordBatch | None, list[FileTask]]:
    """The ``files`` rows of ``tasks`` (those ``read`` holds), made by the manifest's extractor in
    (repo, path) order; and the tasks left to the workers (not read, or the extractor failed)."""
    buf = RowBuffer(File)
    failures: list[tuple[str, str]] = []
    view = Outputs({File.name: buf}, lambda *args: failures.append(("", "")))
    back: list[FileTask] = []
    for t in sorted(tasks, key=lambda t: (t.repo, t.path)):
        got = read.get(t.key)
        if got is None:
            back.append(t)
            continue
        src = t.source(None, got.sha256, got.size, got.mtime_ns, got.lines)
        mark = buf.n
        buf.begin_file(t.key, (t.repo, t.path, got.sha256))
        try:
            manifest.func(src, view)
        except Exception:  # the worker runs it again and records why it failed
            buf.truncate(mark)
            back.append(t)
            continue
        if failures:  # an error the extractor reported: the worker's to record
            failures.clear()
            buf.truncate(mark)
            back.append(t)
    batch, problems = buf.build()  # a value the schema refuses drops its file's rows here...
    bad = {key for key, *_ in problems}
    back += [t for t in tasks if t.key in bad]  # ...and the worker records why
    return batch, back


def read_pass(
    tasks: list[FileTask], only: list[FileTask], max_size: int
) -> tuple[dict[int, str], dict[int, ReadFile]]:
    """One pass of the thread pool over the files (reads and sha256 release the GIL, so both cores
    work): the sha256 of each of ``tasks`` by task key, and what the manifest row of each of
    ``only`` needs (manifest_rows.read_one). A file that cannot be read (or whose size moved since
    the scan) is left out and extracted as usual: the worker says what is wrong with it.

    Hard links are read once: a file with more than one link is recorded by its :data:`Ident`
    (device, inode, size, mtime and ctime) once read, and another path whose ``lstat`` gives the same
    ident takes what was read without opening it (see :class:`_Links`)."""

    links = _Links()

    def one(t: FileTask) -> tuple[int, str | None]:
        ident, known = links.known(t, links.sums)
        if known is not None and ident is not None:
            return t.key, known if t.size == ident[2] else None
        try:
            fh, st = open_corpus(t.root, t.path)
            with fh:
                sha, size = hash_stream(fh)
        except OSError:
            return t.key, None
        if st.st_nlink > 1 and size == st.st_size:
            links.sums[ident_of(st)] = sha
        return t.key, sha if size == t.size else None

    hashes: dict[int, str] = {}
    read: dict[int, ReadFile] = {}
    if not tasks and not only:
        return hashes, read

    def read_linked(t: FileTask) -> ReadFile | None:
        ident, known = links.known(t, links.reads)
        if known is not None:
            return known if known.size <= max_size else None
        got = read_one(t, max_size)
        if got is not None and ident is not None and (got.size, got.mtime_ns) == ident[2:4]:
            links.reads[ident] = got
        return got

    def reads(batch: list[FileTask]) -> list[tuple[int, ReadFile | None]]:
        return [(t.key, read_linked(t)) for t in batch]

    def sums(batch: list[FileTask]) -> list[tuple[int, str | None]]:
        return [one(t) for t in batch]

    with ThreadPoolExecutor(max_workers=min(HASH_THREADS, len(tasks) + len(only))) as pool:
        got = [pool.submit(reads, only[i : i + HASH_BATCH]) for i in range(0, len(only), HASH_BATCH)]
        got_sums = [pool.submit(sums, tasks[i : i + HASH_BATCH]) for i in range(0, len(tasks), HASH_BATCH)]
        read = {k: r for f in got for k, r in f.result() if r is not None}
        hashes = {k: h for f in got_sums for k, h in f.result() if h is not None}
    return hashes, read


#: what identifies one state of one file: device, inode, size, mtime_ns, ctime_ns
Ident = tuple[int, int, int, int, int]


def ident_of(st: os.stat_result) -> Ident:
    """The :data:`Ident` of a file from its ``stat``."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass
class _Links:
    """What one read pass read of each file with several hard links, by :data:`Ident`.

    Sound because two paths with the same device and inode are one file: its bytes are the same
    through either name at any instant, and any write to it moves its mtime and ctime (ctime cannot be
    set back by a user). A path whose ``lstat`` gives an ident recorded here therefore has the bytes
    that were read under another name during this run, after the scan: what reading it again would
    give unless it was written in between, and then its ident is another. ``lstat`` does not follow a
    final symlink (its ident is the link's own, never a regular file's), and a name reached through
    a folder swapped for a symlink only finds a file this pass read already through the guarded
    opener; such a file is not read again, so nothing outside the roots is read. Files with one link
    are not recorded (no other name can find them). Threads share the dicts: a lookup and a store
    are single operations under the GIL, and two threads reading one file at once only both read it."""

    sums: dict[Ident, str] = field(default_factory=dict)
    reads: dict[Ident, ReadFile] = field(default_factory=dict)

    def known(self, t: FileTask, seen: Mapping[Ident, T]) -> tuple[Ident | None, T | None]:
        """``t``'s ident (None: one link, or not a regular file) and what was read under it."""
        try:
            st = os.lstat(os_path(t.root, t.path))
        except (OSError, ValueError):
            return None, None
        if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
            return None, None
        ident = ident_of(st)
        return ident, seen.get(ident)

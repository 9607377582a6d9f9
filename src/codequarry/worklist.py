"""The worklist of a run: the scanned manifest as file tasks, compared with the store's last snapshot.

One place decides what a run must do with the files, for ``quarry extract`` (under the store's writer
lock, after the scan and after the tables are prepared) and for ``quarry plan`` (a read-only preview
against the live snapshot). It cannot be part of the resolved :class:`~codequarry.plan.Plan`: the
snapshot it compares with is only stable while the run holds the lock.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping

from codequarry.api import FileExtractor
from codequarry.corpus_io import os_path
from codequarry.engine.worker import FileTask
from codequarry.incremental import WorkPlan, plan_work
from codequarry.language import AMBIGUOUS, is_ambiguous, refine, refine_read
from codequarry.manifest_rows import Ident, ident_of
from codequarry.scan import Manifest, ScannedFile, SourceRoot, module_names
from codequarry.store import Snapshot, Store

_AMBIGUOUS = tuple(AMBIGUOUS)  # the extensions whose language the content settles


def manifest_tasks(manifest: Manifest) -> list[FileTask]:
    """One task per scanned file, with its language (refined from content when the name is not
    enough) and its module name (a file not importable by a name gets its stem)."""
    modules = module_names(manifest.files)
    sniffed: Sniffed = {}
    return [file_task(key, f, modules, sniffed) for key, f in enumerate(manifest.files)]


#: the languages sniffed from the content of files with several hard links, by the file's device,
#: inode, size, mtime and ctime (manifest_rows.Ident) and by what its name says (the name's language
#: and base name: they choose how the content is read)
Sniffed = dict[tuple[Ident, str | None, str], str | None]


def file_task(
    key: int,
    f: ScannedFile,
    modules: Mapping[tuple[str, str], tuple[str | None, bool]],
    sniffed: Sniffed | None = None,
) -> FileTask:
    """The task of the scanned file ``f`` (``modules``: ``scan.module_names`` of the whole listing;
    ``sniffed``: the languages read from the content of hard-linked files so far, see
    :func:`_sniff`)."""
    language = f.language
    # (the ending test first: is_ambiguous splits the path, ~10 us a file of 10^5)
    if (language is None and f.size > 0) or (f.path.lower().endswith(_AMBIGUOUS) and is_ambiguous(f.path)):
        language = _sniff(f, sniffed) if sniffed is not None else refine(f.root, f.path, language)
    mod, is_pkg = modules.get((f.repo, f.path), (None, False))
    if language == "python" and mod is None:
        # not importable by this name (a script, 'audit-tests.py'): the file's stem stands in
        mod = f.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] if f.language else f.path.rsplit("/", 1)[-1]
    return FileTask(
        key=key,
        repo=f.repo,
        root=f.root,
        path=f.path,
        size=f.size,
        mtime_ns=f.mtime_ns,
        language=language,
        module=mod,
        is_package=is_pkg,
    )


def _sniff(f: ScannedFile, sniffed: Sniffed) -> str | None:
    """``language.refine`` of ``f``, read once per file with several hard links: the ident (device,
    inode, size, mtime, ctime) of what was read is recorded, and another name whose ``lstat`` gives
    the same ident takes that language without being opened (100 hard-linked copies of the standard
    library: ~400 extension-less files a copy sniffed once, not 100 times). Sound for the reasons
    manifest_rows._Links gives: two names of one inode are one file, any write moves its mtime and
    ctime, and a name reached through a folder swapped for a symlink only finds a file already read
    through the guarded opener. A file that could not be read is not recorded."""
    name = f.path.rsplit("/", 1)[-1]
    try:
        st = os.lstat(os_path(f.root, f.path))
    except (OSError, ValueError):
        st = None
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        key = (ident_of(st), f.language, name)
        if key in sniffed:
            return sniffed[key]
    language, read = refine_read(f.root, f.path, f.language)
    if read is not None and read.st_nlink > 1:
        sniffed[(ident_of(read), f.language, name)] = language
    return language


#: what makes a run's tasks from its listing: :func:`source_tasks` by default; `quarry watch` passes
#: one that keeps the last listing's tasks and makes only the changed files' again
TasksFn = Callable[[list[SourceRoot], Manifest], tuple[list[FileTask], set[str]]]


def source_tasks(sources: Iterable[SourceRoot], manifest: Manifest) -> tuple[list[FileTask], set[str]]:
    """The manifest's tasks, a source given as one file of its repo keeping that file alone; and the
    repos so scoped."""
    scoped = {s.repo: s.scope for s in sources if s.scope is not None}
    tasks = [t for t in manifest_tasks(manifest) if t.repo not in scoped or t.path == scoped[t.repo]]
    return tasks, set(scoped)


def worklist(
    store: Store,
    previous: Snapshot | None,
    sources: Iterable[SourceRoot],
    manifest: Manifest,
    extractors: list[FileExtractor],
    *,
    forced: set[str] | None = None,
    known: Mapping[str, FileExtractor] | None = None,
    tasks: TasksFn | None = None,
) -> WorkPlan:
    """What each extractor must do with the scanned files against ``previous`` (see incremental.py):
    ``forced`` extractors run on every file, ``known`` are the declarations of the catalog (a dropped
    extractor's languages say which rows of a shared table are its own)."""
    sources = list(sources)
    todo, scoped = (tasks or source_tasks)(sources, manifest)
    return plan_work(
        store,
        previous,
        todo,
        [s.repo for s in sources],
        extractors,
        forced=forced or set(),
        known=known,
        scoped=scoped,
    )

"""Which (repo, path) keys each live part of a table holds, kept beside the store for the next run.

A one-file `quarry extract` names the changed file in every per-file table (its old rows must go
wherever they are), and without this record it must open each table's Delta log and read the key
columns of the parts that may hold the file: 22 tables opened for a file whose rows live in ten.
``quarry watch`` keeps these keys in memory (store/warm.py); a CLI run reads them from
``keys/<table>.json`` instead, written by the run that committed the table's latest version:

    {"digest": D, "format": 1, "version": V, "log": [inode, mtime_ns, size], "rows": N, "schema": "...",
     "parts": {"part-....parquet": {"size": S, "mtime": M, "rows": R, "keys": {repo: [path, ...]}}}}

``D`` is the digest (BLAKE2b-128, hex) of the record's text after it: a record edited by hand or by
another tool is not trusted. ``schema`` (optional) is the table's Arrow schema at that version, as
the Delta log gives it (Arrow IPC, base64): with it, the operations' reads of the table
(``store.live_dataset``) need no ``DeltaTable`` either (store/keyfile.py).

The record is a cache, never the truth. It is used only when all of this holds, and otherwise the
run takes the full path (which opens the table, and writes the record again after its commit):

- it is readable JSON of this format whose digest (of the text after it) matches, and names the
  version the live snapshot names for the table, with the rows the snapshot records;
- that version's log entry is the same file (inode, mtime, size) it was when the record was written,
  and no later entry exists (any other commit: a compaction, ``quarry repos remove``, a rollback of a
  killed run, ``quarry doctor --repair``, a ``quarry watch`` batch, moves the version on);
- every part it names is on disk with the size and mtime it had.

A table none of whose parts holds a dropped key then needs no Delta work at all; for the others the
parts to rewrite are known without reading, and the table's live parts are compared with the record
before anything is committed. Files are written by renaming a temporary file, without fsync: a torn
or lost record only sends the next run down the full path.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from codequarry.parts import Replacement, RepoKeys
from codequarry.store.keyfile import (
    FOLDER,
    FORMAT,
    Ident,
    encode,
    forget_remembered,
    ident,
    is_current,
    parts_unchanged,
    path_of,
    read_record,
    recall,
    remember,
)
from codequarry.store.warm import Key

__all__ = ["FOLDER", "FORMAT", "IndexedPart", "KeyIndex", "forget", "keys_of_part", "load", "path_of", "save"]
#: a table of more live parts gets no record (reading every part's keys would cost a run more than
#: the record saves; compaction keeps tables below this)
MAX_INDEXED = 512


@dataclass(frozen=True, eq=False)
class IndexedPart:
    """One live part: its file's size and mtime, its rows, and the paths of its rows by repo (as the
    record holds them: a run looks up the few dropped keys in them, the key pairs are made only when
    asked for)."""

    size: int
    mtime: int  # st_mtime_ns of the part file
    rows: int
    paths: dict[str, frozenset[str]]  # repo -> the paths of its rows in the part

    @classmethod
    def of(cls, size: int, mtime: int, rows: int, keys: frozenset[Key]) -> IndexedPart:
        if isinstance(keys, RepoKeys):  # grouped by its writer
            part = cls(size, mtime, rows, keys.by_repo)
            part.__dict__["keys"] = keys
            return part
        repos = {repo for repo, _ in keys}
        if len(repos) == 1:  # the usual part: one repo's (a chunk and a copy hold one repo's files)
            by_repo = {repos.pop(): frozenset(path for _, path in keys)}
        else:
            paths: dict[str, set[str]] = {}
            for repo, path in keys:
                paths.setdefault(repo, set()).add(path)
            by_repo = {repo: frozenset(ps) for repo, ps in paths.items()}
        part = cls(size, mtime, rows, by_repo)
        part.__dict__["keys"] = keys  # what ``keys`` would make
        return part

    @cached_property
    def keys(self) -> frozenset[Key]:
        return frozenset((repo, path) for repo, ps in self.paths.items() for path in ps)

    @property
    def repos(self) -> frozenset[str]:
        return frozenset(r for r, ps in self.paths.items() if ps)

    def __len__(self) -> int:  # how many keys
        return sum(len(ps) for ps in self.paths.values())


@dataclass(frozen=True)
class KeyIndex:
    """The live parts of one version of a table, with the keys each holds."""

    version: int
    log: Ident
    parts: dict[str, IndexedPart]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts.values())

    def hit(self, rel: str, rep: Replacement) -> tuple[str, frozenset[Key]]:
        """What ``rep`` does to part ``rel``: ("keep", ∅), ("remove", its keys: every row goes),
        ("rewrite", the keys that go) or ("read", ∅: rows go by extractor; the part must be read)."""
        part = self.parts[rel]
        repos = part.repos
        if repos and repos <= rep.repos:
            return "remove", part.keys
        if any(rep.extractors.get(r) for r in repos):
            return "read", frozenset()
        gone: list[Key] = []
        for repo, paths in part.paths.items():
            if repo in rep.repos:
                gone += ((repo, p) for p in paths)
            elif dropped := rep.keys.get(repo):
                gone += ((repo, p) for p in paths & dropped)  # the smaller set is the one walked
        if not gone:
            return "keep", frozenset()
        return ("remove" if len(gone) == len(part) else "rewrite"), frozenset(gone)

    def untouched_by(self, rep: Replacement | None) -> bool:
        """Does ``rep`` leave every row of this version in place?"""
        return rep is None or all(self.hit(rel, rep)[0] == "keep" for rel in self.parts)


def load(store_path: Path, table_path: Path, name: str, version: int, rows: int) -> KeyIndex | None:
    """The record of table ``name`` if it describes ``version`` (holding ``rows``) and is still
    true of the files on disk (see the module docstring); None otherwise."""
    try:
        got = _parse(read_record(path_of(store_path, name)))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if got is None or got.version != version or got.rows != rows:
        return None
    if not is_current(table_path, version, got.log):
        return None
    if not parts_unchanged(table_path, {rel: (p.size, p.mtime) for rel, p in got.parts.items()}):
        return None
    return got


def _parse(doc: Any) -> KeyIndex | None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    version, log, parts = doc["version"], doc["log"], doc["parts"]
    if not isinstance(version, int) or not isinstance(parts, dict):
        return None
    if not (isinstance(log, list) and len(log) == 3 and all(isinstance(x, int) for x in log)):
        return None
    out = {}
    for rel, p in parts.items():
        paths = {str(repo): frozenset(map(str, ps)) for repo, ps in p["keys"].items() if ps}
        out[str(rel)] = IndexedPart(int(p["size"]), int(p["mtime"]), int(p["rows"]), paths)
    if doc.get("rows") != sum(p.rows for p in out.values()):
        return None
    return KeyIndex(version=version, log=(log[0], log[1], log[2]), parts=out)


def save(
    store_path: Path,
    table_path: Path,
    name: str,
    version: int,
    parts: Mapping[str, tuple[int, frozenset[Key]] | IndexedPart],
    schema: Any = None,
) -> KeyIndex | None:
    """Record ``parts`` (file -> (rows, keys), or the part as the record of the version before
    named it: a part carried over, whose file never changes) as the live parts of ``version`` of
    table ``name``, which this run has just committed (under the writer lock), and ``schema`` (a
    pyarrow schema: the table's at that version) when given. Nothing is recorded if a new file or
    the log entry cannot be stat'ed; any earlier record is removed first. Returns the record
    written (None: none)."""
    target = path_of(store_path, name)
    forget(store_path, name)
    log = ident(table_path, version)
    if log is None:
        return None
    doc_parts: dict[str, Any] = {}
    recorded: dict[str, IndexedPart] = {}
    for rel, got in sorted(parts.items()):
        if isinstance(got, IndexedPart):
            part = got
        else:
            try:
                st = os.stat(table_path / rel)
            except OSError:
                return None
            part = IndexedPart.of(st.st_size, st.st_mtime_ns, got[0], got[1])
        by_repo = {repo: sorted(paths) for repo, paths in sorted(part.paths.items())}
        doc_parts[rel] = {"size": part.size, "mtime": part.mtime, "rows": part.rows, "keys": by_repo}
        recorded[rel] = part
    doc = {
        "format": FORMAT,
        "version": version,
        "log": list(log),
        "rows": sum(p.rows for p in recorded.values()),
        "parts": doc_parts,
    }
    if schema is not None:
        doc["schema"] = base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(encode(doc), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:  # a cache: a full disk only costs the next run the full path
        with contextlib.suppress(OSError):
            tmp.unlink()
    return KeyIndex(version=version, log=log, parts=recorded)


def keep(table_path: Path, idx: KeyIndex | None, schema: Any) -> None:
    """Keep ``idx`` (a record of ``table_path`` true now: a version this run's commit replaced or
    made) with its pyarrow ``schema`` for the run's reads of that version (:func:`kept`,
    ``keyfile.live_listing``); nothing without a schema."""
    if idx is not None and schema is not None:
        parts = {rel: (p.size, p.mtime) for rel, p in idx.parts.items()}
        remember(table_path, idx.version, idx.log, parts, schema.serialize().to_pybytes(), (idx, schema))


def kept(table_path: Path, version: int) -> tuple[KeyIndex, Any] | None:
    """The record kept for ``version`` of ``table_path`` and its schema, while that version's log
    entry is the file it was and every part is on disk as recorded; None otherwise."""
    got = recall(table_path, version)
    return None if got is None else got[2]


def forget_kept() -> None:
    """Drop what the last run kept (a new run's commit starts)."""
    forget_remembered()


def forget(store_path: Path, name: str) -> None:
    with contextlib.suppress(OSError):
        path_of(store_path, name).unlink()


def keys_of_part(full: str, stats: str | None = None) -> frozenset[Key] | None:
    """The keys of the part at ``full``: from its Delta statistics when they name one repo and one
    path (a one-file change writes such parts), else from its two key columns (None: it has none)."""
    if stats:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            doc = json.loads(stats)
            lo, hi = doc.get("minValues") or {}, doc.get("maxValues") or {}
            repo, path = lo.get("repo"), lo.get("path")
            if (
                isinstance(repo, str)
                and isinstance(path, str)
                and hi.get("repo") == repo
                and hi.get("path") == path
            ) and not (doc.get("nullCount") or {}).get("path"):
                return frozenset({(repo, path)})
    import pyarrow.parquet as pq

    from codequarry.store.warm import keys_of

    pf = pq.ParquetFile(full)
    if not {"repo", "path"} <= set(pf.schema_arrow.names):
        return None
    keys = keys_of(pf.read(columns=["repo", "path"])).keys
    return None if any(r is None or p is None for r, p in keys) else keys

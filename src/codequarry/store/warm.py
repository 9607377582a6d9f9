"""What a long-lived writer (``quarry watch``) keeps warm between its runs, table by table.

A batch of ``quarry watch`` changes a file or two, yet a cold run opens every table's Delta log, lists
its parts and reads the key columns of each part whose path range may hold a changed file (parts are
cut per worker chunk, so on a cold store every range spans the tree). Kept in memory instead:

- a DeltaTable handle per table at its latest version, brought forward with ``update_incremental``
  (which reads the new commits only), with the live parts of that version (file, size, rows);
- the (repo, path) keys each part holds. A part never changes once written, so its two key columns
  are read once and serve every later run; a part this process writes without some rows (a rewrite)
  is given its keys without a read;
- the whole rows of parts read recently (least recently used leave first, :data:`MAX_BYTES` in all):
  a part being rewritten is cut from memory, and operations read their inputs from here
  (codequarry.partcache);
- which keys each version committed here changed (its dropped and added files), so that operations
  find their changed files without reading what the version removed and added
  (partitions.changed_files). Versions of maintenance commits (OPTIMIZE, VACUUM), which keep every
  row, are recorded as changing none.

Nothing is trusted blindly: before a handle is used, the log entry of the version it holds must be the
same file (inode, mtime, size) it was (a table rebuilt by ``quarry doctor --repair``, or moved aside,
starts a new log: the table is opened anew), and commits made since by anyone are read. The same
check guards each recorded change. Off unless :func:`enable` is called: a one-run process would only
hold memory longer. Thread-safe: operations of one DAG layer read in threads.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake.transaction import RemoveAction

from codequarry.errors import StoreError
from codequarry.parts import WRITE_OPTIONS
from codequarry.store.keyfile import Ident as Ident  # re-exported: the log entry helpers live in keyfile
from codequarry.store.keyfile import ident as ident
from codequarry.store.keyfile import log_entry as log_entry
from codequarry.store.store import FIX, arrow_table, first_line, odd_log_entry

MAX_BYTES = 512 * 1024 * 1024  # whole rows of parts kept in memory
MAX_PARTS_KEYED = 200_000  # parts whose keys are kept
MAX_CHANGES = 8192  # recorded versions
#: Delta operations that keep every row of a table (compaction's rewrite, vacuum's bookkeeping)
SAME_ROWS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})

Key = tuple[str, str]  # (repo, path)

_lock = threading.RLock()
_enabled = False
_tables: dict[str, WarmTable] = {}
_keys: OrderedDict[str, PartKeys | None] = OrderedDict()
_rows: OrderedDict[str, pa.Table] = OrderedDict()
_rows_size = 0
_changes: OrderedDict[tuple[str, int], tuple[Ident, frozenset[Key]]] = OrderedDict()


def enable(on: bool = True) -> None:
    """Keep tables warm between runs (``quarry watch`` calls this once); off: forget everything."""
    global _enabled, _rows_size
    with _lock:
        _enabled = on
        if not on:
            _tables.clear()
            _keys.clear()
            _rows.clear()
            _changes.clear()
            _rows_size = 0


def enabled() -> bool:
    return _enabled


def open_table(path: Path) -> Any:
    """The latest version of the table at ``path``; None if there is none; a StoreError naming the
    table if its log cannot be read (deltalake may even panic on a damaged log)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    odd = odd_log_entry(path)  # a FIFO there held the run forever
    if odd:
        raise StoreError(f"table '{path.name}' of store '{path.parent.parent}' is damaged: {odd}; {FIX}")
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise StoreError(
            f"table '{path.name}' of store '{path.parent.parent}' is damaged: its log cannot be "
            f"read ({first_line(exc)}); {FIX}"
        ) from None


@dataclass(frozen=True)
class LivePart:
    size: int
    rows: int


@dataclass(frozen=True)
class PartKeys:
    keys: frozenset[Key]
    repos: frozenset[str]


class WarmTable:
    """A table's handle at its latest version and the live parts of that version."""

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self.folder = str(path)
        self.handle = handle
        self.version = -1
        self.id: Ident | None = None
        self.parts: dict[str, LivePart] = {}
        self.rows = 0
        self.schema: pa.Schema | None = None
        #: the parts of the versions before (operations compare with the version they last saw)
        self.past: OrderedDict[int, tuple[Ident | None, list[str], pa.Schema | None]] = OrderedDict()
        #: the handle lags behind ``version`` (this process's own last commit, whose parts are known
        #: from its actions): it reads that commit at the next refresh (``catch_up``, when idle)
        self.stale = False
        self._load()

    def full(self, rel: str) -> str:
        return f"{self.folder}/{rel}"

    def parts_at(self, version: int) -> tuple[list[str], pa.Schema | None] | None:
        """The live parts (relative paths) and schema of ``version``, if this handle saw it."""
        if version == self.version:
            return list(self.parts), self.schema
        got = self.past.get(version)
        if got is None or got[0] is None or ident(self.folder, version) != got[0]:
            return None
        return list(got[1]), got[2]

    def _remember(self) -> None:
        if self.version >= 0:
            self.past[self.version] = (self.id, list(self.parts), self.schema)
            while len(self.past) > 8:
                self.past.popitem(last=False)

    def _load(self) -> None:
        """Read the live parts of the handle's version from its state (no file is read)."""
        self._remember()
        old = self.version
        self.version = self.handle.version()
        self.id = ident(self.folder, self.version)
        self.stale = False
        #: the rows read from the log were compared with the snapshot's (RunWriter, once per load)
        self.checked = False
        actions = arrow_table(self.handle.get_add_actions(flatten=True))
        cols = actions.column_names
        n = actions.num_rows
        sizes = actions.column("size_bytes").to_pylist() if "size_bytes" in cols else [0] * n
        counts = actions.column("num_records").to_pylist() if "num_records" in cols else [0] * n
        paths = actions.column("path").to_pylist() if n else []
        self.parts = {
            p: LivePart(int(s or 0), int(c or 0)) for p, s, c in zip(paths, sizes, counts, strict=True)
        }
        self.rows = sum(p.rows for p in self.parts.values())
        if self.schema is None or self.version != old:
            self.schema = pa.schema(self.handle.schema().to_arrow())

    def refresh(self) -> bool:
        """Bring the handle to the latest version; False when the table is no longer the one the
        handle read (open it anew)."""
        if ident(self.folder, self.version) != self.id:
            return False
        if not os.path.lexists(log_entry(self.folder, self.version + 1)):
            return True  # (a stale handle lags only behind this process's own commit, known)
        before = self.version
        self.handle.update_incremental()
        self._load()
        _note_maintenance(self, before)
        return True

    def commit(self, actions: list[Any], schema: Any) -> None:
        """Commit ``actions`` as the next version. The live parts follow from the actions (records
        from their stats); the handle reads the commit later (``catch_up``) when the log holds
        exactly that one new entry, as it must under the writer lock."""
        if self.stale:  # the handle must stand at the version it commits after
            self.handle.update_incremental()
            if self.handle.version() != self.version:
                self._load()
                raise StoreError(f"table '{self.path.name}' changed under this process; run again")
            self.stale = False
        self.handle.create_write_transaction(actions, mode="append", schema=schema)
        nxt = self.version + 1
        if not os.path.lexists(log_entry(self.folder, nxt)) or os.path.lexists(
            log_entry(self.folder, nxt + 1)
        ):
            self.handle.update_incremental()  # not the log this process expects: read it
            self._load()
            return
        self._remember()
        parts = dict(self.parts)
        for action in actions:
            if isinstance(action, RemoveAction):
                parts.pop(action.path, None)
            else:
                parts[action.path] = LivePart(int(action.size), records_in(action.stats))
        self.parts = parts
        self.rows = sum(p.rows for p in parts.values())
        self.version = nxt
        self.id = ident(self.folder, nxt)
        self.stale = True


def records_in(stats: str | None) -> int:
    """numRecords of an add action's statistics (0 when it has none, as count_rows counts it)."""
    try:
        got = json.loads(stats or "{}").get("numRecords")
    except (ValueError, AttributeError):
        return 0
    return int(got) if isinstance(got, int) else 0


def _note_maintenance(table: WarmTable, before: int) -> None:
    """Record the versions after ``before`` that maintenance made as changing no row."""
    try:
        history = table.handle.history(limit=table.version - before)
    except Exception:  # history is an optimisation here: without it, the parts are compared
        return
    for commit in history:
        version = commit.get("version")
        if isinstance(version, int) and before < version and str(commit.get("operation")) in SAME_ROWS:
            record(table.folder, version, frozenset())


def table(path: Path) -> WarmTable | None:
    """The table at ``path`` at its latest version (warm when it can be); None when it has none."""
    key = str(path)
    with _lock:
        got = _tables.get(key)
        if got is not None:
            try:
                if got.refresh():
                    return got
            except Exception:  # a damaged new commit: opened anew below, which names the damage
                pass
            del _tables[key]
        handle = open_table(path)
        if handle is None:
            return None
        got = WarmTable(path, handle)
        if _enabled:
            _tables[key] = got
        return got


def part_keys(full: str) -> PartKeys | None:
    """The (repo, path) keys of the part at ``full`` (None: its table has no such columns). Read
    once per part (two columns); OSError / ArrowException when it cannot be read."""
    with _lock:
        if full in _keys:
            _keys.move_to_end(full)
            return _keys[full]
    cached = cached_rows(full)
    if cached is not None:
        data = cached
    else:
        pf = pq.ParquetFile(full)
        names = pf.schema_arrow.names
        data = pf.read(columns=["repo", "path"]) if "repo" in names and "path" in names else None
    got = keys_of(data) if data is not None and {"repo", "path"} <= set(data.column_names) else None
    remember_keys(full, got)
    return got


def part_values(full: str, columns: tuple[str, ...]) -> frozenset[tuple[Any, ...]] | None:
    """The distinct values of ``columns`` in the part at ``full`` (None: it lacks one), read once
    per part: which parts hold an operation's output keys."""
    key = f"{full}\0{','.join(columns)}"
    with _lock:
        if key in _keys:
            _keys.move_to_end(key)
            got = _keys[key]
            return got.keys if got is not None else None
    data = cached_rows(full)
    if data is None:
        pf = pq.ParquetFile(full)
        data = pf.read(columns=list(columns)) if set(columns) <= set(pf.schema_arrow.names) else None
    if data is None or not set(columns) <= set(data.column_names):
        remember_keys(key, None)
        return None
    distinct = data.select(list(columns)).group_by(list(columns)).aggregate([])
    values = frozenset(zip(*(distinct.column(c).to_pylist() for c in columns), strict=True))
    remember_keys(key, PartKeys(keys=values, repos=frozenset()))
    return values


def write_rows(folder: str, data: pa.Table) -> tuple[str, int, str]:
    """Write ``data`` as a new part of the table at ``folder`` (not committed): its file name,
    size and Delta statistics (the records; min/max of repo and path when it has them)."""
    import uuid

    import pyarrow.compute as pc

    file = f"part-w{uuid.uuid4().hex[:16]}.snappy.parquet"
    full = f"{folder}/{file}"
    pq.write_table(data, full, compression="snappy", **WRITE_OPTIONS)
    stats: dict[str, Any] = {"numRecords": data.num_rows}
    cols = [
        c
        for c in ("repo", "path")
        if c in data.column_names and pa.types.is_string(data.schema.field(c).type)
    ]
    if cols and data.num_rows:
        bounds = {c: pc.min_max(data.column(c)) for c in cols}
        stats["minValues"] = {c: b["min"].as_py() for c, b in bounds.items()}
        stats["maxValues"] = {c: b["max"].as_py() for c, b in bounds.items()}
        stats["nullCount"] = {c: data.column(c).null_count for c in cols}
    return file, os.path.getsize(full), json.dumps(stats)


def keys_of(data: pa.Table) -> PartKeys:
    pairs = data.select(["repo", "path"]).group_by(["repo", "path"]).aggregate([])
    keys = frozenset(zip(pairs.column("repo").to_pylist(), pairs.column("path").to_pylist(), strict=True))
    return PartKeys(keys=keys, repos=frozenset(r for r, _ in keys))


def remember_keys(full: str, keys: PartKeys | None) -> None:
    """Keep the keys of the part at ``full`` (a part this process wrote, or just read)."""
    if not _enabled:
        return
    with _lock:
        _keys[full] = keys
        while len(_keys) > MAX_PARTS_KEYED:
            _keys.popitem(last=False)


def cached_rows(full: str) -> pa.Table | None:
    """The whole rows of the part at ``full``, if they are in memory."""
    if not _enabled:
        return None
    with _lock:
        got = _rows.get(full)
        if got is not None:
            _rows.move_to_end(full)
        return got


def keep_rows(full: str, data: pa.Table) -> None:
    """Keep the whole rows of the part at ``full`` (least recently used leave past MAX_BYTES)."""
    global _rows_size
    if not _enabled:
        return
    with _lock:
        if full in _rows:
            return
        _rows[full] = data
        _rows_size += data.nbytes
        while _rows_size > MAX_BYTES and _rows:
            _old, gone = _rows.popitem(last=False)
            _rows_size -= gone.nbytes


def record(path: Path | str, version: int, keys: frozenset[Key], *, always: bool = False) -> None:
    """Version ``version`` of the table at ``path`` changed the rows of exactly ``keys`` (at most).
    ``always``: record it even when nothing else is kept warm (a CLI run's writer knows the keys
    from the record of part keys, store/keyindex.py; the operations of the same run read them)."""
    if not (_enabled or always):
        return
    at = ident(path, version)
    if at is None:
        return
    with _lock:
        _changes[(str(path), version)] = (at, keys)
        while len(_changes) > MAX_CHANGES:
            _changes.popitem(last=False)


def changes(path: Path | str, before: int, after: int) -> frozenset[Key] | None:
    """The keys whose rows versions ``before`` + 1 to ``after`` changed, when every one of them was
    recorded and its log entry is still the file it was; None otherwise (compare the parts)."""
    if after < before:  # (recorded only when warm, or by a writer that knows its keys: ``record``)
        return None
    out: set[Key] = set()
    for version in range(before + 1, after + 1):
        with _lock:
            got = _changes.get((str(path), version))
        if got is None or ident(path, version) != got[0]:
            return None
        out |= got[1]
    return frozenset(out)


def prime(path: Path) -> int:
    """Open the table at ``path`` and read the keys of its live parts (``quarry watch`` does this
    once it is up to date, so that its first batch finds them); returns their bytes on disk."""
    got = table(path)
    if got is None:
        return 0
    for rel in list(got.parts):
        try:
            part_keys(got.full(rel))
        except (OSError, pa.ArrowException):
            continue  # the run that needs it names the damage
    return sum(p.size for p in got.parts.values())


def catch_up() -> None:
    """Let every handle read the commits this process made (``quarry watch`` calls this when idle,
    so that no batch waits for it)."""
    with _lock:
        tables = list(_tables.items())
    for key, got in tables:
        if not got.stale:
            continue
        with _lock:
            try:
                got.handle.update_incremental()
                if got.handle.version() == got.version:
                    got.stale = False
                else:  # someone else's commits too: read them as the next run would
                    got._load()
            except Exception:  # opened anew by the next run that needs it
                _tables.pop(key, None)

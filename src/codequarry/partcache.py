"""The Parquet parts operations read, kept between runs of one long-lived process (``quarry watch``).

A Delta part is never changed once written: a run writes new parts under new names and removes old
ones from the log. So a part read once serves every later read of any table version that holds it,
and a batch of ``quarry watch`` reads only the parts the batches before it added. A version's list of
parts never changes either, as long as its log entry is the same file (a table rebuilt by
``quarry doctor --repair`` starts a new log, whose files differ): the list is cached under the log
file's inode and mtime.

The rows live in store/warm.py, beside what the writer keeps warm (handles, part keys), so that a
part the writer rewrites is cut from memory and the part it writes in its place is there for the
operations. The latest version's list of parts comes from the writer's warm handle too.

Off unless :func:`enable` is called (a one-run CLI process would only hold memory longer); bounded
by ``warm.MAX_BYTES``, least recently used parts leaving first. Thread-safe: operations of one DAG
layer run in threads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from codequarry.store import Store, warm

_lock = threading.Lock()
_enabled = False
_lists: OrderedDict[tuple[Any, ...], tuple[list[str], pa.Schema]] = OrderedDict()
_derived: OrderedDict[tuple[str, str], Any] = OrderedDict()
_MISSING = object()
MAX_DERIVED = 100_000


def enable(on: bool = True) -> None:
    """Keep parts between reads (``quarry watch`` calls this once), the writer's tables warm
    (store/warm.py) and the operations' states (opstate.py); off: forget them all."""
    global _enabled
    with _lock:
        _enabled = on
        warm.enable(on)
        if not on:
            _lists.clear()
            _derived.clear()
    if not on:
        from codequarry import opstate

        opstate.clear()  # the operations' kept states (ctx.kept) go with the warm store


def enabled() -> bool:
    return _enabled


def _version_key(store: Store, name: str, version: int) -> tuple[Any, ...] | None:
    log = store.table_path(name) / "_delta_log" / f"{version:020d}.json"
    try:
        st = os.stat(log)
    except OSError:
        return None  # cleaned up after a checkpoint: not cached
    return (str(store.table_path(name)), version, st.st_ino, st.st_mtime_ns, st.st_size)


def part_list(store: Store, name: str, version: int) -> tuple[list[str], pa.Schema]:
    """The absolute paths of the live parts of ``name`` at ``version``, and the table's schema."""
    if _enabled:
        latest = warm.table(store.table_path(name))
        seen = latest.parts_at(version) if latest is not None else None
        if latest is not None and seen is not None and seen[1] is not None:
            return _checked(store, name, latest.folder, seen[0]), seen[1]
    key = _version_key(store, name, version) if _enabled else None
    if key is not None:
        with _lock:
            got = _lists.get(key)
        if got is not None:
            return got
    table = store.open_delta(name, version)  # refuses a log naming a file outside the table
    files = [u.removeprefix("file://") for u in table.file_uris()]
    got = (files, pa.schema(table.schema().to_arrow()))
    if key is not None:
        with _lock:
            _lists[key] = got
            while len(_lists) > 4096:
                _lists.popitem(last=False)
    return got


def _checked(store: Store, name: str, folder: str, parts: list[str]) -> list[str]:
    """The absolute paths of a warm table's live parts; a log naming a file outside the table is
    damage (as Store.open_delta says)."""
    from codequarry.store.store import damaged, part_inside

    for rel in parts:
        if not part_inside(rel):
            raise damaged(store, name, f"its log names a file outside the table ({rel})")
    return [f"{folder}/{rel}" for rel in parts]


def read_part(store: Store, name: str, path: str, schema: pa.Schema | None = None) -> pa.Table:
    """One part, whole (from the cache when enabled); damage is named with the fix."""
    got = warm.cached_rows(path) if _enabled else None
    if got is not None:
        return got
    from codequarry.store.store import unreadable_part

    with unreadable_part(store, name, f"its file {os.path.basename(path)}"):
        data = pq.read_table(path, schema=schema)
    if _enabled:
        warm.keep_rows(path, data)
    return data


def table_at(store: Store, name: str, version: int, columns: list[str] | None = None) -> pa.Table:
    """Table ``name`` at ``version`` (some columns), concatenated from its parts."""
    files, schema = part_list(store, name, version)
    if not files:
        data = schema.empty_table()
    else:
        pieces = [read_part(store, name, f, schema) for f in files]
        data = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    return data.select(columns) if columns is not None else data


def per_part(store: Store, name: str, version: int, tag: str, fn: Callable[[pa.Table], Any]) -> list[Any]:
    """``fn`` of each part of ``name`` at ``version``: computed once per part and ``tag`` while the
    cache is enabled (a part never changes), so a value over a whole table is made again from the
    few parts a run added (incremental.py's index of the files table)."""
    files, schema = part_list(store, name, version)
    out = []
    for path in files:
        key = (path, tag)
        with _lock:
            got = _derived.get(key, _MISSING) if _enabled else _MISSING
            if got is not _MISSING:
                _derived.move_to_end(key)
        if got is _MISSING:
            got = fn(read_part(store, name, path, schema))
            if _enabled:
                with _lock:
                    _derived[key] = got
                    while len(_derived) > MAX_DERIVED:
                        _derived.popitem(last=False)
        out.append(got)
    return out


def rows_of_files(
    store: Store, name: str, version: int, files: frozenset[tuple[str, str]]
) -> pa.Table | None:
    """The parts of ``name`` at ``version`` that hold a row of one of ``files`` ((repo, path)
    keys), concatenated (the caller filters the rows): the keys of each part are known to the
    writer (store/warm.py), so the other parts are not even looked at. None when a part's keys
    cannot be told (the table has no such columns)."""
    return rows_with(store, name, version, ("repo", "path"), files)


def rows_with(
    store: Store, name: str, version: int, columns: tuple[str, ...], keys: frozenset[tuple[Any, ...]]
) -> pa.Table | None:
    """The parts of ``name`` at ``version`` whose values of ``columns`` include one of ``keys``,
    concatenated (the caller filters the rows); None when a part lacks the columns."""
    paths, schema = part_list(store, name, version)
    pieces = []
    for path in paths:
        try:
            if columns == ("repo", "path"):
                got = warm.part_keys(path)
                values = None if got is None else got.keys
            else:
                values = warm.part_values(path, columns)
        except (OSError, pa.ArrowException):
            values = None
        if values is None:
            return None
        if not values.isdisjoint(keys):
            pieces.append(read_part(store, name, path, schema))
    if not pieces:
        return schema.empty_table()
    return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]

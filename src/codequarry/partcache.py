"""The Parquet parts operations read, kept between runs of one long-lived process (``quarry watch``).

A Delta part is never changed once written: a run writes new parts under new names and removes old
ones from the log. So a part read once serves every later read of any table version that holds it,
and a batch of ``quarry watch`` reads only the parts the batches before it added. A version's list of
parts never changes either, as long as its log entry is the same file (a table rebuilt by
``quarry doctor --repair`` starts a new log, whose files differ): the list is cached under the log
file's inode and mtime.

Off unless :func:`enable` is called (a one-run CLI process would only hold memory longer); bounded
by :data:`MAX_BYTES`, least recently used parts leaving first. Thread-safe: operations of one DAG
layer run in threads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from codequarry.store import Store

MAX_BYTES = 512 * 1024 * 1024

_lock = threading.Lock()
_enabled = False
_parts: OrderedDict[str, pa.Table] = OrderedDict()
_lists: OrderedDict[tuple[Any, ...], tuple[list[str], pa.Schema]] = OrderedDict()
_size = 0


def enable(on: bool = True) -> None:
    """Keep parts between reads (``quarry watch`` calls this once); off: forget every part."""
    global _enabled, _size
    with _lock:
        _enabled = on
        if not on:
            _parts.clear()
            _lists.clear()
            _size = 0


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


def read_part(store: Store, name: str, path: str, schema: pa.Schema | None = None) -> pa.Table:
    """One part, whole (from the cache when enabled); damage is named with the fix."""
    global _size
    if _enabled:
        with _lock:
            got = _parts.get(path)
            if got is not None:
                _parts.move_to_end(path)
                return got
    try:
        data = pq.read_table(path, schema=schema)
    except PermissionError:
        raise
    except (OSError, pa.ArrowException) as exc:
        from codequarry.store.store import damaged, first_line

        raise damaged(
            store, name, f"its file {os.path.basename(path)} cannot be read ({first_line(exc)})"
        ) from None
    if _enabled:
        with _lock:
            if path not in _parts:
                _parts[path] = data
                _size += data.nbytes
            while _size > MAX_BYTES and _parts:
                _old, gone = _parts.popitem(last=False)
                _size -= gone.nbytes
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

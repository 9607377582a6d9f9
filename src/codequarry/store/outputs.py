"""An operation's output replaced from its part-keys record (store/keyindex.py), without
``write_deltalake``: the part of an operation's write that a one-file CLI run takes.

An operation that re-derives some repos (``partition="repo"``), some files (keys ``(repo, path)``)
or the whole output replaces those rows of its table. The general way (operations.py) opens the
table to compare the stored rows with the new ones, writes by ``write_deltalake`` with a predicate
(which opens the table again and scans it) and opens it a third time for its version and rows:
three Delta logs replayed and a DataFusion scan for what is, on a small tree, one small Parquet file.

When the table has a record of its live parts' ``(repo, path)`` keys that is still true (the same
conditions as for the file tables' commit, keyindex.py), the parts holding the re-derived rows are
known without opening the log. This module then reads only those parts, compares their rows in the
scope with the new ones (equal: nothing is written, as before), and otherwise writes one new part
(the parts' rows outside the scope and the new rows) and commits, in one transaction, the removal
of the parts read and the new part. The table is opened once, for the commit, and its live parts
are compared with the record first. Anything this path cannot do exactly (no record, a scope on
other columns, a schema that differs, a key column with a null, a log that moved on) returns
:data:`NOT_HERE` and the caller takes the general way, after which :func:`index` records the keys
of the table it wrote for the next run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction

from codequarry.store import keyindex, warm
from codequarry.store.keyfile import live_files_and_schema
from codequarry.store.store import CHECKPOINT_EVERY, Store, TableState
from codequarry.store.warm import Key

#: what :func:`replace` returns when it cannot replace the rows exactly (take the general way)
NOT_HERE = "not here"
#: what it returns when the stored rows of the scope are the new ones (nothing written)
SAME = "same"

KEY_COLUMNS = ("repo", "path")


def replace(
    store: Store,
    name: str,
    data: pa.Table,
    columns: tuple[str, ...],
    keys: frozenset[tuple[Any, ...]] | None,
    current: TableState,
) -> TableState | str:
    """Replace the rows of output ``name`` in the scope (``keys`` of ``columns``: ``("repo",)`` or
    ``("repo", "path")``; ``keys`` None: every row) by ``data``, from the table's part-keys record.
    Returns the new state, :data:`SAME` (the stored rows are ``data``'s, nothing written) or
    :data:`NOT_HERE` (the caller takes the general way)."""
    if keys is not None and columns not in (("repo",), KEY_COLUMNS):
        return NOT_HERE
    if not set(KEY_COLUMNS) <= set(data.column_names) or data.column("repo").null_count:
        return NOT_HERE
    path = store.table_path(name)
    idx = keyindex.load(store.path, path, name, current.version, current.rows)
    if idx is None or not _same_schema(store, name, current.version, data.schema):
        return NOT_HERE
    hit = [rel for rel, part in idx.parts.items() if _holds(part.keys, columns, keys)]
    try:
        old = [pq.ParquetFile(path / rel).read(columns=data.column_names).cast(data.schema) for rel in hit]
    except (OSError, KeyError, pa.ArrowException):
        return NOT_HERE
    rows = pa.concat_tables(old) if old else data.schema.empty_table()
    inside = _in_scope(rows, columns, keys)
    if same_rows(rows.filter(inside), data):
        return SAME
    new = pa.concat_tables([rows.filter(pc.invert(inside)), data]) if rows.num_rows else data
    new_keys = warm.keys_of(new).keys if new.num_rows else frozenset()
    if any(r is None or p is None for r, p in new_keys):
        return NOT_HERE  # a row the record could not name: the general way (and no record)
    return _commit(store, name, idx, hit, new, new_keys) or NOT_HERE


def _same_schema(store: Store, name: str, version: int, schema: pa.Schema) -> bool:
    """Is the table's schema at ``version`` (as its record holds it) ``schema``? (A declared schema
    that changed is overwritten by the general way.)"""
    got = live_files_and_schema(store.path, store.table_path(name), name, version)
    return got is not None and bool(got[1].equals(schema))


def _holds(
    part_keys: frozenset[Key], columns: tuple[str, ...], keys: frozenset[tuple[Any, ...]] | None
) -> bool:
    if keys is None:
        return True
    if columns == ("repo",):
        repos = {k[0] for k in keys}
        return any(r in repos for r, _ in part_keys)
    return not part_keys.isdisjoint(keys)


def _in_scope(rows: pa.Table, columns: tuple[str, ...], keys: frozenset[tuple[Any, ...]] | None) -> pa.Array:
    """A mask of the rows in the scope."""
    if keys is None:
        return pa.array([True] * rows.num_rows, pa.bool_())
    return key_filter(rows, columns, keys)


def key_filter(data: pa.Table, columns: tuple[str, ...], keys: Collection[tuple[Any, ...]]) -> pa.Array:
    """A boolean mask of the rows of ``data`` whose values in ``columns`` are one of ``keys``."""
    if not keys or not data.num_rows:
        return pa.array([False] * data.num_rows, pa.bool_())
    if len(columns) == 1:
        values = pa.array(sorted({k[0] for k in keys}), data.schema.field(columns[0]).type)
        return pc.fill_null(pc.is_in(data.column(columns[0]), value_set=values), False)
    # several columns (strings, as declared): one joined string per row and per key, matched in Arrow
    joined = pc.binary_join_element_wise(*(data.column(c).cast(pa.string()) for c in columns), "\0")
    wanted = pa.array(sorted("\0".join(map(str, k)) for k in keys), pa.string())
    return pc.fill_null(pc.is_in(joined, value_set=wanted), False)


def same_rows(old: pa.Table, data: pa.Table) -> bool:
    """Do ``old`` and ``data`` (of one schema) hold the same rows, in any order?"""
    if old.num_rows != data.num_rows:
        return False
    if not old.num_rows:
        return True
    keys = [(c, "ascending") for c in data.column_names if not pa.types.is_nested(data.schema.field(c).type)]
    try:
        return bool(old.sort_by(keys).equals(data.sort_by(keys)))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return False


def _commit(
    store: Store, name: str, idx: keyindex.KeyIndex, hit: list[str], new: pa.Table, new_keys: frozenset[Key]
) -> TableState | None:
    """Remove the parts ``hit``, add ``new`` as one part, in one commit on the version the record
    names; record the parts' keys of the new version. None when the table is not the record's."""
    from codequarry.store.indexed import _actions, _checkpoint, add_action, count_rows

    path = store.table_path(name)
    table = warm.open_table(path)
    if table is None or table.version() != idx.version:
        return None
    live = _actions(table)
    if set(live.column("path").to_pylist() if live.num_rows else []) != set(idx.parts):
        return None
    schema = pa.schema(table.schema().to_arrow())
    if not schema.equals(new.schema):
        return None  # (the declared schema changed: the general way overwrites it)
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = [
        RemoveAction(path=rel, data_change=True, deletion_timestamp=now, size=idx.parts[rel].size)
        for rel in hit
    ]
    kept: dict[str, tuple[int, frozenset[Key]] | keyindex.IndexedPart] = {
        rel: p for rel, p in idx.parts.items() if rel not in hit
    }
    if new.num_rows:
        file, size, stats = warm.write_rows(str(path), new)
        actions.append(add_action(file, size, stats, now))
        kept[file] = (new.num_rows, new_keys)
    keyindex.forget(store.path, name)
    table.create_write_transaction(actions, mode="append", schema=DeltaSchema.from_arrow(schema))
    nxt = idx.version + 1
    if not os.path.lexists(warm.log_entry(path, nxt)) or os.path.lexists(warm.log_entry(path, nxt + 1)):
        table.update_incremental()  # not the one commit expected under the lock: count it
        return TableState(version=table.version(), rows=count_rows(table))
    changed = frozenset().union(*(idx.parts[rel].keys for rel in hit), new_keys)
    warm.record(path, nxt, changed, always=True)  # what the run's later operations diff
    keyindex.keep(path, idx, schema)  # for later operations' reads of both versions
    keyindex.keep(path, keyindex.save(store.path, path, name, nxt, kept, schema), schema)
    if nxt % CHECKPOINT_EVERY == 0:
        _checkpoint(table, nxt)
    return TableState(version=nxt, rows=sum(_rows(p) for p in kept.values()))


def _rows(part: tuple[int, frozenset[Key]] | keyindex.IndexedPart) -> int:
    return part.rows if isinstance(part, keyindex.IndexedPart) else part[0]


def index(store: Store, name: str, table: Any) -> None:
    """Record the keys of the live parts of output ``name`` (``table``: its ``DeltaTable``, just
    written the general way), so that its next replacement can take :func:`replace`."""
    from codequarry.store.indexed import record_keys

    record_keys(store, name, table)

"""SQL over the last published snapshot, through DataFusion. Results come back as Arrow tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from codequarry.errors import QueryError, StoreError
from codequarry.store import Snapshot, Store
from codequarry.store.store import live_dataset


def open_store(path: str | Path) -> Store:
    return Store.open(path)


def session(store: Store, snapshot: Snapshot | None = None) -> Any:
    """A DataFusion session with every table of the snapshot registered at its published version."""
    snap = snapshot or store.snapshot()
    if snap is None:
        raise StoreError(f"store '{store.path}' has no published snapshot yet: run 'quarry extract' first")
    from datafusion import SessionContext

    ctx = SessionContext()
    for name, state in sorted(snap.tables.items()):
        try:
            table = DeltaTable(str(store.table_path(name)), version=state.version)
        except Exception as exc:
            raise StoreError(f"table '{name}' of store '{store.path}' cannot be opened: {exc}") from None
        ctx.register_table(name, table)
    _register_runs(ctx, store, snap)
    return ctx


def _register_runs(ctx: Any, store: Store, snap: Snapshot) -> None:
    """The `runs` log (see codequarry.report.runs) at its latest version, unless a dataset owns the name."""
    from codequarry.report.runs import table_path

    path = table_path(store.path)
    if "runs" not in snap.tables and (path / "_delta_log").is_dir():
        ctx.register_table("runs", DeltaTable(str(path)))


def sql(store: Store, query: str) -> pa.Table:
    """Run one SQL statement over the published snapshot."""
    ctx = session(store)
    try:
        result = ctx.sql(query).to_arrow_table()
    except Exception as exc:  # DataFusion raises plain Exceptions with a planner message
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryError(f"query failed: {message}") from None
    return plain_types(result)


def _plain_type(tp: pa.DataType) -> pa.DataType:
    if tp == pa.string_view() or pa.types.is_large_string(tp):
        return pa.string()
    if tp == pa.binary_view() or pa.types.is_large_binary(tp):
        return pa.binary()
    if pa.types.is_list(tp) or pa.types.is_large_list(tp) or pa.types.is_list_view(tp):
        return pa.list_(_plain_type(tp.value_type))
    if pa.types.is_struct(tp):
        return pa.struct([pa.field(f.name, _plain_type(f.type), f.nullable) for f in tp])
    if pa.types.is_dictionary(tp):
        return _plain_type(tp.value_type)
    return tp


def plain_types(result: pa.Table) -> pa.Table:
    """Cast DataFusion's view and dictionary types to the plain ones every Arrow consumer reads."""
    schema = pa.schema([pa.field(f.name, _plain_type(f.type), f.nullable) for f in result.schema])
    return result if schema == result.schema else result.cast(schema)


def table(store: Store, name: str) -> pa.Table:
    """A whole published table as Arrow."""
    snap = store.snapshot()
    if snap is None or name not in snap.tables:
        raise StoreError(f"no table '{name}' in store '{store.path}'")
    return live_dataset(store, name, snap.tables[name].version).to_table()

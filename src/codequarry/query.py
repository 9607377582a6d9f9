"""SQL over the last published snapshot, through DataFusion. Results come back as Arrow tables.

SQL that comes from outside (``quarry sql``, the Python API, a web UI) is read-only: it reaches
DataFusion only through :func:`read_only_sql`, which refuses every statement that could write a file,
create, change or drop a table, or change the session (``COPY``, ``INSERT``, ``CREATE [EXTERNAL]
TABLE``, ``DROP``, ``SET``, ``PREPARE`` ...), before anything runs. Two checks, either enough:
DataFusion's own ``SQLOptions`` (no DDL, no DML, no statements) refuse the statement while it is
planned, and the logical plan must consist only of query steps (scans, filters, joins, ...). Queries
run: ``SELECT``, ``WITH``, ``VALUES``, ``EXPLAIN [ANALYZE]``, ``DESCRIBE``, ``SHOW``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from codequarry.errors import QueryError, StoreError, did_you_mean
from codequarry.store import Snapshot, Store
from codequarry.store.damage import open_live
from codequarry.store.store import live_dataset

#: what read-only SQL may be, for messages
QUERY_KINDS = "SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW"
#: the logical-plan steps a query is made of; any other step (CopyTo, DmlStatement, CreateView, ...) is refused
QUERY_STEPS = frozenset(
    {
        "Aggregate",
        "Analyze",
        "DescribeTable",
        "Distinct",
        "EmptyRelation",
        "Explain",
        "Filter",
        "Join",
        "Limit",
        "Projection",
        "RecursiveQuery",
        "Repartition",
        "Sort",
        "Subquery",
        "SubqueryAlias",
        "TableScan",
        "Union",
        "Unnest",
        "Values",
        "Window",
        "WindowExpr",
    }
)
_REFUSED = re.compile(r"\b(DDL|DML|Statement) not supported: (.+)$")
_NO_TABLE = re.compile(r"table '(?:[^'.]+\.)*([^'.]+)' not found")


class ReadOnlyError(QueryError):
    """A statement that would write or change something was refused: quarry's SQL is read-only."""


def open_store(path: str | Path) -> Store:
    return Store.open(path)


class ReadOnlySession:
    """A DataFusion session over one snapshot whose :meth:`sql` runs queries only.

    ``context`` is the underlying ``datafusion.SessionContext`` for code of your own (it is not
    guarded); SQL text from anyone else goes through :meth:`sql`.
    """

    def __init__(self, context: Any, tables: Iterable[str]) -> None:
        self.context = context
        self.tables = tuple(sorted(tables))

    def sql(self, query: str) -> Any:
        """Plan a query (a ``datafusion.DataFrame``, run when collected); writes are refused."""
        return read_only_sql(self.context, query, tables=self.tables)

    def table(self, name: str) -> Any:
        if name not in self.tables:
            raise QueryError(
                f"no table '{name}'.{did_you_mean(name, self.tables)} Tables: {', '.join(self.tables)}"
            )
        return self.context.table(name)


def session(
    store: Store, snapshot: Snapshot | None = None, *, damaged: dict[str, StoreError] | None = None
) -> ReadOnlySession:
    """A read-only session with every table of the snapshot registered at its published version.

    A table that cannot be opened raises, or, when ``damaged`` is given, is left out and recorded
    there (so that queries of the other tables still work)."""
    snap = snapshot or store.snapshot()
    if snap is None:
        raise StoreError(f"store '{store.path}' has no published snapshot yet: run 'quarry extract' first")
    from datafusion import SessionContext

    ctx = SessionContext()
    for name, state in sorted(snap.tables.items()):
        try:
            table = open_live(store, name, state)  # refuses a log that replays to other rows
        except StoreError as exc:
            if damaged is None:
                raise
            damaged[name] = exc
            continue
        ctx.register_table(name, table)
    names = list(snap.tables)
    if _register_runs(ctx, store, snap):
        names.append("runs")
    return ReadOnlySession(ctx, names)


def _register_runs(ctx: Any, store: Store, snap: Snapshot) -> bool:
    """The `runs` log (see codequarry.report.runs) at its latest version, unless a dataset owns the name."""
    from deltalake import DeltaTable

    from codequarry.store.store import runs_table_path

    path = runs_table_path(store.path)
    if "runs" in snap.tables or not (path / "_delta_log").is_dir():
        return False
    try:
        from codequarry.store.runlog import pending_rows, schema, with_pending
        from codequarry.store.store import dataset_of

        if pending_rows(store.path):  # rows of fast-path runs the next writer appends: read them too
            data = with_pending(store.path, dataset_of(DeltaTable(str(path))).to_table().cast(schema()))
            ctx.register_record_batches("runs", [data.to_batches()])
        else:
            ctx.register_table("runs", DeltaTable(str(path)))
    except Exception:  # a damaged runs log must not stop queries of the snapshot's tables
        return False
    return True


def read_only_sql(ctx: Any, query: str, *, tables: Iterable[str] = ()) -> Any:
    """The one way SQL from outside reaches DataFusion: plan ``query`` on ``ctx`` (a
    ``datafusion.SessionContext``) as a query, or raise :class:`ReadOnlyError` before anything runs.

    ``tables`` (the names registered) lets an unknown table's message suggest the nearest one.
    Returns the planned ``datafusion.DataFrame``; collecting it runs the query.
    """
    from datafusion import SQLOptions

    options = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
    try:
        frame = ctx.sql(query, options=options)
    except Exception as exc:  # DataFusion raises plain Exceptions with a planner message
        raise _query_error(exc, list(tables)) from None
    step = _first_write_step(frame.logical_plan())
    if step is not None:
        raise ReadOnlyError(
            f"refused: the statement's plan has a '{step}' step, which is not part of a query; "
            f"quarry's SQL is read-only and runs queries only ({QUERY_KINDS})"
        )
    return frame


def _first_write_step(plan: Any) -> str | None:
    """The first step of a logical plan that is not a query step (walks the whole tree), or None."""
    todo = [plan]
    while todo:
        node = todo.pop()
        try:
            kind = type(node.to_variant()).__name__
        except Exception:  # a step the Python bindings cannot even name: not one of ours
            return str(node.display()).split("\n")[0][:60] or "unknown"
        if kind not in QUERY_STEPS:
            return kind
        todo.extend(node.inputs())
    return None


def _query_error(exc: Exception, tables: list[str]) -> QueryError:
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    refused = _REFUSED.search(message)
    if refused:
        what = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", refused.group(2)).upper()
        return ReadOnlyError(
            f"refused: {what} is not a query; quarry's SQL is read-only and runs queries only ({QUERY_KINDS})"
        )
    missing = _NO_TABLE.search(message)
    if missing and tables:
        name = missing.group(1)
        return QueryError(
            f"no table '{name}'.{did_you_mean(name, tables)} Tables: {', '.join(sorted(tables))}"
        )
    return QueryError(f"query failed: {message}")


def sql(store: Store, query: str) -> pa.Table:
    """Run one read-only SQL statement over the published snapshot (writes are refused)."""
    from codequarry.store.damage import translate

    damaged: dict[str, StoreError] = {}
    ses = session(store, damaged=damaged)
    try:
        frame = ses.sql(query)
        result = frame.to_arrow_table()
    except QueryError as exc:
        _raise_damage(str(exc), damaged)
        raise
    except Exception as exc:  # DataFusion raises plain Exceptions with a planner message
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _raise_damage(message, damaged)
        better = translate(store, exc, "querying")
        if better is not None:
            raise better from None
        raise _query_error(exc, list(ses.tables)) from None
    return plain_types(result)


def _raise_damage(message: str, damaged: dict[str, StoreError]) -> None:
    """A query that failed on a table left out as damaged says so, with the fix."""
    for name, error in damaged.items():
        if f"'{name}'" in message or f"public.{name}' not found" in message:
            raise error from None


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

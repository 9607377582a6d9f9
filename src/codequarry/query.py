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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from codequarry.errors import QuarryError, QueryError, StoreError, did_you_mean
from codequarry.store import Snapshot, Store
from codequarry.store.damage import open_live
from codequarry.store.store import arrow_table, damaged, live_dataset, part_inside

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
#: a query that lists tables (SHOW TABLES, information_schema) needs every table registered
_NAMES_EVERY_TABLE = re.compile(r"\b(show|information_schema)\b", re.IGNORECASE)


class ReadOnlyError(QueryError):
    """A statement that would write or change something was refused: quarry's SQL is read-only."""


def open_store(path: str | Path) -> Store:
    return Store.open(path)


class ReadOnlySession:
    """A DataFusion session over one snapshot whose :meth:`sql` runs queries only.

    ``context`` is the underlying ``datafusion.SessionContext`` for code of your own (it is not
    guarded); SQL text from anyone else goes through :meth:`sql`. ``tables`` names every table of
    the snapshot; a lazy session (``session(..., lazy=True)``) registers each one the first time a
    query names it.
    """

    def __init__(self, context: Any, tables: Iterable[str], loader: Any = None) -> None:
        self.context = context
        self.tables = tuple(sorted(tables))
        self._loader = loader

    def sql(self, query: str) -> Any:
        """Plan a query (a ``datafusion.DataFrame``, run when collected); writes are refused."""
        if self._loader is not None and _NAMES_EVERY_TABLE.search(query):
            for name in self.tables:
                self._loader(name)
        return read_only_sql(self.context, query, tables=self.tables, resolve=self._loader)

    def table(self, name: str) -> Any:
        if name not in self.tables:
            raise QueryError(
                f"no table '{name}'.{did_you_mean(name, self.tables)} Tables: {', '.join(self.tables)}"
            )
        if self._loader is not None:
            self._loader(name)
        return self.context.table(name)


def session(
    store: Store,
    snapshot: Snapshot | None = None,
    *,
    damaged: dict[str, StoreError] | None = None,
    pushdown: bool = True,
    lazy: bool = False,
) -> ReadOnlySession:
    """A read-only session with every table of the snapshot registered at its published version.

    A table that cannot be opened raises, or, when ``damaged`` is given, is left out and recorded
    there (so that queries of the other tables still work). With ``lazy``, a table is opened and
    registered when a query first names it (a damaged one raises then): a query of one table does not
    open the other thirty.

    With ``pushdown`` (the default) each table of at most SCAN_FILES live files is a view over
    DataFusion's own Parquet scan of the files its Delta log names at that version (see
    :func:`parquet_view`), so a query's filters reach the scan and prune row groups by their
    statistics; other tables, and all without ``pushdown``, go through deltalake's table provider,
    which receives no filters (kept to check that both give the same answers)."""
    snap = snapshot or store.snapshot()
    if snap is None:
        raise StoreError(f"store '{store.path}' has no published snapshot yet: run 'quarry extract' first")
    from datafusion import SessionContext

    ctx = SessionContext(session_config())
    done: set[str] = set()

    def load(name: str) -> bool:
        """Register table ``name`` if it is the snapshot's and not yet registered; whether it did."""
        state = snap.tables.get(name)
        if state is None or name in done:
            return False
        done.add(name)
        table = open_live(store, name, state)  # refuses a log that replays to other rows
        native = pushdown and len(table.file_uris()) <= SCAN_FILES
        ctx.register_table(name, parquet_view(ctx, store, name, table) if native else table)
        return True

    names = list(snap.tables)
    if _register_runs(ctx, store, snap):
        names.append("runs")
    if lazy:
        return ReadOnlySession(ctx, names, load)
    for name in sorted(snap.tables):
        try:
            load(name)
        except StoreError as exc:
            if damaged is None:
                raise
            damaged[name] = exc
    return ReadOnlySession(ctx, names)


#: a table of at most this many live files is read through DataFusion's own Parquet scan (filters
#: reach it); one of more (a store not compacted since many runs) through deltalake's provider, which
#: scans them as one source: a union of one scan per file costs ~3x more CPU at ~160 files a table
SCAN_FILES = 32

#: DataFusion settings of every query session; see session_config
SETTINGS = {
    # broadcast (collect) the build side of a hash join up to this size instead of hash-partitioning
    # both sides: on a few cores, repartitioning a 4 M-row probe side costs more than building one
    # hash table (DataFusion's defaults, 128 K rows / 1 MB, suit many cores)
    "datafusion.optimizer.hash_join_single_partition_threshold_rows": 2_000_000,
    "datafusion.optimizer.hash_join_single_partition_threshold": 512 * 2**20,
}


def session_config() -> Any:
    """The ``datafusion.SessionConfig`` of a query session (see SETTINGS)."""
    from datafusion import SessionConfig

    config = SessionConfig().with_information_schema(True)  # SHOW TABLES, DESCRIBE, information_schema
    for key, value in SETTINGS.items():
        config = config.set(key, str(value))
    return config


def parquet_view(ctx: Any, store: Store, name: str, table: Any) -> Any:
    """A DataFrame over exactly the live Parquet files of table ``name`` (a DeltaTable at its
    published version), read by DataFusion's own Parquet scan (one per file, in a union).

    deltalake's table provider reaches DataFusion through its FFI interface, which passes no filters
    down: a query of one repo read every row of its tables. DataFusion's Parquet scan takes the
    filters and skips row groups (and pages) by the statistics in each file's footer, which the
    store's (repo, path) layout makes selective (docs/scale.md). The files are the ones the log
    names at the published version, never the folder's listing (a run in progress writes files
    there before it publishes). The store never uses deletion vectors or column mapping, so the
    files are the table. Each file must be there with the size its log records: DataFusion reads a
    missing file as no rows, which would be a silently different answer."""
    actions = arrow_table(table.get_add_actions(flatten=False))
    folder = store.table_path(name)
    paths: list[str] = []
    listed = actions.column("path").to_pylist() if actions.num_rows else []
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    for raw, size in zip(listed, sizes, strict=True):
        if not part_inside(raw):  # a log naming a file outside its table is damage (or an attack)
            raise StoreError(
                f"the Delta log of '{table.table_uri}' names a file outside the table ({raw}); "
                "run 'quarry doctor --repair' to rebuild the table"
            )
        path = folder / unquote(raw)
        try:
            found = path.stat().st_size
        except FileNotFoundError:
            raise damaged(store, name, f"its file {path.name} is missing") from None
        if found != size:
            raise damaged(store, name, f"its file {path.name} holds {found} bytes, its log says {size}")
        paths.append(str(path))
    schema = _scan_schema(pa.schema(table.schema().to_arrow()))
    frames = [ctx.read_parquet(path, schema=schema, file_extension="") for path in paths]
    if not frames:
        return ctx.from_arrow(schema.empty_table())
    while len(frames) > 1:  # a balanced tree of unions: a table may have hundreds of parts
        pairs = [frames[i].union(frames[i + 1]) for i in range(0, len(frames) - 1, 2)]
        frames = pairs + frames[len(frames) - len(frames) % 2 :]
    return frames[0]


def _scan_schema(schema: pa.Schema) -> pa.Schema:
    """The table's schema with top-level strings and binaries as views: the types DataFusion's
    Parquet scan reads them as anyway (so nothing is cast), as deltalake's provider gave them."""
    views = {pa.string(): pa.string_view(), pa.large_string(): pa.string_view()}
    views |= {pa.binary(): pa.binary_view(), pa.large_binary(): pa.binary_view()}
    return pa.schema([f.with_type(views.get(f.type, f.type)) for f in schema], metadata=schema.metadata)


def _register_runs(ctx: Any, store: Store, snap: Snapshot) -> bool:
    """The `runs` log (see codequarry.report.runs) at its latest version, unless a dataset owns the name."""
    from deltalake import DeltaTable

    from codequarry.store.store import odd_log_entry, runs_table_path

    path = runs_table_path(store.path)
    if "runs" in snap.tables or not (path / "_delta_log").is_dir() or odd_log_entry(path):
        return False  # odd_log_entry: a FIFO there would hold the query forever
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


def read_only_sql(
    ctx: Any, query: str, *, tables: Iterable[str] = (), resolve: Callable[[str], bool] | None = None
) -> Any:
    """The one way SQL from outside reaches DataFusion: plan ``query`` on ``ctx`` (a
    ``datafusion.SessionContext``) as a query, or raise :class:`ReadOnlyError` before anything runs.

    ``tables`` (the names registered) lets an unknown table's message suggest the nearest one.
    ``resolve``, if given, is called with the name of a table the planner did not find; when it
    returns True (it registered the table) the query is planned again.
    Returns the planned ``datafusion.DataFrame``; collecting it runs the query.
    """
    from datafusion import SQLOptions

    options = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
    while True:
        try:
            frame = ctx.sql(query, options=options)
            break
        except Exception as exc:  # DataFusion raises plain Exceptions with a planner message
            missing = _NO_TABLE.search(str(exc))
            if resolve is not None and missing is not None and resolve(missing.group(1)):
                continue
            raise _query_error(exc, list(tables)) from None
    step = _first_write_step(frame.logical_plan())
    if step is not None:
        raise ReadOnlyError(
            f"refused: the statement's plan has a '{step}' step, which is not part of a query; "
            f"quarry's SQL is read-only and runs queries only ({QUERY_KINDS})"
        )
    return frame


#: plans that must stay the root (DataFusion refuses a limit above them; their output is short)
_UNLIMITED = frozenset({"Explain", "Analyze", "DescribeTable"})


def _root_step(frame: Any) -> str:
    try:
        return type(frame.logical_plan().to_variant()).__name__
    except Exception:  # a step the Python bindings cannot name: limit nothing
        return "Explain"


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


def sql(store: Store, query: str, *, limit: int | None = None) -> pa.Table:
    """Run one read-only SQL statement over the published snapshot (writes are refused).

    Only the tables the query names are opened (a damaged one stops the query with its one-line
    message; the others still answer queries). With ``limit``, the query stops after that many rows
    (the web UI's row cap): DataFusion produces no more than that, where slicing a collected result
    first held all of it."""
    from codequarry.store.damage import translate

    ses = session(store, lazy=True)
    try:
        frame = ses.sql(query)
        if limit is not None and _root_step(frame) not in _UNLIMITED:
            frame = frame.limit(limit)
        result = frame.to_arrow_table()
    except QuarryError:  # a refused query, a damaged table: already one line
        raise
    except Exception as exc:  # DataFusion raises plain Exceptions with a planner message
        better = translate(store, exc, "querying")
        if better is not None:
            raise better from None
        raise _query_error(exc, list(ses.tables)) from None
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

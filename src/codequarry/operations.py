"""Operations: table-level steps over whole datasets, run after the file extractors, in DAG layers.

An operation declares the datasets it reads and writes; it receives an :class:`OperationContext`
over the run's new snapshot and returns Arrow::

    import pyarrow as pa
    from codequarry import dataset, operation

    @dataset("unused_env")
    class UnusedEnv:
        name: str

    @operation("acme.env.unused", version=1, inputs=["env_reads", "assignments"], outputs=[UnusedEnv])
    def unused_env(ctx) -> pa.Table:
        return ctx.sql("SELECT DISTINCT e.repo, e.path, e.sha256, e.name FROM env_reads e "
                       "LEFT JOIN assignments a ON a.target = e.name WHERE a.target IS NULL")

The result is one Arrow table (or a dict of them, one per output) whose columns are matched to the
declared schema by name and cast to it. An operation's outputs are rewritten whole each time it runs;
an incremental run re-runs it unless its version, the versions of its inputs AND the versions of its
outputs are all those recorded when it last ran (so an output emptied or rewritten by anything else
is derived again). An operation that ran before and is not selected now (an opt-in one such as
``python.call_graph`` left out, or a plugin removed) has its output tables dropped from the snapshot:
a derived table is either up to date or absent, never silently stale.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from codequarry.api import Operation
from codequarry.errors import QuarryError, QueryError, SchemaError
from codequarry.graph import RESERVED, Graph
from codequarry.query import plain_types, read_only_sql
from codequarry.schema import DatasetSpec
from codequarry.store import Store, TableState
from codequarry.store.store import live_dataset


class OperationError(QuarryError):
    """An operation failed; the run publishes nothing."""

    exit_code = 1


class OperationContext:
    """What an operation sees: its input datasets, as SQL (DataFusion) or Arrow tables."""

    def __init__(
        self,
        store: Store,
        tables: Mapping[str, TableState],
        *,
        name: str = "",
        inputs: tuple[str, ...] | None = None,
        outputs: tuple[str, ...] = (),
        sources: Mapping[str, str] | None = None,
        partitions: frozenset[str] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.outputs = outputs
        #: repo -> source root of this run's sources, for an operation that reads files (blobs)
        self.sources: dict[str, str] = dict(sources or {})
        self._tables = dict(tables)
        self._allowed = set(inputs) if inputs is not None else set(self._tables)
        self._ctx: Any = None
        self.stats: dict[str, Any] = {}
        #: the repos being re-derived (a partitioned operation's incremental run); None: every repo
        self.partitions = partitions

    @classmethod
    def from_store(cls, store: Store, *, inputs: tuple[str, ...] | None = None) -> OperationContext:
        """A context over the store's published snapshot (handy for tests and notebooks)."""
        snap = store.snapshot()
        if snap is None:
            raise QuarryError(f"store '{store.path}' has no published snapshot")
        return cls(store, snap.tables, inputs=inputs)

    def _check(self, name: str) -> None:
        if name not in self._allowed:
            raise OperationError(
                f"operation '{self.name}' reads '{name}', which it does not declare in inputs="
                f"{sorted(self._allowed)}; add it, so that the DAG orders the work"
            )

    def _delta(self, name: str) -> DeltaTable:
        self._check(name)
        state = self._tables.get(name)
        if state is None:
            raise OperationError(f"operation '{self.name}': input '{name}' is not in the store")
        return self.store.open_delta(name, state.version)  # a damaged input is named, with the fix

    @property
    def session(self) -> Any:
        """The DataFusion SessionContext with the declared inputs registered by name."""
        if self._ctx is None:
            from datafusion import SessionContext

            ctx = SessionContext()
            for name in sorted(self._allowed):
                if name not in self._tables:
                    continue
                if self.partitions is None:
                    ctx.register_table(name, self._delta(name))
                else:  # only the partitions' rows: an operation cannot see (or depend on) the others
                    ctx.from_arrow(self.table(name), name=name)
            self._ctx = ctx
        return self._ctx

    def sql(self, query: str) -> pa.Table:
        """Run SQL over the declared inputs; returns an Arrow table with plain (non-view) types."""
        try:  # through the one read-only door, as all SQL text is: an operation returns rows, writes nothing
            return plain_types(read_only_sql(self.session, query, tables=self._allowed).to_arrow_table())
        except QueryError as exc:
            raise OperationError(f"operation '{self.name}': SQL failed: {exc}") from None
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OperationError(f"operation '{self.name}': SQL failed: {first}") from None

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One input dataset as an Arrow table (optionally only some columns)."""
        self._check(name)
        state = self._tables.get(name)
        if state is None:
            raise OperationError(f"operation '{self.name}': input '{name}' is not in the store")
        data = live_dataset(self.store, name, state.version)
        if self.partitions is not None and "repo" in data.schema.names:
            import pyarrow.dataset as ds

            return plain_types(
                data.to_table(columns=columns, filter=ds.field("repo").isin(sorted(self.partitions)))
            )
        return plain_types(data.to_table(columns=columns))

    def own(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        """One of this operation's own outputs as the last snapshot holds it (None if never written),
        so that an operation can keep what is still valid instead of recomputing it."""
        if name not in self.outputs:
            raise OperationError(
                f"operation '{self.name}' reads its own output '{name}', which it does not declare"
            )
        state = self._tables.get(name)
        if state is None:
            return None
        return live_dataset(self.store, name, state.version).to_table(columns=columns)

    def report(self, key: str, value: Any) -> None:
        """Record a figure for the run summary (e.g. a resolution rate)."""
        self.stats[key] = value


def conform(result: Any, spec: DatasetSpec, operation: str) -> pa.Table:
    """Match a result's columns to the declared schema by name and cast; a clear error otherwise."""
    if isinstance(result, pa.RecordBatch):
        result = pa.Table.from_batches([result])
    if not isinstance(result, pa.Table):
        raise SchemaError(
            f"operation '{operation}' returned {type(result).__name__} for '{spec.name}'; "
            "return a pyarrow.Table (ctx.sql(...) gives one)"
        )
    schema = spec.schema
    missing = [f.name for f in schema if f.name not in result.column_names]
    if missing:
        raise SchemaError(
            f"operation '{operation}': result for '{spec.name}' lacks columns {missing} "
            f"(it has {result.column_names})"
        )
    try:
        return result.select([f.name for f in schema]).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise SchemaError(
            f"operation '{operation}': result for '{spec.name}' does not fit the declared schema: {exc}"
        ) from None


def run_operations(
    store: Store,
    graph: Graph,
    states: dict[str, TableState],
    previous: Mapping[str, Any],
    *,
    only: Collection[str] | None = None,
    workers: int = 2,
    sources: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the plan's operations (``only`` these, when given) layer by layer of its ``graph``, in
    parallel within a layer, over ``states``, which is updated with the versions of the tables they
    write. An operation whose inputs and version are what they were when it last ran is skipped.
    Returns (operation state for the snapshot, summary)."""
    from concurrent.futures import ThreadPoolExecutor

    by_name = {op.name: op for op in graph.operations}
    specs = graph.specs
    op_state: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for layer in graph.layers:
        todo = []
        for name in layer:
            if only is not None and name not in only:
                continue
            op = by_name[name]
            inputs = {i: states[i].version for i in op.inputs if i in states}
            prev: Any = previous.get(name)
            outs = [_out_name(o) for o in op.outputs]
            now = {o: states[o].version for o in outs if o in states}
            same_outputs = (
                prev is not None
                and prev.get("version") == op.version
                and len(now) == len(outs)
                and prev.get("outputs") == now
            )
            op_state[name] = {"version": op.version, "inputs": inputs, "outputs": now}
            if same_outputs and prev.get("inputs") == inputs:
                summary[name] = {"ran": False}
                continue
            parts = _partitions(store, op, specs, prev.get("inputs", {}), inputs) if same_outputs else None
            if parts is not None and not parts:  # the inputs' parts moved, no repo's rows did
                summary[name] = {"ran": False}
                continue
            todo.append((op, parts))
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as pool:
            results = list(
                pool.map(lambda job: _run_one(store, job[0], specs, states, job[1], sources), todo)
            )
        for (op, _parts), (written, info) in zip(todo, results, strict=True):
            states.update(written)
            op_state[op.name]["outputs"] = {
                o: states[o].version for o in map(_out_name, op.outputs) if o in states
            }
            summary[op.name] = info
    return op_state, summary


def _partitions(
    store: Store,
    op: Operation,
    specs: Mapping[str, DatasetSpec],
    before: Mapping[str, int],
    after: Mapping[str, int],
) -> frozenset[str] | None:
    """The repos a partitioned operation must re-derive, or None to run it whole."""
    if op.partition != "repo":
        return None
    if not all(isinstance(o, DatasetSpec) and "repo" in o.schema.names for o in op.outputs):
        return None
    from codequarry.partitions import changed_repos

    repos = changed_repos(store, before, after)
    return None if repos is None else frozenset(repos)


def drop_unselected(states: dict[str, TableState], previous: Mapping[str, Any], graph: Graph) -> list[str]:
    """Remove from ``states`` the output tables of operations that ran before (``previous``) but
    are not in the plan's ``graph`` now (an opt-in operation left out, a plugin removed): a derived
    table nobody refreshes would be silently stale, so it leaves the snapshot, as a fresh extract
    without that operation would not have it. A table something selected still produces stays.
    Returns the dropped names."""
    selected = {op.name for op in graph.operations}
    kept = set(graph.producers) | RESERVED
    gone = []
    for name, info in previous.items():
        if name in selected or not isinstance(info, Mapping):
            continue
        for table in info.get("outputs", {}):
            if table in states and table not in kept:
                del states[table]
                gone.append(table)
    return sorted(gone)


def _out_name(out: str | DatasetSpec) -> str:
    return out if isinstance(out, str) else out.name


def _run_one(
    store: Store,
    op: Operation,
    specs: Mapping[str, DatasetSpec],
    states: Mapping[str, TableState],
    partitions: frozenset[str] | None = None,
    sources: Mapping[str, str] | None = None,
) -> tuple[dict[str, TableState], dict[str, Any]]:
    import time

    started = time.perf_counter()
    ctx = OperationContext(
        store,
        states,
        name=op.name,
        inputs=op.inputs,
        outputs=tuple(_out_name(o) for o in op.outputs),
        sources=sources,
        partitions=partitions,
    )
    try:
        result = op.func(ctx)
    except QuarryError:
        raise
    except Exception as exc:
        raise OperationError(
            f"operation '{op.name}' failed: {type(exc).__name__}: {exc}; nothing was "
            f"published (leave it out with --skip {op.name})"
        ) from exc
    outs = [_out_name(o) for o in op.outputs]
    if not isinstance(result, Mapping):
        if len(outs) != 1:
            raise OperationError(f"operation '{op.name}' declares outputs {outs}: return a dict of tables")
        result = {outs[0]: result}
    if set(result) != set(outs):
        raise OperationError(f"operation '{op.name}' returned {sorted(result)} but declares {outs}")
    written: dict[str, TableState] = {}
    rows: dict[str, int] = {}
    for name in outs:
        data = result[name]
        data = conform(data, specs[name], op.name) if name in specs else _plain_table(data, op.name, name)
        if partitions is not None:
            _check_partitions(data, partitions, op.name, name)
        state = _write_output(store, name, data, partitions, states.get(name))
        if state is not None:
            written[name] = state
        rows[name] = data.num_rows
    info = {"ran": True, "rows": rows, "seconds": round(time.perf_counter() - started, 3), "stats": ctx.stats}
    if partitions is not None:
        info["partitions"] = len(partitions)
    return written, info


def _check_partitions(data: pa.Table, partitions: frozenset[str], op: str, name: str) -> None:
    import pyarrow.compute as pc

    stray = set(pc.unique(data.column("repo")).to_pylist()) - partitions
    if stray:
        raise OperationError(
            f"operation '{op}' declares partition='repo' but returned rows of repo "
            f"{sorted(stray)[0]!r} for '{name}', outside the repos it was given ({len(partitions)})"
        )


def _write_output(
    store: Store, name: str, data: pa.Table, partitions: frozenset[str] | None, current: TableState | None
) -> TableState | None:
    """Write one output: whole (overwrite), or only the given repos' rows (replaced by predicate).
    An output whose rows are those already stored is not written (its version, and so everything
    downstream of it, stays as it is). Returns the new state, or None when nothing was written."""
    from deltalake import write_deltalake

    path = str(store.table_path(name))
    try:
        if current is not None and _same_rows(store, name, current, data, partitions):
            return None
        if partitions is None:
            write_deltalake(path, data, mode="overwrite", schema_mode="overwrite")
        else:
            from codequarry.partitions import sql_string_list

            write_deltalake(
                path, data, mode="overwrite", predicate=f"repo IN {sql_string_list(set(partitions))}"
            )
        table = DeltaTable(path)
    except Exception as exc:  # a damaged log, a full disk: say which table, and the fix
        from codequarry.store.damage import translate
        from codequarry.store.store import damaged

        raise (
            translate(store, exc, f"writing '{name}'") or damaged(store, name, str(exc).strip()[:200])
        ) from exc
    from codequarry.store.writer import count_rows

    return TableState(version=table.version(), rows=count_rows(table))


def _same_rows(
    store: Store, name: str, current: TableState, data: pa.Table, partitions: frozenset[str] | None
) -> bool:
    """Does the stored table (its given repos' rows) hold exactly ``data``'s rows, in any order?"""
    import pyarrow.dataset as ds

    stored = live_dataset(store, name, current.version)
    if stored.schema != data.schema:
        return False
    filt = ds.field("repo").isin(sorted(partitions)) if partitions is not None else None
    old = stored.to_table(filter=filt)
    if old.num_rows != data.num_rows:
        return False
    if not old.num_rows:
        return True
    keys = [(c, "ascending") for c in data.column_names if not pa.types.is_nested(data.schema.field(c).type)]
    try:
        return bool(old.sort_by(keys).equals(data.sort_by(keys)))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return False


def _plain_table(data: Any, op: str, name: str) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table):
        raise SchemaError(
            f"operation '{op}' returned {type(data).__name__} for '{name}'; return a pyarrow.Table"
        )
    return plain_types(data)

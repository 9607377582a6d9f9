"""A run's writes: workers put Parquet parts into each table's folder, and the driver commits them.

A part is invisible until the commit that adds it; each table gets one Delta transaction per run
(add the new parts, remove the parts holding the replaced repos' rows), and the snapshot that
publishes all tables is written last. The driver never touches the rows themselves, so its memory
and time do not grow with the corpus.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction

from codequarry.engine.worker import Part
from codequarry.schema import DatasetSpec
from codequarry.store.store import Snapshot, Store, TableState


class RunWriter:
    def __init__(self, store: Store, run_id: str, specs: dict[str, DatasetSpec]) -> None:
        self.store = store
        self.run_id = run_id
        self.specs = specs
        self.parts: dict[str, list[Part]] = defaultdict(list)
        self.rows: dict[str, int] = dict.fromkeys(specs, 0)
        self.notes: list[str] = []

    def prepare(self) -> None:
        """Create missing tables; a table whose declared schema changed is rebuilt from this run."""
        for name, spec in self.specs.items():
            path = self.store.table_path(name)
            table = open_table(path)
            if table is not None and not same_schema(table, spec.schema):
                self.notes.append(f"the schema of '{name}' changed: the table is rebuilt from this run")
                table.create(str(path), spec.schema, mode="overwrite")
            elif table is None:
                DeltaTable.create(str(path), spec.schema, mode="overwrite")

    def add(self, part: Part) -> None:
        self.parts[part.dataset].append(part)
        self.rows[part.dataset] = self.rows.get(part.dataset, 0) + part.rows

    def commit(self, repos: list[str]) -> dict[str, TableState]:
        """Replace every table's rows of ``repos`` with this run's parts; return the new versions."""
        states: dict[str, TableState] = {}
        now = int(time.time() * 1000)
        for name, spec in self.specs.items():
            path = self.store.table_path(name)
            table = open_table(path)
            assert table is not None, f"table {name} was prepared"
            actions: list[AddAction | RemoveAction] = [
                RemoveAction(path=f, data_change=True, deletion_timestamp=now, size=size)
                for f, size in files_of_repos(table, repos)
            ]
            actions += [AddAction(path=p.file, size=p.size, partition_values={}, modification_time=now,
                                  data_change=True, stats=p.stats) for p in self.parts.get(name, ())]
            if actions:
                table.create_write_transaction(actions, mode="append", schema=DeltaSchema.from_arrow(spec.schema))
                table = DeltaTable(str(path))
            states[name] = TableState(version=table.version(), rows=count_rows(table))
        return states


def open_table(path: Path) -> DeltaTable | None:
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def same_schema(table: DeltaTable, schema: pa.Schema) -> bool:
    return bool(table.schema().to_json() == DeltaSchema.from_arrow(schema).to_json())


def _actions(table: DeltaTable) -> pa.Table:
    return pa.table(table.get_add_actions(flatten=True))


def files_of_repos(table: DeltaTable, repos: list[str]) -> list[tuple[str, int]]:
    """The live files holding rows of any of ``repos`` (every part holds one repo, per its stats)."""
    actions = _actions(table)
    if not actions.num_rows:
        return []
    wanted = set(repos)
    cols = actions.column_names
    lo = actions.column("min.repo").to_pylist() if "min.repo" in cols else [None] * actions.num_rows
    hi = actions.column("max.repo").to_pylist() if "max.repo" in cols else lo
    out = []
    for f, size, a, b in zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), lo, hi,
                             strict=True):
        if a in wanted or b in wanted or (a is not None and b is not None and any(a <= r <= b for r in wanted)):
            out.append((f, size))
    return out


def count_rows(table: DeltaTable) -> int:
    actions = _actions(table)
    if not actions.num_rows or "num_records" not in actions.column_names:
        return 0
    return int(pc.sum(actions.column("num_records")).as_py() or 0)


def rollback_unpublished(store: Store, snapshot: Snapshot | None) -> list[str]:
    """Restore tables that were committed by a run that died before publishing. Returns their names."""
    restored = []
    live = snapshot.tables if snapshot else {}
    for path in sorted(store.tables_dir.glob("*")):
        table = open_table(path)
        if table is None:
            continue
        state = live.get(path.name)
        if state is not None and table.version() > state.version:
            table.restore(state.version)
            restored.append(path.name)
    return restored

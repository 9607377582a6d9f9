"""A run's writes: batches spool to staging files as they arrive, then each table commits once.

Spooling keeps the parent's memory flat whatever the corpus size (a batch is on disk as soon as a
worker returns it); committing at the end makes each table one Delta version, and the snapshot that
publishes them all is written last.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute
from deltalake import DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import TableNotFoundError

from codequarry.schema import DatasetSpec
from codequarry.store.store import Snapshot, Store, TableState


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class RunWriter:
    def __init__(self, store: Store, run_id: str, specs: dict[str, DatasetSpec]) -> None:
        self.store = store
        self.specs = specs
        self.dir = store.staging_dir(run_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, pa.ipc.RecordBatchStreamWriter] = {}
        self._sinks: dict[str, pa.OSFile] = {}
        self.rows: dict[str, int] = dict.fromkeys(specs, 0)

    def _spool(self, name: str) -> Path:
        return self.dir / f"{name}.arrows"

    def add_ipc(self, name: str, data: bytes) -> None:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
        writer = self._writers.get(name)
        if writer is None:
            sink = self._sinks[name] = pa.OSFile(str(self._spool(name)), "wb")
            writer = self._writers[name] = pa.ipc.new_stream(sink, self.specs[name].schema)
        for batch in reader:
            writer.write_batch(batch)
            self.rows[name] += batch.num_rows

    def _close_spools(self) -> None:
        for name, writer in self._writers.items():
            writer.close()
            self._sinks[name].close()
        self._writers.clear()

    def commit(self, repos: list[str], previous: Snapshot | None) -> dict[str, TableState]:
        """Replace every table's rows of ``repos`` with this run's rows; return the new versions."""
        self._close_spools()
        states: dict[str, TableState] = {}
        predicate = f"repo IN ({', '.join(_sql_str(r) for r in repos)})"
        for name, spec in self.specs.items():
            path = str(self.store.table_path(name))
            spool = self._spool(name)
            if spool.exists():
                data: pa.RecordBatchReader = pa.ipc.open_stream(pa.memory_map(str(spool)))
            else:
                data = pa.RecordBatchReader.from_batches(spec.schema, [])
            existing = _open(path)
            if existing is None:
                write_deltalake(path, data, mode="overwrite")
            elif _same_schema(existing, spec.schema):
                write_deltalake(existing, data, mode="overwrite", predicate=predicate)
            else:
                # the dataset's declared schema changed: the table is rebuilt from this run alone
                write_deltalake(existing, data, mode="overwrite", schema_mode="overwrite")
            table = DeltaTable(path)
            states[name] = TableState(version=table.version(), rows=_count(table))
        return states

    def discard(self) -> None:
        self._close_spools()


def _open(path: str) -> DeltaTable | None:
    try:
        return DeltaTable(path)
    except TableNotFoundError:
        return None


def _same_schema(table: DeltaTable, schema: pa.Schema) -> bool:
    return bool(table.schema().to_json() == DeltaSchema.from_arrow(schema).to_json())


def _count(table: DeltaTable) -> int:
    actions = pa.table(table.get_add_actions(flatten=True))
    return int(pa.compute.sum(actions.column("num_records")).as_py() or 0) if actions.num_rows else 0


def rollback_unpublished(store: Store, snapshot: Snapshot | None) -> list[str]:
    """Restore tables that were committed by a run that died before publishing. Returns their names."""
    restored = []
    live = snapshot.tables if snapshot else {}
    for path in sorted(store.tables_dir.glob("*")):
        table = _open(str(path))
        if table is None:
            continue
        state = live.get(path.name)
        if state is not None and table.version() > state.version:
            table.restore(state.version)
            restored.append(path.name)
    return restored

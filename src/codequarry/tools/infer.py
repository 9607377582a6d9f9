"""``schema = "infer"``: a JSON-lines tool whose table takes the schema its output shows.

While a task runs, the lines that are JSON objects are spooled to a file in the store (bounded
memory, whatever the tool prints; the others become ``errors`` rows as with a declared schema).
When every task of the run has ended, pyarrow's JSON reader infers each ok task's schema, the
schemas are unified (an int column that also holds floats becomes float, a field missing from some
records is null there, objects become structs with the union of their fields), and every spool is
read again into that one schema and written as Parquet parts. A column that only ever held null is
a string column; a key that names a provenance column (``repo``, ``path``, ``sha256``) gets a
trailing ``_``. A task whose own output has no single schema (a field that is a number on one
line and a string on another) ends ``invalid_output``: declare a schema for such a tool.

Because the table's schema depends on the output of every task, a run that has to run any task of
an inferred tool runs all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.json as pj

from codequarry.parts import Part, write_part
from codequarry.schema import PROVENANCE_NAMES, DatasetSpec
from codequarry.tools.jsonl import LineReader, with_provenance

if TYPE_CHECKING:
    from codequarry.store import Store
    from codequarry.store.writer import RunWriter
    from codequarry.tools.outcomes import ResultLog
    from codequarry.tools.planned import ToolPlan

_BLOCK = 16 << 20  # bytes pyarrow reads at a time (and infers types from, widening as it goes)


class SpoolReader(LineReader):
    """One task's stdout: JSON objects to a spool file; anything else to ``errors``."""

    def __init__(self, *, spool: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.spool = spool
        self._fh = open(spool, "wb")  # noqa: SIM115 - closed in close()

    def _flush(self) -> None:
        """The lines that are JSON objects go to the spool as they are; the others are invalid lines
        (the same line checks as a declared schema's, with no field to check)."""
        raw_lines, first = self._take()
        _records, where = self._decode(raw_lines, first, self.names, forbid=False)
        for i in where:
            raw = cast(bytes, raw_lines[i])
            self._fh.write(raw if raw.endswith(b"\n") else raw + b"\n")
        self.rows += len(where)

    def close(self) -> None:
        super().close()
        self._fh.close()


def _read(spool: Path) -> pa.Table:
    return pj.read_json(
        spool,
        read_options=pj.ReadOptions(block_size=_BLOCK),
        parse_options=pj.ParseOptions(unexpected_field_behavior="infer"),
    )


def _storable(tp: pa.DataType) -> pa.DataType:
    """The type with every null (a field never seen with a value) made a string: tables cannot hold null."""
    if pa.types.is_null(tp):
        return pa.string()
    if pa.types.is_list(tp) or pa.types.is_large_list(tp):
        return pa.list_(_storable(tp.value_type))
    if pa.types.is_struct(tp):
        return pa.struct(
            [pa.field(tp.field(i).name, _storable(tp.field(i).type)) for i in range(tp.num_fields)]
        )
    return tp


def _column_name(name: str) -> str:
    return f"{name}_" if name in PROVENANCE_NAMES else name


def infer(spools: dict[str, Path]) -> tuple[pa.Schema | None, dict[str, str]]:
    """The unified schema of the spools (task id -> file), and the tasks whose output has none
    (task id -> why). None when no spool holds a record."""
    schemas: list[pa.Schema] = []
    broken: dict[str, str] = {}
    for task_id, spool in spools.items():
        if spool.stat().st_size == 0:
            continue
        try:
            schemas.append(_read(spool).schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            broken[task_id] = f"its output has no single schema ({exc}); declare a schema for this tool"
    if not schemas:
        return None, broken
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    fields = [pa.field(_column_name(f.name), _storable(f.type), nullable=True) for f in unified]
    return pa.schema(fields), broken


def write_spool(
    spool: Path, spec: DatasetSpec, tables_dir: str, run_id: str, *, repo: str, path: str, sha256: str | None
) -> tuple[Part | None, int]:
    """Read one spool into the table's schema and write it as a Parquet part: (part, rows)."""
    if spool.stat().st_size == 0:
        return None, 0
    data = _read(spool)
    data = data.rename_columns([_column_name(n) for n in data.column_names])
    columns = [
        data.column(f.name) if f.name in data.column_names else pa.nulls(data.num_rows, f.type)
        for f in spec.fields
    ]
    widened = pa.table(columns, names=[f.name for f in spec.fields])
    empty = pa.schema(spec.fields).empty_table()
    table = pa.concat_tables([empty, widened], promote_options="permissive").select(empty.column_names)
    table = table.cast(pa.schema(spec.fields))
    batch = with_provenance(
        spec,
        table.combine_chunks().to_batches()[0]
        if table.num_rows
        else pa.RecordBatch.from_pylist([], schema=pa.schema(spec.fields)),
        repo,
        path,
        sha256,
    )
    return write_part(tables_dir, run_id, spec.name, batch), batch.num_rows


def live_fields(table: Any) -> tuple[pa.Field, ...]:
    """The columns (after provenance) of an existing Delta table, or none."""
    if table is None:
        return ()
    return tuple(f for f in pa.schema(table.schema()) if f.name not in PROVENANCE_NAMES)


def ingest_tool(
    tool: ToolPlan,
    log: ResultLog,
    spools: dict[str, Path],
    writer: RunWriter,
    store: Store,
    run_id: str,
) -> int:
    """Infer the table of a schema = "infer" tool from its ok tasks' spools and write their rows
    (its results are the log's held ones: their status and rows change here)."""
    from codequarry.store.writer import open_table

    output = str(tool.output)
    mine = [r for r in log.held_results.values() if r.task.tool == tool.name and r.task.id in spools]
    ok = {r.task.id: spools[r.task.id] for r in mine if r.status == "ok"}
    schema, broken = infer(ok)
    fields = tuple(schema) if schema is not None else live_fields(open_table(store.table_path(output)))
    writer.specs[output] = DatasetSpec(name=output, fields=fields, doc=f"records of tool {tool.name}")
    writer.rows.setdefault(output, 0)
    writer.prepare()
    total = 0
    for r in mine:
        if r.task.id in broken:
            r.outcome.update(status="invalid_output", message=broken[r.task.id], rows=0)
        elif r.task.id in ok:
            part, n = write_spool(
                ok[r.task.id],
                writer.specs[output],
                str(store.tables_dir),
                run_id,
                repo=tool.name,
                path=r.task.group,
                sha256=r.task.sha256,
            )
            if part is not None:
                writer.add(part)
            r.outcome["rows"] = n
            total += n
        else:
            r.outcome["rows"] = 0  # a task not ok keeps no rows
    return total

"""Rows of the ``runs`` table not yet appended to it: ``runs/pending/<run id>.json``.

A run that takes the no-op fast path (:mod:`codequarry.fastpath`) must not import pyarrow and
deltalake only to append one row (0.3 s, the whole budget of such a run). It writes its row here, as
one small JSON file (atomic rename), under the writer lock; the next run that records itself the
normal way (``report.runs.save``, also under the lock) appends the pending rows to the Delta table
in the same write as its own and then deletes them. Readers of ``runs`` add the pending rows that
the table does not hold yet, so a pending run is listed like any other.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codequarry.store import metafile
from codequarry.store.store import RUNS_DIR

if TYPE_CHECKING:
    import pyarrow as pa

PENDING = "pending"
#: a pending row is one small JSON object: a file past this is not one (nor is a FIFO or a symlink,
#: which store.metafile refuses)
PENDING_BYTES = 1 << 20


def pending_dir(store_path: str | Path) -> Path:
    return Path(store_path) / RUNS_DIR / PENDING


def add_pending(store_path: str | Path, row: dict[str, Any]) -> Path:
    """Write one run's row (the ``runs`` table's columns, ``started`` in epoch seconds)."""
    folder = pending_dir(store_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{row['run_id']}.json"
    tmp = folder / f".{row['run_id']}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(row), encoding="utf-8")
    os.replace(tmp, path)
    return path


def pending_rows(store_path: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """The pending rows (and their files), oldest first; an unreadable file is left out."""
    folder = pending_dir(store_path)
    out: list[tuple[Path, dict[str, Any]]] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        try:
            row = json.loads(metafile.read_text(folder / name, PENDING_BYTES))
        except (OSError, ValueError):
            continue
        if isinstance(row, dict) and isinstance(row.get("run_id"), str):
            out.append((folder / name, row))
    out.sort(key=lambda item: (float(item[1].get("started") or 0.0), item[1]["run_id"]))
    return out


def drop_pending(paths: list[Path]) -> None:
    """Delete pending rows once the table holds them (the writer holds the lock)."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def schema() -> pa.Schema:
    """The columns of the ``runs`` table (pyarrow is imported only by those who read or write it)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("started", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("seconds", pa.float64(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("snapshot", pa.int64()),
            pa.field("published", pa.bool_(), nullable=False),
            pa.field("files", pa.int64(), nullable=False),
            pa.field("changed", pa.int64(), nullable=False),
            pa.field("rows", pa.int64(), nullable=False),
            pa.field("errors", pa.int64(), nullable=False),
            pa.field("tasks", pa.int64(), nullable=False),
            pa.field("tasks_not_ok", pa.int64(), nullable=False),
            pa.field("message", pa.string()),
        ]
    )


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of the ``runs`` columns (``started`` in epoch seconds) as an Arrow table."""
    import pyarrow as pa

    cols = schema()
    recs = [{name: row.get(name) for name in cols.names} for row in rows]
    for rec in recs:
        rec["started"] = int(float(rec["started"] or 0.0) * 1_000_000)
    return pa.Table.from_pylist(recs, schema=cols)


def with_pending(store_path: str | Path, data: pa.Table) -> pa.Table:
    """The ``runs`` rows ``data`` read from the table plus the pending rows it does not hold yet."""
    import pyarrow as pa

    pending = pending_rows(store_path)
    if not pending:
        return data
    held = set(data.column("run_id").to_pylist())
    extra = [row for _path, row in pending if row["run_id"] not in held]
    return pa.concat_tables([data, rows_table(extra)]) if extra else data

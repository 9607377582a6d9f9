"""Where run reports live in the store, and the ``runs`` table.

Layout::

    .quarry/runs/<run id>.json   one RunReport per run
    .quarry/runs/table/          the ``runs`` Delta table: one row per run (RunRecord), append-only
    .quarry/runs/pending/        rows of fast-path runs waiting to be appended (store/runlog.py)

Every run is recorded, failed and interrupted ones too, so ``runs`` is a log beside the snapshots,
not part of them: it is queryable by SQL at its latest version (``SELECT * FROM runs``), and a run
that publishes nothing still leaves its row. Only the writer (under the store's lock) appends.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from codequarry.errors import StoreError, UsageError
from codequarry.report import jsonstream
from codequarry.report.jsonstream import CopyOf, Items
from codequarry.report.model import RunRecord, RunReport
from codequarry.store import metafile
from codequarry.store.runlog import add_pending, drop_pending, pending_rows, rows_table, schema, with_pending
from codequarry.store.store import CHECKPOINT_EVERY, RUNS_DIR, odd_log_entry, runs_table_path

COMPACT_FILES = 64  # the runs table is rewritten in one file when it has more than this many
DEFER_AT = 8  # a deferred row waits with the pending ones until this many would wait (see save)

SCHEMA = schema()
_ID = re.compile(r"^[0-9a-f]{1,32}$")


def runs_dir(store_path: str | Path) -> Path:
    return Path(store_path) / RUNS_DIR


def _open(where: str | Path) -> Any:
    """The runs table at ``where`` (its latest version); a StoreError when its log holds a FIFO, a
    device or a symlink, which deltalake would wait on forever or follow out of the store."""
    from deltalake import DeltaTable

    odd = odd_log_entry(where)
    if odd:
        raise StoreError(f"the runs table '{where}' is damaged: {odd}; remove that entry")
    return DeltaTable(str(where))


def table_path(store_path: str | Path) -> Path:
    return runs_table_path(store_path)


def report_path(store_path: str | Path, run_id: str) -> Path:
    return runs_dir(store_path) / f"{run_id}.json"


def save(store_path: str | Path, report: RunReport, *, defer: bool = False) -> Path:
    """Write the report's JSON and append its row to the ``runs`` table (the caller holds the lock).

    ``defer`` (an extract run's, by the command or the API): the row joins the pending rows of
    fast-path runs (store/runlog.py), which every reader of ``runs`` reads with the table, unless
    ``DEFER_AT`` rows would then wait or the table does not exist yet; the run that reaches
    ``DEFER_AT`` appends them all in one commit. Opening the table and committing one row cost ~8 ms of a one-file run."""
    folder = runs_dir(store_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = report_path(store_path, report.run_id)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if report.streamed:  # a tools run's tasks and report.json, written piece by piece
        doc = report.model_dump(mode="json")
        doc["tasks"] = Items(t.model_dump(mode="json") for t in report.iter_tasks())
        if report.tools_file is not None:
            doc["tools"] = CopyOf(report.tools_file)
        with open(tmp, "w", encoding="utf-8") as fh:
            jsonstream.dump(doc, fh, indent=1, ensure_ascii=False)
    else:
        tmp.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    os.replace(tmp, path)
    where = str(table_path(store_path))
    deferred = defer and not report.streamed and os.path.isdir(os.path.join(where, "_delta_log"))
    if deferred and len(pending_rows(store_path)) + 1 < DEFER_AT:
        add_pending(store_path, report.record().model_dump())
        return path
    from deltalake import write_deltalake

    # opened once: the append and the compaction check use the same table (each open replays the
    # log since its last checkpoint: ~5-20 ms of a one-file run's CPU, docs/fast-path.md)
    table = _open(where) if (Path(where) / "_delta_log").is_dir() else None
    pending = pending_rows(store_path)  # rows of fast-path runs (store/runlog.py), appended with ours
    if pending and table is not None:  # a row appended before a crash stays once
        held = set(_read(table).column("run_id").to_pylist())
        drop_pending([p for p, row in pending if row["run_id"] in held])
        pending = [(p, row) for p, row in pending if row["run_id"] not in held]
    recs = [row for _path, row in pending] + [report.record().model_dump()]
    batch = rows_table(recs)
    if table is None or not _append(table, where, batch):
        write_deltalake(table if table is not None else where, batch, mode="append")
    drop_pending([p for p, _row in pending])
    if table is None:
        table = _open(where)
    else:
        table.update_incremental()
    if table.version() % CHECKPOINT_EVERY == 0 and len(table.file_uris()) <= COMPACT_FILES:
        table.create_checkpoint()  # opens replay at most CHECKPOINT_EVERY appends (Delta's default: 100)
    if len(table.file_uris()) > COMPACT_FILES:
        write_deltalake(where, _read(table), mode="overwrite")
        table = _open(where)
        table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        table.create_checkpoint()  # readers then skip the log of every earlier append
    return path


def _append(table: Any, where: str, batch: pa.Table) -> bool:
    """Append ``batch`` as one new part and one commit on the opened ``table`` (what
    ``write_deltalake`` does, without its writer and its scan of the schema: ~5 ms of a one-file
    run); False when the table's schema is not the runs table's (the caller writes the general way)."""
    import time

    from deltalake import Schema as DeltaSchema

    from codequarry.store.indexed import add_action
    from codequarry.store.warm import write_rows

    if not pa.schema(table.schema().to_arrow()).equals(SCHEMA):
        return False
    add = add_action(*write_rows(where, batch), int(time.time() * 1000))
    table.create_write_transaction([add], mode="append", schema=DeltaSchema.from_arrow(SCHEMA))
    return True


def _read(table: object) -> pa.Table:
    from codequarry.store.store import dataset_of

    return dataset_of(table).to_table().cast(SCHEMA)


def runs_table(store_path: str | Path) -> pa.Table:
    """The ``runs`` table, oldest run first (empty when no run was recorded), with the rows of
    fast-path runs that the next writer has not appended yet (store/runlog.py)."""
    from deltalake.exceptions import TableNotFoundError

    try:
        data = _read(_open(table_path(store_path)))
    except TableNotFoundError:
        data = SCHEMA.empty_table()
    return with_pending(store_path, data).sort_by([("started", "ascending"), ("run_id", "ascending")])


def list_runs(store_path: str | Path) -> list[RunRecord]:
    """Every recorded run, oldest first."""
    out = []
    for row in runs_table(store_path).to_pylist():
        row["started"] = row["started"].timestamp()
        out.append(RunRecord(**row))
    return out


def resolve(store_path: str | Path, run: str | None = None) -> str:
    """A run id from RUN: a full id, a unique prefix, 'latest' or None (the last run), or -N (N-th last)."""
    runs = list_runs(store_path)
    if not runs:
        raise StoreError(
            f"store '{store_path}' has no recorded runs yet: run 'quarry extract' or 'quarry run'"
        )
    if run is None or run == "latest":
        return runs[-1].run_id
    if re.fullmatch(r"-\d+", run):
        n = int(run[1:])
        if not 1 <= n <= len(runs):
            raise UsageError(f"run {run}: the store has {len(runs)} recorded run(s)")
        return runs[-n].run_id
    if not _ID.match(run):
        raise UsageError(f"'{run}' is not a run id (hex digits; see 'quarry runs')")
    found = [r.run_id for r in runs if r.run_id.startswith(run)]
    if not found:
        raise UsageError(f"no run '{run}' in store '{store_path}' (see 'quarry runs')")
    if len(set(found)) > 1:
        raise UsageError(f"run '{run}' is ambiguous: {', '.join(sorted(set(found))[:5])}")
    return found[0]


def load(store_path: str | Path, run: str | None = None) -> RunReport:
    """The report of a run (see :func:`resolve` for RUN)."""
    run_id = resolve(store_path, run)
    path = report_path(store_path, run_id)
    try:
        return RunReport.model_validate(json.loads(metafile.read_text(path)))
    except FileNotFoundError:
        raise StoreError(f"the report of run {run_id} is missing ({path})") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"the report of run {run_id} cannot be read ({path}): {exc}") from None

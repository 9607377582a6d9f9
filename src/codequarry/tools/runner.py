"""``quarry run``: a resolved recipe executed end to end, published as one snapshot, with a report.

Order of a run: the ``[extract]`` section first (it takes and releases the writer lock itself),
then, under the writer lock for the rest of the run: roll back what a dead run left, decide from
the cache and the live snapshot what must run, run it under the budgets, drop the rows of tasks
that did not end ok, commit every changed table in one Delta transaction each, publish one
snapshot that keeps every other table, and only then record the results in the cache.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from codequarry.parts import write_part
from codequarry.progress import ProgressFile
from codequarry.report.collect import RunRecorder
from codequarry.report.html import render_html
from codequarry.schema import DatasetSpec
from codequarry.store import Snapshot, Store
from codequarry.store.transaction import RunTransaction, begin_run
from codequarry.store.writer import RunWriter, open_table
from codequarry.tools import infer, presets
from codequarry.tools import report as reports
from codequarry.tools.cache import ResultCache
from codequarry.tools.jsonl import ERRORS, PART_ROWS, TableSink
from codequarry.tools.planned import TaskPlan, ToolPlan, ToolsPlan
from codequarry.tools.process import NOT_OK
from codequarry.tools.progress import NullView, StreamedView, TrackedView
from codequarry.tools.results import (
    Decision,
    RunRows,
    ToolRun,
    batch_of,
    decide,
    live_groups,
    live_runs,
    replacements,
    run_row,
)
from codequarry.tools.scheduler import Finished, order_tasks, run_all
from codequarry.tools.schema import RecordChecker
from codequarry.tools.summary import TaskResult, ToolsSummary
from codequarry.tools.task import execute_task

RUN_PART_ROWS = 16384  # tool_runs rows per part (what the parent holds of them at most)


def run_recipe(
    plan: ToolsPlan,
    *,
    scheduler: str = "fifo",
    rerun_failed: bool = False,
    no_cache: bool = False,
    report: str | Path | None = None,
    view: Any = None,
    part_rows: int = PART_ROWS,
    stop: threading.Event | None = None,
) -> ToolsSummary:
    """Run the plan's extraction (if any), then its tools; publish one snapshot; write the report."""
    started = time.time()
    extract_summary = None
    if plan.extract is not None:
        from codequarry.run import extract

        extract_summary = extract(plan.extract_plan or plan.extract).to_json()
    store = Store.create(plan.store)
    recorder = RunRecorder("tools", store.path, workers=plan.budget.cores)
    with begin_run(store, "tools", specs=specs_of(plan), recorder=recorder) as txn:
        tracker = ProgressFile(store.path, kind="run", run_id=txn.run_id)
        try:
            summary = _run(
                plan,
                txn,
                scheduler=scheduler,
                rerun_failed=rerun_failed,
                no_cache=no_cache,
                view=view or NullView(),
                part_rows=part_rows,
                stop=stop,
                started=started,
                tracker=tracker,
            )
        except BaseException as exc:
            tracker.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        tracker.finish(
            "interrupted" if summary.interrupted else "published" if summary.published else "up-to-date",
            snapshot=summary.snapshot,
        )
        summary.extract = extract_summary
        summary.report = reports.build(
            plan, summary, scheduler=scheduler, rerun_failed=rerun_failed, started=started
        )
        run_report = recorder.finish_tools(summary, summary.report)
        html = render_html(run_report)  # written beside every report.json (the recorder saves the JSON)
        summary.report_path = str(
            reports.write(summary.report, store.path, summary.run_id, report, html=html)
        )
    if recorder.save_error:
        summary.notes.append(recorder.save_error)
    return summary


def specs_of(plan: ToolsPlan) -> dict[str, DatasetSpec]:
    specs: dict[str, DatasetSpec] = {"tool_runs": cast(DatasetSpec, ToolRun)}
    for tool in plan.tools:
        if tool.output:
            if not tool.infer:  # an inferred table's spec is known once its tasks have run
                specs[tool.output] = DatasetSpec(
                    name=tool.output, fields=tuple(tool.fields), doc=f"records of tool {tool.name}"
                )
            specs["errors"] = ERRORS
        dataset = presets.get(tool.preset).dataset
        if dataset is not None:
            specs[dataset.name] = dataset
    return specs


def _run(
    plan: ToolsPlan,
    txn: RunTransaction,
    *,
    scheduler: str,
    rerun_failed: bool,
    no_cache: bool,
    view: Any,
    part_rows: int,
    stop: threading.Event | None,
    started: float,
    tracker: ProgressFile | None = None,
) -> ToolsSummary:
    """The run under the writer lock. The store's sequence (roll back, prepare, add parts, commit,
    publish one snapshot, compact) is written here and only here; the tasks run in between."""
    t0 = time.perf_counter()
    store, run_id, previous = txn.store, txn.run_id, txn.previous
    notes = list(txn.notes)
    if not plan.tasks:  # an [extract]-only recipe: the extraction published its own snapshot
        return _summary(run_id, store, previous, notes)
    writer = txn.writer
    rebuilt = txn.prepare()
    notes += writer.notes
    cache = ResultCache(store.path)
    decision, durations = _decide(plan, cache, store, previous, rerun_failed, no_cache, rebuilt)
    if tracker is not None:
        view = TrackedView(view, tracker, len(decision.run))
    done = _execute(plan, decision, writer, store, run_id, scheduler, durations, view, part_rows, stop)
    groups, restored = _add_parts(plan, decision, done, writer, store, run_id)
    kept = [
        TaskResult(t, dict(e["outcome"]), list(e.get("preset_rows", [])), cached=True)
        for t, e in decision.kept
    ]
    summary = _summary(run_id, store, previous, notes, done, [*done.ran, *restored, *kept])
    if decision.stale:
        summary.notes.append(f"dropped the rows of {len(decision.stale)} target(s) no longer in the recipe")
    if groups:
        states = txn.commit(replacements(plan, groups))
        snap = txn.publish(states, run=_run_info(plan, previous, run_id, started, summary))
        summary.snapshot, summary.published = snap.id, True
        summary.notes += txn.compaction_notes
    _remember(cache, done.ran, decision)
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def _decide(
    plan: ToolsPlan,
    cache: ResultCache,
    store: Store,
    previous: Snapshot | None,
    rerun_failed: bool,
    no_cache: bool,
    rebuilt: set[str] | frozenset[str],
) -> tuple[Decision, dict[str, float]]:
    """Which tasks run, which keep their live rows and which come from the cache, from the previous
    snapshot's runs; and each live task's last wall time (the scheduler's shortest/longest order)."""
    names = [t.name for t in plan.tools]
    live = live_runs(store, previous, names)
    decision = decide(
        plan,
        cache,
        live,
        live_groups(store, previous, names),
        rerun_failed=rerun_failed,
        no_cache=no_cache,
        rebuilt=rebuilt,
    )
    return decision, {k: v.wall_seconds for k, v in live.items()}


def _run_info(
    plan: ToolsPlan, previous: Snapshot | None, run_id: str, started: float, summary: ToolsSummary
) -> dict[str, Any]:
    """The snapshot's run metadata: the previous snapshot's, with this tools run under "tools"."""
    run_info = dict(previous.run) if previous else {}
    run_info["tools"] = {
        "run_id": run_id,
        "recipe": plan.recipe,
        "started": started,
        "statuses": summary.statuses,
        "interrupted": summary.interrupted,
    }
    return run_info


@dataclass
class _Executed:
    """What running a decision's tasks left: the scheduler's verdict, the sinks holding their rows
    (parts not yet added), and the rows written so far per table."""

    finished: Finished
    sinks: dict[str, TableSink]
    errors: TableSink
    rows: Counter[str]
    runs: TableSink  # the tool_runs rows of the tasks that ran (but those of inferred tools)
    held: set[str]  # the tools whose tool_runs rows are made after the run (schema = "infer")

    @property
    def ran(self) -> list[TaskResult]:
        return self.finished.results


def _execute(
    plan: ToolsPlan,
    decision: Decision,
    writer: RunWriter,
    store: Store,
    run_id: str,
    scheduler: str,
    durations: dict[str, float],
    view: Any,
    part_rows: int,
    stop: threading.Event | None,
) -> _Executed:
    """Run the tasks the decision says must run, under the budgets; JSON-lines records stream into
    one sink per table, and an inferred tool's table is written once its tasks have ended."""
    sinks, errors, runs = _open_sinks(plan, writer, store, run_id, part_rows)
    spool_dir = store.path / f".spool-{run_id}"
    spools: dict[str, Path] = {}
    held = {t.name for t in plan.tools if t.infer}
    run_rows = RunRows(runs, run_id)
    execute = _task_executor(plan, sinks, errors, view, spool_dir, spools)
    try:
        finished = run_all(
            order_tasks(decision.run, scheduler, durations),
            plan.budget,
            execute,
            view=StreamedView(view, run_rows, held),
            stop=stop,
            is_ok=lambda r: r.status not in NOT_OK,
        )
        rows: Counter[str] = Counter()
        for tool in plan.tools:
            if tool.infer:
                rows[str(tool.output)] += _ingest_inferred(
                    tool, finished.results, spools, writer, store, run_id
                )
    finally:
        run_rows.flush()
        shutil.rmtree(spool_dir, ignore_errors=True)
    return _Executed(finished, sinks, errors, rows, runs, held)


def _open_sinks(
    plan: ToolsPlan, writer: RunWriter, store: Store, run_id: str, part_rows: int
) -> tuple[dict[str, TableSink], TableSink, TableSink]:
    """The run's sinks: one per declared JSON-lines table (an inferred tool's table has none: it is
    written from its spools), the errors table's and the tool_runs table's."""
    tables_dir = str(store.tables_dir)
    sinks = {
        t.output: TableSink(tables_dir, run_id, writer.specs[t.output], part_rows)
        for t in plan.tools
        if t.output and not t.infer
    }
    errors = TableSink(tables_dir, run_id, ERRORS, part_rows)
    runs = TableSink(tables_dir, run_id, writer.specs["tool_runs"], RUN_PART_ROWS)
    return sinks, errors, runs


def _task_executor(
    plan: ToolsPlan,
    sinks: dict[str, TableSink],
    errors: TableSink,
    view: Any,
    spool_dir: Path,
    spools: dict[str, Path],
) -> Callable[[TaskPlan, threading.Event], TaskResult]:
    """What a scheduler thread calls for each task: run it, its records checked into its tool's sink,
    or, for an inferred tool, spooled to a file named in ``spools``."""
    checkers = {
        t.name: RecordChecker(t.declared_fields, t.extra) for t in plan.tools if t.output and not t.infer
    }

    def execute(task: TaskPlan, stop_event: threading.Event) -> TaskResult:
        tool = plan.tool(task.tool)
        if tool.infer:
            spool_dir.mkdir(exist_ok=True)
            spools[task.id] = spool_dir / f"{hashlib.sha256(task.id.encode()).hexdigest()[:24]}.jsonl"
        return execute_task(
            plan,
            tool,
            task,
            stop_event,
            sinks=sinks,
            errors=errors,
            checkers=checkers,
            view=view,
            spool=spools.get(task.id),
        )

    return execute


def _add_parts(
    plan: ToolsPlan, decision: Decision, done: _Executed, writer: RunWriter, store: Store, run_id: str
) -> tuple[set[tuple[str, str]], list[TaskResult]]:
    """Hand every part of the run to the writer: the sinks' (without the rows of tasks not ok), the
    tool_runs and preset rows of the tasks that ran and of those restored from the cache.
    Returns the groups the commit rewrites and the restored results."""
    ran, rows = done.ran, done.rows
    # groups whose tasks to run were all left unstarted by Ctrl-C keep their rows as they are
    run_groups = {(t.tool, t.group) for t in decision.run}
    done_groups = {(r.task.tool, r.task.group) for r in ran}
    untouched = run_groups - done_groups
    groups = (decision.groups - untouched) | decision.stale
    for output, sink in done.sinks.items():
        drop = {
            (r.task.tool, r.task.group)
            for r in ran
            if plan.tool(r.task.tool).output == output and r.status != "ok"
        }
        for part in sink.finish(drop):
            writer.add(part)
        rows[output] += sink.rows
    for part in done.errors.finish():
        writer.add(part)
    rows["errors"] += done.errors.rows
    restored = [
        TaskResult(t, dict(e["outcome"]), list(e.get("preset_rows", [])), cached=True)
        for t, e in decision.restore
        if (t.tool, t.group) in groups
    ]
    run_rows = [
        run_row(r.task, r.outcome, run_id=run_id, cached=False) for r in ran if r.task.tool in done.held
    ]
    run_rows += [run_row(r.task, r.outcome, run_id=run_id, cached=True) for r in restored]
    if run_rows:  # into the same sink as the rows streamed while the tasks ran (one part, as before)
        done.runs.add(batch_of(writer.specs["tool_runs"], run_rows), ("", ""))
    for part in done.runs.finish():
        writer.add(part)
    if done.runs.rows:
        rows["tool_runs"] += done.runs.rows
    tables_dir = str(store.tables_dir)
    for name, table_rows in _preset_tables(plan, [*ran, *restored]).items():
        writer.add(write_part(tables_dir, run_id, name, batch_of(writer.specs[name], table_rows)))
        rows[name] += len(table_rows)
    return groups, restored


def _summary(
    run_id: str,
    store: Store,
    previous: Snapshot | None,
    notes: list[str],
    done: _Executed | None = None,
    results: list[TaskResult] | None = None,
) -> ToolsSummary:
    """The summary before the commit: the live snapshot, nothing published yet."""
    return ToolsSummary(
        run_id=run_id,
        store=str(store.path),
        snapshot=previous.id if previous else None,
        published=False,
        interrupted=done.finished.interrupted if done else False,
        results=results or [],
        not_started=done.finished.not_started if done else [],
        seconds=0.0,
        rows=dict(done.rows) if done else {},
        notes=notes,
    )


def _preset_tables(plan: ToolsPlan, results: list[TaskResult]) -> dict[str, list[dict[str, Any]]]:
    """The rows of the presets' result tables, per table, from the results that ran or were restored."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        dataset = presets.get(plan.tool(r.task.tool).preset).dataset
        if dataset is not None and r.preset_rows:
            out.setdefault(dataset.name, []).extend(r.preset_rows)
    return out


def _ingest_inferred(
    tool: ToolPlan,
    ran: list[TaskResult],
    spools: dict[str, Path],
    writer: RunWriter,
    store: Store,
    run_id: str,
) -> int:
    """Infer the table of a schema = "infer" tool from its ok tasks' spools and write their rows."""
    output = str(tool.output)
    mine = [r for r in ran if r.task.tool == tool.name and r.task.id in spools]
    ok = {r.task.id: spools[r.task.id] for r in mine if r.status == "ok"}
    schema, broken = infer.infer(ok)
    fields = tuple(schema) if schema is not None else infer.live_fields(open_table(store.table_path(output)))
    writer.specs[output] = DatasetSpec(name=output, fields=fields, doc=f"records of tool {tool.name}")
    writer.rows.setdefault(output, 0)
    writer.prepare()
    total = 0
    for r in mine:
        if r.task.id in broken:
            r.outcome.update(status="invalid_output", message=broken[r.task.id], rows=0)
        elif r.task.id in ok:
            part, n = infer.write_spool(
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


def _remember(cache: ResultCache, ran: list[TaskResult], decision: Decision) -> None:
    """Cache every finished result but 'killed' (written after the publish, never before)."""
    for r in ran:
        if r.status != "killed":
            cache.put(
                r.task.key,
                {
                    "task_id": r.task.id,
                    "tool": r.task.tool,
                    "outcome": r.outcome,
                    "preset_rows": r.preset_rows,
                },
            )
    for task, _entry in [*decision.kept, *decision.restore]:
        cache.touch(task.key)

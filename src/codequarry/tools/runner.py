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
from collections.abc import Callable, Iterator
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
from codequarry.store.writer import RunWriter
from codequarry.tools import infer, presets
from codequarry.tools import report as reports
from codequarry.tools.cache import ResultCache
from codequarry.tools.jsonl import ERRORS, PART_ROWS, TableSink
from codequarry.tools.outcomes import NOT_STARTED, ResultLog, drop_dead_logs
from codequarry.tools.planned import TaskPlan, TaskRows, ToolsPlan
from codequarry.tools.process import NOT_OK, release_cgroups
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

# tool_runs rows per part (what the parent holds of them at most): writing a part of 16,384 rows
# raised the parent's peak by ~18 MB more than one of 4,096 (Arrow's allocator keeps what a write used)
RUN_PART_ROWS = 4096


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
    log: ResultLog | None = None
    try:
        with begin_run(store, "tools", specs=specs_of(plan), recorder=recorder) as txn:
            drop_dead_logs(store.path)
            held = {t.name for t in plan.tools if t.infer}
            log = ResultLog(store.path / f".results-{txn.run_id}.jsonl", plan.tasks, held)
            tracker = ProgressFile(store.path, kind="run", run_id=txn.run_id)
            try:
                summary, digest = _run(
                    plan,
                    txn,
                    log,
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
            _report(plan, summary, log, digest, recorder, report, scheduler, rerun_failed, started)
    finally:
        if log is not None:
            log.close()  # after the recorder saved the run record, which reads it
    if recorder.save_error:
        summary.notes.append(recorder.save_error)
    return summary


def _report(
    plan: ToolsPlan,
    summary: ToolsSummary,
    log: ResultLog,
    digest: reports.Digest,
    recorder: RunRecorder,
    target: str | Path | None,
    scheduler: str,
    rerun_failed: bool,
    started: float,
) -> None:
    """Write report.json and the HTML report, give the recorder the run record (saved when the
    transaction ends), and keep the human summary in ``summary.lines``: each reads the results
    back from the log, one at a time."""
    report = reports.build(
        plan, summary, log, scheduler=scheduler, rerun_failed=rerun_failed, started=started
    )
    paths = reports.write(report, Path(summary.store), summary.run_id, target)
    summary.report_path = str(paths[-1])
    summary.report_summary = report["summary"]

    def entries() -> Iterator[dict[str, Any]]:
        return reports.results(log)

    run_report = recorder.finish_tools(summary, report, summary.report_file, lambda: iter(log), entries)
    reports.write_html(paths, render_html(run_report))
    summary.lines = reports.render(report, summary.report_path, entries=entries, digest=digest)


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
    log: ResultLog,
    *,
    scheduler: str,
    rerun_failed: bool,
    no_cache: bool,
    view: Any,
    part_rows: int,
    stop: threading.Event | None,
    started: float,
    tracker: ProgressFile | None = None,
) -> tuple[ToolsSummary, reports.Digest]:
    """The run under the writer lock. The store's sequence (roll back, prepare, add parts, commit,
    publish one snapshot, compact) is written here and only here; the tasks run in between. Every
    result goes to ``log`` (ran, then restored, then cached and kept); the summary holds counts."""
    t0 = time.perf_counter()
    store, run_id, previous = txn.store, txn.run_id, txn.previous
    notes = list(txn.notes)
    if not plan.tasks:  # an [extract]-only recipe: the extraction published its own snapshot
        return _summary(plan, run_id, store, previous, notes), reports.Digest()
    _refuse_repo_names(plan, previous)
    writer = txn.writer
    rebuilt = txn.prepare()
    notes += writer.notes
    cache = ResultCache(store.path)
    decision, durations = _decide(plan, cache, store, previous, rerun_failed, no_cache, rebuilt)
    if tracker is not None:
        view = TrackedView(view, tracker, len(decision.run))
    done = _execute(plan, decision, writer, store, run_id, scheduler, durations, view, part_rows, stop, log)
    groups, changed = _add_parts(plan, decision, done, writer, store, run_id, log, cache)
    for row in decision.kept:
        task = plan.tasks[row]
        entry = cache.get(task.key) or {}
        log.add(TaskResult(task, dict(entry["outcome"]), list(entry.get("preset_rows", [])), cached=True))
    digest = reports.Digest.of(reports.results(log))
    summary = _summary(plan, run_id, store, previous, notes, done, digest)
    if decision.stale:
        summary.notes.append(f"dropped the rows of {len(decision.stale)} target(s) no longer in the recipe")
    if changed:
        states = txn.commit(replacements(plan, groups))
        snap = txn.publish(states, run=_run_info(plan, previous, run_id, started, summary))
        summary.snapshot, summary.published = snap.id, True
        summary.notes += txn.compaction_notes
    _remember(cache, plan, log, decision)
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary, digest


def _refuse_repo_names(plan: ToolsPlan, previous: Snapshot | None) -> None:
    """A tool's name is its rows' repo: one named like a repo of the corpus shared its keys (repo,
    path), so a run of the tool replaced the corpus's errors rows of the same paths (and an extract
    the tool's)."""
    from codequarry.errors import UsageError
    from codequarry.repos import registry

    clash = sorted({t.name for t in plan.tools} & set(registry(previous)))
    if clash:
        raise UsageError(
            f"tool '{clash[0]}' has the name of a repo of this store: a tool's rows and a repo's share "
            f"their keys (repo, path), so either would replace the other's errors rows; rename the tool"
        )


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
    (parts not yet added), and the rows written so far per table (the results are in the log)."""

    finished: Finished
    sinks: dict[str, TableSink]
    errors: TableSink
    rows: Counter[str]
    runs: TableSink  # the tool_runs rows of the tasks that ran (but those of inferred tools)
    held: set[str]  # the tools whose tool_runs rows are made after the run (schema = "infer")


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
    log: ResultLog,
) -> _Executed:
    """Run the tasks the decision says must run, under the budgets; JSON-lines records stream into
    one sink per table, each result into ``log``, and an inferred tool's table is written once its
    tasks have ended."""
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
            on_result=log.add,
        )
        log.mark_not_started([t.row for t in finished.not_started])
        rows: Counter[str] = Counter()
        for tool in plan.tools:
            if tool.infer:
                rows[str(tool.output)] += infer.ingest_tool(tool, log, spools, writer, store, run_id)
    finally:
        release_cgroups()  # the emptied task cgroups kept for reuse
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
    environments: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}  # this run's, per tool env

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
            environments=environments,
        )

    return execute


def _add_parts(
    plan: ToolsPlan,
    decision: Decision,
    done: _Executed,
    writer: RunWriter,
    store: Store,
    run_id: str,
    log: ResultLog,
    cache: ResultCache,
) -> tuple[set[tuple[str, str]], bool]:
    """Hand every part of the run to the writer: the sinks' (without the rows of tasks not ok), the
    tool_runs and preset rows of the tasks that ran and of those restored from the cache (which
    join the log). Returns the groups whose live rows the commit drops, and whether anything changed."""
    rows = done.rows
    untouched = _untouched(plan, decision, log) if done.finished.interrupted else set()
    for output, sink in done.sinks.items():
        drop = {g for g in log.not_ok_groups if plan.tool(g[0]).output == output}
        for part in sink.finish(drop):
            writer.add(part)
        rows[output] += sink.rows
    for part in done.errors.finish():
        writer.add(part)
    rows["errors"] += done.errors.rows
    run_rows = [run_row(r.task, r.outcome, run_id=run_id, cached=False) for r in log.held_results.values()]
    for row, entry in decision.restore:
        task = plan.tasks[row]
        if (task.tool, task.group) in untouched:
            continue
        restored = TaskResult(task, dict(entry["outcome"]), list(entry.get("preset_rows", [])), cached=True)
        log.add(restored)
        run_rows.append(run_row(task, restored.outcome, run_id=run_id, cached=True))
    if run_rows:  # into the same sink as the rows streamed while the tasks ran (one part, as before)
        done.runs.add(batch_of(writer.specs["tool_runs"], run_rows), ("", ""))
    for part in done.runs.finish():
        writer.add(part)
    if done.runs.rows:
        rows["tool_runs"] += done.runs.rows
    _write_preset_tables(plan, log, writer, store, run_id, rows)
    changed = decision.rewritten > len(untouched) or bool(decision.stale)
    return (decision.groups - untouched) | decision.stale, changed


def _untouched(plan: ToolsPlan, decision: Decision, log: ResultLog) -> set[tuple[str, str]]:
    """After Ctrl-C: the groups none of whose tasks to run started (they keep their rows as they are)."""
    started: set[tuple[str, str]] = set()
    waiting: set[tuple[str, str]] = set()
    for task in decision.run:
        key = (task.tool, task.group)
        (waiting if log.state[task.row] == NOT_STARTED else started).add(key)
    return waiting - started


def _summary(
    plan: ToolsPlan,
    run_id: str,
    store: Store,
    previous: Snapshot | None,
    notes: list[str],
    done: _Executed | None = None,
    digest: reports.Digest | None = None,
) -> ToolsSummary:
    """The summary before the commit: the live snapshot, nothing published yet."""
    return ToolsSummary(
        run_id=run_id,
        store=str(store.path),
        snapshot=previous.id if previous else None,
        published=False,
        interrupted=done.finished.interrupted if done else False,
        not_started=TaskRows(plan.tasks, [t.row for t in done.finished.not_started] if done else []),
        seconds=0.0,
        rows=dict(done.rows) if done else {},
        counts=dict(digest.statuses) if digest else {},
        notes=notes,
        tasks=plan.tasks,
    )


def _write_preset_tables(
    plan: ToolsPlan, log: ResultLog, writer: RunWriter, store: Store, run_id: str, rows: Counter[str]
) -> None:
    """The rows of the presets' result tables, from the results that ran or were restored (read
    back from the log, a part every PART_ROWS rows per table)."""
    datasets = {t.name: presets.get(t.preset).dataset for t in plan.tools}
    if not any(datasets.values()):
        return
    pending: dict[str, list[dict[str, Any]]] = {}
    tables_dir = str(store.tables_dir)

    def flush(name: str) -> None:
        got = pending.pop(name, [])
        if got:
            writer.add(write_part(tables_dir, run_id, name, batch_of(writer.specs[name], got)))
            rows[name] += len(got)

    for r in log:
        dataset = datasets[r.task.tool]
        if dataset is not None and r.preset_rows:
            pending.setdefault(dataset.name, []).extend(r.preset_rows)
            if len(pending[dataset.name]) >= PART_ROWS:
                flush(dataset.name)
    for name in list(pending):
        flush(name)


def _remember(cache: ResultCache, plan: ToolsPlan, log: ResultLog, decision: Decision) -> None:
    """Cache every finished result but 'killed' (written after the publish, never before), read
    back from the log."""
    for r in log:
        if not r.cached and r.status != "killed":
            cache.put(
                r.task.key,
                {
                    "task_id": r.task.id,
                    "tool": r.task.tool,
                    "outcome": r.outcome,
                    "preset_rows": r.preset_rows,
                },
            )
    for row in [*decision.kept, *(r for r, _ in decision.restore)]:
        cache.touch(plan.tasks[row].key)

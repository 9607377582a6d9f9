"""Tool results as store tables, and what a run must redo given the cache and the live snapshot.

Every row a tool writes has ``repo`` = the tool's name and ``path`` = its target (a preset may
group several tasks under one path: Tamarin's lemmas under their theory). The unit of replacement
is that pair, a *group*: when any task of a group runs again, all the group's rows in
``tool_runs``, the tool's output table, ``errors`` and its preset's result table (such as
``tamarin_results``) are replaced, the other tasks of the group being restored from the cache. A
group whose tasks are all cached and whose live rows carry the same cache keys is left alone, so
an unchanged re-run writes nothing. Groups of the recipe's tools that the recipe no longer names
are dropped, so the tables mirror the recipe.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.parts import Replacement
from codequarry.schema import DatasetSpec, dataset
from codequarry.store import Snapshot, Store
from codequarry.store.store import live_dataset
from codequarry.tools import presets
from codequarry.tools.cache import ResultCache
from codequarry.tools.planned import TaskPlan, TaskRows, TaskTable, ToolsPlan


@dataset("tool_runs")
class ToolRun:
    """One row per task of an external tool: what ran, under which limits, and how it ended."""

    task_id: str
    tool: str
    target: str
    lemma: str | None
    executable: str | None
    argv: list[str]
    cwd: str
    status: str  # ok, failed, timeout, memory_limit, killed, invalid_output
    exit_code: int | None
    signal: int | None
    wall_seconds: float
    cpu_seconds: float
    peak_memory: int  # bytes, whole process tree
    cores: int
    memory_limit: int  # bytes
    timeout: float
    limit_mechanism: str  # cgroup-v2, cgroup-v1, rlimit_as+sampling, or sampling
    stderr_tail: str
    message: str | None
    rows: int  # records written (JSON-lines tools)
    invalid_lines: int
    cache_key: str
    cached: bool  # restored from the cache instead of run
    run_id: str
    started: float


@dataclass
class Live:
    """A tool_runs row of the published snapshot."""

    path: str
    cache_key: str
    status: str
    wall_seconds: float


def live_runs(store: Store, snapshot: Snapshot | None, tools: list[str]) -> dict[str, Live]:
    """task_id -> its row in the published tool_runs table (for the given tools)."""
    if snapshot is None or "tool_runs" not in snapshot.tables or not tools:
        return {}
    cols = ["repo", "path", "task_id", "cache_key", "status", "wall_seconds"]
    data = live_dataset(store, "tool_runs", snapshot.tables["tool_runs"].version).to_table(
        columns=cols, filter=pc.field("repo").isin(tools)
    )
    out = {}
    for _repo, path, task_id, key, status, wall in zip(
        *(data.column(c).to_pylist() for c in cols), strict=True
    ):
        out[task_id] = Live(path, key, status, wall)
    return out


def live_groups(store: Store, snapshot: Snapshot | None, tools: list[str]) -> set[tuple[str, str]]:
    """(tool, path) pairs holding rows in tool_runs now."""
    if snapshot is None or "tool_runs" not in snapshot.tables or not tools:
        return set()
    data = live_dataset(store, "tool_runs", snapshot.tables["tool_runs"].version).to_table(
        columns=["repo", "path"], filter=pc.field("repo").isin(tools)
    )
    return set(zip(data.column("repo").to_pylist(), data.column("path").to_pylist(), strict=True))


@dataclass
class Decision:
    """What a run does with each planned task, by its row in the plan's TaskTable (no TaskPlan held:
    10^5 of them would cost the parent hundreds of MB)."""

    run: TaskRows  # to execute, group by group in plan order
    restore: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # rows re-added from the cache
    kept: list[int] = field(default_factory=list)  # cached, rows already live (their entry read when needed)
    groups: set[tuple[str, str]] = field(default_factory=set)  # (tool, path) rewritten this run, rows live
    rewritten: int = 0  # groups rewritten this run (with or without live rows)
    stale: set[tuple[str, str]] = field(default_factory=set)  # (tool, path) no longer in the recipe

    def states(self) -> dict[int, str]:
        """Each planned task's row -> run, cached (restored) or cached."""
        out = dict.fromkeys(range(len(self.run.table)), "cached")
        out.update((r, "cached (restored)") for r, _ in self.restore)
        out.update((r, "run") for r in self.run.rows)
        return out


def decide(
    plan: ToolsPlan,
    cache: ResultCache,
    live: dict[str, Live],
    groups_now: set[tuple[str, str]],
    *,
    rerun_failed: bool = False,
    no_cache: bool = False,
    rebuilt: set[str] | frozenset[str] = frozenset(),
) -> Decision:
    """Which tasks run, which come from the cache, and which groups of rows are rewritten.
    ``groups`` keeps only the rewritten groups that hold live rows (the only ones the commit must
    drop), so a cold run of 10^5 tasks holds no set of 10^5 groups."""
    tasks = plan.tasks
    decision = Decision(run=TaskRows(tasks))
    protocols = {t.name: t.protocol for t in plan.tools}
    outputs = {t.name: t.output for t in plan.tools}
    planned_live: set[tuple[str, str]] = set()  # planned groups with live rows (the others: stale)
    live_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for task_id, row in live.items():
        live_ids[(task_id.split(":", 1)[0], row.path)].add(task_id)
    run = array("I")  # 4 bytes a task to run
    for key, rows in _groups(tasks):
        if key in groups_now:
            planned_live.add(key)
        group = [tasks[r] for r in rows]
        entries: dict[str, dict[str, Any] | None] = {}
        for task in group:
            entry = None if no_cache or outputs[task.tool] in rebuilt else cache.get(task.key)
            if entry is not None and rerun_failed and entry.get("outcome", {}).get("status") != "ok":
                entry = None
            entries[task.id] = entry
        clean = all(
            entries[t.id] is not None and t.id in live and live[t.id].cache_key == t.key for t in group
        ) and live_ids.get(key, set()) == {t.id for t in group}
        if clean:
            decision.kept.extend(rows)
            continue
        decision.rewritten += 1
        if key in groups_now:
            decision.groups.add(key)
        for task in group:
            entry = entries[task.id]
            if entry is not None and protocols[task.tool] != "jsonl":
                decision.restore.append((task.row, entry))
            else:
                run.append(task.row)
    _run_whole_inferred_tools(plan, decision, run)
    decision.run = TaskRows(tasks, run)
    tools = {t.name for t in plan.tools}
    decision.stale = {g for g in groups_now if g[0] in tools and g not in planned_live}
    return decision


def _groups(tasks: TaskTable) -> Iterator[tuple[tuple[str, str], Sequence[int]]]:
    """The planned tasks' rows by (tool, group), groups in order of first appearance, rows in plan
    order. A group's tasks are nearly always consecutive (a target's executables, a theory's
    lemmas): a first pass checks that with a set of the keys' hashes (a few bytes a group, where a
    dict of lists costs hundreds), then each run of equal keys is one group; any group seen again
    after another (or a hash seen twice) makes the grouping go through a dict."""
    seen: set[int] = set()
    key = None
    for i in range(len(tasks)):
        got = tasks.group_key(i)
        if got != key:
            if hash(got) in seen:
                yield from _groups_by_dict(tasks).items()
                return
            seen.add(hash(got))
            key = got
    seen.clear()
    start, key = 0, None
    for i in range(len(tasks)):
        got = tasks.group_key(i)
        if got != key:
            if key is not None:
                yield key, range(start, i)
            start, key = i, got
    if key is not None:
        yield key, range(start, len(tasks))


def _groups_by_dict(tasks: TaskTable) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in range(len(tasks)):
        out[tasks.group_key(i)].append(i)
    return out


def _run_whole_inferred_tools(plan: ToolsPlan, decision: Decision, run: array[int]) -> None:
    """A tool with schema = "infer" whose table must change runs every task: the table's schema
    comes from all of its output."""
    tasks = plan.tasks
    if not any(t.infer for t in plan.tools):  # (the set below makes a TaskPlan per task to run)
        return
    inferred = {t.name for t in plan.tools if t.infer} & {tasks[r].tool for r in run}
    if not inferred:
        return
    moved = [r for r in decision.kept if tasks[r].tool in inferred]
    decision.kept = [r for r in decision.kept if tasks[r].tool not in inferred]
    run.extend(moved)
    groups = {(tasks[r].tool, tasks[r].group) for r in moved}
    decision.rewritten += len(groups)
    decision.groups |= groups  # kept groups hold live rows


def replacements(plan: ToolsPlan, groups: set[tuple[str, str]]) -> dict[str, Replacement]:
    """The rows the commit drops: every table a tool writes, for each rewritten or stale group."""
    out: dict[str, Replacement] = defaultdict(Replacement)
    for tool_name, path in groups:
        tool = plan.tool(tool_name) if any(t.name == tool_name for t in plan.tools) else None
        tables = ["tool_runs"]
        if tool is not None and tool.output:
            tables += [tool.output, "errors"]
        dataset = presets.get(tool.preset).dataset if tool is not None else None
        if dataset is not None:
            tables.append(dataset.name)
        for table in tables:
            out[table].keys[tool_name].add(path)
    return dict(out)


def run_row(
    task: TaskPlan, outcome: dict[str, Any], *, run_id: str, cached: bool, rows: int = 0, invalid: int = 0
) -> dict[str, Any]:
    """The tool_runs row of a task (provenance first) from an Outcome's JSON."""
    return {
        "repo": task.tool,
        "path": task.group,
        "sha256": task.sha256,
        "task_id": task.id,
        "tool": task.tool,
        "target": task.target,
        "lemma": task.lemma,
        "executable": task.executable,
        "argv": list(task.argv),
        "cwd": task.cwd,
        "status": outcome["status"],
        "exit_code": outcome.get("exit_code"),
        "signal": outcome.get("signal"),
        "wall_seconds": float(outcome.get("wall_seconds", 0.0)),
        "cpu_seconds": float(outcome.get("cpu_seconds", 0.0)),
        "peak_memory": int(outcome.get("peak_memory", 0)),
        "cores": task.cores,
        "memory_limit": task.memory,
        "timeout": task.timeout,
        "limit_mechanism": outcome.get("limit_mechanism", ""),
        "stderr_tail": "\n".join(outcome.get("stderr_tail", [])),
        "message": outcome.get("message"),
        "rows": int(outcome.get("rows", rows)),
        "invalid_lines": int(outcome.get("invalid_lines", invalid)),
        "cache_key": task.key,
        "cached": cached,
        "run_id": run_id,
        "started": float(outcome.get("started", 0.0)),
    }


def batch_of(spec: DatasetSpec, rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """Rows as one batch, built column by column (from_pylist costs ~0.4 ms a row of tool_runs)."""
    schema = spec.schema
    return pa.RecordBatch.from_arrays(
        [pa.array([r.get(f.name) for r in rows], f.type) for f in schema], schema=schema
    )


RUN_BATCH = 1024  # tool_runs rows a run holds as dicts before making them one Arrow batch


class RunRows:
    """The tool_runs rows of the tasks that ran, streamed as they finish: dicts for at most
    ``RUN_BATCH`` tasks, then columnar batches in a sink that writes a part every ``part_rows``
    rows, so the parent holds a bounded number of rows whatever the number of tasks."""

    def __init__(self, sink: Any, run_id: str) -> None:
        self.sink, self.run_id = sink, run_id
        self._rows: list[dict[str, Any]] = []

    def add(self, task: TaskPlan, outcome: dict[str, Any]) -> None:
        self._rows.append(run_row(task, outcome, run_id=self.run_id, cached=False))
        if len(self._rows) >= RUN_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self.sink.add(batch_of(self.sink.spec, rows), ("", ""))

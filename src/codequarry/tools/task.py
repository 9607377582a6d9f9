"""One task run to its end: its process under the limits, its stdout read (JSON-lines records checked
into their table's sink or spooled for an inferred schema, else a bounded tail kept), and its status
decided from the exit code, the output and the tool's patterns and preset."""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from pathlib import Path
from typing import Any

from codequarry.tools import presets
from codequarry.tools.infer import SpoolReader
from codequarry.tools.jsonl import LineReader, TableSink
from codequarry.tools.planned import TaskPlan, ToolPlan, ToolsPlan
from codequarry.tools.process import Limits, TaskProcess
from codequarry.tools.schema import RecordChecker
from codequarry.tools.summary import TaskResult

OUTPUT_TAIL = 5000  # stdout lines kept for classification (exit-code tools, presets)
TAIL_LINE = 4096  # bytes of each of those lines kept (so the tail holds at most ~20 MB)


def execute_task(
    plan: ToolsPlan,
    tool: ToolPlan,
    task: TaskPlan,
    stop: threading.Event,
    *,
    sinks: dict[str, TableSink],
    errors: TableSink,
    checkers: dict[str, RecordChecker],
    view: Any,
    spool: Path | None = None,
    environments: dict[tuple[tuple[str, str], ...], dict[str, str]] | None = None,
) -> TaskResult:
    """Run one task to its end and classify it (JSON-lines records go to the sinks as they come)."""
    b = plan.budget
    limits = Limits(
        timeout=task.timeout,
        memory=task.memory,
        grace=b.grace,
        sample_interval=b.sample_interval,
        address_space=tool.limit_address_space,
        cgroup=b.cgroup,
        reuse_cgroup=True,  # the runner removes them when its tasks are done
    )
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
    proc_box: list[TaskProcess] = []

    def fail(status: str, message: str) -> None:
        proc_box[0].fail(status, message)

    reader = _reader(plan, tool, task, sinks=sinks, errors=errors, checkers=checkers, spool=spool, fail=fail)
    on_stdout: Any = reader
    if reader is None:

        def on_stdout(raw: bytes) -> None:
            tail.append(raw[:TAIL_LINE].decode("utf-8", "replace").rstrip("\r\n"))

    proc = TaskProcess(
        list(task.argv),
        cwd=task.cwd,
        env=_environment(task.env, environments),
        limits=limits,
        on_stdout=on_stdout,
        on_stderr=lambda text: view.line(task, text),
        stop=stop,
        on_cut=reader.cut if reader is not None else None,
        on_stdout_lines=reader.extend if reader is not None else None,
        on_stdout_block=reader.block if reader is not None and reader.takes_blocks else None,
    )
    proc_box.append(proc)
    outcome = proc.run().to_json()
    outcome["rows"] = outcome["invalid_lines"] = 0
    if reader is not None:
        reader.close()
        outcome["rows"], outcome["invalid_lines"] = reader.rows, reader.invalid
    output = "\n".join(tail) + "\n" + "\n".join(outcome["stderr_tail"])
    _classify(tool, outcome, output, reader)
    preset_rows = presets.get(tool.preset).classify(task, outcome, output)
    return TaskResult(task, outcome, preset_rows)


def _environment(
    extra: dict[str, str], made: dict[tuple[tuple[str, str], ...], dict[str, str]] | None
) -> dict[str, str]:
    """quarry's environment plus a tool's ``env``; with ``made`` (one run's), made once per distinct
    ``env`` of the run (copying ``os.environ``, which decodes every variable, was ~5% of a trivial
    task's parent CPU). The caller copies it before adding what is the task's own (its token)."""
    if made is None:
        return {**os.environ, **extra}
    key = tuple(extra.items())
    env = made.get(key)
    if env is None:
        env = made[key] = {**os.environ, **extra}
    return env


def _reader(
    plan: ToolsPlan,
    tool: ToolPlan,
    task: TaskPlan,
    *,
    sinks: dict[str, TableSink],
    errors: TableSink,
    checkers: dict[str, RecordChecker],
    spool: Path | None,
    fail: Any,
) -> LineReader | None:
    """What reads a JSON-lines task's stdout: a spool (schema = "infer"), a checked reader, or nothing."""
    if not tool.output:
        return None
    if spool is not None:
        return SpoolReader(
            spool=spool,
            tool=tool.name,
            path=task.group,
            sha256=task.sha256,
            checker=RecordChecker([]),
            sink=None,
            errors=errors,
            strict=plan.strict,
            fail=fail,
        )
    return LineReader(
        tool=tool.name,
        path=task.group,
        sha256=task.sha256,
        checker=checkers[tool.name],
        sink=sinks[tool.output],
        errors=errors,
        strict=plan.strict,
        fail=fail,
    )


def _classify(tool: ToolPlan, outcome: dict[str, Any], output: str, reader: LineReader | None) -> None:
    """The task's status from its exit code, its output lines and the tool's patterns (in place)."""
    if reader is not None and reader.stopped and outcome["status"] in ("ok", "failed"):  # --strict, at exit
        outcome["status"], outcome["message"] = "invalid_output", reader.reason
    if outcome["status"] == "ok" and outcome["exit_code"] not in tool.ok_exit_codes:
        outcome["status"], outcome["message"] = "failed", f"exit code {outcome['exit_code']}"
    elif outcome["status"] == "failed" and outcome["exit_code"] in tool.ok_exit_codes:
        outcome["status"], outcome["message"] = "ok", None
    if reader is not None and reader.invalid and not reader.rows and outcome["status"] == "ok":
        outcome["status"] = "invalid_output"  # nothing usable came out: not a success
        outcome["message"] = (
            f"every one of its {reader.invalid} output lines was invalid ({reader.first_problem})"
        )
    if outcome["status"] == "ok" and tool.fail_pattern and re.search(tool.fail_pattern, output, re.M):
        outcome["status"], outcome["message"] = (
            "failed",
            f"the output matches fail_pattern {tool.fail_pattern!r}",
        )
    if outcome["status"] == "ok" and tool.ok_pattern and not re.search(tool.ok_pattern, output, re.M):
        outcome["status"], outcome["message"] = (
            "failed",
            f"the output does not match ok_pattern {tool.ok_pattern!r}",
        )

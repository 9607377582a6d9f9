"""The results of a run's tasks, on disk while the run goes on, read back in order when needed.

A run of 10^5 tasks must not hold 10^5 results: each result (its task's row in the plan, whether it
came from the cache, its outcome and its preset rows) is one JSON line of a file in the store,
written as the scheduler collects it. The cache writes, report.json, the run record and the human
summary read the file back one result at a time. What stays in memory is a byte per planned task
(ran, cached, not started) and the groups of tasks that ended not ok (their rows are dropped).

The results of an inferred tool (schema = "infer") are the exception: their outcome changes once
the tool's table is inferred, after the run, so they stay in memory (a placeholder line keeps
their place in the order) until the file is read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from codequarry.tools.planned import TaskTable
from codequarry.tools.process import NOT_OK
from codequarry.tools.summary import TaskResult

NO_RESULT, RAN, CACHED, NOT_STARTED = 0, 1, 2, 3


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # a lone surrogate, or a value orjson does not know: the standard encoder's way
        return json.dumps(value, default=str).encode()


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:  # an escaped lone surrogate, which orjson refuses
        return json.loads(line)


class ResultLog:
    """The file of one run's results (see the module docstring); ``held`` names the inferred tools."""

    def __init__(self, path: Path, tasks: TaskTable, held: set[str] | frozenset[str] = frozenset()) -> None:
        self.path, self.tasks, self.held = path, tasks, held
        self.state = bytearray(len(tasks))
        self.not_ok_groups: set[tuple[str, str]] = set()  # (tool, group) of tasks that ran and are not ok
        self.held_results: dict[int, TaskResult] = {}
        self.mechanisms: set[str] = set()  # how the memory limits of the tasks that ran were held
        self.count = 0
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by close(), after the last read

    def add(self, result: TaskResult) -> None:
        """One more result, in the order the summary lists them."""
        row = result.task.row
        self.state[row] = CACHED if result.cached else RAN
        self.count += 1
        if not result.cached:
            self.mechanisms.add(str(result.outcome.get("limit_mechanism", "")))
        if result.task.tool in self.held and not result.cached:
            self.held_results[row] = result
            self._fh.write(_dumps({"row": row, "held": True}) + b"\n")
            return
        if not result.cached and result.status in NOT_OK:
            self.not_ok_groups.add((result.task.tool, result.task.group))
        line = {"row": row, "cached": result.cached, "outcome": result.outcome, "rows": result.preset_rows}
        self._fh.write(_dumps(line) + b"\n")

    def mark_not_started(self, rows: list[int]) -> None:
        for r in rows:
            self.state[r] = NOT_STARTED

    def __iter__(self) -> Iterator[TaskResult]:
        """The results in order (a TaskPlan made for each as it is read)."""
        self._fh.flush()
        with open(self.path, "rb") as fh:
            for line in fh:
                got = _loads(line)
                row = got["row"]
                if got.get("held"):
                    yield self.held_results[row]
                    continue
                yield TaskResult(self.tasks[row], got["outcome"], got["rows"], cached=got["cached"])

    def close(self) -> None:
        """Close and delete the file."""
        self._fh.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def drop_dead_logs(store_path: Path) -> None:
    """Delete the result files runs killed before their end left (the caller holds the writer lock)."""
    for stale in store_path.glob(".results-*.jsonl"):
        with contextlib.suppress(OSError):
            stale.unlink()

"""What a tools run hands back: each task's result and the run's summary (below the runner and
the report, which both read them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codequarry.tools.planned import TaskPlan
from codequarry.tools.process import NOT_OK

#: the keys of a report.json result that are not its outcome's
_NOT_OUTCOME = ("task_id", "tool", "target", "lemma", "executable", "cached", "result")


@dataclass
class TaskResult:
    task: TaskPlan
    outcome: dict[str, Any]  # Outcome.to_json() plus rows and invalid_lines
    preset_rows: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False

    @property
    def status(self) -> str:
        return str(self.outcome["status"])


@dataclass
class ToolsSummary:
    """A finished run. It holds counts, not results: ``results`` and ``report`` are read back from
    the run's report.json when asked for (the run itself never holds 10^5 of them)."""

    run_id: str
    store: str
    snapshot: int | None
    published: bool
    interrupted: bool
    not_started: Sequence[TaskPlan]
    seconds: float
    rows: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)  # status -> results (ran, restored, kept)
    extract: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    report_path: str | None = None
    report_summary: dict[str, Any] = field(default_factory=dict)  # report.json's "summary" section
    lines: list[str] = field(default_factory=list)  # the summary people read (tools.report.render)
    tasks: Sequence[TaskPlan] = ()  # the plan's tasks, which results read back name

    @property
    def report_file(self) -> Path:
        return Path(self.store) / "reports" / f"{self.run_id}.json"

    @property
    def report(self) -> dict[str, Any]:
        """The run's report.json, read from the store."""
        return dict(json.loads(self.report_file.read_text(encoding="utf-8")))

    @property
    def results(self) -> list[TaskResult]:
        """Every result (ran, restored from the cache, cached and kept), in the report's order, read
        back from report.json (a preset's result table has one row per task, so none is lost)."""
        if not self.report_file.is_file():
            return []
        by_id = {t.id: t for t in self.tasks}
        out = []
        for r in self.report["results"]:
            outcome = {k: v for k, v in r.items() if k not in _NOT_OUTCOME}
            rows = [r["result"]] if r.get("result") is not None else []
            out.append(TaskResult(by_id[r["task_id"]], outcome, rows, cached=bool(r["cached"])))
        return out

    @property
    def statuses(self) -> dict[str, int]:
        return dict(self.counts)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if any(n and s in NOT_OK for s, n in self.counts.items()) else 0

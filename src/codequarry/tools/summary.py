"""What a tools run hands back: each task's result and the run's summary (below the runner and
the report, which both read them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from codequarry.tools.planned import TaskPlan
from codequarry.tools.process import NOT_OK


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
    run_id: str
    store: str
    snapshot: int | None
    published: bool
    interrupted: bool
    results: list[TaskResult]  # ran this time, restored from the cache, or cached and kept
    not_started: list[TaskPlan]
    seconds: float
    rows: dict[str, int]
    extract: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    report_path: str | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def statuses(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.results))

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if any(r.status in NOT_OK for r in self.results) else 0

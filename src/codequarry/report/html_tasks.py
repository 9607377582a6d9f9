"""The sections of the HTML report about tool tasks: statuses, lemma results, cache hits, durations,
memory, the timeline, and the task table (sortable by the page's script).

They draw from a :class:`TaskDigest`, made in one pass over the report's tasks (which a run of
10^5 tasks streams from its result log rather than holding them): counts, the longest and largest
tasks, the first to start and the first rows of the table, each bounded.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from codequarry.report.charts import PALETTE, STATUS_COLORS, Bar, Span, bars, esc, secs, stacked, timeline
from codequarry.report.model import RunReport, TaskReport
from codequarry.report.text import size

TOP = 25  # bars per chart
ROWS = 1000  # rows per table
SPANS = 60  # tasks on the timeline


@dataclass
class TaskDigest:
    """What the task sections show of a run's tasks, gathered in one pass (see the module docstring)."""

    total: int = 0
    ok: int = 0
    cached: int = 0
    ran: int = 0  # not cached and started
    peak: int = 0  # the largest task peak memory
    statuses: dict[str, int] = field(default_factory=dict)  # in the order they first appear
    verdicts: dict[str, int] = field(default_factory=dict)
    longest: list[TaskReport] = field(default_factory=list)  # TOP, longest first (ties: task order)
    largest: list[TaskReport] = field(default_factory=list)  # TOP with a peak, largest first
    first_started: list[TaskReport] = field(default_factory=list)  # SPANS of this run, by (start, id)
    rows: list[TaskReport] = field(default_factory=list)  # the first ROWS

    @classmethod
    def of(cls, tasks: Iterable[TaskReport], results: Iterable[Any]) -> TaskDigest:
        d = cls()
        longest: list[tuple[float, int, TaskReport]] = []
        largest: list[tuple[int, int, TaskReport]] = []
        spans: list[tuple[float, str, int, TaskReport]] = []
        for i, t in enumerate(tasks):
            d.total += 1
            d.ok += t.status == "ok"
            d.cached += t.cached
            d.ran += not t.cached and t.status != "not_started"
            d.peak = max(d.peak, t.peak_memory)
            d.statuses[t.status] = d.statuses.get(t.status, 0) + 1
            if len(d.rows) < ROWS:
                d.rows.append(t)
            _keep(longest, (t.seconds, -i, t))  # a min-heap of the TOP largest keys
            if t.peak_memory:
                _keep(largest, (t.peak_memory, -i, t))
            if not t.cached and t.started:
                _keep(spans, (-(t.started or 0.0), _Desc(t.id), -i, t), SPANS)
        d.longest = [e[-1] for e in sorted(longest, key=lambda e: (-e[0], -e[1]))]
        d.largest = [e[-1] for e in sorted(largest, key=lambda e: (-e[0], -e[1]))]
        d.first_started = [
            e[-1] for e in sorted(spans, key=lambda e: (e[-1].started or 0.0, e[-1].id, -e[2]))
        ]
        for res in results:
            got = res.get("result") if isinstance(res, dict) else None
            if isinstance(got, dict) and got.get("lemma") is not None:
                verdict = str(got.get("result") or res.get("status") or "no result")
                d.verdicts[verdict] = d.verdicts.get(verdict, 0) + 1
        return d


class _Desc(str):
    """A string ordered backwards (so a min-heap keeps the smallest ids)."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


def _keep(heap: list[Any], item: tuple[Any, ...], n: int = TOP) -> None:
    """Keep the ``n`` largest items of a stream in a min-heap."""
    if len(heap) < n:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def digest(r: RunReport) -> TaskDigest:
    return TaskDigest.of(r.iter_tasks(), r.tool_results())


def section(title: str, body: str, ident: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{body}</section>' if body else ""


def statuses(d: TaskDigest) -> str:
    if not d.total:
        return ""
    parts = [
        Bar(k, n, str(n), STATUS_COLORS.get(k, PALETTE[9]))
        for k, n in sorted(d.statuses.items(), key=lambda kv: -kv[1])
    ]
    return section("Task statuses", stacked(parts, title="task statuses"), "statuses")


def verdicts(d: TaskDigest) -> str:
    """Lemma results of a Tamarin preset run (verified, falsified, ...), from report.json."""
    parts = [
        Bar(k, n, str(n), STATUS_COLORS.get(k, PALETTE[9]))
        for k, n in sorted(d.verdicts.items(), key=lambda kv: -kv[1])
    ]
    return section("Lemma results", stacked(parts, title="lemma results"), "verdicts")


def cache_hits(d: TaskDigest) -> str:
    if not d.total:
        return ""
    parts = [
        p
        for p in (
            Bar("from cache", d.cached, str(d.cached), STATUS_COLORS["cached"]),
            Bar("ran", d.ran, str(d.ran), PALETTE[0]),
        )
        if p.value
    ]
    return section("Cache hits", stacked(parts, title="cache hits"), "cache")


def durations(d: TaskDigest) -> str:
    if not d.total:
        return ""
    items = [
        Bar(
            t.id,
            t.seconds,
            f"{secs(t.seconds)} \u00b7 {t.status}" + (" (cached)" if t.cached else ""),
            STATUS_COLORS.get(t.status, PALETTE[9]),
            tip=f"{t.id}: {t.status}, {t.seconds:.2f} s, "
            f"{size(t.peak_memory)}" + (f", {t.message}" if t.message else ""),
        )
        for t in d.longest
    ]
    return section(
        "Task durations (longest first, coloured by status)", bars(items, title="task durations"), "durations"
    )


def task_memory(d: TaskDigest) -> str:
    items = [
        Bar(t.id, t.peak_memory, size(t.peak_memory), STATUS_COLORS.get(t.status, PALETTE[9]))
        for t in d.largest
    ]
    return section("Peak memory per task (largest first)", bars(items, title="task memory"), "task-memory")


def task_timeline(d: TaskDigest) -> str:
    """When each task of this run ran (cached tasks ran in an earlier run: not shown)."""
    ran = d.first_started
    if not ran:
        return ""
    first = min(t.started or 0.0 for t in ran)
    items = [
        Span(
            t.id,
            (t.started or 0.0) - first,
            (t.started or 0.0) - first + t.seconds,
            STATUS_COLORS.get(t.status, PALETTE[9]),
            f"{t.id}: {t.status}, {secs(t.seconds)}",
        )
        for t in ran
    ]
    return section(
        "Timeline (tasks of this run, by start)", timeline(items, title="task timeline"), "timeline"
    )


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{esc(STATUS_COLORS.get(status, PALETTE[9]))}">{esc(status)}</span>'


def task_table(d: TaskDigest) -> str:
    if not d.total:
        return ""
    head = (
        "<tr><th>task</th><th>tool</th><th>target</th><th>status</th><th data-type=number>seconds</th>"
        "<th data-type=number>cpu s</th><th data-type=number>peak memory</th><th>cached</th>"
        "<th data-type=number>exit</th><th>message</th></tr>"
    )
    body = []
    for t in d.rows:
        body.append(
            f"<tr><td>{esc(t.id)}</td><td>{esc(t.tool)}</td><td>{esc(t.target)}</td>"
            f'<td data-v="{esc(t.status)}">{_badge(t.status)}</td>'
            f'<td class="num" data-v="{t.seconds}">{t.seconds:.2f}</td>'
            f'<td class="num" data-v="{t.cpu_seconds}">{t.cpu_seconds:.2f}</td>'
            f'<td class="num" data-v="{t.peak_memory}">{esc(size(t.peak_memory))}</td>'
            f"<td>{'yes' if t.cached else 'no'}</td>"
            f'<td class="num" data-v="{t.exit_code if t.exit_code is not None else -1}">'
            f"{'' if t.exit_code is None else t.exit_code}</td>"
            f'<td class="msg">{esc(t.message or "")}</td></tr>'
        )
    table = f'<table class="sortable" id="tasks-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
    return section(f"Tasks ({d.total:,}; click a column to sort)", table, "tasks")

"""The sections of the HTML report about tool tasks: statuses, lemma results, cache hits, durations,
memory, the timeline, and the task table (sortable by the page's script)."""

from __future__ import annotations

from codequarry.report.charts import PALETTE, STATUS_COLORS, Bar, Span, bars, esc, secs, stacked, timeline
from codequarry.report.model import RunReport
from codequarry.report.text import size

TOP = 25  # bars per chart
ROWS = 1000  # rows per table


def section(title: str, body: str, ident: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{body}</section>' if body else ""


def statuses(r: RunReport) -> str:
    if not r.tasks:
        return ""
    counts: dict[str, int] = {}
    for t in r.tasks:
        counts[t.status] = counts.get(t.status, 0) + 1
    parts = [
        Bar(k, n, str(n), STATUS_COLORS.get(k, PALETTE[9]))
        for k, n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    return section("Task statuses", stacked(parts, title="task statuses"), "statuses")


def verdicts(r: RunReport) -> str:
    """Lemma results of a Tamarin preset run (verified, falsified, ...), from report.json."""
    counts: dict[str, int] = {}
    for res in (r.tools or {}).get("results", []):
        got = res.get("result") if isinstance(res, dict) else None
        if isinstance(got, dict) and got.get("lemma") is not None:
            verdict = str(got.get("result") or res.get("status") or "no result")
            counts[verdict] = counts.get(verdict, 0) + 1
    parts = [
        Bar(k, n, str(n), STATUS_COLORS.get(k, PALETTE[9]))
        for k, n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    return section("Lemma results", stacked(parts, title="lemma results"), "verdicts")


def cache_hits(r: RunReport) -> str:
    if not r.tasks:
        return ""
    hits = sum(1 for t in r.tasks if t.cached)
    ran = sum(1 for t in r.tasks if not t.cached and t.status != "not_started")
    parts = [
        p
        for p in (
            Bar("from cache", hits, str(hits), STATUS_COLORS["cached"]),
            Bar("ran", ran, str(ran), PALETTE[0]),
        )
        if p.value
    ]
    return section("Cache hits", stacked(parts, title="cache hits"), "cache")


def durations(r: RunReport) -> str:
    if not r.tasks:
        return ""
    ranked = sorted(r.tasks, key=lambda t: -t.seconds)[:TOP]
    items = [
        Bar(
            t.id,
            t.seconds,
            f"{secs(t.seconds)} \u00b7 {t.status}" + (" (cached)" if t.cached else ""),
            STATUS_COLORS.get(t.status, PALETTE[9]),
            tip=f"{t.id}: {t.status}, {t.seconds:.2f} s, "
            f"{size(t.peak_memory)}" + (f", {t.message}" if t.message else ""),
        )
        for t in ranked
    ]
    return section(
        "Task durations (longest first, coloured by status)", bars(items, title="task durations"), "durations"
    )


def task_memory(r: RunReport) -> str:
    ranked = sorted((t for t in r.tasks if t.peak_memory), key=lambda t: -t.peak_memory)[:TOP]
    items = [
        Bar(t.id, t.peak_memory, size(t.peak_memory), STATUS_COLORS.get(t.status, PALETTE[9])) for t in ranked
    ]
    return section("Peak memory per task (largest first)", bars(items, title="task memory"), "task-memory")


def task_timeline(r: RunReport) -> str:
    """When each task of this run ran (cached tasks ran in an earlier run: not shown)."""
    ran = sorted((t for t in r.tasks if not t.cached and t.started), key=lambda t: (t.started or 0.0, t.id))[
        :60
    ]
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


def task_table(r: RunReport) -> str:
    if not r.tasks:
        return ""
    head = (
        "<tr><th>task</th><th>tool</th><th>target</th><th>status</th><th data-type=number>seconds</th>"
        "<th data-type=number>cpu s</th><th data-type=number>peak memory</th><th>cached</th>"
        "<th data-type=number>exit</th><th>message</th></tr>"
    )
    body = []
    for t in r.tasks[:ROWS]:
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
    return section(f"Tasks ({len(r.tasks):,}; click a column to sort)", table, "tasks")

"""A run report as plain text lines: what ran, where the time went, what went wrong, and where to look."""

from __future__ import annotations

import time

from codequarry.errors import printable
from codequarry.report.model import INNER_STAGES, RunRecord, RunReport

TOP = 12  # rows shown per ranking


def size(n: int) -> str:
    from codequarry.plan import format_size

    return format_size(n)


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _ranking(title: str, items: list[tuple[str, str]]) -> list[str]:
    if not items:
        return []
    indent = " " * (len(title) - len(title.lstrip()) + 2)
    width = min(48, max(len(k) for k, _ in items[:TOP]))
    lines = [title]
    lines += [f"{indent}{k:<{width}}  {v}" for k, v in items[:TOP]]
    if len(items) > TOP:
        lines.append(f"{indent}... and {len(items) - TOP} more")
    return lines


def render_text(report: RunReport) -> list[str]:
    """The report for a terminal (also what `quarry report RUN` prints)."""
    r = report
    head = f"run {r.run_id} ({r.kind}) {r.status}: started {when(r.started)}, {r.seconds:.2f} s"
    lines = [head]
    if r.message:
        lines.append(f"  {r.message}")
    if r.kind != "tools":
        f = r.files
        lines.append(
            f"files: {f.scanned} scanned, {f.changed} changed ({f.added} added, {f.modified} modified, "
            f"{f.deleted} deleted), {f.unchanged} unchanged, {f.parsed} parsed"
        )
        if r.skipped:
            lines.append("skipped: " + ", ".join(f"{n} {k}" for k, n in r.skipped.items()))
        if r.languages:
            lines.append("languages: " + ", ".join(f"{x.language} {x.files}" for x in r.languages[:TOP]))
    lines += _ranking(
        "time by stage:", [(s.name, f"{s.seconds:.3f} s") for s in r.stages if s.name not in INNER_STAGES]
    )
    lines += _ranking(
        "time by extractor (own time; parsing is 'parse'):",
        [
            (s.name, f"{s.seconds:.3f} s" + ("" if s.name == "parse" else f"  {s.rows:,} rows"))
            for s in r.extractors
        ],
    )
    lines += _ranking(
        "operations:",
        [
            (s.name, f"{s.seconds:.3f} s  {s.rows:,} rows" if s.ran else "skipped (inputs unchanged)")
            for s in r.operations
        ],
    )
    if r.rows:
        lines.append("rows written: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.rows.items())))
    if r.error_counts:
        lines.append(f"errors: {r.errors_total:,}")
        lines += _ranking("  by kind:", [(k, f"{n:,}") for k, n in r.errors_by("kind").items()])
        lines += _ranking("  by extractor:", [(k, f"{n:,}") for k, n in r.errors_by("extractor").items()])
        for e in r.errors[:10]:
            where = f"{e.path}:{e.line}" if e.line else e.path
            message = e.message.splitlines()[0] if e.message else ""
            lines.append(printable(f"  {where}: {e.kind} ({e.extractor}) {message}"))
    lines += _tasks(r)
    lines += _resources(r)
    if r.published and r.snapshot is not None:
        lines.append(f"snapshot {r.snapshot} published to {r.store}")
    elif r.status in ("ok", "errors"):
        lines.append(f"nothing published: the store {r.store} was up to date")
    lines += [f"note: {n}" for n in r.notes]
    return lines


def _tasks(r: RunReport) -> list[str]:
    if not r.tasks:
        return []
    counts: dict[str, int] = {}
    for t in r.tasks:
        counts[t.status] = counts.get(t.status, 0) + 1
    cached = sum(1 for t in r.tasks if t.cached)
    lines = [
        f"tasks: {len(r.tasks)} ({cached} from the cache); "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    ]
    verdicts: dict[str, int] = {}
    for res in (r.tools or {}).get("results", []):
        got = res.get("result") if isinstance(res, dict) else None
        if isinstance(got, dict):
            verdict = str(got.get("result") or "no result")
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
    if verdicts:
        lines.append("  lemmas: " + ", ".join(f"{n} {k}" for k, n in sorted(verdicts.items())))
    slow = sorted((t for t in r.tasks if not t.cached), key=lambda t: -t.seconds)
    lines += _ranking(
        "  longest:", [(t.id, f"{t.seconds:8.2f} s  {t.status:<14} {size(t.peak_memory)}") for t in slow]
    )
    bad = [t for t in r.tasks if t.status != "ok"]
    lines += [printable(f"  {t.status:<14} {t.id}: {t.message or ''}") for t in bad[:20]]
    return lines


def _resources(r: RunReport) -> list[str]:
    lines = []
    m = r.memory
    if m.parent_peak or m.worker_peak:
        text = f"memory: driver peak {size(m.parent_peak)}"
        if m.worker_peak:
            text += f", largest worker peak {size(m.worker_peak)}"
        lines.append(text + (f" ({len(m.samples)} samples)" if m.samples else ""))
    if m.worker_limit:
        lines.append(f"worker memory limit: {m.worker_limit}")
    if r.utilisation is not None:
        lines.append(f"workers: {r.workers} ({r.engine}), {r.utilisation:.0%} busy during extraction")
    return lines


def render_runs(runs: list[RunRecord]) -> list[tuple[str, ...]]:
    """Rows for the `quarry runs` table, newest first."""
    rows: list[tuple[str, ...]] = []
    for r in reversed(runs):
        what = (
            f"{r.files} files, {r.changed} changed"
            if r.kind != "tools"
            else f"{r.tasks} tasks, {r.tasks_not_ok} not ok"
        )
        rows.append(
            (
                r.run_id,
                r.kind,
                when(r.started),
                f"{r.seconds:.2f}",
                r.status,
                str(r.snapshot) if r.snapshot is not None else "-",
                what,
                f"{r.rows:,}",
                f"{r.errors:,}",
            )
        )
    return rows

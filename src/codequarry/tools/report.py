"""The run's report: ``report.json`` (shaped like batch-tamarin's) and the summary people read.

``report.json`` holds the recipe as written, the resolved configuration (budgets, tools), the
per-task configuration (argv, limits, cache key, whether it ran), the execution metadata (host,
versions, limit mechanism, times, snapshot) and the per-task results. It is written to
``.quarry/reports/<run id>.json`` and ``.quarry/reports/latest.json``, or where ``--report`` says.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from codequarry.report.collect import platform_name
from codequarry.report.jsonstream import Items
from codequarry.report.outfile import replace_file
from codequarry.tools import jsontext, presets
from codequarry.tools.outcomes import CACHED, NO_RESULT, NOT_STARTED, RAN
from codequarry.tools.schema import describe

if TYPE_CHECKING:
    from codequarry.tools.outcomes import ResultLog
    from codequarry.tools.planned import ToolsPlan
    from codequarry.tools.summary import TaskResult, ToolsSummary


def build(
    plan: ToolsPlan,
    summary: ToolsSummary,
    log: ResultLog,
    *,
    scheduler: str,
    rerun_failed: bool,
    started: float,
) -> dict[str, Any]:
    """The report as a JSON-ready dict, one key per section, in the order report.json shows them; the
    per-task sections are streams (``Items``) read from the plan's table and the run's result log
    when the report is written, so no list of 10^5 entries is built."""
    return {
        "recipe": {"path": plan.recipe, "sha256": plan.recipe_sha256, "content": plan.recipe_data},
        "config": _config(plan, scheduler=scheduler, rerun_failed=rerun_failed),
        "tasks": Items(_tasks(plan, log)),
        "execution": _execution(summary, log, started),
        "summary": _summary(plan, summary, log),
        "results": Items(results(log)),
        "extract": summary.extract,
        "notes": list(plan.notes) + summary.notes,
    }


def _config(plan: ToolsPlan, *, scheduler: str, rerun_failed: bool) -> dict[str, Any]:
    """The resolved configuration: store, scheduler, budget, each tool's settings and schema."""
    return {
        "store": plan.store,
        "scheduler": scheduler,
        "strict": plan.strict,
        "rerun_failed": rerun_failed,
        "budget": plan.budget.model_dump(),
        "tools": [
            {
                **t.model_dump(exclude={"record_schema"}),
                "schema": describe(t.fields) if t.record_schema else None,
            }
            for t in plan.tools
        ],
        "extract": plan.extract.model_dump(mode="json") if plan.extract else None,
    }


_STATES = {NO_RESULT: "cached", CACHED: "cached", RAN: "ran", NOT_STARTED: "not started"}


def _tasks(plan: ToolsPlan, log: ResultLog) -> Iterator[dict[str, Any]]:
    """Each planned task's configuration and whether it ran, came from the cache or never started."""
    for t in plan.tasks:
        yield {
            "id": t.id,
            "tool": t.tool,
            "target": t.target,
            "lemma": t.lemma,
            "executable": t.executable,
            "argv": list(t.argv),
            "cwd": t.cwd,
            "env": t.env,
            "cores": t.cores,
            "memory": t.memory,
            "timeout": t.timeout,
            "cache_key": t.key,
            "inputs": [p for p, _ in t.inputs],
            "run": _STATES[log.state[t.row]],
        }


def _execution(summary: ToolsSummary, log: ResultLog, started: float) -> dict[str, Any]:
    """Where, when and how the run executed: host, versions, times, limit mechanisms, snapshot."""
    from codequarry import __version__

    return {
        "run_id": summary.run_id,
        "started": started,
        "finished": time.time(),
        "seconds": summary.seconds,
        "host": socket.gethostname(),
        "platform": platform_name(),
        "python": sys.version.split()[0],
        "codequarry": __version__,
        "cpu_count": os.cpu_count(),
        "limit_mechanism": sorted(log.mechanisms - {""}),
        "interrupted": summary.interrupted,
        "snapshot": summary.snapshot,
        "published": summary.published,
    }


def _summary(plan: ToolsPlan, summary: ToolsSummary, log: ResultLog) -> dict[str, Any]:
    """The counts: tasks, ran, cached, not started, rows, each status, the exit code."""
    return {
        "tasks": len(plan.tasks),
        "ran": log.state.count(RAN),
        "cached": log.state.count(CACHED),
        "not_started": len(summary.not_started),
        "statuses": dict(sorted(summary.counts.items())),
        "rows": summary.rows,
        "exit_code": summary.exit_code,
    }


def result_entry(r: TaskResult) -> dict[str, Any]:
    """A finished task's outcome (exit, times, memory, status) and its preset result row, if any."""
    return {
        "task_id": r.task.id,
        "tool": r.task.tool,
        "target": r.task.target,
        "lemma": r.task.lemma,
        "executable": r.task.executable,
        "cached": r.cached,
        **r.outcome,
        "result": r.preset_rows[0] if r.preset_rows else None,
    }


def results(log: Iterable[TaskResult]) -> Iterator[dict[str, Any]]:
    """The report's result entries, in the order of the results."""
    for r in log:
        yield result_entry(r)


def check_target(target: str | Path, store_path: str | Path) -> None:
    """Refuse, before the run, a ``--report`` path that must not be written: inside the store (it
    could replace store.json), or an existing thing that is not a regular file (a FIFO would block
    the copy, a device or link be replaced), it or the HTML page beside it
    (:func:`codequarry.report.outfile.check_replaceable`)."""
    from codequarry.report.outfile import check_replaceable

    path = Path(target).expanduser()
    check_replaceable(
        target, store_path, kind="--report copy", fix="name a new --report file", also=(_page(path),)
    )


def _page(path: Path) -> Path:
    """The HTML report written beside report.json copy ``path``."""
    return path.with_suffix(".html") if path.suffix != ".html" else path.with_name(path.name + ".html")


def write(report: dict[str, Any], store_path: Path, run_id: str, target: str | Path | None) -> list[Path]:
    """Write report.json to the store's reports folder (as ``<run id>.json`` and ``latest.json``) and
    to ``target``; returns every path written, the one to name last."""
    folder = store_path / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{run_id}.json", folder / "latest.json"]
    if target is not None:
        paths.append(Path(target).expanduser())
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
    with open(paths[0], "w", encoding="utf-8") as fh:  # written piece by piece: never whole in memory
        _dump(report, fh)
        fh.write("\n")
    for path in paths[1:]:
        if path.resolve() != paths[0].resolve():  # --report naming the run's own file
            replace_file(path, lambda fh: _copy(paths[0], fh))
    return paths if target is not None else [*paths[1:], paths[0]]


def _dump(report: dict[str, Any], fh: IO[str]) -> None:
    """The text ``jsonstream.dump(report, fh, indent=2)`` writes (a dict whose values are plain or
    ``Items``), each value made by :mod:`codequarry.tools.jsontext` (the standard encoder in pure
    Python was ~40% of a trivial task's cost in the parent)."""
    fh.write("{")
    for i, (key, value) in enumerate(report.items()):
        fh.write(("," if i else "") + "\n  " + jsontext.dumps(str(key)) + ": ")
        if isinstance(value, Items):
            jsontext.dump_items(value.items, fh, 1)
        else:
            fh.write(jsontext.dumps(value, 1))
    fh.write("\n}")


def write_html(paths: list[Path], html: str) -> None:
    """The HTML report beside each copy of report.json, as NAME.html."""
    page = html.encode("utf-8")
    for path in paths:
        replace_file(_page(path), lambda fh: fh.write(page))


def _copy(source: Path, fh: IO[bytes]) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, fh)


SHOWN_NOT_OK = 20  # results not ok the summary lists one by one


@dataclass
class Digest:
    """What the human summary needs of the results, gathered in one pass: counts per status and per
    tool and status, and the first results that are not ok."""

    statuses: Counter[str] = field(default_factory=Counter)
    by_tool: dict[str, Counter[str]] = field(default_factory=dict)
    bad: list[dict[str, Any]] = field(default_factory=list)
    bad_total: int = 0

    @classmethod
    def of(cls, entries: Iterable[dict[str, Any]]) -> Digest:
        d = cls()
        for r in entries:
            d.statuses[r["status"]] += 1
            d.by_tool.setdefault(r["tool"], Counter())[r["status"]] += 1
            if r["status"] != "ok":
                d.bad_total += 1
                if len(d.bad) < SHOWN_NOT_OK:
                    d.bad.append(r)
        return d


def _preset_lines(report: dict[str, Any], entries: Callable[[], Iterable[dict[str, Any]]]) -> list[str]:
    """What each preset of the run's tools adds to the summary, from its tools' results."""
    by_preset: dict[str, set[str]] = {}
    for tool in report["config"]["tools"]:
        if tool.get("preset") in presets.REGISTRY:
            by_preset.setdefault(tool["preset"], set()).add(tool["name"])
    lines: list[str] = []
    for name, tools in by_preset.items():
        lines += presets.get(name).summary_lines(r for r in entries() if r["tool"] in tools)
    return lines


def render(
    report: dict[str, Any],
    path: str | None = None,
    *,
    entries: Callable[[], Iterable[dict[str, Any]]] | None = None,
    digest: Digest | None = None,
) -> list[str]:
    """The human summary: counts, what went wrong and why, where things are. ``entries`` gives the
    result entries again on each call (default: ``report["results"]``); ``digest`` is their Digest
    when the caller has it."""
    entries = entries or (lambda: report["results"])
    s = report["summary"]
    ex = report["execution"]
    lines = []
    if report.get("extract"):
        e = report["extract"]
        lines.append(
            f"extract: {e['files_scanned']} files scanned, {e['changed']} changed, {e['errors']} errors, "
            f"{e['seconds']:.2f} s"
        )
    if not s["tasks"]:
        if report.get("extract"):
            e = report["extract"]
            lines.append(
                f"snapshot {e['snapshot']} published to {e['store']}"
                if e.get("published")
                else f"nothing to write: the store {e['store']} is up to date"
            )
        return lines + [f"report: {path}"] if path else lines
    statuses = ", ".join(f"{n} {k}" for k, n in s["statuses"].items()) or "none"
    lines.append(
        f"{s['tasks']} tasks: {s['ran']} ran, {s['cached']} cached (skipped), "
        f"{s['not_started']} not started; {statuses}"
    )
    digest = digest or Digest.of(entries())
    for tool, counts in sorted(digest.by_tool.items()):
        lines.append(f"  {tool}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    lines += _preset_lines(report, entries)
    for r in digest.bad:
        last = next((x for x in reversed(r.get("stderr_tail") or []) if x.strip()), "")
        cached = " (cached)" if r["cached"] else ""
        lines.append(
            f"  {r['status']:<14} {r['task_id']}{cached}: {r.get('message') or ''}"
            + (f" | {last}" if last else "")
        )
    if digest.bad_total > SHOWN_NOT_OK:
        lines.append(f"  ... and {digest.bad_total - SHOWN_NOT_OK} more not ok (see the report)")
    if any(s["rows"].values()):
        lines.append("rows written: " + ", ".join(f"{k} {v:,}" for k, v in sorted(s["rows"].items()) if v))
    if ex["interrupted"]:
        lines.append(
            "interrupted: running tasks were killed and recorded as killed; tasks not started were left "
            "as they were"
        )
    if ex["published"]:
        lines.append(
            f"snapshot {ex['snapshot']} published to {report['config']['store']} in {ex['seconds']:.2f} s"
            + (f" (memory limits: {', '.join(ex['limit_mechanism'])})" if ex["limit_mechanism"] else "")
        )
    else:
        lines.append(f"nothing to write: the store {report['config']['store']} is up to date")
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    if path:
        lines.append(f"report: {path}")
    return lines

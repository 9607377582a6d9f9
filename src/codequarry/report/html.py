"""A run report as one self-contained HTML file: it opens offline, from disk, with nothing fetched.

Styles and the one small script (sorting tables by a click on a column header) are inline; the charts
are SVG drawn in Python (:mod:`codequarry.report.charts`). A Content-Security-Policy allows only that
script, by its hash, so that even a piece of the corpus that slipped through escaping could run
nothing; and everything from the corpus is escaped.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path, PurePosixPath

from codequarry.corpus_io import unescape_name
from codequarry.errors import UsageError
from codequarry.report.charts import (
    PALETTE,
    STATUS_COLORS,
    Bar,
    bars,
    esc,
    lines,
    secs,
)
from codequarry.report.html_tasks import (
    ROWS,
    TOP,
    TaskDigest,
    cache_hits,
    digest,
    durations,
    section,
    statuses,
    task_memory,
    task_table,
    task_timeline,
    verdicts,
)
from codequarry.report.model import INNER_STAGES, RunReport
from codequarry.report.outfile import check_replaceable, replace_file
from codequarry.report.text import size, when

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var num = th.getAttribute("data-type") === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
        return num ? parseFloat(v) || 0 : v.toLowerCase();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = num ? x - y : (x < y ? -1 : x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232b;background:#f4f6f9}
header{background:#1f3a5f;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px;font-weight:600}
header .sub{opacity:.85;font-size:13px;margin-top:4px}
main{padding:18px 28px;max-width:1280px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:130px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .n{font-size:22px;font-weight:600}
.card .k{font-size:12px;color:#5a6573;text-transform:uppercase;letter-spacing:.04em}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px;align-items:start}
section{background:#fff;border-radius:8px;padding:14px 18px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
section h2{font-size:15px;margin:0 0 10px}
section h3{font-size:12px;margin:8px 0 2px;color:#5a6573;font-weight:600;text-transform:uppercase}
svg.chart .lbl{font-size:12px;fill:#1d232b}
svg.chart .val{font-size:11px;fill:#5a6573}
svg.chart .grid{stroke:#e3e7ed}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e7ed;vertical-align:top}
td.num,th[data-type=number]{text-align:right}
table.sortable th{cursor:pointer;user-select:none;white-space:nowrap}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
.badge{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px}
.msg{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
.muted{color:#5a6573}
a{color:#1f5fa8}
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(SORT_JS.encode()).digest()).decode()
    return f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'"


def render_html(report: RunReport) -> str:
    """The whole page, as a string."""
    r = report
    d = digest(r)
    parts = [_cards(r, d), '<div class="grid2">']
    parts += [
        s
        for s in (
            _stages(r),
            _extractors(r),
            _operations(r),
            _rows(r),
            _errors_chart(r),
            _languages(r),
            _skipped(r),
            _memory(r),
            statuses(d),
            verdicts(d),
            cache_hits(d),
            durations(d),
            task_memory(d),
            task_timeline(d),
        )
        if s
    ]
    parts.append("</div>")
    parts += [task_table(d), _error_table(r), _workers(r), _about(r)]
    title = f"codequarry run {r.run_id} ({r.kind}): {r.status}"
    sub = f"started {when(r.started)} \u00b7 {r.seconds:.2f} s \u00b7 store {r.store}"
    if r.published and r.snapshot is not None:
        sub += f" \u00b7 snapshot {r.snapshot}"
    if r.message:
        sub += f" \u00b7 {r.message}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_csp())}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1 id="title">{esc(title)}</h1><div class="sub">{esc(sub)}</div></header>'
        f"<main>{''.join(p for p in parts if p)}</main><script>{SORT_JS}</script></body></html>\n"
    )


def write_html(report: RunReport, out: str | Path, *, store: str | Path | None = None) -> Path:
    """Write the page to ``out`` (its folder is created), through a new temporary file renamed over it.

    ``out`` is refused when writing it would destroy something: a place inside the run's store (its
    ``store.json`` or a table), a folder, anything but a regular file (a FIFO would block the write
    forever, a device would be replaced), or a file that is not an earlier codequarry HTML report.
    ``store``: the store the report was read from (default: the one the report names).
    """
    path = Path(out).expanduser()
    check_replaceable(
        out,
        store if store is not None else report.store,
        kind="HTML report",
        example="report.html",
        ours=_is_report,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        page = render_html(report).encode("utf-8")
        replace_file(path, lambda fh: fh.write(page))
    except OSError as exc:
        raise UsageError(f"cannot write the HTML report to '{out}': {exc.strerror or exc}") from None
    return path


_MARK = b"<title>codequarry run "


def _is_report(path: Path) -> bool:
    with open(path, "rb") as fh:
        return _MARK in fh.read(4096)


def _card(key: str, value: str, ident: str, colour: str | None = None) -> str:
    style = f' style="border-left:5px solid {esc(colour)}"' if colour else ""
    return (
        f'<div class="card" id="card-{esc(ident)}"{style}><div class="n">{esc(value)}</div>'
        f'<div class="k">{esc(key)}</div></div>'
    )


def _cards(r: RunReport, d: TaskDigest) -> str:
    colour = STATUS_COLORS.get(r.status, PALETTE[9])
    cards = [_card("status", r.status, "status", colour), _card("duration", f"{r.seconds:.2f} s", "seconds")]
    if r.kind != "tools":
        f = r.files
        cards += [
            _card("files scanned", f"{f.scanned:,}", "files"),
            _card("changed", f"{f.changed:,}", "changed"),
            _card("parsed", f"{f.parsed:,}", "parsed"),
        ]
    if d.total:
        cards += [
            _card("tasks", f"{d.total:,}", "tasks"),
            _card("ok", f"{d.ok:,}", "ok"),
            _card("not ok", f"{d.total - d.ok:,}", "not-ok"),
            _card("from cache", f"{d.cached:,}", "cached"),
        ]
    cards += [
        _card("rows written", f"{sum(r.rows.values()):,}", "rows"),
        _card("errors", f"{r.errors_total:,}", "errors"),
    ]
    if r.utilisation is not None:
        cards.append(_card(f"{r.workers} workers busy", f"{r.utilisation:.0%}", "utilisation"))
    if r.memory.parent_peak:
        cards.append(_card("driver peak memory", size(r.memory.parent_peak), "parent-peak"))
    peak = max(r.memory.worker_peak, d.peak)
    if peak:
        cards.append(_card("worker / task peak", size(peak), "worker-peak"))
    return f'<div class="cards">{"".join(cards)}</div>'


def _stages(r: RunReport) -> str:
    items = [
        Bar(s.name, s.seconds, secs(s.seconds), PALETTE[i % len(PALETTE)])
        for i, s in enumerate(x for x in r.stages if x.name not in INNER_STAGES)
    ]
    return section("Time by stage", bars(items, title="time by stage"), "stages")


def _extractors(r: RunReport) -> str:
    items = [
        Bar(
            s.name,
            s.seconds,
            secs(s.seconds) if s.name == "parse" else f"{secs(s.seconds)} \u00b7 {s.rows:,} rows",
            PALETTE[7] if s.name == "parse" else PALETTE[0],
        )
        for s in r.extractors[:TOP]
    ]
    more = f'<p class="muted">{len(r.extractors) - TOP} more not shown</p>' if len(r.extractors) > TOP else ""
    chart = bars(items, title="time per extractor") + more if items else ""
    return section(
        "Time per extractor (own time, summed over workers; 'parse' is shared)", chart, "extractors"
    )


def _operations(r: RunReport) -> str:
    items = [
        Bar(
            s.name,
            s.seconds if s.ran else 0.0,
            f"{secs(s.seconds)} \u00b7 {s.rows:,} rows" if s.ran else "skipped: inputs unchanged",
            PALETTE[2],
        )
        for s in sorted(r.operations, key=lambda s: -s.seconds)
    ]
    return section("Time per operation", bars(items[:TOP], title="time per operation"), "operations")


def _rows(r: RunReport) -> str:
    ranked = sorted(r.rows.items(), key=lambda kv: -kv[1])[:TOP]
    items = [Bar(k, v, f"{v:,}", PALETTE[4]) for k, v in ranked]
    return section("Rows written per table", bars(items, title="rows per table"), "rows")


def _errors_chart(r: RunReport) -> str:
    if not r.error_counts:
        return ""
    kinds = [Bar(k, n, f"{n:,}", PALETTE[3]) for k, n in list(r.errors_by("kind").items())[:TOP]]
    by_ex = [Bar(k, n, f"{n:,}", PALETTE[1]) for k, n in list(r.errors_by("extractor").items())[:TOP]]
    body = (
        "<h3>by kind</h3>"
        + bars(kinds, title="errors by kind")
        + "<h3>by extractor</h3>"
        + bars(by_ex, title="errors by extractor")
    )
    return section(f"Errors ({r.errors_total:,})", body, "errors-chart")


def _languages(r: RunReport) -> str:
    total = sum(x.files for x in r.languages) or 1
    items = [
        Bar(
            x.language,
            x.files,
            f"{x.files:,} files ({x.files / total:.0%}) \u00b7 {size(x.bytes)}",
            PALETTE[i % len(PALETTE)],
        )
        for i, x in enumerate(r.languages[:TOP])
    ]
    return section("Language mix (files scanned)", bars(items, title="language mix"), "languages")


def _skipped(r: RunReport) -> str:
    items = [Bar(k, n, f"{n:,}", PALETTE[7]) for k, n in sorted(r.skipped.items(), key=lambda kv: -kv[1])]
    return section("Files skipped, by reason", bars(items, title="files skipped"), "skipped")


def _memory(r: RunReport) -> str:
    m = r.memory
    if len(m.samples) < 2:
        return ""
    series = [("driver", PALETTE[0], [(s.t, float(s.parent)) for s in m.samples])]
    if any(s.workers for s in m.samples):
        series.append(("workers and tasks (sum)", PALETTE[1], [(s.t, float(s.workers)) for s in m.samples]))
    chart = lines(
        series, title="memory over time", fmt_y=lambda v: size(int(v)), fmt_x=lambda v: f"{v:.1f} s"
    )
    return section("Memory over time (resident)", chart, "memory")


def _link(r: RunReport, repo: str, path: str, line: int | None) -> str:
    shown = f"{path}:{line}" if line else path
    root = r.sources.get(repo)
    if (
        not root
        or not Path(root).is_absolute()
        or PurePosixPath(path).is_absolute()
        or ".." in path.split("/")
    ):
        return esc(shown)
    uri = Path(root, unescape_name(path)).as_uri()  # the file's own bytes: caf\xe9.py is caf%E9.py
    return f'<a href="{esc(uri)}" title="{esc(repo)}">{esc(shown)}</a>'


def _error_table(r: RunReport) -> str:
    if not r.errors:
        return ""
    head = (
        "<tr><th>location</th><th>kind</th><th>extractor</th><th data-type=number>line</th>"
        "<th>message</th></tr>"
    )
    body = [
        f"<tr><td>{_link(r, e.repo, e.path, e.line)}</td><td>{esc(e.kind)}</td><td>{esc(e.extractor)}</td>"
        f'<td class="num" data-v="{e.line or 0}">{e.line or ""}</td><td class="msg">{esc(e.message)}</td></tr>'
        for e in r.errors[:ROWS]
    ]
    more = ""
    if r.errors_total > len(body):
        more = (
            f'<p class="muted">{r.errors_total - len(body):,} more in the errors table: '
            'quarry sql "SELECT * FROM errors"</p>'
        )
    table = f'<table class="sortable" id="errors-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
    return section(f"Errors of this run ({r.errors_total:,})", table + more, "errors")


def _workers(r: RunReport) -> str:
    if not r.worker_use:
        return ""
    rows = "".join(
        f'<tr><td>{w.pid}</td><td class="num">{w.chunks}</td><td class="num">{w.files:,}</td>'
        f'<td class="num">{w.busy_seconds:.2f}</td><td class="num">{esc(size(w.peak_rss))}</td></tr>'
        for w in r.worker_use
    )
    head = (
        "<tr><th>pid</th><th data-type=number>chunks</th><th data-type=number>files</th>"
        "<th data-type=number>busy s</th><th data-type=number>peak memory</th></tr>"
    )
    return section("Workers", f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>", "workers")


def _about(r: RunReport) -> str:
    how = f"{r.workers} cores budget" if r.kind == "tools" else f"{r.engine}, {r.workers} worker(s)"
    items = [
        ("run", r.run_id),
        ("kind", r.kind),
        ("engine", how),
        *((f"source {k}", v) for k, v in r.sources.items()),
        *((k, str(v)) for k, v in r.host.items()),
    ]
    if r.extract_run:
        items.append(("extract run", r.extract_run))
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    notes = "".join(f"<li>{esc(n)}</li>" for n in r.notes)
    return section(
        "About this run", f"<table>{rows}</table>" + (f"<ul>{notes}</ul>" if notes else ""), "about"
    )

"""Run reports: every run's measurements (:class:`RunReport`), the ``runs`` table, and renderings.

from codequarry.report import list_runs, load_report, render_text, write_html, export_sarif
for run in list_runs(".quarry"):
    print(run.run_id, run.kind, run.status, run.seconds)
report = load_report(".quarry")            # the latest run; or load_report(".quarry", "3fa2")
print("\\n".join(render_text(report)))
write_html(report, "report.html")           # one self-contained file
export_sarif(open_store(".quarry"), "findings.sarif", include_errors=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codequarry.report.html import render_html, write_html
    from codequarry.report.model import RunRecord, RunReport, TaskReport
    from codequarry.report.runs import list_runs, resolve, runs_table
    from codequarry.report.runs import load as load_report
    from codequarry.report.sarif import build_sarif, export_sarif
    from codequarry.report.text import render_text

#: public name -> (module, attribute): imported on first use, so that a run, which records itself
#: through report.collect, does not import the HTML and SARIF renderings it never uses
_LAZY = {
    "RunReport": ("codequarry.report.model", "RunReport"),
    "RunRecord": ("codequarry.report.model", "RunRecord"),
    "TaskReport": ("codequarry.report.model", "TaskReport"),
    "list_runs": ("codequarry.report.runs", "list_runs"),
    "load_report": ("codequarry.report.runs", "load"),
    "resolve": ("codequarry.report.runs", "resolve"),
    "runs_table": ("codequarry.report.runs", "runs_table"),
    "render_text": ("codequarry.report.text", "render_text"),
    "render_html": ("codequarry.report.html", "render_html"),
    "write_html": ("codequarry.report.html", "write_html"),
    "build_sarif": ("codequarry.report.sarif", "build_sarif"),
    "export_sarif": ("codequarry.report.sarif", "export_sarif"),
}


def __getattr__(name: str) -> object:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'codequarry.report' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value
    return value


__all__ = [
    "RunReport",
    "RunRecord",
    "TaskReport",
    "list_runs",
    "load_report",
    "resolve",
    "runs_table",
    "render_text",
    "render_html",
    "write_html",
    "build_sarif",
    "export_sarif",
]

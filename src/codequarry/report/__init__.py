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

from codequarry.report.html import render_html, write_html
from codequarry.report.model import RunRecord, RunReport, TaskReport
from codequarry.report.runs import list_runs, resolve, runs_table
from codequarry.report.runs import load as load_report
from codequarry.report.sarif import build_sarif, export_sarif
from codequarry.report.text import render_text

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

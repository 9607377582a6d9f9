"""The `quarry runs` and `quarry report` commands (registered on the main app); thin: the library
(:mod:`codequarry.report`) does the work."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from codequarry.cli_common import StoreOpt, open_store, wide

out = Console(highlight=False, soft_wrap=True, emoji=False)


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("report")(report)


def _store(store: Path | None) -> Path:
    return open_store(store).path


def runs(
    store: StoreOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show at most this many runs (newest first).")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print every run as JSON.")] = False,
) -> None:
    """List the store's runs, newest first: id, kind, start, seconds, status, snapshot, counts."""
    from codequarry.report import list_runs
    from codequarry.report.text import render_runs

    recorded = list_runs(_store(store))
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump() for r in recorded], indent=1) + "\n")
        return
    if not recorded:
        out.print("no runs recorded yet", markup=False)
        return
    grid = Table(
        "run",
        "kind",
        "started",
        "seconds",
        "status",
        "snapshot",
        "what",
        "rows",
        "errors",
        box=None,
        pad_edge=False,
    )
    for row in render_runs(recorded)[: max(1, limit)]:
        grid.add_row(*row)
    wide().print(grid)
    if len(recorded) > limit:
        out.print(f"({len(recorded) - limit} older runs not shown; --limit N)", style="dim")


def report(
    run: Annotated[
        str | None,
        typer.Argument(
            help="Run id or unique prefix, 'latest' (default), or -N for "
            "the N-th last run (after --: quarry report -- -2)."
        ),
    ] = None,
    store: StoreOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the report as one self-contained HTML file here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Print a run's report (the latest run by default); --html writes it as a page with charts."""
    from codequarry.report import load_report, render_text, write_html

    where = _store(store)
    got = load_report(where, run)
    if as_json:
        sys.stdout.write(got.model_dump_json(indent=1) + "\n")
    elif html is None:
        for line in render_text(got):
            out.print(line, markup=False)
    if html is not None:
        path = write_html(got, html, store=where)
        if not as_json:
            out.print(f"wrote {path}", markup=False)


def export_sarif(
    store: object, out_path: Path, include_errors: bool, tables: list[str] | None, as_json: bool, quiet: bool
) -> None:
    """`quarry export OUT.sarif -f sarif`: the export command's SARIF branch."""
    from codequarry.errors import UsageError
    from codequarry.report import export_sarif as write

    if tables:
        raise UsageError(
            "--table does not apply to --format sarif (it exports security_findings, and errors "
            "with --include-errors)"
        )
    done = write(store, out_path, include_errors=include_errors)  # type: ignore[arg-type]
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "path": str(done.path),
                    "snapshot": done.snapshot,
                    "results": done.results,
                    "findings": done.findings,
                    "errors": done.errors,
                    "rules": done.rules,
                }
            )
            + "\n"
        )
    elif not quiet:
        out.print(
            f"wrote {done.findings:,} findings"
            + (f" and {done.errors:,} errors" if include_errors else "")
            + f" ({done.rules} rules) of snapshot {done.snapshot} to {done.path} as SARIF 2.1.0",
            markup=False,
        )

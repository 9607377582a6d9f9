"""Runs as the UI lists them: the store's `runs` table (see :mod:`codequarry.report`), newest first."""

from __future__ import annotations

from typing import Any

from codequarry.errors import QuarryError
from codequarry.store import Store


def list_runs(store: Store) -> list[dict[str, Any]]:
    from codequarry.report import list_runs as recorded

    return [r.model_dump() for r in reversed(recorded(store.path))]


def run_report(store: Store, run: str) -> dict[str, Any] | None:
    """A run's whole report as JSON, or None when the store has no such run."""
    from codequarry.report import load_report

    try:
        return load_report(store.path, run).model_dump(mode="json")
    except QuarryError:
        return None


def run_report_html(store: Store, run: str) -> str | None:
    """A run's self-contained HTML report (the page `quarry report --html` writes)."""
    from codequarry.report import load_report, render_html

    try:
        return render_html(load_report(store.path, run))
    except QuarryError:
        return None

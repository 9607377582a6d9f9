"""Runs as the UI lists them: one entry per published snapshot, newest first, with its run record."""

from __future__ import annotations

from typing import Any

from codequarry.store import Store

_HEADLINE = ("files_scanned", "files_parsed", "changed", "errors", "seconds", "workers")


def list_runs(store: Store) -> list[dict[str, Any]]:
    out = []
    for snap in reversed(store.history()):
        run = snap.run or {}
        entry = {
            "run": str(snap.id),
            "snapshot": snap.id,
            "created": snap.created,
            "kind": run.get("kind", "maintenance" if run.get("maintenance") else "extract"),
        }
        entry.update({k: run.get(k) for k in _HEADLINE if k in run})
        out.append(entry)
    return out


def run_report(store: Store, run: str) -> dict[str, Any] | None:
    for snap in store.history():
        if str(snap.id) == run:
            info = {k: v for k, v in (snap.run or {}).items() if k not in ("state", "schemas")}
            return {
                "run": run,
                "snapshot": snap.id,
                "created": snap.created,
                "tables": {k: v.rows for k, v in snap.tables.items()},
                "report": info,
            }
    return None

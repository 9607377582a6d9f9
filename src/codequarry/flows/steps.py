"""The steps that exported Prefect flows call: extract the files of a selection, run one operation.

A flow made by ``quarry flows export`` gives the same store as ``quarry extract SOURCES --select ...``
with the flow's selection: its first task extracts every file extractor of the selection in one pass
(each file is read and parsed once, as in an extract), and each operation is its own task, run over the
store's published snapshot and published as a snapshot of its own. Steps that write the same store
wait for its writer lock in turn, so operations of one DAG layer may be submitted concurrently.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codequarry.errors import StoreLockedError, UsageError
from codequarry.plan import Plan, make_plan

LOCK_WAIT = 3600.0  # seconds a step waits for another writer of the same store


def _plan(
    sources: Sequence[str | Path],
    store: str | Path | None,
    select: Sequence[str],
    plugins: Sequence[str],
    workers: int | None,
) -> Plan:
    if not sources:
        raise UsageError("give at least one source folder")
    return make_plan(list(sources), store=store, select=select, plugins=plugins, workers=workers)


def _waiting(action: Any, what: str) -> Any:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            return action()
        except StoreLockedError:
            if time.monotonic() > deadline:
                raise UsageError(f"{what}: the store stayed locked for {LOCK_WAIT:g} s") from None
            time.sleep(0.1)


def extract_files(
    sources: Sequence[str | Path],
    *,
    store: str | Path | None = None,
    select: Sequence[str] = (),
    plugins: Sequence[str] = (),
    workers: int | None = None,
) -> dict[str, Any]:
    """Scan and run the selection's file extractors (not its operations); publish one snapshot."""
    from codequarry.run import extract

    plan = _plan(sources, store, select, plugins, workers)
    files_only = plan.replace(operations=())
    summary = _waiting(lambda: extract(files_only), "extract")
    return {
        "snapshot": summary.snapshot,
        "changed": summary.changed,
        "rows": summary.rows,
        "errors": summary.errors,
        "store": summary.store,
    }


def run_operation(
    name: str,
    sources: Sequence[str | Path],
    *,
    store: str | Path | None = None,
    select: Sequence[str] = (),
    plugins: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one operation of the selection over the published snapshot and publish the result."""
    from codequarry.run import run_operations_step

    plan = _plan(sources, store, select, plugins, 1)
    if name not in plan.request.operations:
        raise UsageError(f"operation '{name}' is not part of the selection {list(select)}")
    return dict(_waiting(lambda: run_operations_step(plan, [name]), name))


def main(flow: Any, argv: Sequence[str]) -> None:
    """`python FLOW.py SOURCE... [--store DIR]`: run the flow once (Prefect's ephemeral mode needs no
    server); `--serve` instead serves it as a deployment of a running Prefect server."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python {flow.name}.py", description=flow.description)
    parser.add_argument("sources", nargs="*", help="folders or files to extract")
    parser.add_argument("--store", help="store folder (default: SOURCE/.quarry)")
    parser.add_argument("--serve", action="store_true", help="serve the flow as a deployment instead")
    args = parser.parse_args(list(argv))
    if args.serve:
        flow.serve(name=flow.name)
        return
    if not args.sources:
        parser.error("give at least one SOURCE")
    result = flow([str(s) for s in args.sources], args.store)
    print(result)

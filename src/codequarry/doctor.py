"""``quarry doctor``: check every table of the live snapshot, and rebuild the damaged ones.

Repair, under the writer lock:

1. a damaged ``snapshot.json`` is replaced by the last good snapshot of the history;
2. each damaged table (see store.health) is moved to ``damaged/`` and recreated empty, and its rows
   are extracted again from the source files the snapshot's runs recorded (their roots, exclude
   patterns, plugins and the extractors each repo ran), by an ordinary incremental run that forces
   the table's producers over every file and publishes one new snapshot. Repos that ran different
   selections are extracted in one run per selection.

Tables no recorded extractor or operation writes (tool results) cannot be rebuilt this way; the
message says to run their recipe again.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codequarry.errors import StoreError
from codequarry.scan import SourceRoot
from codequarry.store import Snapshot, Store, WriterLock
from codequarry.store.health import Health, check, odd_files


@dataclass
class Repair:
    before: Health
    after: Health
    restored: int | None = None  # the snapshot made live again, when snapshot.json was damaged
    rebuilt: list[str] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def diagnose(path: str | Path) -> Health:
    store = Store.open(path)
    try:
        return check(store)
    finally:
        store.close()


def repair(path: str | Path, *, workers: int | None = None) -> Repair:
    """Make the store whole again (see the module docstring); returns what was found and done."""
    store = Store.create(path)
    odd = odd_files(store.path)
    for name, _what in odd:  # not the store's own making (the lock among them): removed, re-made on use
        with contextlib.suppress(FileNotFoundError):
            (store.path / name).unlink()
    with WriterLock(store.path):
        before = check(store)
        before.odd_files = odd
        result = Repair(before=before, after=before)
        result.notes.extend(f"{name} ({what}) was removed" for name, what in odd)
        if before.snapshot_problem is not None:
            last = store.last_good()
            if last is None:
                raise StoreError(
                    f"store '{store.path}' has no valid snapshot left to go back to; extract again "
                    "into a new --store"
                )
            store.write_live(last)
            result.restored = last.id
            result.notes.append(f"snapshot.json was damaged: snapshot {last.id} is live again")
        damaged = frozenset(check(store).damaged)
        snap = store.snapshot()
    # each extract takes the lock itself, after starting its workers (none may inherit the lock)
    if damaged and snap is not None:
        _rebuild(store, snap, damaged, workers, result)
    result.after = check(store)
    return result


def _rebuild(
    store: Store, snap: Snapshot, damaged: frozenset[str], workers: int | None, result: Repair
) -> None:
    from codequarry.plan import make_plan
    from codequarry.run import extract

    groups = _selections(store, snap)
    plans = []
    for (extractors, operations), (roots, recipe) in groups.items():
        missing = [r.root for r in roots if not Path(r.root).is_dir()]
        if missing:
            raise StoreError(
                f"cannot rebuild {', '.join(sorted(damaged))}: source folder(s) {', '.join(missing)} "
                "are gone; extract into a new --store instead"
            )
        plan = make_plan(
            [r.root for r in roots],
            store=store.path,
            workers=workers,
            exclude=recipe.get("exclude", ()),
            plugins=recipe.get("plugins", ()),
            select=[*extractors, *operations],
            max_file_size=int(recipe.get("max_file_size", 10 << 20)),
        )
        plans.append(plan.replace(sources=tuple(roots)))
    producible = _outputs(plans) | {"errors"}
    orphans = sorted(damaged - producible)
    if orphans:
        raise StoreError(
            f"cannot rebuild {', '.join(orphans)}: no recorded extractor or operation writes it (tool "
            "results?); run the recipe that made it again, e.g. 'quarry run RECIPE'"
        )
    for i, plan in enumerate(plans):
        summary = extract(plan, rebuild=damaged if i == 0 else frozenset())
        result.notes += [n for n in summary.notes if "rebuilt" in n]
        if summary.published:
            result.published.append(summary.snapshot)
    result.rebuilt = sorted(damaged)


def _outputs(plans: list[Any]) -> set[str]:
    """The tables the (resolved) plans write."""
    return {table for plan in plans for table in plan.graph.producers}


def _selections(
    store: Store, snap: Snapshot
) -> dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list[SourceRoot], dict[str, Any]]]:
    """Repos grouped by what they ran, each with its source root and the recorded options."""
    roots: dict[str, SourceRoot] = {}
    recipes: dict[str, dict[str, Any]] = {}
    for old in [*store.history(), snap]:  # oldest first: the newest record of a repo wins
        plan = old.run.get("plan")
        recipe: dict[str, Any] = plan if isinstance(plan, dict) else {}
        for src in recipe.get("sources", []) if isinstance(recipe.get("sources"), list) else []:
            if (
                isinstance(src, dict)
                and isinstance(src.get("repo"), str)
                and isinstance(src.get("root"), str)
            ):
                only = src.get("only") if isinstance(src.get("only"), str) else None
                roots[src["repo"]] = SourceRoot(repo=src["repo"], root=src["root"], only=only)
                recipes[src["repo"]] = recipe
        sources = old.run.get("sources")
        for repo, root in sources.items() if isinstance(sources, dict) else []:
            if isinstance(root, str) and (repo not in roots or roots[repo].root != root):
                roots[repo] = SourceRoot(repo=repo, root=root)
                recipes[repo] = recipe
    state = snap.run.get("state", {}) if isinstance(snap.run.get("state"), dict) else {}
    operations = tuple(sorted(snap.run.get("operations", {}) or {}))
    unknown = sorted(r for r in state if r not in roots)
    if unknown:
        raise StoreError(
            f"cannot rebuild: the source folder of repo(s) {', '.join(unknown)} is not recorded in the "
            "kept snapshots; extract them again with 'quarry extract FOLDER --store ...'"
        )
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list[SourceRoot], dict[str, Any]]] = {}
    by_key: dict[tuple[tuple[str, ...], tuple[str, ...]], list[SourceRoot]] = defaultdict(list)
    for repo, ran in sorted(state.items()):
        by_key[(tuple(sorted(ran)), operations)].append(roots[repo])
    for key, members in by_key.items():
        groups[key] = (members, recipes.get(members[0].repo, {}))
    return groups

"""`quarry plan`: the resolved plan of a run, without running it, as text, JSON or a Mermaid graph.

It renders the :class:`~codequarry.plan.Plan` that ``quarry extract`` would execute, and previews the
work with the same worklist a run computes (worklist.py), against the store's live snapshot.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from codequarry.graph import output_name
from codequarry.plan import ExtractPlan, Plan, as_plan
from codequarry.registry import Catalog


def describe(
    plan: Plan | ExtractPlan, *, catalog: Catalog | None = None, count_files: bool = True
) -> dict[str, Any]:
    """Everything the run would do: nodes, datasets, layers, parse products, and the work per extractor."""
    plan = as_plan(plan, catalog)
    graph, catalog = plan.graph, plan.catalog
    out: dict[str, Any] = {
        "sources": {s.repo: s.root for s in plan.sources},
        "store": str(plan.store),
        "workers": plan.workers,
        "extractors": [
            {
                "name": ex.name,
                "version": ex.version,
                "needs": list(ex.needs),
                "languages": list(ex.languages) if ex.languages is not None else None,
                "outputs": list(ex.output_names),
                "source": catalog.sources.get(ex.name, ""),
                "description": ex.description,
            }
            for ex in graph.extractors
        ],
        "operations": [
            {
                "name": op.name,
                "version": op.version,
                "inputs": list(op.inputs),
                "outputs": [output_name(o) for o in op.outputs],
                "source": catalog.sources.get(op.name, ""),
                "description": op.description,
            }
            for op in graph.operations
        ],
        "layers": plan.layers,
        "parse_products": sorted({n for ex in graph.extractors for n in ex.needs}),
        "notes": list(plan.notes),
    }
    if count_files:
        out["work"] = _work(plan)
    return out


def _work(plan: Plan) -> dict[str, Any] | None:
    """Files each extractor would process against the existing store (every file for a new store)."""
    from codequarry.repos import scan_sources
    from codequarry.store import Store
    from codequarry.worklist import source_tasks, worklist

    store = Store.open(plan.store) if (plan.store / "store.json").is_file() else None
    snap = store.snapshot() if store is not None else None
    # the repo names the store knows the sources by (a moved tree, a file of a known repo)
    sources, _reg, manifest = scan_sources(
        store, snap, plan.sources, exclude=plan.request.exclude, never=[plan.store]
    )
    graph = plan.graph
    if store is not None and snap is not None:
        work = worklist(store, snap, sources, manifest, graph.extractors, known=plan.catalog.extractors)
        todo, summary = (
            work.tasks,
            {
                "added": work.added,
                "modified": work.changed,
                "deleted": work.deleted,
                "unchanged": work.unchanged,
                "rerun": work.rerun,
                "dropped": work.dropped,
            },
        )
    else:
        todo = source_tasks(sources, manifest)[0]
        summary = {"added": len(todo), "modified": 0, "deleted": 0, "unchanged": 0}
    per: Counter[str] = Counter()
    for t in todo:
        for ex in graph.extractors:
            if ex.applies_to(t.language) and (t.only is None or ex.name in t.only):
                per[ex.name] += 1
    return {
        "files_scanned": len(manifest.files),
        **summary,
        "files_per_extractor": {ex.name: per.get(ex.name, 0) for ex in graph.extractors},
    }


def render_text(info: dict[str, Any]) -> str:
    lines = [f"store {info['store']}  ({info['workers']} workers)"]
    for repo, root in info["sources"].items():
        lines.append(f"source {repo}: {root}")
    work = info.get("work") or {}
    per = work.get("files_per_extractor", {})
    lines.append("")
    lines.append("extractors (layer 0, every file in parallel):")
    lines += _tree(
        [
            (
                e["name"],
                f"v{e['version']}  needs {', '.join(e['needs']) or '-'}  -> "
                f"{', '.join(e['outputs'])}" + (f"  [{per[e['name']]} files]" if e["name"] in per else ""),
            )
            for e in info["extractors"]
        ]
    )
    if info["operations"]:
        lines.append("operations:")
        lines += _tree(
            [
                (o["name"], f"v{o['version']}  {', '.join(o['inputs'])} -> {', '.join(o['outputs'])}")
                for o in info["operations"]
            ]
        )
    lines.append("")
    for i, layer in enumerate(info["layers"]):
        label = "file extractors" if i == 0 else "operations"
        lines.append(f"layer {i} ({label}, {len(layer)} in parallel): {', '.join(layer)}")
    lines.append(f"parse products: {', '.join(info['parse_products']) or 'none'}")
    if work:
        lines.append(
            f"files: {work['files_scanned']} scanned; {work['added']} added, {work['modified']} modified, "
            f"{work['deleted']} deleted, {work['unchanged']} unchanged"
        )
        for repo, names in (work.get("rerun") or {}).items():
            lines.append(f"re-run on every file of {repo}: {', '.join(names)}")
    lines += [f"note: {n}" for n in info["notes"]]
    return "\n".join(lines) + "\n"


def _tree(items: list[tuple[str, str]]) -> list[str]:
    """Dotted names as an indented tree: groups once, leaves with their details."""
    out: list[str] = []
    shown: set[str] = set()
    for name, detail in sorted(items):
        parts = name.split(".")
        for depth in range(1, len(parts)):
            group = ".".join(parts[:depth])
            if group not in shown:
                shown.add(group)
                out.append("  " * depth + parts[depth - 1])
        out.append("  " * len(parts) + f"{parts[-1]}  {detail}")
    return out


def render_mermaid(info: dict[str, Any]) -> str:
    """A Mermaid flowchart: extractors and operations as boxes, datasets as rounded nodes."""
    lines = ["flowchart LR"]

    def node_id(kind: str, name: str) -> str:
        return f"{kind}_{name.replace('.', '_').replace('-', '_')}"

    datasets: set[str] = set()
    for e in info["extractors"]:
        lines.append(f'  {node_id("x", e["name"])}["{e["name"]} v{e["version"]}"]')
        for d in e["outputs"]:
            datasets.add(d)
            lines.append(f"  {node_id('x', e['name'])} --> {node_id('d', d)}")
    for o in info["operations"]:
        lines.append(f'  {node_id("o", o["name"])}[["{o["name"]} v{o["version"]}"]]')
        for d in o["inputs"]:
            datasets.add(d)
            lines.append(f"  {node_id('d', d)} --> {node_id('o', o['name'])}")
        for d in o["outputs"]:
            datasets.add(d)
            lines.append(f"  {node_id('o', o['name'])} --> {node_id('d', d)}")
    for d in sorted(datasets):
        lines.insert(1, f'  {node_id("d", d)}(["{d}"])')
    return "\n".join(lines) + "\n"

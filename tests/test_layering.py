"""The import layering of codequarry: layers only point down, and no module imports itself back.

cli -> run/tools -> plan/operations -> engine, store -> api/schema/source -> errors. The store and
the engine are the foundations every front end builds on: they never import a front end (run,
incremental, cli) nor an extractor module (the data they share with those lives below both, in
codequarry.parts and codequarry.datasets). Imports inside functions count as much as those at the
top (a lazy import still ties the two modules together); those only under ``TYPE_CHECKING`` do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import codequarry

SRC = Path(codequarry.__file__).parent
PACKAGE = "codequarry"
#: the foundations, and the modules (or packages) they must never import
FOUNDATIONS = ("codequarry.store", "codequarry.engine")
ABOVE = ("codequarry.run", "codequarry.incremental", "codequarry.cli", "codequarry.extractors")
#: circles tolerated for now (none: issue 11 removed the last ones); an entry here needs a reason
PENDING: tuple[frozenset[str], ...] = ()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The codequarry modules ``name`` imports (a name imported from a package that is itself a module
    counts as that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    ours = {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}
    # importing a.b.c runs a.b's __init__ first: an edge too (not the root's, which every import runs)
    parents = {m.rsplit(".", i)[0] for m in ours for i in range(1, m.count("."))}
    parents = {p for p in parents if not name.startswith(p + ".")}  # its own package runs already
    return (ours | parents) - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) & known for name, path in modules.items()}


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_real_imports() -> None:
    """The parser finds the imports it is meant to judge (else the tests below prove nothing)."""
    graph = _graph()
    assert "codequarry.store.store" in graph["codequarry.store.writer"]
    assert "codequarry.engine.worker" in graph["codequarry.run"]
    assert graph["codequarry.cli"]


def test_store_and_engine_never_import_a_front_end_or_an_extractor() -> None:
    graph = _graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _within(module, FOUNDATIONS)
        for target in targets
        if _within(target, ABOVE)
    )
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


#: what store/ and engine/ may import besides their own package: the layers below them
BELOW = (
    "codequarry.errors",
    "codequarry.version",
    "codequarry.api",
    "codequarry.schema",
    "codequarry.source",
    "codequarry.corpus_io",
    "codequarry.parts",
    "codequarry.datasets",
    "codequarry.cores",
    "codequarry.cgroup",
)
#: (importer, imported) left as they are: export casts DataFusion's types with query.plain_types, a
#: pure Arrow helper that could move below both
KNOWN_UPWARD = {("codequarry.store.export", "codequarry.query")}


def test_store_and_engine_import_only_the_layers_below_them() -> None:
    """Stricter than the rule above: not even tools, plan, operations or report; and neither of the
    two imports the other (the values they share live in parts and datasets)."""
    graph = _graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for own in FOUNDATIONS
        if _within(module, (own,))
        for target in targets
        if not _within(target, (own, *BELOW)) and (module, target) not in KNOWN_UPWARD
    )
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_plan_does_not_import_the_engine() -> None:
    graph = _graph()
    assert not {t for t in graph["codequarry.plan"] if _within(t, ("codequarry.engine",))}


def test_no_import_circles() -> None:
    cycles = [c for c in _cycles(_graph()) if not any(set(c) <= known for known in PENDING)]
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_a_circle_is_found() -> None:
    """The circle finder itself: a made-up graph with one circle of three and a tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(graph) == [["a", "b", "c"]]

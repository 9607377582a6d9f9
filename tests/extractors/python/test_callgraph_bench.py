"""The call graph against hand-written expected call graphs (tests/fixtures/callgraph/<category>/<name>/).

Each program is its own repo in one store; its ``expected.json`` lists every edge ``caller -> target``
that running it takes (callers and targets fully qualified; a module's top level is the module name;
calling a class is an edge to its ``__init__`` (or ``__new__``) when it defines or inherits one, to an
outside base's ``__init__`` when that is external, else no edge: no code of the program runs;
applying a corpus decorator is an edge from the scope holding the decorated def or class to it).
Edges to builtins and outside packages count only in the ``builtins``, ``external`` and ``dynamic``
categories.
A lambda is a function named ``<lambdaN>`` by its enclosing scope (``main.<lambda1>``,
``main.f.<locals>.<lambda1>``): calling it is an edge to it, and the calls in its body are its edges. Precision and
recall are computed per category and overall, and printed (``pytest -s``) as JSON.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql
from tests import paths

BENCH = paths.FIXTURES / "callgraph"
ALL_EDGES = {"builtins", "external", "dynamic"}  # categories whose builtin and external edges count too


def programs() -> list[Path]:
    return sorted(p.parent for p in BENCH.glob("*/*/expected.json"))


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, str]]]:
    base = tmp_path_factory.mktemp("cgbench")
    roots = []
    for prog in programs():
        root = base / f"{prog.parent.name}__{prog.name}"
        shutil.copytree(prog, root, ignore=shutil.ignore_patterns("expected.json"))
        roots.append(root)
    store = base / "store"
    extract(make_plan(roots, store=store, workers=1, select=["python.call_graph"]))
    table = sql(
        open_store(store),
        "SELECT repo, caller, kind, target FROM call_graph WHERE target IS NOT NULL",
    )
    got: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for repo, caller, kind, target in zip(
        *(table.column(c).to_pylist() for c in table.column_names), strict=True
    ):
        category = repo.split("__")[0]
        if kind == "external" and category not in ALL_EDGES:
            continue
        got[repo].add((caller, target))
    return got


def score(graph: dict[str, set[tuple[str, str]]]) -> dict[str, dict[str, float]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # tp, found, expected, exact, n
    for prog in programs():
        category = prog.parent.name
        expected = {tuple(e) for e in json.loads((prog / "expected.json").read_text())["edges"]}
        found = graph.get(f"{category}__{prog.name}", set())
        for key in (category, "all"):
            c = counts[key]
            c[0] += len(found & expected)
            c[1] += len(found)
            c[2] += len(expected)
            c[3] += found == expected
            c[4] += 1
    return {
        k: {
            "precision": round(tp / found, 4) if found else 1.0,
            "recall": round(tp / exp, 4) if exp else 1.0,
            "exact": exact,
            "programs": n,
        }
        for k, (tp, found, exp, exact, n) in sorted(counts.items())
    }


def test_the_benchmark_covers_every_category_with_100_programs() -> None:
    cats = {p.parent.name for p in programs()}
    assert len(programs()) >= 100
    assert {
        "assignments",
        "parameters",
        "returns",
        "decorators",
        "classes",
        "mro",
        "super",
        "nested",
        "containers",
        "dicts",
        "comprehensions",
        "lambdas",
        "imports",
        "builtins",
        "external",
        "dynamic",
        "annotations",
    } <= cats


def test_precision_and_recall_per_category(graph: dict[str, set[tuple[str, str]]]) -> None:
    scores = score(graph)
    print(json.dumps(scores, indent=1))
    misses = []
    for prog in programs():
        expected = {tuple(e) for e in json.loads((prog / "expected.json").read_text())["edges"]}
        found = graph.get(f"{prog.parent.name}__{prog.name}", set())
        if found != expected:
            misses.append(
                f"{prog.parent.name}/{prog.name}: extra {sorted(found - expected)} "
                f"missing {sorted(expected - found)}"
            )
    print("\n".join(misses))
    assert scores["all"]["precision"] >= 0.99, misses
    assert scores["all"]["recall"] >= 0.93, misses


def test_dynamic_calls_stay_unresolved_with_a_reason(tmp_path: Path) -> None:
    root = tmp_path / "dyn"
    root.mkdir()
    (root / "main.py").write_text(
        "class A:\n    def m(self):\n        pass\ngetattr(A(), input())()\ndef run(cb):\n    cb()\n"
    )
    extract(make_plan([root], store=tmp_path / "s", workers=1, select=["python.call_graph"]))
    rows = sql(
        open_store(tmp_path / "s"),
        "SELECT callee, kind, target, reason FROM call_graph WHERE kind = 'unresolved' ORDER BY line",
    ).to_pylist()
    assert [(r["callee"], r["target"], r["reason"]) for r in rows] == [
        ("getattr(A(), input())", None, "calls the result of getattr"),
        ("cb", None, "no value known for the callee"),
    ]


def test_a_file_that_fails_to_parse_costs_only_its_own_edges(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "util.py").write_text("def f():\n    pass\nhandler = f\n")
    (root / "main.py").write_text("import util\nutil.handler()\n")
    (root / "broken.py").write_text("def g(:\n    util.f()\n")
    extract(make_plan([root], store=tmp_path / "s", workers=1, select=["python.call_graph"]))
    rows = sql(open_store(tmp_path / "s"), "SELECT path, callee, target FROM call_graph").to_pylist()
    assert rows == [{"path": "main.py", "callee": "util.handler", "target": "util.f"}]


def test_calls_python_makes_for_statements_are_rows_and_a_class_with_no_init_is_no_edge(
    tmp_path: Path,
) -> None:
    """``for x in obj``, ``with obj`` and ``raise Cls`` call corpus methods with no call expression:
    rows from the statement's scope, exact when one receiver's methods run; calling a class that
    neither defines nor inherits ``__init__`` keeps its row (kind ``class``, the class in the
    ``target_*`` columns) with no ``target``: no corpus code runs."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "main.py").write_text(
        "class E(Exception):\n    def __init__(self):\n        pass\n"
        "class It:\n    def __iter__(self):\n        return self\n    def __next__(self):\n        raise E\n"
        "class Cm:\n    def __enter__(self):\n        return self\n    def __exit__(self, *a):\n        pass\n"
        "def run(xs):\n    for x in xs:\n        pass\n    with Cm():\n        pass\n"
        "run(It())\n"
    )
    extract(make_plan([root], store=tmp_path / "s", workers=1, select=["python.call_graph"]))
    rows = sql(
        open_store(tmp_path / "s"),
        "SELECT caller, callee, kind, target, target_qualname, confidence FROM call_graph "
        "ORDER BY line, col, target NULLS FIRST",
    ).to_pylist()
    assert [tuple(r.values()) for r in rows] == [
        ("main.It.__next__", "raise E", "method", "main.E.__init__", "E.__init__", "exact"),
        ("main.run", "for ... in xs", "method", "main.It.__iter__", "It.__iter__", "exact"),
        ("main.run", "for ... in xs", "method", "main.It.__next__", "It.__next__", "exact"),
        ("main.run", "Cm", "class", None, "Cm", "exact"),
        ("main.run", "with Cm(...)", "method", "main.Cm.__enter__", "Cm.__enter__", "exact"),
        ("main.run", "with Cm(...)", "method", "main.Cm.__exit__", "Cm.__exit__", "exact"),
        ("main", "run", "function", "main.run", "run", "exact"),
        ("main", "It", "class", None, "It", "exact"),
    ]


def test_a_slot_store_replaces_only_where_nothing_else_may_have_stored(tmp_path: Path) -> None:
    """``d["a"] = new`` then ``d["a"]()`` calls ``new`` only; a store through an alias, a call that may
    store (the dict passed to it), a loop, or a read in another scope takes every value again."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "main.py").write_text(
        "def old():\n    pass\ndef new():\n    pass\ndef other():\n    pass\n"
        "def reset(t):\n    t['a'] = other\n"
        "d = {'a': old}\nd['a'] = new\nd['a']()\n"  # line 11: new
        "alias = d\nalias['a'] = other\nd['a']()\n"  # line 14: every value
        "d['a'] = new\nreset(d)\nd['a']()\n"  # line 17: every value
        "d['a'] = new\nfor _ in range(2):\n    d['a']()\n"  # line 20: every value
        "def later():\n    d['a']()\n"  # line 22: every value
        "d['a'] = new\nd['a'](d['a'])\n"  # line 24: new (both reads before the call)
    )
    extract(make_plan([root], store=tmp_path / "s", workers=1, select=["python.call_graph"]))
    rows = sql(
        open_store(tmp_path / "s"), "SELECT line, target FROM call_graph WHERE kind = 'function'"
    ).to_pylist()
    by_line: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        by_line[r["line"]].add(r["target"].rpartition(".")[2])
    every = {"old", "new", "other"}
    assert by_line[11] == {"new"}
    assert by_line[14] == by_line[17] == by_line[20] == by_line[22] == every
    assert by_line[24] == {"new"}

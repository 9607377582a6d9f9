"""python.call_graph after edits: re-extracting a changed tree gives the rows a fresh extract gives, and
only the repos whose facts changed are solved again (the others' answers come from the store)."""

from __future__ import annotations

import json
import random
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.python.callgraph import pointsto
from codequarry.query import table
from codequarry.testing import write_tree

TABLES = ("call_graph", "references", "callgraph_solutions")

APP = {
    "app/__init__.py": "from .core import run\n",
    "app/core.py": (
        "from .plugins import REGISTRY\n\n"
        "def run(name):\n    handler = REGISTRY[name]\n    return handler()\n\n"
        "def make():\n    return run\n\n"
        "class Job:\n    def __init__(self, fn):\n        self.fn = fn\n\n"
        "    def go(self):\n        return self.fn()\n"
    ),
    "app/plugins.py": (
        "def alpha():\n    return 1\n\ndef beta():\n    return 2\n\nREGISTRY = {'a': alpha, 'b': beta}\n"
    ),
    "app/main.py": "from .core import Job, make\nfrom .plugins import alpha\n\nJob(alpha).go()\nmake()('a')\n",
}
LIB = {
    "lib/tools.py": "def deco(f):\n    def wrapper():\n        return f()\n    return wrapper\n\n"
    "@deco\ndef tool():\n    return 3\n\ntool()\n",
}
EDITS: list[tuple[str, str, str | None]] = [
    # (repo, file, new text or None to delete)
    ("app", "app/plugins.py", "def gamma():\n    return 3\n\nREGISTRY = {'a': gamma}\n"),
    ("app", "app/extra.py", "from .core import Job\n\ndef delta():\n    pass\n\nJob(delta).go()\n"),
    ("app", "app/main.py", None),
    ("lib", "lib/tools.py", "def tool():\n    return 4\n\ntool()\n"),
]


def dump(store: Path) -> dict[str, list[str]]:
    st = open_store(store)
    return {
        name: sorted(json.dumps(r, sort_keys=True, default=str) for r in table(st, name).to_pylist())
        for name in TABLES
    }


def run(roots: list[Path], store: Path) -> Any:
    return extract(make_plan(roots, store=store, workers=1, select=["python.call_graph"]))


def test_each_edit_then_a_rerun_equals_a_fresh_extract(tmp_path: Path) -> None:
    app, lib = write_tree(tmp_path / "app", APP), write_tree(tmp_path / "lib", LIB)
    store = tmp_path / "store"
    first = run([app, lib], store)
    assert first.operations["python.call_graph"]["stats"]["call_graph.repos_solved"] == 2
    assert any(r.startswith('{"callee": "handler"') for r in dump(store)["call_graph"])
    for n, (repo, rel, text) in enumerate(EDITS):
        path = (app if repo == "app" else lib) / rel
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
        summary = run([app, lib], store)
        info = summary.operations["python.call_graph"]
        assert info["ran"] and info["stats"]["call_graph.repos_solved"] == 1, (rel, info)  # the edited repo
        fresh = tmp_path / f"fresh{n}"
        run([app, lib], fresh)
        assert dump(store) == dump(fresh), rel


def test_an_unchanged_tree_is_not_solved_again(tmp_path: Path) -> None:
    app = write_tree(tmp_path / "app", APP)
    store = tmp_path / "store"
    run([app], store)
    (app / "notes.txt").write_text("not python\n")  # the run has work, the call graph's inputs do not
    again = run([app], store)
    info = again.operations["python.call_graph"]
    assert not info["ran"] or info["stats"]["call_graph.repos_solved"] == 0


def test_an_edit_that_leaves_the_facts_alone_still_gives_the_fresh_rows(tmp_path: Path) -> None:
    """A comment changes a file's sha256 but not its facts: the repo's stored answers are reused, and
    their rows carry the file's new sha256, as a fresh extract's do (they kept the old one)."""
    app = write_tree(tmp_path / "app", APP)
    store = tmp_path / "store"
    run([app], store)
    (app / "app/__init__.py").write_text("from .core import run  # new content, the same facts\n")
    again = run([app], store)
    assert again.operations["python.call_graph"]["stats"]["call_graph.repos_solved"] == 0  # reused
    fresh = tmp_path / "fresh"
    run([app], fresh)
    assert dump(store) == dump(fresh)


def test_facts_orjson_refuses_are_stored_and_solved_all_the_same(tmp_path: Path) -> None:
    """A lone surrogate in a string and an integer key wider than 64 bits: the facts text falls back
    to the standard library's JSON, and the solve reads it (the call through the dict resolves)."""
    tree = write_tree(
        tmp_path / "odd",
        {
            "odd.py": 'def f():\n    return "\\ud800"\n\n'
            "TABLE = {100000000000000000000000000000: f}\n"
            "TABLE[100000000000000000000000000000]()\n"
            "é = f\né()\n"
        },
    )
    store = tmp_path / "store"
    run([tree], store)
    rows = table(open_store(store), "call_graph").to_pylist()
    assert sorted((r["callee"], r["target"]) for r in rows) == [
        ("TABLE[100000000000000000000000000000]", "odd.f"),
        ("é", "odd.f"),
    ]


#: calls and references the solver finds nothing for are not stored: the stored ones keep their index
UTIL = "import os\n\ndef f(x):\n    os.getcwd()\n    x.run()\n    return len(x) + f(x)\n"
MOVES = [
    # (file, new text): each moves lines and columns only, so the stored answers are moved, not solved
    ("app/core.py", '"""The core."""\n\n\n' + APP["app/core.py"]),  # every position moves down
    ("app/main.py", APP["app/main.py"].replace("Job(alpha).go()", "Job( alpha ).go(  )")),  # columns
    ("app/plugins.py", APP["app/plugins.py"].replace("\n\n", "\n\n# a comment\n\n")),
    ("app/util.py", "\n" + UTIL),
    ("app/util.py", "# twice\n\n" + UTIL.replace("len(x)", "len( x )")),  # moved answers moved again
]


def test_an_edit_that_only_moves_code_reuses_the_answers_at_their_new_positions(tmp_path: Path) -> None:
    """Positions never steer the solve: a docstring, blank lines or spacing that move the calls and
    references of a file leave every answer as it was, at the position of now, and the tables equal
    a fresh extract's (whose call_graph rows carry the new lines)."""
    app = write_tree(tmp_path / "app", {**APP, "app/util.py": UTIL})
    store = tmp_path / "store"
    run([app], store)
    for n, (rel, text) in enumerate(MOVES):
        (app / rel).write_text(text)
        stats = run([app], store).operations["python.call_graph"]["stats"]
        assert (stats["call_graph.repos_solved"], stats["call_graph.repos_moved"]) == (0, 1), rel
        fresh = tmp_path / f"fresh{n}"
        run([app], fresh)
        assert dump(store) == dump(fresh), rel
    rows = table(open_store(store), "call_graph").to_pylist()
    assert ("handler", 8, "app.plugins.alpha") in {(r["callee"], r["line"], r["target"]) for r in rows}


def test_an_edit_that_changes_what_the_code_does_after_a_move_is_solved(tmp_path: Path) -> None:
    """A shape that differs in one file (a call added) solves the repo again."""
    app = write_tree(tmp_path / "app", APP)
    store = tmp_path / "store"
    run([app], store)
    (app / "app/main.py").write_text("\n" + APP["app/main.py"] + "make()('b')\n")
    stats = run([app], store).operations["python.call_graph"]["stats"]
    assert (stats["call_graph.repos_solved"], stats["call_graph.repos_moved"]) == (1, 0)
    fresh = tmp_path / "fresh"
    run([app], fresh)
    assert dump(store) == dump(fresh)


def stdlib_slice(root: Path) -> Path:
    """A copy of a few standard library packages and modules whose sets pass the cap (read, never run)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("json", "email", "concurrent"):
        for src in (stdlib / name).rglob("*.py"):
            dest = root / name / src.relative_to(stdlib / name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
    for name in ("selectors.py", "socketserver.py", "argparse.py"):
        (root / name).write_bytes((stdlib / name).read_bytes())
    return root


def random_edit(root: Path, rng: random.Random, n: int) -> str:
    """One edit of a random kind to a random file of ``root``: a function and a call added, a
    file added, deleted or renamed, or a comment line prepended (positions move)."""
    files = sorted(p for p in root.rglob("*.py") if p.name != "__init__.py")
    path = rng.choice(files)
    kind = ("edit", "add", "delete", "rename", "move")[n % 5]
    if kind == "edit":
        callee = rng.choice(["len", "print", "sorted", "super().__init__"])
        path.write_text(
            path.read_text() + f"\n\ndef _edited_{n}(x):\n    return {callee}(x)\n\n_edited_{n}([])\n"
        )
    elif kind == "add":
        other = rng.choice(files).relative_to(root).with_suffix("")
        module = ".".join(other.parts)
        (root / f"added_{n}.py").write_text(f"import {module}\nfrom {module} import *\n\n{module}.__name__\n")
    elif kind == "delete":
        path.unlink()
    elif kind == "rename":
        path.rename(path.with_name(f"renamed_{n}_{path.name}"))
    else:
        path.write_text("# moved\n" + path.read_text())
    return f"{kind} {path.relative_to(root)}"


@pytest.mark.slow
def test_random_edits_of_a_stdlib_slice_give_the_rows_of_a_fresh_extract(tmp_path: Path) -> None:
    """Edits of every kind (an edit, an added, deleted or renamed file, a move), at random on a real
    slice of the standard library whose sets pass the cap: after each, the three tables equal a fresh
    extract's, row for row."""
    root = stdlib_slice(tmp_path / "slice")
    store = tmp_path / "store"
    run([root], store)
    facts = sql(open_store(store), "SELECT module, facts FROM callgraph_facts ORDER BY path")
    files = list(zip(facts.column("module").to_pylist(), facts.column("facts").to_pylist(), strict=True))
    solver = pointsto.Solver(files)
    solver.solve()
    assert solver.over  # sets pass the cap: the order of evaluation matters here
    rng = random.Random(14)
    for n in range(5):
        what = random_edit(root, rng, n)
        run([root], store)
        fresh = tmp_path / f"fresh{n}"
        run([root], fresh)
        assert dump(store) == dump(fresh), what
        shutil.rmtree(fresh)

"""The points-to solver's answers do not depend on the order it evaluates its tasks in, given the
variables and slots that are TOP from the start (its pins).

The same facts are solved with the tasks in file order and shuffled (within and across files, several
seeds); every file's answers (call sites and references) must be equal. On a fixture where no set
reaches the cap (every rule but the cap: fallbacks, decorators, attributes from outside the corpus,
external instances, containers), and, with the pins a first solve found, on a fixture that pushes
sets past the cap and on a slice of the standard library. Facts come from the real extractor; the
corpus is read, never imported.
"""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.python.callgraph import codec, pointsto
from codequarry.extractors.python.callgraph.domain import CAP
from codequarry.testing import write_tree

N = CAP + 6  # functions: more than a set may hold before it becomes TOP


def tree(n: int) -> dict[str, str]:
    """A package with ``n`` handlers called through one parameter, and the other rules around."""
    return {
        "app/__init__.py": "",
        "app/handlers.py": "".join(f"def h{i}(x):\n    return x.run()\n\n" for i in range(n))
        + "HANDLERS = ["
        + ", ".join(f"h{i}" for i in range(n))
        + "]\n"
        + "SMALL = {'a': h0, 'b': h1}\n",
        "app/core.py": (
            "from .handlers import HANDLERS, SMALL, h2\n\n"
            "class Job:\n    def run(self):\n        return self\n\n"
            "class Other(Job):\n    def run(self):\n        return helper\n\n"
            "def helper():\n    return Job()\n\n"
            "def dispatch(fn, arg):\n    return fn(arg)\n\n"
            "def each():\n    out = []\n    for h in HANDLERS:\n        out.append(dispatch(h, Job()))\n"
            "    return out\n\n"
            "def pick(key):\n    f = SMALL[key]\n    g = dispatch(f, Other())\n    return g()\n\n"
            "def deco(f):\n    def wrapper(*a, **k):\n        return f(*a, **k)\n    return wrapper\n\n"
            "@deco\ndef decorated(y):\n    return dispatch(h2, y)\n\n"
            "ALL = each()\nfor r in ALL:\n    r.run()\npick('a')()\ndecorated(Job()).run()\n"
        ),
        "app/ext.py": (
            "import selectors\nfrom pathlib import Path\n\n"
            "Sel = selectors.PollSelector if hasattr(selectors, 'PollSelector') else selectors.SelectSelector\n\n"
            "class Server:\n    def __init__(self):\n        self.sel = Sel()\n\n"
            "    def serve(self):\n        self.sel.register(self)\n        return Path('x').exists()\n\n"
            "Server().serve()\n"
        ),
        "app/more.py": (
            "import functools\nfrom django.views import View\nfrom .core import *\n\n"
            "@functools.lru_cache\ndef cached():\n    return helper()\n\n"
            "class Page(View):\n    def get(self, request):\n        return self.render(request)\n\n"
            "    def render(self, request):\n        return self.dispatch(request)\n\n"
            "class Both(Job, dict):\n    def go(self):\n        self.pop('k')\n        return super().run()\n\n"
            "cached()\nPage().get(None)\nBoth().go()\nJob().run()\n"
        ),
    }


class Shuffled(pointsto.Solver):
    """A solver that runs its tasks in a random order (its task ids are shuffled)."""

    seed = 0

    def __init__(self, files: list[tuple[str, Any]], pinned: frozenset[Any] = frozenset()) -> None:
        super().__init__(files, pinned)
        random.Random(self.seed).shuffle(self.tasks)


def facts(roots: list[Path], store: Path) -> list[tuple[str, Any]]:
    """(module, facts) of every file, in path order, by the real extractor."""
    extract(make_plan(roots, store=store, workers=1, select=["python.callgraph.facts"]))
    table = sql(open_store(store), "SELECT module, facts FROM callgraph_facts ORDER BY path")
    texts = zip(table.column("module").to_pylist(), table.column("facts").to_pylist(), strict=True)
    return [(module, codec.decode(text)) for module, text in texts]


def solved(files: list[tuple[str, Any]], seed: int | None, pinned: frozenset[Any]) -> pointsto.Solver:
    """One solve of ``files`` with ``pinned`` TOP from the start: in file order (``seed`` None) or
    with the tasks shuffled."""
    solver = (
        pointsto.Solver(files, pinned)
        if seed is None
        else type("S", (Shuffled,), {"seed": seed})(files, pinned)
    )
    solver.solve()
    return solver


def answers(solver: pointsto.Solver) -> list[Any]:
    return [solver.answers(i) for i in range(len(solver.files))]


def objects(found: list[Any]) -> set[Any]:
    return {o for calls, refs in found for objs, *_ in calls + refs for o in objs}


def test_under_the_cap_shuffled_tasks_give_the_same_answers(tmp_path: Path) -> None:
    files = facts([write_tree(tmp_path / "app", tree(CAP - 10))], tmp_path / "store")
    first = solved(files, None, frozenset())
    assert not first.over  # no set reached the cap: every rule but the cap is at work
    found = answers(first)
    got = objects(found)
    assert ("F", "app.core.deco.<locals>.wrapper") in got  # a corpus decorator
    assert ("F", "app.more.cached") in got  # an external decorator keeps the function
    assert ("XA", "django.views.View", "dispatch") in got  # an attribute of an external base
    either = {("XA", f"selectors.{c}Selector", "register") for c in ("Poll", "Select")}
    assert either <= got  # an instance of either external class
    assert ("BM", "app.core.Job.run", ("I", "app.core.Job")) in got  # self through the fallback
    for seed in (1, 2, 3):
        assert answers(solved(files, seed, frozenset())) == found, seed


def test_past_the_cap_shuffled_tasks_give_the_same_answers_with_the_same_pins(tmp_path: Path) -> None:
    files = facts([write_tree(tmp_path / "app", tree(N))], tmp_path / "store")
    pinned = frozenset(solved(files, None, frozenset()).over)
    assert pinned  # the fixture pushes sets past the cap
    first = solved(files, None, pinned)
    assert not first.over  # the pins hold every set that grows past the cap: no other one does
    found = answers(first)
    assert ("T",) in objects(found)
    for seed in (1, 2, 3):
        again = solved(files, seed, pinned)
        assert not again.over and answers(again) == found, seed


@pytest.mark.slow
def test_shuffled_tasks_give_the_same_answers_on_a_slice_of_the_stdlib(tmp_path: Path) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    root = tmp_path / "slice"
    for name in ("email", "json", "logging", "concurrent", "asyncio"):
        for src in (stdlib / name).rglob("*.py"):
            dest = root / name / src.relative_to(stdlib / name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
    for name in ("selectors.py", "socketserver.py", "configparser.py", "argparse.py"):
        (root / name).write_bytes((stdlib / name).read_bytes())
    files = facts([root], tmp_path / "store")
    assert len(files) > 60
    pinned = frozenset(solved(files, None, frozenset()).over)
    assert pinned  # the slice pushes sets past the cap
    first = solved(files, None, pinned)
    found = answers(first)
    for seed in (1, 2):
        again = solved(files, seed, pinned)
        assert again.over == first.over
        differ = [files[i][0] for i in range(len(files)) if answers(again)[i] != found[i]]
        assert differ == [], (seed, differ[:5])


@pytest.mark.parametrize("n", [CAP - 10, N])
def test_the_answers_take_each_callee_from_its_last_evaluation(tmp_path: Path, n: int) -> None:
    """At the fixpoint a callee's value from its call task's last run is what evaluating it again
    gives (under the cap, and with sets past it), so the answers read it rather than evaluate it."""
    files = facts([write_tree(tmp_path / "app", tree(n))], tmp_path / "store")
    solver = solved(files, None, frozenset())
    assert solver.converged
    assert all(c is not None for per_file in solver.callees for c in per_file)  # every call task ran
    kept = answers(solver)
    solver.converged = False  # as when the guard stops a drain: every callee is evaluated again
    assert answers(solver) == kept
    assert ("F", "app.core.deco.<locals>.wrapper") in objects(kept)

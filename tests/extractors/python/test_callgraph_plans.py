"""The solver's attribute plans (:meth:`~codequarry.extractors.python.callgraph.pointsto.Solver.plan`)
are kept per (class, attribute) while the class's MRO stays the same: a base that becomes known
after an attribute was read must still give its attribute. Facts come from the real extractor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.python.callgraph import codec, pointsto
from codequarry.testing import write_tree

SOURCE = (
    "def use():\n    return Thing().meth()\n\n"  # read before the base of Thing is known
    "class Thing(Alias):\n    pass\n\n"
    "def pick():\n    return Real\n\n"
    "class Real:\n    def meth(self):\n        return 1\n\n"
    "    field = 2\n\n"
    "Alias = pick()\n"
    "Real.stored = None\n"  # an attribute some fact stores: instance fields of that name are read
)


def facts(root: Path, store: Path) -> list[tuple[str, Any]]:
    extract(make_plan([root], store=store, workers=1, select=["python.callgraph.facts"]))
    table = sql(open_store(store), "SELECT module, facts FROM callgraph_facts ORDER BY path")
    texts = zip(table.column("module").to_pylist(), table.column("facts").to_pylist(), strict=True)
    return [(module, codec.decode(text)) for module, text in texts]


def test_an_attribute_read_before_its_base_is_known_is_found_once_the_mro_grows(tmp_path: Path) -> None:
    files = facts(write_tree(tmp_path / "app", {"app/__init__.py": "", "app/a.py": SOURCE}), tmp_path / "s")
    solver = pointsto.Solver(files)
    solver.solve()
    i = next(n for n, (module, _) in enumerate(files) if module == "app.a")
    calls = {pos[:2]: objs for objs, _reason, pos in solver.call_targets(i)}
    assert calls[(2, 11)] == [("BM", "app.a.Real.meth", ("I", "app.a.Thing"))]
    # the plan the last read used is the one of the MRO of now, with Real in it
    mro, fields, found, _stored, _outside = solver.plan("app.a.Thing", "meth")
    assert mro == ["app.a.Thing", "app.a.Real"] and found is not None and found.endswith(":Real:meth")
    assert fields == ()  # no fact stores an attribute named meth: no instance field of it to read
    mro, fields, found, _stored, _outside = solver.plan("app.a.Thing", "stored")
    assert mro == ["app.a.Thing", "app.a.Real"]
    assert fields == ("if:app.a.Thing:stored", "if:app.a.Real:stored")

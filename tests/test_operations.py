"""Operations: the DAG comes from declarations; errors name the parties; incremental re-runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.errors import DeclarationError, UsageError
from codequarry.operations import OperationError
from codequarry.plan import select_nodes
from codequarry.registry import load_catalog
from tests.test_incremental import touch_later


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "a.py").write_text(
        "def f():\n    pass\n\nasync def g():\n    pass\n\nclass C:\n    pass\n"
    )
    (root / "pkg" / "b.py").write_text("def h():\n    pass\n")
    return root


def test_layers_come_from_declared_inputs() -> None:
    sel = select_nodes(load_catalog(["tests.plugins.ops_good"]), select=["acme"])
    from codequarry.graph import build_graph

    g = build_graph(sel.extractors, sel.operations)
    assert g.layers == [["acme.async_count", "acme.sizes"], ["acme.big"]]
    # selecting the operations pulled in the extractors that produce their inputs, with notes
    assert {e.name for e in sel.extractors} >= {"python.core.functions", "python.core.classes"}
    assert "python.core.calls" not in {e.name for e in sel.extractors}
    assert any("python.core.functions" in n and "acme" in n for n in sel.notes)


def test_sql_and_arrow_operations_run_after_the_extractors(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    s = extract(make_plan([src], store=store, workers=1, plugins=["tests.plugins.ops_good"]))
    assert all(s.operations[n]["ran"] for n in ("acme.sizes", "acme.big", "acme.async_count"))
    st = open_store(store)
    got = sql(st, "SELECT module, functions, classes FROM module_sizes ORDER BY module").to_pylist()
    assert got == [
        {"module": "pkg.a", "functions": 2, "classes": 1},
        {"module": "pkg.b", "functions": 1, "classes": 0},
    ]
    assert sql(st, "SELECT module FROM big_modules").to_pylist() == [{"module": "pkg.a"}]
    assert sql(st, "SELECT n FROM async_count").to_pylist() == [{"n": 1}]
    assert "async functions: 1" in s.notes


def test_operations_rerun_only_when_an_input_or_their_version_changed(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1, plugins=["tests.plugins.ops_good"])
    extract(plan)
    again = extract(plan)
    assert not again.published and not any(i["ran"] for i in again.operations.values())
    (src / "pkg" / "b.py").write_text("def h():\n    pass\n\ndef i():\n    pass\n")
    touch_later(src / "pkg" / "b.py")
    third = extract(plan)
    assert third.operations["acme.sizes"]["ran"] and third.operations["acme.big"]["ran"]
    assert sql(open_store(store), "SELECT module FROM big_modules ORDER BY module").to_pylist() == [
        {"module": "pkg.a"},
        {"module": "pkg.b"},
    ]


def test_a_cycle_is_an_error_naming_the_operations() -> None:
    with pytest.raises(DeclarationError, match=r"cycle: cyc\.a -> cyc\.b -> cyc\.a"):
        select_nodes(load_catalog(["tests.plugins.ops_cycle"]))


def test_a_typo_in_an_input_suggests_the_dataset() -> None:
    with pytest.raises(DeclarationError, match=r"typo\.op.*'funtions'.*Did you mean 'functions'"):
        select_nodes(load_catalog(["tests.plugins.ops_typo"]))


def test_two_producers_of_one_dataset_are_named() -> None:
    with pytest.raises(
        DeclarationError, match=r"'functions' has two producers: .*python\.core\.functions.*dup\.op"
    ):
        select_nodes(load_catalog(["tests.plugins.ops_dup"]))


def test_skipping_what_a_selected_operation_needs_is_an_error() -> None:
    with pytest.raises(UsageError, match=r"acme\.sizes.*python\.core\.classes"):
        select_nodes(
            load_catalog(["tests.plugins.ops_good"]), select=["acme"], deselect=["python.core.classes"]
        )


def test_a_failing_operation_publishes_nothing(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    with pytest.raises(OperationError, match=r"fail\.op.*ZeroDivisionError.*--skip fail\.op"):
        extract(make_plan([src], store=store, workers=1, plugins=["tests.plugins.ops_fail"]))
    assert open_store(store).snapshot().id == 1  # type: ignore[union-attr]


def _plan(*args: object) -> str:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "codequarry", "plan", *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_plan_shows_layers_products_and_work_without_running(src: Path, tmp_path: Path) -> None:
    import json

    store = tmp_path / "store"
    info = json.loads(_plan(src, "--store", store, "--plugin", "tests.plugins.ops_good", "-f", "json"))
    layer_of = {name: i for i, layer in enumerate(info["layers"]) for name in layer}
    assert layer_of["acme.sizes"] == layer_of["acme.async_count"] == 1  # independent: one layer, in parallel
    assert layer_of["acme.big"] == 2  # reads what acme.sizes writes
    assert layer_of["python.core.functions"] == 0
    assert info["parse_products"] == ["ast"]
    assert info["work"]["files_per_extractor"]["python.core.functions"] == 3
    assert info["work"]["files_per_extractor"]["core.files"] == 3
    assert not store.exists()  # planning writes nothing
    extract(make_plan([src], store=store, workers=1))
    (src / "pkg" / "c.py").write_text("x = 1\n")
    info = json.loads(_plan(src, "--store", store, "--select", "python.core.calls", "-f", "json"))
    assert info["work"]["files_per_extractor"] == {"core.files": 1, "python.core.calls": 1}
    assert info["work"]["added"] == 1 and info["work"]["unchanged"] == 3
    text = _plan(src, "--store", store, "--plugin", "tests.plugins.ops_good")
    assert "acme.big" in [line for line in text.splitlines() if line.startswith("layer 2")][0]
    mermaid = _plan(src, "--store", store, "--plugin", "tests.plugins.ops_good", "-f", "mermaid")
    assert mermaid.startswith("flowchart LR") and "d_module_sizes --> o_acme_big" in mermaid

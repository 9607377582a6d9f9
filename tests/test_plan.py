"""The resolved plan: one catalog load and one graph build per command, executed by `extract` and
rendered by `quarry plan` as the same object."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import codequarry.graph
import codequarry.registry
from codequarry import extract, make_plan
from codequarry.cli import app
from codequarry.explain import describe
from codequarry.plan import ExtractPlan, Plan, resolve
from codequarry.query import open_store, sql

APP = "import os\n\n\ndef handler(x):\n    return os.environ.get('HOME', x)\n"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Count the real calls of load_catalog and build_graph, wherever a module bound them."""
    counted: Counter[str] = Counter()

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)

        return wrapper

    for name, real in (
        ("load_catalog", codequarry.registry.load_catalog),
        ("build_graph", codequarry.graph.build_graph),
    ):
        wrapped = counting(name, real)
        for module in [m for n, m in sys.modules.items() if n.split(".")[0] == "codequarry"]:
            if getattr(module, name, None) is real:
                monkeypatch.setattr(module, name, wrapped)
    yield counted


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    src.mkdir()
    (src / "app.py").write_text(APP, encoding="utf-8")
    (src / "util.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    return src


def _quarry(*args: str) -> str:
    done = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output


def test_extract_and_plan_resolve_once_per_command(tmp_path: Path, calls: Counter[str]) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    common = ["--store", str(store), "-w", "1", "--select", "python.core", "--select", "python.call_graph"]
    _quarry("plan", str(src), *common)  # a new store: every file is work
    assert calls == {"load_catalog": 1, "build_graph": 1}
    calls.clear()
    _quarry("extract", str(src), *common, "--quiet")
    assert calls == {"load_catalog": 1, "build_graph": 1}
    (src / "util.py").write_text("def f():\n    return 2\n", encoding="utf-8")
    calls.clear()
    info = json.loads(_quarry("plan", str(src), *common, "--format", "json"))  # against the store
    assert calls == {"load_catalog": 1, "build_graph": 1}
    assert info["work"]["modified"] == 1 and info["work"]["unchanged"] == 1
    calls.clear()
    _quarry("extract", str(src), *common, "--quiet")  # incremental, operations re-derived
    assert calls == {"load_catalog": 1, "build_graph": 1}
    assert sql(open_store(store), "SELECT count(*) AS n FROM files").column("n")[0].as_py() == 2


def test_a_recipe_run_with_an_extract_section_resolves_once(tmp_path: Path, calls: Counter[str]) -> None:
    _tree(tmp_path)  # proj/, the [extract] source
    recipe = tmp_path / "quarry.toml"
    recipe.write_text(
        '[extract]\nsources = ["proj"]\nworkers = 1\nselect = ["python.core", "python.call_graph"]\n',
        encoding="utf-8",
    )
    store = tmp_path / "store"
    _quarry("run", str(recipe), "--store", str(store))  # reserved table names, make_plan, the run
    assert calls == {"load_catalog": 1, "build_graph": 1}
    assert sql(open_store(store), "SELECT count(*) AS n FROM files").column("n")[0].as_py() == 2


def test_the_plan_run_executes_is_the_plan_rendered(tmp_path: Path, calls: Counter[str]) -> None:
    src = _tree(tmp_path)
    plan = make_plan([src], store=tmp_path / "store", workers=1, select=["python.call_graph"])
    assert isinstance(plan, Plan) and isinstance(plan.request, ExtractPlan)
    assert [ex.name for ex in plan.extractors] == list(plan.request.extractors)
    assert [op.name for op in plan.operations] == list(plan.request.operations) == ["python.call_graph"]
    assert plan.versions["python.call_graph"] == plan.operations[0].version
    assert "calls" in plan.file_specs and "call_graph" not in plan.file_specs  # an operation's table
    info = describe(plan)
    assert info["layers"] == plan.layers == [list(plan.request.extractors), ["python.call_graph"]]
    assert info["work"]["files_per_extractor"]["python.core.calls"] == 2
    summary = extract(plan)
    assert summary.operations["python.call_graph"]["ran"]
    assert calls == {"load_catalog": 1, "build_graph": 1}  # make_plan's, and nothing after


def test_a_request_is_resolved_from_its_names(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    plan = make_plan([src], store=tmp_path / "store", workers=1, select=["python.core.functions"])
    again = resolve(ExtractPlan.model_validate(plan.request.model_dump()))  # as a recipe holds it
    assert again.layers == plan.layers and again.file_specs.keys() == plan.file_specs.keys()
    files_only = make_plan([src], select=["python.call_graph"]).replace(operations=())
    assert files_only.operations == [] and files_only.graph.layers == []
    assert files_only.request.extractors == make_plan([src], select=["python.call_graph"]).request.extractors
    moved = plan.replace(workers=1)
    assert moved.graph is plan.graph and moved.catalog is plan.catalog  # nothing resolved again
    gone = plan.request.model_copy(update={"extractors": ("acme.no.such",)})
    with pytest.raises(Exception, match="acme.no.such"):
        resolve(gone, plan.catalog)

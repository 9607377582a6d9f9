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


# -- the request and the run report are plain dataclasses (plaindata.py): pydantic is the reference --

_PRIVATE = {"_task_source", "_tool_results", "_tools_file", "_task_counts"}


def _hostile_report() -> Any:
    from codequarry.report.model import ErrorItem, Memory, MemorySample, RunReport, Step, TaskReport

    return RunReport(
        run_id="abc",
        kind="extract",
        status="errors",
        started=1,  # an int for a float: read as 1.0, as pydantic did
        store="/s",
        seconds=0,
        utilisation=1,
        stages=[
            Step(name=f"s{i}", seconds=s) for i, s in enumerate((0, 1e-5, 5.4e-5, 6e-6, 1.5e-7, 1e16, 0.1))
        ],
        memory=Memory(parent_peak=5, interval=0.25, samples=[MemorySample(t=0, parent=1, workers=2)]),
        tasks=[TaskReport(id="t", tool="x", target="é\u2028\x00</script>", status="ok", started=3)],
        errors=[ErrorItem(repo="r", path="p", line=3, message='"quoted" \\ back')],
        host={"a": [1, 2.5, None, float("inf"), float("nan"), -3e-9], "b": ("t", "u")},
        notes=["ünïcode", "\t"],
    )


def test_the_request_and_the_run_report_read_and_write_what_pydantic_does(tmp_path: Path) -> None:
    """ExtractPlan and the report models were pydantic models; as dataclasses they give the same
    dumps (Python and JSON), the same JSON text (pydantic's floats: 0.000054, 6e-6) and read the same
    documents back as pydantic itself does for these classes (TypeAdapter)."""
    from pydantic import TypeAdapter

    from codequarry.report import runs
    from codequarry.report.model import RunReport

    tree = tmp_path / "app"
    tree.mkdir()
    (tree / "app.py").write_text(APP)
    plan = make_plan([tree], store=tmp_path / "store", workers=1, exclude=["x"])
    extract(plan)
    reports = [runs.load(tmp_path / "store"), _hostile_report()]
    adapter = TypeAdapter(RunReport)
    for report in reports:
        assert report.model_dump() == adapter.dump_python(report, exclude=_PRIVATE)
        assert report.model_dump(mode="json") == adapter.dump_python(report, mode="json", exclude=_PRIVATE)
        for indent in (None, 1):
            text = report.model_dump_json(indent=indent)
            assert text == adapter.dump_json(report, indent=indent, exclude=_PRIVATE).decode()
            doc = json.loads(text)
            assert RunReport.model_validate(doc) == adapter.validate_python(doc)
    record = reports[0].record()
    assert record.model_dump() == TypeAdapter(type(record)).dump_python(record)
    request = plan.request
    req = TypeAdapter(ExtractPlan)
    assert request.model_dump() == req.dump_python(request)
    assert request.model_dump_json() == req.dump_json(request).decode()
    doc = request.model_dump(mode="json")
    assert ExtractPlan.model_validate(doc) == req.validate_python(doc) == request
    assert ExtractPlan.model_validate(request.model_dump()) == request  # as a recipe holds it


def test_bad_requests_and_reports_are_refused_as_pydantic_refused_them() -> None:
    from codequarry.report.model import RunReport, Step

    good = _hostile_report().model_dump(mode="json")
    for field, value in (("kind", "nope"), ("status", 3), ("started", "x"), ("stages", [{"name": "a"}])):
        with pytest.raises(ValueError, match=field):
            RunReport.model_validate({**good, field: value})
    with pytest.raises(ValueError, match="run_id"):
        RunReport.model_validate({k: v for k, v in good.items() if k != "run_id"})
    assert RunReport.model_validate({**good, "unknown": 1}) == RunReport.model_validate(good)  # ignored
    with pytest.raises(ValueError, match="kind"):
        RunReport(run_id="a", kind="nope", status="ok", started=1.0, store="s")  # type: ignore[arg-type]
    assert Step(name="a", seconds=2).seconds == 2.0 and type(Step(name="a", seconds=2).seconds) is float
    plan = make_plan([Path(__file__).parent / "fixtures"], store="/nonexistent/store", workers=1).request
    for field, value in (("workers", 0), ("workers", True), ("max_file_size", 0)):
        with pytest.raises(ValueError, match=field):
            plan.model_copy(update={field: value})
    again = ExtractPlan(**{**plan.__dict__, "exclude": ["a"], "store": "/x"})  # lists and strings convert
    assert again.exclude == ("a",) and again.store == Path("/x")
    with pytest.raises(AttributeError):
        plan.workers = 3  # type: ignore[misc]  # frozen


def test_entry_points_are_read_only_when_a_distribution_may_declare_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """importlib.metadata (~0.025 s of a run) is asked only when an entry_points.txt on sys.path names
    the group; whenever it is not asked, it would have found nothing."""
    from importlib.metadata import entry_points

    from codequarry.registry import ENTRY_POINT_GROUP, load_catalog, may_declare_entry_points

    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    (folder / "acme_ep_floor.py").write_text(
        "from codequarry import dataset, file_extractor\n\n"
        "@dataset('acme_floor_lines')\nclass Line:\n    n: int\n\n"
        "@file_extractor('acme.floor', version=1, outputs=[Line])\n"
        "def lines(src, out):\n    out.acme_floor_lines.add(n=1)\n"
    )
    other = folder / "other-1.0.dist-info"
    other.mkdir()
    (other / "entry_points.txt").write_text("[console_scripts]\nother = other:main\n")
    assert not may_declare_entry_points()
    assert not list(entry_points(group=ENTRY_POINT_GROUP))  # nothing missed
    dist = folder / "Acme_Floor-1.0.DIST-INFO"  # importlib.metadata ignores the case of the suffix
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-floor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nacme = acme_ep_floor\n")
    assert may_declare_entry_points()
    assert "acme.floor" in load_catalog().extractors
    (dist / "entry_points.txt").unlink()
    (folder / "acme.egg").mkdir()  # an egg: importlib.metadata answers
    assert may_declare_entry_points()

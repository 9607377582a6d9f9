"""`quarry flows export`: generated Prefect flows import, and a flow run equals `quarry extract --select`."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from codequarry.flows.export import export_flows, plan_flows
from tests import paths

FIXTURES = paths.FIXTURES


def _quarry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codequarry", *args], capture_output=True, text=True, timeout=300
    )


def test_one_flow_per_group_and_standalone_operations() -> None:
    flows = {f.name: f for f in plan_flows(select=["python"])}
    assert {"python.web", "python.models", "python.core", "python.tests"} <= set(flows)
    web = flows["python.web"]
    assert web.file == "python_web" and "python.web.route_facts" in web.extractors
    assert web.layers == [["python.web.routes"]]
    standalone = [f for f in flows.values() if f.file == "standalone"]
    assert [f.name for f in standalone] == ["python.call_graph"]  # a two-part operation name
    assert all("core.files" not in f.extractors for f in flows.values())  # the manifest is part of every run


def test_exported_files_are_valid_python_that_names_every_node(tmp_path: Path) -> None:
    listing = export_flows(tmp_path / "flows", select=["python"])
    files = sorted(p.name for p in (tmp_path / "flows").glob("*.py"))
    assert files == sorted(listing)
    for name in files:
        tree = ast.parse((tmp_path / "flows" / name).read_text())
        decorated = [
            d for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) for d in node.decorator_list
        ]
        assert any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "flow" for d in decorated)
    text = (tmp_path / "flows" / "python_models.py").read_text()
    assert "python.models.resolve" in text and ".submit(" in text
    index = json.loads((tmp_path / "flows" / "flows.json").read_text())
    assert index["flows"]["standalone.py"] == ["python.call_graph"]


def test_export_never_overwrites_a_file_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "flows"
    out.mkdir()
    (out / "python_web.py").write_text("# mine\n")
    proc = _quarry("flows", "export", str(out))
    assert proc.returncode == 2 and "was not written by" in proc.stderr
    assert (out / "python_web.py").read_text() == "# mine\n"
    (out / "python_web.py").unlink()
    assert _quarry("flows", "export", str(out)).returncode == 0
    assert _quarry("flows", "export", str(out), "--select", "python.web").returncode == 0  # a re-export
    assert sorted(p.name for p in out.glob("*.py")) == ["python_web.py"]  # ours that left the selection go


def _tables(store: Path) -> dict[str, pa.Table]:
    from codequarry.query import open_store, table

    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    out = {}
    for name in snap.tables:
        t = table(st, name)
        out[name] = t.sort_by(
            [(c, "ascending") for c in t.column_names if not pa.types.is_nested(t.schema.field(c).type)]
        )
    return out


@pytest.mark.slow
def test_a_flow_run_gives_the_store_quarry_extract_gives(tmp_path: Path) -> None:
    pytest.importorskip("prefect")
    tree = tmp_path / "app"
    shutil.copytree(FIXTURES / "routes" / "flask_app", tree)
    export_flows(tmp_path / "flows", select=["python.web"])
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    run = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "flows" / "python_web.py"),
            str(tree),
            "--store",
            str(tmp_path / "by_flow"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Completed" in run.stderr + run.stdout
    by_extract = _quarry(
        "extract",
        str(tree),
        "--store",
        str(tmp_path / "by_extract"),
        "--select",
        "python.web",
        "-q",
        "--workers",
        "1",
    )
    assert by_extract.returncode == 0, by_extract.stderr
    flow_tables = _tables(tmp_path / "by_flow")
    extract_tables = _tables(tmp_path / "by_extract")
    assert set(flow_tables) == set(extract_tables)
    assert flow_tables["routes"].num_rows > 5
    for name, t in extract_tables.items():
        assert flow_tables[name].equals(t), name
    from codequarry.report import list_runs

    kinds = [r.kind for r in list_runs(tmp_path / "by_flow")]
    assert kinds == ["extract", "operations"]  # every step of the flow is a recorded run
    # the flow's store is a normal store: a plain re-run finds nothing to do
    again = _quarry(
        "extract", str(tree), "--store", str(tmp_path / "by_flow"), "--select", "python.web", "--json", "-q"
    )
    assert again.returncode == 0

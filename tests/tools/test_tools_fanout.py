"""Many tasks: the tool_runs rows stream into batches and parts while the tasks run (small batch
and part sizes here, so a few dozen real tasks cross both), and the table, the report and a
re-run read the same as when every row was built at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.tools import results, runner
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, write_recipe


def test_streamed_tool_runs_rows_cross_batches_and_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "RUN_BATCH", 4)
    monkeypatch.setattr(runner, "RUN_PART_ROWS", 10)
    targets = [f"t{i:02d}" for i in range(23)]
    code = "import sys; sys.exit(3 if sys.argv[1].endswith('7') else 0)"
    recipe = write_recipe(
        tmp_path,
        {"x": {"command": [PY, "-c", code, "{target}"], "targets": targets, "resources": {"timeout": 20}}},
    )
    summary = run_recipe(make_tools_plan(recipe))
    assert summary.published
    store = open_store(tmp_path / ".quarry")
    rows = sql(store, "SELECT task_id, status, exit_code, cached FROM tool_runs ORDER BY task_id").to_pylist()
    assert [r["task_id"] for r in rows] == [f"x:{t}" for t in targets]
    assert {r["task_id"]: r["status"] for r in rows} == {r.task.id: r.status for r in summary.results}
    assert [r["task_id"] for r in rows if r["status"] == "failed"] == ["x:t07", "x:t17"]
    assert all(r["exit_code"] == 3 for r in rows if r["status"] == "failed") and not any(
        r["cached"] for r in rows
    )
    files = list((tmp_path / ".quarry" / "tables" / "tool_runs").glob("*.parquet"))
    assert len(files) == 2  # batches of 4 rows: a part once 10 are pending (12 rows, then 11)
    assert summary.rows["tool_runs"] == 23
    report = json.loads(Path(summary.report_path or "").read_text())
    assert [r["task_id"] for r in report["results"]] == [r.task.id for r in summary.results]
    assert report["summary"]["statuses"] == {"failed": 2, "ok": 21}

    again = run_recipe(make_tools_plan(recipe))  # every task cached, its row live: nothing to write
    assert not again.published and again.statuses == {"failed": 2, "ok": 21}
    assert sql(store, "SELECT count(*) AS n FROM tool_runs").to_pylist() == [{"n": 23}]

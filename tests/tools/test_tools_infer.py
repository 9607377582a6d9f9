"""schema = "infer": the spool reader checks lines as a declared schema's reader does (not JSON, not an
object: an errors row each), and spools the objects that become the inferred table's rows."""

from __future__ import annotations

from pathlib import Path

from codequarry import open_store, sql
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, write_recipe

SCRIPT = """
import json, sys
print(json.dumps({"a": 1}))
print("not json at all")
print("")
print(json.dumps([1, 2]))
print(json.dumps({"a": 2, "b": "x"}))
"""


def test_inferred_tool_rejects_lines_that_are_not_objects(tmp_path: Path) -> None:
    (tmp_path / "emit.py").write_text(SCRIPT)
    tool = {"command": [PY, "emit.py"], "targets": ["one"], "protocol": "jsonl", "schema": "infer"}
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"mixed": tool})))
    assert summary.statuses == {"ok": 1}
    store = open_store(tmp_path / ".quarry")
    assert sql(store, "SELECT a, b FROM mixed ORDER BY a").to_pylist() == [
        {"a": 1, "b": None},
        {"a": 2, "b": "x"},
    ]
    errors = sql(store, "SELECT kind, line, message FROM errors ORDER BY line").to_pylist()
    assert [(e["kind"], e["line"]) for e in errors] == [("invalid_output", 2), ("invalid_output", 4)]
    assert errors[0]["message"].startswith("stdout line 2: not JSON")
    assert errors[1]["message"] == "stdout line 4: a record is a JSON object, got list"
    runs = sql(store, "SELECT rows, invalid_lines FROM tool_runs").to_pylist()
    assert runs == [{"rows": 2, "invalid_lines": 2}]

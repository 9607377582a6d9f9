"""Real JSON-lines tools from PyPI (ruff, mypy) ingested as they print: more fields than declared,
nested objects, a schema inferred from the output; a task whose every line is rejected is not ok."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import write_recipe

pytest.importorskip("ruff")
SOURCES = {
    "a.py": "import os\nimport sys\n\n\ndef f(x):\n    return undefined_name + x\n",
    "b.py": "def g(y: int) -> str:\n    return y\n\n\nz: int = 'text'\n",
    "c.py": "x = 1\n",  # clean: ruff prints nothing for it
}
RUFF = [
    "{python}",
    "-m",
    "ruff",
    "check",
    "--no-cache",
    "--isolated",
    "--select",
    "E,F,W",
    "--output-format",
    "json-lines",
    "{file}",
]


def corpus(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in SOURCES.items():
        (src / name).write_text(text)
    return src


def ruff_itself(src: Path) -> list[dict[str, object]]:
    """What ruff prints, read directly: the reference the table must match."""
    done = subprocess.run(
        [sys.executable, *RUFF[1:-1], *sorted(str(p) for p in src.glob("*.py"))],
        capture_output=True,
        text=True,
        check=False,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def query(tmp_path: Path, text: str) -> list[dict[str, object]]:
    return sql(open_store(tmp_path / ".quarry"), text).to_pylist()


def ruff_tool(**more: object) -> dict[str, object]:
    return {
        "command": RUFF,
        "files": ["src/*.py"],
        "ok_exit_codes": [0, 1],
        "resources": {"memory": "500MB", "timeout": 60},
        **more,
    }


def test_ruff_with_three_declared_fields_and_a_dotted_path(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    schema = {
        "code": "str?",
        "message": "str",
        "filename": "str",
        "location.row": "int",
        "end_location": {"row": "int", "column": "int"},
    }
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"ruff": ruff_tool(schema=schema)})))
    assert summary.statuses == {"ok": 3} and summary.exit_code == 0
    expected = ruff_itself(src)
    assert len(expected) >= 3  # F401 twice, F821 at least
    rows = query(tmp_path, "SELECT code, message, filename, location_row, end_location FROM ruff")
    key = sorted((r["code"], r["filename"], r["location_row"]) for r in rows)
    assert key == sorted((e["code"], e["filename"], e["location"]["row"]) for e in expected)  # type: ignore[index]
    assert {"row": 1, "column": 10} in [r["end_location"] for r in rows]  # `import os`: a struct column
    assert query(tmp_path, "SELECT count(*) AS n FROM errors") == [{"n": 0}]
    assert query(tmp_path, "SELECT sum(rows) AS n FROM tool_runs") == [{"n": len(expected)}]


def test_undeclared_fields_kept_as_json_when_asked(tmp_path: Path) -> None:
    corpus(tmp_path)
    tool = ruff_tool(schema={"code": "str?", "filename": "str"}, extra="json")
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"ruff": tool})))
    assert summary.statuses == {"ok": 3}
    rows = query(tmp_path, "SELECT code, extra FROM ruff WHERE code = 'F401'")
    extra = [json.loads(str(r["extra"])) for r in rows]
    assert len(extra) == 2 and all(
        e["name"] == "unused-import" and "location" in e and "code" not in e for e in extra
    )


def test_a_task_whose_every_line_is_rejected_is_invalid_output(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    tool = ruff_tool(schema={"code": "int", "filename": "str"})  # a wrong type: every record is rejected
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"ruff": tool})))
    # the files with findings printed records, all rejected; the others printed nothing: a clean result
    with_findings = {str(e["filename"]) for e in ruff_itself(src)}
    assert {r.task.file: r.status for r in summary.results} == {
        str(p): "invalid_output" if str(p) in with_findings else "ok" for p in src.glob("*.py")
    }
    assert summary.exit_code == 1
    bad = query(
        tmp_path, "SELECT message, invalid_lines, rows FROM tool_runs WHERE status = 'invalid_output'"
    )
    assert all(
        r["rows"] == 0
        and r["invalid_lines"] >= 1
        and "every one of its" in str(r["message"])
        and "field 'code' expects int" in str(r["message"])
        for r in bad
    )


def test_schema_inferred_from_ruff_output(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    recipe = write_recipe(tmp_path, {"ruff": ruff_tool(schema="infer")})
    plan = make_tools_plan(recipe)
    summary = run_recipe(plan)
    assert summary.statuses == {"ok": 3}
    expected = ruff_itself(src)
    rows = query(tmp_path, "SELECT code, filename, location, fix, url FROM ruff ORDER BY filename, code")
    assert len(rows) == len(expected)
    assert all(isinstance(r["location"], dict) and {"row", "column"} <= r["location"].keys() for r in rows)  # type: ignore[union-attr]
    # the same query on the reference: every (code, row) pair is there
    assert sorted((r["code"], r["location"]["row"]) for r in rows) == sorted(  # type: ignore[index]
        (e["code"], e["location"]["row"]) for e in expected
    )  # type: ignore[index]
    # an unchanged re-run keeps everything; a changed file re-runs the whole tool (one schema for all)
    again = run_recipe(make_tools_plan(recipe))
    assert not again.published
    (src / "c.py").write_text("import json\n")
    third = run_recipe(make_tools_plan(recipe))
    assert third.statuses == {"ok": 3} and len(query(tmp_path, "SELECT code FROM ruff")) == len(expected) + 1


def test_mypy_json_lines(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    corpus(tmp_path)
    tool = {
        "command": [
            "{python}",
            "-m",
            "mypy",
            "-O",
            "json",
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            "--ignore-missing-imports",
            "{file}",
        ],
        "files": ["src/b.py"],
        "ok_exit_codes": [0, 1],
        "resources": {"memory": "1GB", "timeout": 120},
        "schema": {
            "file": "str",
            "line": "int",
            "column": "int",
            "message": "str",
            "code": "str?",
            "severity": "str",
        },
    }
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"mypy": tool})))
    assert summary.statuses == {"ok": 1}, [r.outcome for r in summary.results]
    rows = query(tmp_path, "SELECT line, code, severity FROM mypy ORDER BY line")
    assert rows == [
        {"line": 2, "code": "return-value", "severity": "error"},
        {"line": 5, "code": "assignment", "severity": "error"},
    ]

"""Tool tasks never go through a shell: file names and arguments full of shell syntax reach the tool
as they are, and nothing they spell runs."""

from __future__ import annotations

from pathlib import Path

from codequarry import open_store, sql
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, TOOL, write_recipe

NAMES = ["a;touch PWNED1.py", "$(touch PWNED2).py", "`touch PWNED3`.py", "x|touch PWNED4.py", "it's.py"]


def test_file_names_and_arguments_with_shell_syntax_are_passed_literally(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in NAMES:
        (src / name).write_text("x = 1\n")
    tool = {
        "command": [PY, TOOL, "echo", "{file}", "{name}", "&& touch PWNED5", "$HOME"],
        "files": ["src/*.py"],
        "schema": {"argv": "list[str]"},
        "resources": {"timeout": 20, "memory": "300MB"},
    }
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"t": tool})))
    assert summary.statuses == {"ok": len(NAMES)}
    rows = sql(open_store(tmp_path / ".quarry"), "SELECT argv FROM t").to_pylist()
    got = sorted(tuple(r["argv"]) for r in rows)
    assert got == sorted((str(src / n), n, "&& touch PWNED5", "$HOME") for n in NAMES)
    assert not [p for p in tmp_path.rglob("PWNED*")] and not list(Path.cwd().glob("PWNED*"))

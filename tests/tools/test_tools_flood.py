"""The runner's own memory stays bounded whatever a tool prints: a line without end is cut at MAX_LINE,
becomes an errors row, and the `quarry run` process grows by tens of MB, not by what was printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from codequarry import open_store, sql
from codequarry.tools.pipes import MAX_LINE
from codequarry.tools.process import Limits, TaskProcess
from tests.tools.conftest import PY, TOOL, emit_tool, write_recipe

MB = 1 << 20
# a `quarry run` in a child, reporting its own peak RSS (ru_maxrss of its child: quarry alone runs there)
MEASURE = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "codequarry", "run", sys.argv[1], "--quiet"], check=False)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def quarry_peak(recipe: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(recipe)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_a_line_without_end_is_cut_and_the_runner_stays_small(tmp_path: Path) -> None:
    small = tmp_path / "small"
    flood = tmp_path / "flood"
    small.mkdir()
    flood.mkdir()
    baseline = quarry_peak(write_recipe(small, {"t": emit_tool(["emit", "10"], targets=["a"])}))
    peak = quarry_peak(write_recipe(flood, {"t": emit_tool(["flood", "300"], targets=["a"])}))
    # 300 MB were printed without a newline; the runner holds at most one MAX_LINE (8 MiB) of a line
    # and a 1 MiB read buffer per pipe: its growth stays under the documented 64 MB per task
    assert peak - baseline < 64 * MB, (peak - baseline) / MB
    store = open_store(flood / ".quarry")
    errors = sql(store, "SELECT kind, line, message, source_line FROM errors").to_pylist()
    assert len(errors) == 1 and errors[0]["kind"] == "invalid_output" and errors[0]["line"] == 1
    assert f"{300 * MB:,} bytes, longer than the {MAX_LINE:,}-byte limit" in errors[0]["message"]
    assert errors[0]["source_line"].startswith("xxxx")
    run = sql(store, "SELECT status, rows, invalid_lines FROM tool_runs").to_pylist()
    assert run == [{"status": "invalid_output", "rows": 0, "invalid_lines": 1}]  # nothing usable: not ok


def test_overlong_lines_are_cut_between_normal_lines() -> None:
    script = (
        f"import sys; w = sys.stdout.write; w('a\\n'); w('x' * ({MAX_LINE} + 10) + '\\n'); w('b\\n'); "
        f"w('y' * {3 * MAX_LINE}); w('\\nc')"
    )
    lines: list[bytes] = []
    cuts: list[int] = []
    outcome = TaskProcess(
        [PY, "-c", script],
        cwd=str(Path.cwd()),
        env={},
        limits=Limits(timeout=30, memory=500 * MB),
        on_stdout=lines.append,
        on_cut=lambda cut: cuts.append(cut.length),
    ).run()
    assert outcome.status == "ok"
    assert lines == [b"a\n", b"b\n", b"c"]
    assert cuts == [MAX_LINE + 11, 3 * MAX_LINE + 1]


def test_the_exit_protocol_keeps_a_bounded_tail(tmp_path: Path) -> None:
    tool = {"command": [PY, TOOL, "flood", "50"], "targets": ["a"], "ok_pattern": "x{100}"}
    recipe = write_recipe(tmp_path, {"t": tool})
    out = subprocess.run(
        [sys.executable, "-m", "codequarry", "run", str(recipe), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(out.stdout)["statuses"] == {"ok": 1}, out.stdout + out.stderr

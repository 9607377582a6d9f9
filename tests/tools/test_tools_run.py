"""`quarry run` end to end with real subprocesses: rows, statuses, cache, replacement, packing, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from codequarry import open_store, sql
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import ToolsSummary, run_recipe
from tests.tools.conftest import PY, TOOL, emit_tool, write_recipe

QUARRY = str(Path(PY).parent / "quarry")


def run(recipe: Path, **kw: object) -> ToolsSummary:
    strict = bool(kw.pop("strict", False))
    return run_recipe(make_tools_plan(recipe, strict=strict), **kw)  # type: ignore[arg-type]


def query(store: Path | str, text: str) -> list[dict[str, object]]:
    return sql(open_store(store), text).to_pylist()


def statuses(summary: ToolsSummary) -> dict[str, str]:
    return {r.task.id: r.status for r in summary.results}


def test_jsonl_records_become_rows_and_every_task_a_tool_runs_row(tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path, {"rec": emit_tool(["emit", "2500", "{target}_"], targets=["a", "b", "c"])}
    )
    summary = run(recipe, part_rows=1000)  # several parts per table, written while tasks run
    assert summary.exit_code == 0 and summary.published
    store = tmp_path / ".quarry"
    got = query(store, "SELECT path, count(*) AS n, min(name) AS first FROM rec GROUP BY path ORDER BY path")
    assert got == [{"path": t, "n": 2500, "first": f"{t}_0"} for t in "abc"]
    assert query(store, "SELECT DISTINCT repo FROM rec") == [{"repo": "rec"}]
    runs = query(
        store,
        "SELECT task_id, status, exit_code, rows, cached, limit_mechanism, peak_memory, "
        "cpu_seconds, memory_limit FROM tool_runs ORDER BY task_id",
    )
    assert [r["task_id"] for r in runs] == ["rec:a", "rec:b", "rec:c"]
    assert all(
        r["status"] == "ok" and r["exit_code"] == 0 and r["rows"] == 2500 and not r["cached"] for r in runs
    )
    assert all(r["peak_memory"] > 0 and r["cpu_seconds"] > 0 and r["memory_limit"] == 300 << 20 for r in runs)
    report = json.loads(Path(summary.report_path or "").read_text())
    assert set(report) >= {"recipe", "config", "tasks", "execution", "results", "summary"}
    assert report["summary"]["statuses"] == {"ok": 3}
    assert report["tasks"][0]["argv"][-2:] == ["2500", "a_"]
    import tomllib

    assert report["recipe"]["content"] == tomllib.loads(recipe.read_text())  # the plan keeps it pickled
    from codequarry.progress import read_progress

    progress = read_progress(store)  # what `quarry serve` shows of a tool run
    assert progress is not None and progress["kind"] == "run" and progress["state"] == "published"
    assert progress["done"] == progress["total"] == 3 and progress["run_id"] == summary.run_id


def test_invalid_lines_become_error_rows_or_fail_the_task_under_strict(tmp_path: Path) -> None:
    # extra = "forbid": a record with a field the schema lacks is invalid (the default ignores the field)
    recipe = write_recipe(tmp_path, {"mix": emit_tool(["mixed"], targets=["m"], extra="forbid")})
    summary = run(recipe)
    store = tmp_path / ".quarry"
    assert statuses(summary) == {"mix:m": "ok"} and summary.exit_code == 0
    assert query(store, "SELECT name FROM mix ORDER BY name") == [{"name": "good0"}, {"name": "good1"}]
    errors = query(
        store, "SELECT repo, path, extractor, kind, line, message, source_line FROM errors ORDER BY line"
    )
    assert [(e["line"], e["kind"], e["extractor"], e["repo"], e["path"]) for e in errors] == [
        (n, "invalid_output", "tool:mix", "mix", "m") for n in (2, 3, 4, 5, 7)
    ]
    messages = [str(e["message"]) for e in errors]
    assert "not JSON" in messages[0] and "field 'n' expects int, got str 'three'" in messages[1]
    assert "unknown field 'color'" in messages[2] and "field 'name' is required" in messages[3]
    assert errors[0]["source_line"] == "this is not json"
    assert query(store, "SELECT invalid_lines, rows FROM tool_runs") == [{"invalid_lines": 5, "rows": 2}]

    strict = run(recipe, strict=True)
    assert statuses(strict) == {"mix:m": "invalid_output"} and strict.exit_code == 1
    assert query(store, "SELECT count(*) AS n FROM mix") == [{"n": 0}]  # nothing half-written is visible
    row = query(store, "SELECT status, message FROM tool_runs")[0]
    assert row["status"] == "invalid_output" and "stdout line 2: not JSON" in str(row["message"])


def test_failed_timeout_and_memory_tasks_keep_no_rows_and_exit_1(tmp_path: Path) -> None:
    tools = {
        "ok": emit_tool(["emit", "5"], targets=["t"]),
        "bad": emit_tool(["exit", "4", "boom"], targets=["t"]),
        "slow": emit_tool(["sleep", "30"], targets=["t"], resources={"timeout": 1, "memory": "200MB"}),
        "hog": emit_tool(["grow", "1000"], targets=["t"], resources={"memory": "150MB", "timeout": 10}),
    }
    summary = run(write_recipe(tmp_path, tools))
    assert statuses(summary) == {
        "ok:t": "ok",
        "bad:t": "failed",
        "slow:t": "timeout",
        "hog:t": "memory_limit",
    }
    assert summary.exit_code == 1
    runs = {r["task_id"]: r for r in query(tmp_path / ".quarry", "SELECT * FROM tool_runs")}
    assert runs["bad:t"]["exit_code"] == 4 and runs["bad:t"]["stderr_tail"] == "boom"
    assert runs["slow:t"]["signal"] == 15 and runs["hog:t"]["peak_memory"] >= 150 << 20
    done = subprocess.run([QUARRY, "run", str(tmp_path / "recipe.toml")], capture_output=True, text=True)
    assert done.returncode == 1  # cached, and still not ok
    assert "failed" in done.stdout and "bad:t (cached): exit code 4 | boom" in done.stdout


def test_tools_sharing_a_table_lose_only_their_own_rows(tmp_path: Path) -> None:
    tools = {
        "good": emit_tool(["emit", "3", "g"], targets=["same"], output="shared"),
        "bad": emit_tool(["emit_then_exit", "2000", "1"], targets=["same"], output="shared"),
    }
    summary = run(write_recipe(tmp_path, tools), part_rows=1)  # every batch its own part
    assert statuses(summary) == {"good:same": "ok", "bad:same": "failed"}
    assert query(tmp_path / ".quarry", "SELECT repo, count(*) AS n FROM shared GROUP BY repo") == [
        {"repo": "good", "n": 3}
    ]


def test_rerun_is_cached_and_rerun_failed_runs_only_the_failures(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    counter = tmp_path / "count.py"
    # (the log is named in env, not argv: a file named in the argv is an input of the task)
    counter.write_text(
        "import os, sys\nopen(os.environ['LOG'], 'a').write(sys.argv[1] + '\\n')\n"
        "sys.exit(int(sys.argv[2]))\n"
    )
    tools = {
        "c": {
            "command": [PY, str(counter), "{target}", "{target}"],
            "targets": ["0", "1"],
            "env": {"LOG": str(log)},
        }
    }
    recipe = write_recipe(tmp_path, tools)
    first = run(recipe)
    assert statuses(first) == {"c:0": "ok", "c:1": "failed"}
    second = run(recipe)
    assert not second.published and all(r.cached for r in second.results)
    assert statuses(second) == {"c:0": "ok", "c:1": "failed"} and second.exit_code == 1
    assert sorted(log.read_text().split()) == ["0", "1"]
    third = run(recipe, rerun_failed=True)
    assert sorted(log.read_text().split()) == ["0", "1", "1"]
    assert [r.task.id for r in third.results if not r.cached] == ["c:1"]
    runs = query(tmp_path / ".quarry", "SELECT task_id, status FROM tool_runs ORDER BY task_id")
    assert runs == [{"task_id": "c:0", "status": "ok"}, {"task_id": "c:1", "status": "failed"}]


def test_changed_input_replaces_only_its_rows_and_dropped_targets_go(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, n in (("a.txt", 2), ("b.txt", 3)):
        (data / name).write_text(str(n))
    reader = tmp_path / "count.py"
    reader.write_text(
        "import json, sys\nn = int(open(sys.argv[1]).read())\n"
        "for i in range(n):\n    print(json.dumps({'name': sys.argv[1][-5:], 'n': i}))\n"
    )
    tool = {
        "command": [PY, str(reader), "{file}"],
        "files": ["data/*.txt"],
        "schema": {"name": "str", "n": "int"},
    }
    recipe = write_recipe(tmp_path, {"cnt": tool})
    run(recipe)
    store = tmp_path / ".quarry"
    assert query(store, "SELECT path, count(*) AS n FROM cnt GROUP BY path ORDER BY path") == [
        {"path": "data/a.txt", "n": 2},
        {"path": "data/b.txt", "n": 3},
    ]
    (data / "a.txt").write_text("4")
    again = run(recipe)
    assert [r.task.id for r in again.results if not r.cached] == ["cnt:data/a.txt"]
    assert query(store, "SELECT path, count(*) AS n FROM cnt GROUP BY path ORDER BY path") == [
        {"path": "data/a.txt", "n": 4},
        {"path": "data/b.txt", "n": 3},
    ]
    (data / "b.txt").unlink()
    run(recipe)
    assert query(store, "SELECT path, count(*) AS n FROM cnt GROUP BY path") == [
        {"path": "data/a.txt", "n": 4}
    ]
    assert query(store, "SELECT task_id FROM tool_runs") == [{"task_id": "cnt:data/a.txt"}]


def test_extract_and_tools_share_one_store_and_keep_each_others_tables(tmp_path: Path) -> None:
    src = tmp_path / "proj"
    src.mkdir()
    (src / "m.py").write_text("def f():\n    return 1\n")
    extra = '\n[extract]\nsources = ["proj"]\nworkers = 1\n'
    recipe = write_recipe(tmp_path, {"rec": emit_tool(["emit", "3"], targets=["x"])}, extra=extra)
    summary = run(recipe)
    store = src / ".quarry"  # under the first [extract] source
    assert summary.store == str(store) and summary.extract is not None
    assert query(store, "SELECT name FROM functions") == [{"name": "f"}]
    assert query(store, "SELECT count(*) AS n FROM rec") == [{"n": 3}]
    # a plain extract afterwards keeps the tool tables, and is incremental (nothing changed)
    done = subprocess.run([QUARRY, "extract", str(src), "--workers", "1"], capture_output=True, text=True)
    assert done.returncode == 0 and "0 changed" in done.stdout
    assert query(store, "SELECT count(*) AS n FROM rec") == [{"n": 3}]


def test_tasks_are_packed_within_the_core_and_memory_budgets(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    small = {
        "command": [PY, TOOL, "stamp", str(stamps), "0.8", "{target}"],
        "targets": [str(i) for i in range(6)],
        "resources": {"cores": 1, "memory": 1},
    }
    big = {
        "command": [PY, TOOL, "stamp", str(stamps), "0.8", "{target}"],
        "targets": ["big"],
        "resources": {"cores": 1, "memory": 3},
    }
    run(write_recipe(tmp_path, {"big": big, "small": small}, resources={"max_cores": 3, "max_memory": 3}))
    spans = {p.name: tuple(map(float, p.read_text().split())) for p in stamps.iterdir()}
    assert len(spans) == 7
    events = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = peak = 0
    for _t, d in events:
        running += d
        peak = max(peak, running)
    assert peak == 3  # never more than max_cores at once, and they did run in parallel
    # the 3 GB task fills the 3 GB budget: no 1 GB task runs beside it
    b0, b1 = spans["big"]
    assert not [n for n, (s, e) in spans.items() if n != "big" and s < b1 and e > b0]


def test_scheduler_orders_by_the_previous_duration(tmp_path: Path) -> None:
    log = tmp_path / "order"
    script = tmp_path / "s.py"
    script.write_text(
        "import os, sys, time\nopen(os.environ['LOG'], 'a').write(sys.argv[1] + '\\n')\n"
        "time.sleep(float(sys.argv[1]))\n"
    )
    tool = {
        "command": [PY, str(script), "{target}"],
        # durations far apart: the first run's recorded durations include each interpreter's start,
        # which a loaded machine stretches by tenths of a second
        "targets": ["2.0", "0.02", "0.8"],
        "env": {"LOG": str(log)},
    }
    recipe = write_recipe(tmp_path, {"s": tool}, resources={"max_cores": 1})
    run(recipe)
    assert log.read_text().split() == ["2.0", "0.02", "0.8"]  # fifo
    log.unlink()
    run(recipe, scheduler="shortest", no_cache=True)
    assert log.read_text().split() == ["0.02", "0.8", "2.0"]
    log.unlink()
    run(recipe, scheduler="longest", no_cache=True)
    assert log.read_text().split() == ["2.0", "0.8", "0.02"]


def _cmdline(proc: psutil.Process) -> str:
    """A child's command line, or '' for one that just ended (a zombie, or gone)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def test_ctrl_c_kills_every_tree_records_killed_and_exits_130(tmp_path: Path) -> None:
    tools = {
        "quick": emit_tool(["emit", "4"], targets=["q"]),
        "stuck": emit_tool(["ignore_term", "60"], targets=["s1", "s2"], resources={"timeout": 60}),
    }
    recipe = write_recipe(tmp_path, tools, resources={"max_cores": 2})
    proc = subprocess.Popen(
        [QUARRY, "run", str(recipe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    stuck: list[psutil.Process] = []
    while time.monotonic() < deadline and len(stuck) < 2:
        time.sleep(0.1)
        stuck = [p for p in psutil.Process(proc.pid).children(recursive=True) if "ignore_term" in _cmdline(p)]
    assert len(stuck) == 2, "the stuck tasks never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in stuck)
    store = tmp_path / ".quarry"
    runs = {r["task_id"]: r["status"] for r in query(store, "SELECT task_id, status FROM tool_runs")}
    assert runs == {"quick:q": "ok", "stuck:s1": "killed", "stuck:s2": "killed"}
    assert query(store, "SELECT count(*) AS n FROM stuck") == [{"n": 0}]
    # killed tasks are not cached: the next run starts them again
    from codequarry.tools.cache import ResultCache

    assert ResultCache(store).info()["statuses"] == {"ok": 1}


def test_cache_commands(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, {"rec": emit_tool(["emit", "1"], targets=["a", "b", "c"])})
    run(recipe)
    store = str(tmp_path / ".quarry")
    info = json.loads(
        subprocess.run(
            [QUARRY, "cache", "info", "--store", store, "--json"], capture_output=True, text=True
        ).stdout
    )
    assert info["entries"] == 3 and info["tools"] == {"rec": 3} and info["statuses"] == {"ok": 3}
    size = info["bytes"]
    done = subprocess.run(
        [QUARRY, "cache", "prune", "--max-size", f"{size - 1}B", "--store", store],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "removed 1 cached results" in done.stdout
    again = run(recipe)
    assert sum(1 for r in again.results if not r.cached) == 1  # the pruned one ran again
    done = subprocess.run([QUARRY, "cache", "clear", "--store", store], capture_output=True, text=True)
    assert "removed 3 cached results" in done.stdout
    assert all(not r.cached for r in run(recipe).results)


@pytest.mark.parametrize("order", ["fifo"])
def test_quarry_run_exit_codes_and_summary(tmp_path: Path, order: str) -> None:
    good = write_recipe(tmp_path, {"rec": emit_tool(["emit", "2"], targets=["a"])}, name="good.toml")
    done = subprocess.run(
        [QUARRY, "run", str(good), "--scheduler", order],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "1 tasks: 1 ran, 0 cached (skipped), 0 not started; 1 ok" in done.stdout
    assert "rows written: rec 2, tool_runs 1" in done.stdout
    done = subprocess.run([QUARRY, "run", str(good)], capture_output=True, text=True)
    assert "1 cached (skipped)" in done.stdout and "up to date" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[tools.x]\ncommand = []\ntargets = ['a']\n")
    done = subprocess.run([QUARRY, "run", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "tools.x.command: required" in " ".join(done.stderr.split())

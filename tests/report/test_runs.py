"""Every run leaves a RunReport and a row of the runs table: extract runs (ok, up to date, failed) and
tool runs; `quarry runs` and `quarry report` show them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.operations import OperationError
from codequarry.report import list_runs, load_report, render_text
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.report.conftest import HOSTILE, make_tree, quarry, tools_recipe


def test_an_extract_run_reports_time_rows_errors_languages_workers_and_memory(extracted: Path) -> None:
    (run,) = list_runs(extracted)
    report = load_report(extracted)
    assert (run.run_id, run.kind, run.status) == (report.run_id, "extract", "errors")  # the broken file
    assert run.snapshot == 1 and run.published and run.files == report.files.scanned
    # per-extractor rows are the rows each wrote; the tables' rows are their sums
    by_ex = {s.name: s for s in report.extractors}
    assert by_ex["python.security.findings"].rows == report.rows["security_findings"] > 0
    assert by_ex["parse"].seconds > 0 and all(s.seconds >= 0 for s in report.extractors)
    assert {"scan", "plan", "extract", "commit", "operations", "publish"} <= {s.name for s in report.stages}
    assert {s.name for s in report.operations} >= {"python.web.routes"}
    # errors: by kind and by extractor, and the rows themselves with their path and line
    assert report.errors_by("kind") == {"syntax": 1} and report.errors_by("extractor") == {"parse": 1}
    (err,) = report.errors
    assert (err.path, err.line, err.kind) == (HOSTILE, 1, "syntax")
    langs = {x.language: x.files for x in report.languages}
    assert langs["python"] == sum(1 for p in Path(report.sources["shop"]).rglob("*.py"))
    assert sum(langs.values()) == report.files.scanned and len(langs) >= 2  # notes.md is not Python
    # two workers shared the chunks; utilisation is a fraction; memory was sampled and peaks recorded
    assert report.files.manifest_only == 1  # notes.md: its files row is the driver's, no worker's
    assert sum(w.files for w in report.worker_use) + 1 == report.files.scanned
    assert report.utilisation is not None and 0 < report.utilisation <= 1
    assert (
        report.memory.samples
        and report.memory.parent_peak > 10 << 20
        and report.memory.worker_peak > 10 << 20
    )
    text = "\n".join(render_text(report))
    assert (
        f"run {report.run_id} (extract) errors" in text
        and "syntax" in text
        and "python.security.findings" in text
    )


def test_every_run_is_a_row_of_the_runs_table_up_to_date_and_failed_ones_too(extracted: Path) -> None:
    src = Path(load_report(extracted).sources["shop"])
    summary = extract(make_plan([src], store=extracted, workers=1))
    assert not summary.published
    with pytest.raises(OperationError):
        extract(make_plan([src], store=extracted, workers=1, plugins=["tests.plugins.ops_fail"]))
    runs = list_runs(extracted)
    assert [r.status for r in runs] == ["errors", "ok", "failed"]
    assert runs[1].run_id == summary.run_id and not runs[1].published and runs[1].changed == 0
    failed = load_report(extracted, runs[2].run_id[:6])
    assert "ZeroDivisionError" in (failed.message or "") and not failed.published
    table = sql(open_store(extracted), "SELECT run_id, kind, status, files FROM runs ORDER BY started")
    assert table.column("run_id").to_pylist() == [r.run_id for r in runs]
    assert set(table.column("files").to_pylist()) == {runs[0].files, 0}
    # the snapshot knows which run published it
    assert open_store(extracted).snapshot().run["run_id"] == runs[0].run_id  # type: ignore[union-attr]


def test_a_tool_run_reports_each_task_and_writes_report_html_beside_report_json(tmp_path: Path) -> None:
    recipe = tools_recipe(tmp_path)
    first = run_recipe(make_tools_plan(recipe))
    second = run_recipe(make_tools_plan(recipe))
    store = Path(first.store)
    runs = list_runs(store)
    assert [(r.kind, r.status, r.tasks, r.tasks_not_ok) for r in runs] == [("tools", "errors", 4, 2)] * 2
    report = load_report(store, first.run_id)
    tasks = {t.id: t for t in report.tasks}
    assert {k: t.status for k, t in tasks.items()} == {
        "ok:a": "ok",
        "ok:b": "ok",
        "bad:a": "failed",
        "slow:a": "timeout",
    }
    assert tasks["bad:a"].exit_code == 3 and tasks["slow:a"].seconds >= 1 and tasks["ok:a"].peak_memory > 0
    assert not any(t.cached for t in report.tasks)
    assert all(t.cached for t in load_report(store, second.run_id).tasks)  # the second run hit the cache
    assert report.tools == json.loads((store / "reports" / f"{first.run_id}.json").read_text())  # kept whole
    for name in (f"{second.run_id}.html", "latest.html"):
        page = (store / "reports" / name).read_text()
        assert page.startswith("<!DOCTYPE html>") and second.run_id in page and 'id="tasks-table"' in page


def test_quarry_runs_and_report_commands(extracted: Path, tmp_path: Path) -> None:
    listing = quarry("runs", "--store", extracted)
    run_id = list_runs(extracted)[0].run_id
    assert listing.returncode == 0 and run_id in listing.stdout and "extract" in listing.stdout
    as_json = json.loads(quarry("runs", "--store", extracted, "--json").stdout)
    assert [r["run_id"] for r in as_json] == [run_id]
    text = quarry("report", "--store", extracted)
    assert text.returncode == 0 and f"run {run_id} (extract) errors" in text.stdout
    assert "time by extractor" in text.stdout and "memory: driver peak" in text.stdout
    page = quarry("report", run_id[:5], "--store", extracted, "--html", tmp_path / "out" / "r.html")
    assert page.returncode == 0 and (tmp_path / "out" / "r.html").read_text().startswith("<!DOCTYPE html>")
    full = json.loads(quarry("report", "--store", extracted, "--json").stdout)
    assert full["run_id"] == run_id and full["errors"][0]["path"] == HOSTILE
    for bad, says in (
        (["zzz"], "not a run id"),
        (["abc123"], "no run 'abc123'"),
        (["--", "-5"], "1 recorded"),
    ):
        done = quarry("report", "--store", extracted, *bad)
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_store_without_runs_says_so(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "shop")
    extract(make_plan([src], store=tmp_path / "store", workers=1))
    for path in (tmp_path / "store" / "runs").iterdir():  # a store made before runs were recorded
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    done = quarry("report", "--store", tmp_path / "store")
    assert done.returncode == 2 and "no recorded runs" in done.stderr
    assert "no runs recorded" in quarry("runs", "--store", tmp_path / "store").stdout


def test_an_interrupted_extract_is_recorded_as_interrupted(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    src = make_tree(tmp_path / "shop")
    flag = tmp_path / "paused"
    env = {**os.environ, "QUARRY_PAUSE_AT": "publish", "QUARRY_PAUSE_FILE": str(flag)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "codequarry", "extract", src, "--store", tmp_path / "store"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 120
    while not flag.exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (run,) = list_runs(tmp_path / "store")
    assert (run.status, run.published, run.snapshot) == ("interrupted", False, None)
    report = load_report(tmp_path / "store")
    assert report.message == "interrupted: nothing was published"
    assert {"scan", "extract", "commit"} <= {s.name for s in report.stages}  # measured up to the stop


def test_unwritable_outputs_are_one_line_errors(extracted: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for args in (
        ["report", "--html", tmp_path / "file" / "r.html"],
        ["export", tmp_path / "file" / "x.sarif", "-f", "sarif"],
    ):
        done = quarry(*args, "--store", extracted)
        assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr


def test_a_worker_that_dies_shows_as_a_crash_error_not_as_a_worker(tmp_path: Path) -> None:
    import os

    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"m{i}.py").write_text(f"x{i} = {i}\n")
    (src / "exit.py").write_text("y = 1\n")
    extract(
        make_plan(
            [src], store=tmp_path / "store", workers=2, plugins=["tests.plugins.hostile"], file_timeout=20
        )
    )
    report = load_report(tmp_path / "store")
    assert report.errors_by("kind") == {"crash": 1} and report.errors_by("extractor") == {"hostile.names": 1}
    assert [e.path for e in report.errors] == ["exit.py"]
    pids = {w.pid for w in report.worker_use}
    assert pids and 0 not in pids and os.getpid() not in pids


def test_the_runs_table_stays_small_in_files_and_keeps_every_row(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    from codequarry.report.model import RunReport
    from codequarry.report.runs import COMPACT_FILES, save, table_path
    from codequarry.store import Store

    store = Store.create(tmp_path / "store")
    n = COMPACT_FILES + 6
    for i in range(n):
        save(
            store.path,
            RunReport(
                run_id=f"{i:012x}", kind="extract", status="ok", started=1000.0 + i, store=str(store.path)
            ),
        )
    assert [r.run_id for r in list_runs(store.path)] == [f"{i:012x}" for i in range(n)]
    assert len(DeltaTable(str(table_path(store.path))).file_uris()) < 10


def test_the_copied_rows_write_is_in_the_json_but_not_drawn_as_a_stage_of_its_own(tmp_path: Path) -> None:
    """``reuse_write`` (wall) and ``reuse_write_cpu`` are measured inside ``reuse``: the report's
    stages must not show that time twice, nor a CPU figure among wall times."""
    from codequarry.report import render_html

    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "__init__.py").write_text("")
        (root / "pkg" / "m.py").write_text("def f(x):\n    return x\n")
    extract(make_plan([a], store=tmp_path / "store", workers=1))
    extract(make_plan([a, b], store=tmp_path / "store", workers=1))  # b's files copy a's rows
    report = load_report(tmp_path / "store")
    names = [s.name for s in report.stages]
    assert "reuse" in names and "reuse_write" in names and "reuse_write_cpu" in names
    text = "\n".join(render_text(report))
    assert "reuse " in text and "reuse_write" not in text
    html = render_html(report)
    assert "reuse_write" not in html


def test_an_api_extracts_row_waits_with_the_pending_rows_and_is_listed(tmp_path: Path) -> None:
    """extract() defers an extract run's `runs` row as the command does (no open and commit of the
    runs table per run): the table is written by the first run alone until a run would make
    DEFER_AT rows wait, which appends them all; every run is listed, in order."""
    from deltalake import DeltaTable

    from codequarry.report.runs import DEFER_AT, table_path
    from codequarry.store.runlog import pending_rows

    src = make_tree(tmp_path / "shop")
    store = tmp_path / "store"
    ids = []
    for i in range(DEFER_AT + 1):
        (src / "extra.py").write_text(f"X = {i}\n")
        ids.append(extract(make_plan([src], store=store, workers=1)).run_id)
        if i < DEFER_AT:
            assert DeltaTable(str(table_path(store))).version() == 0  # the first run's append
            assert len(pending_rows(store)) == i
    assert [r.run_id for r in list_runs(store)] == ids
    assert DeltaTable(str(table_path(store))).version() == 1 and not pending_rows(store)


def test_the_driver_peak_is_quarrys_own_not_that_of_the_process_that_started_it(tmp_path: Path) -> None:
    # Linux keeps ru_maxrss across execve: a quarry started by a process that had grown to ~600 MB
    # reported ~600 MB as its own peak. The launcher here touches 600 MB, then execs quarry.
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def f():\n    return 1\n")
    store = tmp_path / "st"
    launcher = (
        "import os, sys\n"
        "ballast = b'\\x01' * (600 << 20)\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'codequarry', 'extract', sys.argv[1],"
        " '--store', sys.argv[2], '--workers', '1', '--quiet', '--no-fast-path'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", launcher, str(src), str(store)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    peak = load_report(store).memory.parent_peak
    assert 10 << 20 < peak < 400 << 20, peak

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
from codequarry.tools.planned import TaskPlan, TaskRows, TaskTable
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
    assert not list((tmp_path / ".quarry").glob(".results-*"))  # the run's result log is gone

    again = run_recipe(make_tools_plan(recipe))  # every task cached, its row live: nothing to write
    assert not again.published and again.statuses == {"failed": 2, "ok": 21}
    assert sql(store, "SELECT count(*) AS n FROM tool_runs").to_pylist() == [{"n": 23}]


def _task(i: int, **kw: object) -> TaskPlan:
    base: dict[str, object] = dict(
        id=f"t:{i}",
        tool="t",
        group=f"g{i // 3}",
        target=f"target {i}",
        file=None,
        sha256=None,
        executable_path="/bin/true",
        argv=("/bin/true", str(i)),
        cwd="/tmp",
        env={"A": "1"},
        cores=1,
        memory=100,
        timeout=5.0,
        inputs=(("/bin/true", "ab" * 32),),
        key=f"{i:064x}",
    )
    base.update(kw)
    return TaskPlan.model_validate(base)


def test_the_task_table_gives_back_every_task_as_planned() -> None:
    """Tasks packed into a TaskTable come back equal, field for field, each knowing its row."""
    tasks = [
        _task(0),
        _task(1, group="target 1"),  # group == target is stored once
        _task(2, lemma="secrecy", executable="dev", env={}, cores=2, memory=7 << 30, timeout=1.5),
        _task(3, file="/src/a.spthy", sha256="cd" * 32, inputs=(("/src/a.spthy", "cd" * 32),)),
        _task(4, tool="u", cwd="/other", argv=("x", "{json}", "é\u2200")),
        _task(5, inputs=()),
    ]
    table = TaskTable(tasks)
    assert len(table) == len(tasks)
    for i, (got, want) in enumerate(zip(table, tasks, strict=True)):
        assert got.model_dump() == want.model_dump() and got.row == i
    assert [t.id for t in table[1:3]] == ["t:1", "t:2"] and table[-1].id == "t:5"
    assert table.request(2) == (2, 7 << 30) and table.task_id(4) == "t:4"
    rows = TaskRows(table, [4, 0])
    assert [t.id for t in rows] == ["t:4", "t:0"] and rows.request(0) == (1, 100)


def test_the_task_table_leaves_out_what_it_can_rebuild_and_keeps_what_it_cannot() -> None:
    """Ids the resolver's way, argv[0] the executable's path and hex cache keys are left out of a
    task's record and rebuilt when read; any other id, argv[0] or key comes back as it was."""
    tasks = [
        _task(0, id="t:target 0", key="ab" * 32),  # all three rebuilt
        _task(1, id="t:target 1:lemma@dev", lemma="lemma", executable="dev", argv=("/bin/true", "x")),
        _task(2, id="t:target 2", key="AB" * 32),  # upper case: not what hexdigest gives, kept as text
        _task(3, id="t:target 3", key="short"),
        _task(4, id="t:target 4", argv=("/usr/bin/env", "true")),  # argv[0] is not the executable's path
        _task(5, id="t:target 5:x", argv=()),
    ]
    table = TaskTable(tasks)
    for i, (got, want) in enumerate(zip(table, tasks, strict=True)):
        assert got.model_dump() == want.model_dump() and got.row == i
        assert table.task_id(i) == want.id
    assert len(table._buf) < sum(len(t.model_dump_json()) for t in tasks) / 4


def test_argv_files_finds_files_named_relative_absolute_or_under_home(tmp_path: Path) -> None:
    """Arguments naming an existing file (relative to cwd, absolute) are the task's inputs, resolved;
    options, folders, missing files and names with a NUL byte are not."""
    from codequarry.tools.identity import argv_files

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    argv = ["tool", "sub/a.txt", str(tmp_path / "b.txt"), "-x", "sub", "missing", "a\0b", "./sub/../b.txt"]
    got = argv_files(argv, tmp_path)
    want = [tmp_path / "sub" / "a.txt", tmp_path / "b.txt", tmp_path / "b.txt"]
    assert got == [p.resolve() for p in want]
    assert argv_files(["tool", "~/surely-not-a-file-here-4d1e"], tmp_path) == []


def test_first_fit_over_request_queues_starts_what_a_scan_of_the_list_would() -> None:
    """With one queue per (cores, memory) request, the tasks started are the first (in order) that
    fit, as a scan of the whole pending list would pick them."""
    import threading

    from codequarry.tools.planned import Budget
    from codequarry.tools.scheduler import _Pool

    memories = [3, 3, 1, 2, 1, 4, 1]
    table = TaskTable(_task(i, memory=m) for i, m in enumerate(memories))
    budget = Budget(
        cores=10,
        memory=4,
        default_timeout=5,
        grace=1,
        sample_interval=0.01,
        default_cores=1,
        default_memory=1,
    )
    release = threading.Event()

    def execute(task: TaskPlan, stop: threading.Event) -> str:
        release.wait(30)
        return task.id

    pool = _Pool(
        TaskRows(table, range(len(memories))), budget, execute, None, threading.Event(), lambda r: True
    )
    try:
        pool.start_fitting()
        assert list(pool.state.running) == ["t:0", "t:2"]  # 3 then 1 fill the 4: t:1 (3) waits
        assert pool.state.memory == 4 and pool.pending == 5
        assert [t.id for t in pool.not_started()] == ["t:1", "t:3", "t:4", "t:5", "t:6"]
    finally:
        release.set()
        while pool.state.running:
            pool.collect(block=True)
        pool.close()

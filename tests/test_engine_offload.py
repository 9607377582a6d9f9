"""A DAG layer's operations run in the pool's idle workers beside the parent (#16 item 2): the same
rows as in one process, the same failures, and a worker that dies costs the run, not the parent.

The end-to-end tests run `quarry extract` in a fresh interpreter, as a user does: a worker takes
calls only when it was forked before the parent started Delta Lake's async runtime, which this test
process (having used Delta Lake in other tests) may already have."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.engine.supervisor import CallFailed, Limits, NotOffloaded, Supervisor
from codequarry.errors import UsageError
from codequarry.oplanes import Job, in_parallel
from tests.storedump import dump

PLUGIN = "tests.plugins.ops_where"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
WHERE = ("where_ran", "where_fail", "where_exit")


class _Odd(Exception):
    """An exception that cannot be rebuilt from its args (so it cannot travel by pickle)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def _refuse(message: str) -> None:
    raise UsageError(message)


def _odd() -> None:
    raise _Odd("odd", "one")


def _slow_pid() -> int:
    """Long enough that every lane of ``in_parallel`` takes one job (a lane takes the next free one)."""
    time.sleep(1.0)
    return os.getpid()


@pytest.fixture
def pool() -> Supervisor:
    """Two workers that take calls: the calls of these tests never touch Delta Lake, so whether this
    process started its async runtime before the fork does not matter to them."""
    sup = Supervisor(2, Limits())
    sup.start()
    for w in sup.workers:
        assert w is not None
        w.takes_calls = True
    yield sup
    sup.close()


def test_a_call_runs_in_a_worker_and_brings_back_its_value_or_its_exception(pool: Supervisor) -> None:
    workers = {w.proc.pid for w in pool.workers if w is not None}
    pid = pool.call(os.getpid)
    assert pid != os.getpid() and pid in workers
    with pytest.raises(UsageError, match="^no such thing$"):
        pool.call(_refuse, "no such thing")
    with pytest.raises(CallFailed, match="_Odd: odd one"):
        pool.call(_odd)
    with pytest.raises(NotOffloaded, match="pickle"):
        pool.call(lambda: 1)  # nothing ran: the caller runs it itself
    with pytest.raises(CallFailed, match="the worker process died"):
        pool.call(os._exit, 3)
    # the dead worker is gone, the other one still answers
    assert pool.call(os.getpid) in workers
    assert sum(w is not None for w in pool.workers) == 1


def test_the_workers_stay_after_a_complete_map_for_the_calls(tmp_path: Path, pool: Supervisor) -> None:
    from codequarry.engine.worker import FileTask, WorkerConfig

    (tmp_path / "a.py").write_text("def f():\n    pass\n")
    task = FileTask(key=0, repo="r", root=str(tmp_path), path="a.py", size=18, mtime_ns=0, language="python")
    config = WorkerConfig(extractors=(("codequarry.extractors.core", "files"),))
    before = {w.proc.pid for w in pool.workers if w is not None}
    assert [r.files for r in pool.map(config, [[task]])] == [1]
    assert {w.proc.pid for w in pool.workers if w is not None} == before
    assert pool.call(os.getpid) in before


def test_the_layer_runs_on_every_core_but_not_in_a_long_lived_process(pool: Supervisor) -> None:
    """`quarry watch` keeps operation state in its own memory (ctx.kept, partcache): no offload."""
    from codequarry import partcache

    jobs = [Job(_slow_pid, (), (), f"job{i}") for i in range(3)]
    pids = in_parallel(jobs, 2, pool.call)
    workers = {w.proc.pid for w in pool.workers if w is not None}
    assert set(pids) == workers and len(workers) == 2  # both workers, never the parent (its memory)
    partcache.enable(True)
    try:
        assert in_parallel(jobs, 2, pool.call) == [os.getpid()] * 3
    finally:
        partcache.enable(False)


def test_a_worker_forked_after_delta_lakes_runtime_takes_no_call(tmp_path: Path) -> None:
    """Its first Delta read would panic ("Forked process detected"): the parent runs the call."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    write_deltalake(str(tmp_path / "t"), pa.table({"x": [1]}))
    assert DeltaTable(str(tmp_path / "t")).version() == 0  # this process's runtime is started
    sup = Supervisor(1, Limits())
    sup.start()
    try:
        with pytest.raises(NotOffloaded):
            sup.call(os.getpid)
        assert (
            in_parallel([Job(os.getpid, (), (), "a"), Job(os.getpid, (), (), "b")], 1, sup.call)
            == [os.getpid()] * 2
        )
    finally:
        sup.close()


def _tree(tmp_path: Path, body: str = "") -> Path:
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "a.py").write_text(
        "def f():\n    pass\n\nclass C:\n    def m(self):\n        pass\n" + body
    )
    return root


def _extract(root: Path, store: Path, workers: int) -> subprocess.CompletedProcess[str]:
    argv = ["extract", root, "--store", store, "-w", workers, "--plugin", PLUGIN, "--select", "where"]
    argv += ["--select", "python", "-q"]
    return subprocess.run(
        [sys.executable, "-m", "codequarry", *map(str, argv)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


def test_a_layers_operations_run_in_workers_with_the_rows_of_one_process(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    for workers in (2, 1):
        done = _extract(root, tmp_path / f"s{workers}", workers)
        assert done.returncode == 0, done.stderr
    got, want = dump(tmp_path / "s2"), dump(tmp_path / "s1")
    assert {k: v for k, v in got.items() if k not in WHERE} == {
        k: v for k, v in want.items() if k not in WHERE
    }
    rows = {
        w: [r for t in WHERE for r in sql(open_store(tmp_path / f"s{w}"), f"SELECT * FROM {t}").to_pylist()]
        for w in (1, 2)
    }
    assert sorted((r["op"], r["functions"]) for r in rows[2]) == [
        ("where.a", 2),
        ("where.exit", 2),
        ("where.fail", 2),
    ]
    assert sorted((r["op"], r["functions"]) for r in rows[1]) == sorted(
        (r["op"], r["functions"]) for r in rows[2]
    )
    assert len({r["pid"] for r in rows[1]}) == 1  # one worker: all in the run's own process
    assert len({r["pid"] for r in rows[2]}) > 1  # two: the parent and its workers shared the layer


def test_an_operation_that_raises_in_a_worker_fails_the_run_as_in_one_process(tmp_path: Path) -> None:
    root = _tree(tmp_path, "\ndef boom():\n    pass\n")
    messages = []
    for workers in (1, 2):
        done = _extract(root, tmp_path / f"s{workers}", workers)
        assert done.returncode != 0
        messages.append(done.stderr.strip().splitlines()[-1])
        assert open_store(tmp_path / f"s{workers}").snapshot() is None  # nothing published
    assert messages[0] == messages[1]
    assert "operation 'where.fail' failed: ValueError: a function named boom" in messages[1]


def test_an_operation_that_kills_its_worker_fails_the_run_and_not_the_parent(tmp_path: Path) -> None:
    root = _tree(tmp_path, "\ndef die():\n    pass\n")
    for attempt in range(5):  # which lane takes where.exit depends on the threads: the parent's ends the run
        store = tmp_path / f"s{attempt}"
        done = _extract(root, store, 2)
        assert open_store(store).snapshot() is None
        if done.returncode == 3:
            continue  # the parent lane took it: the process ended as it does with one worker
        assert "operation 'where.exit' failed: the worker process died" in done.stderr, done.stderr
        assert done.returncode not in (0, 3)
        return
    pytest.fail("the parent lane took where.exit every time")

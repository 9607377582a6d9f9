"""The store's run transaction (store.transaction.begin_run): one snapshot on success, nothing on
failure, and every writer (maintenance functions included) refused while another holds the lock."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.datasets import Error, File
from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk
from codequarry.errors import StoreError, StoreLockedError
from codequarry.report.collect import RunRecorder
from codequarry.report.runs import load
from codequarry.store import Store
from codequarry.store.maintenance import compact
from codequarry.store.transaction import RunTransaction, begin_run
from codequarry.tools.cache import ResultCache

SPECS = {"files": File, "errors": Error}


def paths(store: Path) -> list[str]:
    return sorted(sql(open_store(store), "SELECT path FROM files").column("path").to_pylist())


def first_run(tmp_path: Path) -> tuple[Path, Path]:
    src, store = tmp_path / "src", tmp_path / "store"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    assert extract(make_plan([src], store=store, workers=1)).snapshot == 1
    (src / "b.py").write_text("y = 2\n")
    return src, store


def add_b(txn: RunTransaction, src: Path) -> None:
    """Extract b.py's manifest row into the run's parts, as the engine's workers do."""
    txn.prepare()
    task = FileTask(key=0, repo="src", root=str(src), path="b.py", size=6, mtime_ns=0, language="python")
    config = WorkerConfig(
        extractors=(("codequarry.extractors.core", "files"),),
        tables_dir=str(txn.store.tables_dir),
        run_id=txn.run_id,
    )
    for part in process_chunk(config, [task]).parts:
        txn.add(part)


def run_parts(store: Path, run_id: str) -> list[Path]:
    return sorted((store / "tables").glob(f"*/part-{run_id}-*"))


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_inside_the_run_publishes_nothing(tmp_path: Path, failure: BaseException) -> None:
    src, store_path = first_run(tmp_path)
    store = Store.create(store_path)
    with pytest.raises(type(failure)), begin_run(store, "test", specs=SPECS) as txn:
        add_b(txn, src)
        txn.commit()  # the files table now has a version no snapshot names
        assert run_parts(store_path, txn.run_id)
        raise failure
    snap = store.snapshot()
    assert snap is not None and snap.id == 1 and len(store.history()) == 1
    assert paths(store_path) == ["a.py"]  # the previous snapshot reads as before
    assert run_parts(store_path, txn.run_id) == []  # the failed run's parts are gone
    # the next writer rolls the dead commit back, then publishes exactly one snapshot
    with begin_run(store, "test", specs=SPECS) as again:
        assert again.notes == ["rolled back unpublished commits of 'files'"]
        add_b(again, src)
        made = again.publish(again.commit(), run={"kind": "test"})
    assert made.id == 2 and again.snapshot == made and store.snapshot() == made
    assert paths(store_path) == ["a.py", "b.py"]


def test_a_run_publishes_once_and_a_run_without_publish_leaves_no_part(tmp_path: Path) -> None:
    src, store_path = first_run(tmp_path)
    store = Store.create(store_path)
    with begin_run(store, "test", specs=SPECS) as txn:
        add_b(txn, src)
        states = txn.commit()
        txn.publish(states, run={})
        with pytest.raises(StoreError, match="has published already"):
            txn.publish(states, run={})
    assert store.snapshot().id == 2  # type: ignore[union-attr]
    with begin_run(store, "test", specs=SPECS) as idle:  # parts written, nothing worth publishing
        add_b(idle, src)
    assert run_parts(store_path, idle.run_id) == [] and store.snapshot().id == 2  # type: ignore[union-attr]


def test_a_store_failure_is_one_line_and_the_recorder_sees_it(tmp_path: Path) -> None:
    _src, store_path = first_run(tmp_path)
    store = Store.create(store_path)
    recorder = RunRecorder("extract", store.path)
    with (
        pytest.raises(StoreError) as info,
        begin_run(store, "extract", specs=SPECS, recorder=recorder) as txn,
    ):
        assert txn.run_id == recorder.run_id
        raise OSError(errno.ENOSPC, "No space left on device")
    message = str(info.value)
    assert "no space left on the device while extracting" in message
    assert "snapshot 1 is still live" in message
    report = load(store_path, recorder.run_id)
    assert report.status == "failed" and (report.message or "").startswith("StoreError: ")


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from codequarry.store import WriterLock
    with WriterLock(Path(sys.argv[1])):
        open(sys.argv[2], "w").close()
        time.sleep(600)
""")


def test_every_writer_is_refused_while_another_holds_the_lock(tmp_path: Path) -> None:
    """Library maintenance functions take the lock themselves: called from Python while another
    process writes, they refuse with a message naming it, and change nothing."""
    src, store_path = first_run(tmp_path)
    ResultCache(store_path).put("ab" * 8, {"tool": "t", "outcome": {"status": "ok"}})
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store_path), str(held)])
    try:
        deadline = time.monotonic() + 120
        while not held.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the other writer never started"
            time.sleep(0.05)
        store = Store.create(store_path)
        refused = [
            lambda: compact(store),
            lambda: ResultCache(store_path).clear(),
            lambda: ResultCache(store_path).prune(0),
            lambda: begin_run(store, "test").__enter__(),
            lambda: extract(make_plan([src], store=store_path, workers=1)),
        ]
        for call in refused:
            with pytest.raises(StoreLockedError, match=f"is being written by pid {holder.pid}"):
                call()
    finally:
        holder.kill()
        holder.wait()
    assert ResultCache(store_path).info()["entries"] == 1
    assert Store.open(store_path).snapshot().id == 1  # type: ignore[union-attr]
    assert extract(make_plan([src], store=store_path, workers=1)).snapshot == 2  # the lock died with it

"""Concurrency around the store (issue 10, items 9, 10 and 11): readers during compaction, runs
after compaction, two extracts started at the same instant, and maintenance functions that take the
writer lock themselves. Real subprocesses, real stores; no timed assertions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from codequarry import extract, make_plan, open_store
from codequarry.errors import StoreLockedError
from codequarry.store import Store
from codequarry.store.maintenance import compact
from codequarry.tools.cache import ResultCache
from tests.test_incremental import dump

QUARRY = [sys.executable, "-m", "codequarry"]


def make_tree(root: Path, n: int) -> None:
    (root / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "pkg" / "__init__.py").write_text("")
    for i in range(n):
        (root / "pkg" / f"m{i}.py").write_text(f"import os\n\ndef f{i}(x):\n    return os.path.join(x)\n")


def many_small_runs(src: Path, store: Path, runs: int) -> None:
    """A store whose tables hold one small part per run (what compaction exists for)."""
    make_tree(src, 2)
    for i in range(runs):
        (src / "pkg" / f"r{i}.py").write_text(f"def r{i}(y):\n    return [y] * {i}\n")
        extract(make_plan([src], store=store, workers=1))


def wait_for(predicate, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- item 9: readers never fail during compaction --------------------------------------------------
READER = textwrap.dedent("""
    import json, os, sys, time
    from codequarry import open_store, sql
    store, stop, ready = sys.argv[1:4]
    done = failed = 0
    errors = []
    while not os.path.exists(stop):
        try:  # a new Store each time: its reader lease is taken and dropped per query
            st = open_store(store)
            sql(st, "SELECT count(*), max(name), sum(length(path)) FROM functions")
            sql(st, "SELECT * FROM files")
            del st
            done += 1
        except Exception as exc:
            failed += 1
            errors.append(str(exc)[:300])
        if done == 1:
            open(ready, "w").close()
    print(json.dumps({"done": done, "failed": failed, "errors": errors[:5]}))
""")

CLI_READER = textwrap.dedent("""
    import json, os, subprocess, sys
    store, stop, ready = sys.argv[1:4]
    done = failed = 0
    errors = []
    while not os.path.exists(stop):
        p = subprocess.run([sys.executable, "-m", "codequarry", "sql", "SELECT path, name FROM functions",
                            "--store", store], capture_output=True, text=True)
        if p.returncode == 0:
            done += 1
        else:
            failed += 1
            errors.append(p.stderr[:300])
        if done == 1:
            open(ready, "w").close()
    print(json.dumps({"done": done, "failed": failed, "errors": errors[:5]}))
""")


def test_readers_never_fail_while_compact_deletes_files(tmp_path: Path) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    many_small_runs(src, store, 12)
    stop = tmp_path / "stop"
    readers = []
    for i, script in enumerate([READER, READER, CLI_READER]):
        ready = tmp_path / f"ready-{i}"
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(store), str(stop), str(ready)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        readers.append((proc, ready))
    try:
        for proc, ready in readers:
            wait_for(lambda p=proc, r=ready: r.exists() or p.poll() is not None, "a reader's first query")
        for cycle in range(4):  # edits, then a compaction that rewrites and deletes, while readers read
            (src / "pkg" / f"r{cycle}.py").write_text(f"def edited{cycle}():\n    pass\n")
            extract(make_plan([src], store=store, workers=1))
            done = subprocess.run([*QUARRY, "compact", "--store", store], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
    finally:
        stop.touch()
        results = [json.loads(proc.communicate(timeout=300)[0]) for proc, _ in readers]
    assert all(r["failed"] == 0 for r in results), results
    assert all(r["done"] >= 1 for r in results), results
    # once the readers are gone, the files kept for them go
    idle = subprocess.run([*QUARRY, "compact", "--store", store], capture_output=True, text=True)
    assert idle.returncode == 0 and int(idle.stdout.rsplit("removed ", 1)[1].split()[0]) > 0, idle.stdout
    assert dump(store)["functions"]  # and the store is whole
    assert subprocess.run([*QUARRY, "doctor", "--store", store], capture_output=True).returncode == 0


def test_a_reader_holding_a_lease_keeps_the_files_it_may_read(tmp_path: Path) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    many_small_runs(src, store, 6)
    reader = open_store(store)
    snap = reader.snapshot()  # takes the lease
    assert snap is not None
    old_files = {
        u.removeprefix("file://")
        for u in DeltaTable(
            str(store / "tables" / "functions"), version=snap.tables["functions"].version
        ).file_uris()
    }
    busy = compact(open_store(store))
    assert busy.readers_active and busy.tables["functions"][1] == 1
    assert all(os.path.exists(f) for f in old_files)  # the reader's snapshot is still whole
    rows = reader.snapshot()  # and it still reads (the new snapshot, or the old files)
    assert rows is not None
    reader.close()
    idle = compact(open_store(store))
    assert not idle.readers_active and idle.removed_files >= len(old_files)
    assert not any(os.path.exists(f) for f in old_files)


# -- item 10: maintenance commits are not mistaken for a dead run ----------------------------------
def test_runs_after_compact_roll_nothing_back(tmp_path: Path) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    many_small_runs(src, store, 4)
    done = subprocess.run([*QUARRY, "compact", "--store", store], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    vacuumed = [
        p.name
        for p in (store / "tables").iterdir()
        if any(c.get("operation") == "VACUUM END" for c in DeltaTable(str(p)).history())
    ]
    assert vacuumed  # the case of the issue: compaction left vacuum commits after the published versions
    for i in range(2):
        (src / "pkg" / f"after{i}.py").write_text(f"def after{i}():\n    pass\n")
        run = subprocess.run(
            [*QUARRY, "extract", src, "--store", store, "--json", "-q"], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        notes = json.loads(run.stdout)["notes"]
        assert not [n for n in notes if "rolled back" in n], notes
    for table in (store / "tables").iterdir():
        ops = [c.get("operation") for c in DeltaTable(str(table)).history()]
        assert "RESTORE" not in ops, (table.name, ops)


def test_a_dead_run_is_still_rolled_back_after_compact(tmp_path: Path) -> None:
    """The other side of item 10: a real unpublished commit after compaction is still undone."""
    src, store = tmp_path / "src", tmp_path / "store"
    many_small_runs(src, store, 3)
    compact(open_store(store))
    flag = tmp_path / "paused"
    (src / "pkg" / "late.py").write_text("def late():\n    pass\n")
    env = {**os.environ, "QUARRY_PAUSE_AT": "publish", "QUARRY_PAUSE_FILE": str(flag)}
    proc = subprocess.Popen([*QUARRY, "extract", src, "--store", store, "-q"], env=env)
    wait_for(lambda: flag.exists() or proc.poll() is not None, "the run to reach publish")
    proc.kill()
    proc.wait()
    run = subprocess.run(
        [*QUARRY, "extract", src, "--store", store, "--json", "-q"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert any("rolled back" in n and "functions" in n for n in json.loads(run.stdout)["notes"])


# -- item 11: two extracts at the same instant -----------------------------------------------------
LAUNCH = textwrap.dedent("""
    import os, runpy, sys, time
    import codequarry.cli, codequarry.run  # every import done before the start line: both start together
    from codequarry.registry import load_catalog
    load_catalog(())
    go = sys.argv[1]
    while not os.path.exists(go):
        time.sleep(0.001)
    sys.argv = ["quarry", *sys.argv[2:]]
    runpy.run_module("codequarry", run_name="__main__")
""")


@pytest.mark.parametrize("pair", range(6))
def test_two_extracts_at_once_one_wins_the_other_names_it(tmp_path: Path, pair: int) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    make_tree(src, 5)
    go, flag = tmp_path / "go", tmp_path / "paused"
    env = {**os.environ, "QUARRY_PAUSE_AT": "scan", "QUARRY_PAUSE_FILE": str(flag)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                LAUNCH,
                str(go),
                "extract",
                str(src),
                "--store",
                str(store),
                "-q",
                "-w",
                "1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.0 + pair * 0.1)  # let both finish importing (a wrong guess only makes the race less tight)
    go.touch()
    try:
        # the winner holds the lock and waits at its pause point; the loser must have given up by then
        wait_for(
            lambda: sum(p.poll() is not None for p in procs) >= 1 and flag.exists(), "one winner, one loser"
        )
    finally:
        flag.unlink(missing_ok=True)
        outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], (codes, outs)
    winner = procs[codes.index(0)]
    loser_err = outs[codes.index(2)][1]
    assert f"is being written by pid {winner.pid}" in loser_err, loser_err
    assert loser_err.count("\n") == 1 and "Traceback" not in loser_err
    snap = Store.open(store).snapshot()
    assert (
        snap is not None
        and json.loads(
            subprocess.run(
                [*QUARRY, "sql", "SELECT count(*) AS n FROM functions", "--store", store, "-f", "json"],
                capture_output=True,
                text=True,
            ).stdout
        )[0]["n"]
        == 5
    )
    assert subprocess.run([*QUARRY, "doctor", "--store", store], capture_output=True).returncode == 0


CREATE = textwrap.dedent("""
    import json, os, sys, time
    from codequarry.errors import StoreError
    from codequarry.store import Store, WriterLock
    store, go, release = sys.argv[1:4]
    while not os.path.exists(go):
        time.sleep(0.0005)
    try:
        with WriterLock(Store.create(store).path):
            print(json.dumps({"won": os.getpid()}), flush=True)
            while not os.path.exists(release):
                time.sleep(0.01)
    except StoreError as exc:
        print(json.dumps({"lost": str(exc)}), flush=True)
""")


@pytest.mark.parametrize("round_", range(4))
def test_many_processes_creating_one_store_at_once(tmp_path: Path, round_: int) -> None:
    """The store-creation race itself, as tight as processes allow: N writers released together on
    a missing store folder. One creates the store and holds it; every other names that one's pid."""
    store, go, release = tmp_path / "store", tmp_path / "go", tmp_path / "release"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE, str(store), str(go), str(release)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(2.0)  # imports done; a wrong guess only makes the race less tight
    go.touch()
    try:  # the winner holds the lock until released: every other one must give up meanwhile
        wait_for(lambda: sum(p.poll() is not None for p in procs) == len(procs) - 1, "every loser to give up")
    finally:
        release.touch()
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    winners = [o["won"] for o in outs if "won" in o]
    assert len(winners) == 1, outs
    for o in outs:
        if "lost" in o:
            assert f"is being written by pid {winners[0]}" in o["lost"], o
    assert Store.open(store).snapshot() is None and (store / "store.json").is_file()


# -- maintenance functions take the writer lock themselves -----------------------------------------
HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from codequarry.store import WriterLock
    with WriterLock(Path(sys.argv[1])):
        open(sys.argv[2], "w").close()
        time.sleep(600)
""")


def test_compact_and_cache_clear_take_the_writer_lock(tmp_path: Path) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    many_small_runs(src, store, 2)
    ResultCache(store).put("ab" * 8, {"tool": "t", "outcome": {"status": "ok"}})
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store), str(held)])
    try:
        wait_for(held.exists, "the other writer")
        before = dump(store)
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            compact(open_store(store))
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            ResultCache(store).clear()
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            ResultCache(store).prune(0)
        assert dump(store) == before and ResultCache(store).info()["entries"] == 1
    finally:
        holder.kill()
        holder.wait()
    assert compact(open_store(store)).tables and ResultCache(store).clear() == 1

"""The rows a run drops, cut from the parts holding them while worker processes extract the new ones
(store/writer.py ``start_drops``): the same rows as a commit that cuts them itself, and no file of
the run left behind when it fails or when a table is not what its key record says.

Every store is compared with a fresh extract (tests/storedump.py), as tests/test_exact.py does."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from codequarry import extract, make_plan, open_store
from codequarry.errors import StoreError
from codequarry.parts import Replacement
from codequarry.store.indexed import Drops
from codequarry.store.transaction import begin_run
from codequarry.store.writer import COMMIT_THREADS, DROP_THREADS, _DropMaker
from tests.store.test_keyindex import _edit, _fresh, _run, _tree
from tests.storedump import dump
from tests.test_floor import threads_started


def _victim_everywhere(store: Path, rel: str) -> dict[str, Replacement]:
    """A replacement of file ``rel`` of repo ``src`` in every table of the live snapshot."""
    snap = open_store(store).snapshot()
    assert snap is not None
    out = {}
    for name in snap.tables:
        rep = Replacement()
        rep.keys["src"].add(rel)
        out[name] = rep
    return out


def _made(txn: object) -> dict[str, Drops]:
    """The drop actions the thread made, once it is done."""
    maker = txn.writer._drops  # type: ignore[attr-defined]
    assert maker is not None
    maker.join()
    return {name: got[1] for name, got in maker.made.items() if got is not None and isinstance(got[1], Drops)}


def _written(drops: dict[str, Drops], store: Path) -> list[Path]:
    return [
        store / "tables" / name / a.path
        for name, d in drops.items()
        for a in d.actions
        if isinstance(a, AddAction)
    ]


def test_a_run_with_workers_cuts_the_dropped_rows_in_a_thread_and_gives_a_fresh_extracts_rows(
    tmp_path: Path,
) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)  # one worker: one part per table, holding every file
    _edit(src, 0)
    with threads_started() as started:
        summary = extract(make_plan([src], store=store, workers=2))
    assert summary.changed == 1 and summary.published
    assert "quarry-drops" in started, started
    assert dump(store) == _fresh(src, tmp_path)


def test_a_run_that_fails_after_its_drops_were_made_leaves_no_file_and_no_change(tmp_path: Path) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    victim = sorted(src.rglob("*.py"))[0].relative_to(src).as_posix()
    before = dump(store)
    run_id = ""
    try:
        with begin_run(open_store(store), "extract") as txn:
            run_id = txn.run_id
            txn.start_drops(_victim_everywhere(store, victim))
            written = _written(_made(txn), store)
            assert written and all(p.exists() for p in written)  # parts cut without the victim's rows
            raise RuntimeError("the extraction failed")
    except RuntimeError:
        pass
    assert run_id and not list((store / "tables").glob(f"*/part-{run_id}-*"))
    assert dump(store) == before


def test_drops_made_for_a_table_that_moved_on_are_deleted_and_the_rows_cut_from_its_log(
    tmp_path: Path,
) -> None:
    """A commit that finds a table at another version than its key record named (here: an empty
    commit made after the drops were) takes the full path; the parts made from the record are
    deleted, not left unreferenced in the table's folder."""
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    victim = sorted(src.rglob("*.py"))[0].relative_to(src).as_posix()
    before = dump(store)
    with begin_run(open_store(store), "extract") as txn:
        run_id = txn.run_id
        replace = _victim_everywhere(store, victim)
        txn.start_drops(replace)
        made = _made(txn)
        moved = sorted(made)[0]
        table = DeltaTable(str(store / "tables" / moved))
        table.create_write_transaction([], mode="append", schema=table.schema())
        assert DeltaTable(str(store / "tables" / moved)).version() == txn.previous.tables[moved].version + 1
        states = txn.commit(replace)
        txn.publish(states, run=dict(txn.previous.run))
    for path in _written({moved: made[moved]}, store):
        assert not path.exists(), path
    live = {f.rsplit("/", 1)[-1] for f in DeltaTable(str(store / "tables" / moved)).file_uris()}
    ours = {p.name for p in (store / "tables" / moved).glob(f"part-{run_id}-*")}
    assert ours and ours <= live  # the run's files in the table are the ones its commit added
    # every table lost the victim's rows, and only them
    after = dump(store)
    for name, rows in before.items():
        kept = [r for r in rows if json.loads(r).get("path") != victim]
        assert after.get(name, []) == kept, name


def test_a_run_with_workers_commits_in_two_threads_and_gives_a_fresh_extracts_rows(tmp_path: Path) -> None:
    """A thread makes the tables' drop actions while the workers extract, two threads commit the
    tables (making the drops not started yet meanwhile), and the rows are a fresh extract's after an
    edit, an add, a delete and a rename in one run."""
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    edited = _edit(src, 0)
    others = [p for p in sorted(src.rglob("*.py")) if p != edited]
    others[-1].unlink()
    others[0].rename(others[0].with_name("renamed_0.py"))
    (edited.parent / "added_0.py").write_text("def added():\n    return 1\n")
    with threads_started() as started:
        summary = extract(make_plan([src], store=store, workers=2))
    assert summary.changed >= 4 and summary.published
    assert started.count("quarry-drops") == DROP_THREADS == 1, started
    assert sum(n.startswith("quarry-commit") for n in started) == COMMIT_THREADS == 2, started
    assert dump(store) == _fresh(src, tmp_path)


def test_a_commit_waiting_for_a_table_another_thread_makes_makes_the_others_meanwhile(tmp_path: Path) -> None:
    """``take`` of a table being made elsewhere makes the tables no thread has started, in the
    calling thread, instead of waiting idle; it returns the table's own actions once they are made."""
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    victim = sorted(src.rglob("*.py"))[0].relative_to(src).as_posix()
    with begin_run(open_store(store), "extract") as txn:
        replace = _victim_everywhere(store, victim)
        names = ["files", *sorted(set(replace) - {"files"})]  # (every file has its row in ``files``)
        assert len(names) >= 3
        maker = _DropMaker(txn.writer, names, replace, txn.previous.tables, 0)  # no thread started
        first = maker.todo.popleft()  # as a thread that took the first table and is making it
        maker.busy.add(first)
        got: list[object] = []
        taker = threading.Thread(target=lambda: got.append(maker.take(first)))
        taker.start()
        deadline = time.monotonic() + 60
        while (maker.todo or maker.busy - {first}) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not maker.todo and set(maker.made) == set(names) - {first}  # made by the waiting taker
        assert not got  # still waiting for the first table
        maker._make_one(first)
        taker.join(60)
        assert got and isinstance(got[0], tuple) and isinstance(got[0][1], Drops)
        for name in list(maker.made):
            made = maker.made.pop(name)
            if made is not None and isinstance(made[1], Drops):
                made[1].discard(store / "tables" / name)
        got[0][1].discard(store / "tables" / first)  # type: ignore[index]


def test_a_damaged_part_fails_a_run_committing_in_threads_and_a_repaired_store_gives_a_fresh_extract(
    tmp_path: Path,
) -> None:
    """With workers, tables are committed by two threads: a part that cannot be read fails the run
    with the one damage error naming its table, nothing is published, and the tables the other
    thread committed meanwhile are rolled back by the next run (which then equals a fresh extract)."""
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    edited = _edit(src, 0)
    (edited.parent / "added_0.py").write_text("def added():\n    return 1\n")
    snap = open_store(store).snapshot()
    assert snap is not None
    table = DeltaTable(str(store / "tables" / "files"))  # (every file has its row in ``files``)
    part = store / "tables" / "files" / table.file_uris()[0].rsplit("/", 1)[-1]
    good, st = part.read_bytes(), part.stat()
    live = (store / "snapshot.json").read_bytes()
    part.write_bytes(good[: len(good) // 2])
    with pytest.raises(StoreError) as failed:
        extract(make_plan([src], store=store, workers=2))
    assert "'files'" in str(failed.value) and "quarry doctor" in str(failed.value), failed.value
    assert (store / "snapshot.json").read_bytes() == live
    part.write_bytes(good)
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))  # as it was: its key record holds again
    summary = extract(make_plan([src], store=store, workers=2))
    assert summary.published
    assert dump(store) == _fresh(src, tmp_path)

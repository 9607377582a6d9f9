"""The store: snapshots isolate readers from writers, unpublished commits roll back, one writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.datasets import Error, File
from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk
from codequarry.errors import StoreError
from codequarry.store import Store, WriterLock
from codequarry.store.writer import RunWriter


def paths(store: Path) -> list[str]:
    return sorted(sql(open_store(store), "SELECT path FROM files").column("path").to_pylist())


def test_unpublished_commits_are_invisible_and_rolled_back(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    store_path = tmp_path / "store"
    extract(make_plan([src], store=store_path, workers=1))
    assert paths(store_path) == ["a.py"]

    # a run that commits its tables and dies before publishing the snapshot
    (src / "b.py").write_text("y = 2\n")
    store = Store.open(store_path)
    writer = RunWriter(store, "dead", {"files": File, "errors": Error})
    writer.prepare()
    task = FileTask(key=0, repo="src", root=str(src), path="b.py", size=6, mtime_ns=0, language="python")
    config = WorkerConfig(
        extractors=(("codequarry.extractors.core", "files"),), tables_dir=str(store.tables_dir), run_id="dead"
    )
    for part in process_chunk(config, [task]).parts:
        writer.add(part)
    writer.commit({}, store.snapshot())  # the files table now has a version no snapshot names
    assert paths(store_path) == ["a.py"]  # readers still see the published snapshot

    summary = extract(make_plan([src], store=store_path, workers=1))
    assert any("rolled back" in n for n in summary.notes)
    assert paths(store_path) == ["a.py", "b.py"]
    assert summary.snapshot == 2


def test_two_sources_share_a_store_and_replace_only_their_own_rows(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.py").write_text("x = 1\n")
    store = tmp_path / "store"
    extract(make_plan([tmp_path / "one", tmp_path / "two"], store=store, workers=2))
    (tmp_path / "one" / "one.py").unlink()
    (tmp_path / "one" / "new.py").write_text("z = 3\n")
    extract(make_plan([tmp_path / "one"], store=store, workers=1))
    got = sql(open_store(store), "SELECT repo, path FROM files ORDER BY repo, path").to_pylist()
    assert got == [{"repo": "one", "path": "new.py"}, {"repo": "two", "path": "two.py"}]


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    store = Store.create(tmp_path / ".quarry")
    with WriterLock(store.path):
        proc = subprocess.run(
            [sys.executable, "-m", "codequarry", "extract", str(tmp_path), "-q"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert f"pid {os.getpid()}" in proc.stderr
    # the lock dies with its holder: now it works
    subprocess.run(
        [sys.executable, "-m", "codequarry", "extract", str(tmp_path), "-q"], check=True, timeout=120
    )


def test_a_non_store_folder_is_never_used_as_a_store(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not a codequarry store"):
        Store.create(tmp_path)
    with pytest.raises(StoreError, match="not a codequarry store"):
        Store.open(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"

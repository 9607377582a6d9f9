"""`quarry compact`'s layout (store/layout.py): rows sorted by (repo, path) in files whose repo ranges
do not overlap, the same rows, per-repo file statistics in the log, and a second compact that
leaves the layout alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from codequarry import extract, make_plan, open_store
from codequarry.store import layout
from codequarry.store.maintenance import compact
from codequarry.store.store import arrow_table
from tests import paths
from tests.storedump import dump


def _store(tmp_path: Path) -> Path:
    """Four repos, each extracted by its own run (so parts of several runs and repos interleave)."""
    store = tmp_path / "store"
    for i, rel in enumerate(["routes/flask_app", "models/django", "models/validation", "core"]):
        src = tmp_path / f"r{i}"
        shutil.copytree(paths.FIXTURES / rel, src)
        extract(make_plan([src], store=store, workers=1, repo=f"repo{3 - i}"))
    return store


def _files(store: Path, name: str) -> list[tuple[str, str, str]]:
    """(file, min repo, max repo) of the live files, in the log's order."""
    snap = open_store(store).snapshot()
    assert snap is not None
    table = DeltaTable(str(store / "tables" / name), version=snap.tables[name].version)
    actions = arrow_table(table.get_add_actions(flatten=True)).to_pydict()
    return list(zip(actions["path"], actions["min.repo"], actions["max.repo"], strict=True))


def test_compact_sorts_by_repo_and_path_into_non_overlapping_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    before = dump(store)
    monkeypatch.setattr(layout, "TARGET_FILE_SIZE", 1024)  # several files, as a big store gets
    monkeypatch.setattr(layout, "ROW_GROUP_ROWS", 8)
    compact(open_store(store))
    assert dump(store) == before
    files = sorted(_files(store, "calls"), key=lambda f: (f[1], f[2]))
    assert len(files) > 1
    for (_, _, high), (_, low, _) in zip(files, files[1:], strict=False):
        assert high <= low  # a repo may continue into the next file, never come back
    for file, low, high in files:
        data = pq.read_table(store / "tables" / "calls" / file, columns=["repo", "path"])
        keys = pc.binary_join_element_wise(data["repo"], data["path"], "\0").to_pylist()
        assert keys == sorted(keys)
        assert (min(data["repo"].to_pylist()), max(data["repo"].to_pylist())) == (low, high)
        assert pq.ParquetFile(store / "tables" / "calls" / file).metadata.row_group(0).num_rows <= 8
    monkeypatch.undo()  # the real target: these small files are too many for it, one file is enough
    compact(open_store(store))
    files = _files(store, "calls")
    assert len(files) == 1 and dump(store) == before
    compact(open_store(store))  # now in the layout: nothing is rewritten
    assert _files(store, "calls") == files and dump(store) == before


def test_compacted_store_takes_incremental_runs(tmp_path: Path) -> None:
    store = _store(tmp_path)
    compact(open_store(store))
    assert all(len(_files(store, n)) == 1 for n in ("calls", "functions"))
    src = tmp_path / "r3"  # repo0
    target = next(src.rglob("*.py"))
    target.write_text("def replaced():\n    return 1\n")
    extract(make_plan([src], store=store, workers=1, repo="repo0"))
    fresh = tmp_path / "fresh"
    for i in range(4):
        extract(make_plan([tmp_path / f"r{i}"], store=fresh, workers=1, repo=f"repo{3 - i}"))
    assert dump(store) == dump(fresh)

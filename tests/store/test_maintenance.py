"""compact and status: many small runs, then fewer files, the same rows, and no orphans left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deltalake import DeltaTable

from codequarry import extract, make_plan, open_store, sql
from codequarry.store import WriterLock
from codequarry.store.maintenance import compact, status
from tests.test_incremental import dump, touch_later


def test_compact_keeps_rows_and_removes_replaced_and_orphaned_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    store = tmp_path / "store"
    for i in range(6):
        (src / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
        extract(make_plan([src], store=store, workers=1))
    (src / "m0.py").write_text("def changed():\n    pass\n")
    touch_later(src / "m0.py")
    extract(make_plan([src], store=store, workers=1))
    orphan = store / "tables" / "functions" / "part-deadrun-0000.zstd.parquet"
    orphan.write_bytes(b"left by a killed run")
    st = open_store(store)
    before_rows = dump(store)
    before = status(st)
    assert before["tables"]["functions"]["files"] >= 6
    with WriterLock(st.path):
        done = compact(st)
    after = status(st)
    assert dump(store) == before_rows
    assert after["tables"]["functions"]["files"] == 1
    assert done.removed_files > 0 and not orphan.exists()
    assert after["snapshots_kept"] == 1 and after["snapshot"] == before["snapshot"] + 1
    # incremental runs keep working on a compacted store
    (src / "m1.py").unlink()
    extract(make_plan([src], store=store, workers=1))
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1))
    assert dump(store) == dump(fresh)


def test_status_and_compact_commands(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import os\nos.getcwd()\n")
    q = [sys.executable, "-m", "codequarry"]
    subprocess.run([*q, "extract", tmp_path, "-q"], check=True)
    info = json.loads(
        subprocess.run(
            [*q, "status", "--json"], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout
    )
    assert info["snapshot"] == 1 and info["tables"]["calls"]["rows"] == 1
    assert info["last_run"]["files_scanned"] == 1
    text = subprocess.run([*q, "status"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "snapshot 1" in text and "calls" in text
    out = subprocess.run([*q, "compact"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "snapshot 1 is live" in out and "calls: 1 -> 1 files" in out  # nothing to rewrite: no new snapshot
    bad = subprocess.run([*q, "compact", "--table", "cals"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "calls" in bad.stderr


def test_many_small_runs_trigger_automatic_compaction(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import codequarry.store.maintenance as maintenance

    monkeypatch.setattr(maintenance, "AUTO_COMPACT_FILES", 3)
    src = tmp_path / "src"
    src.mkdir()
    store = tmp_path / "store"
    notes = []
    for i in range(6):
        (src / f"m{i}.py").write_text(f"X{i} = {i}\n")
        notes += extract(make_plan([src], store=store, workers=1)).notes
    assert any("compacted" in n for n in notes)
    assert status(open_store(store))["tables"]["assignments"]["files"] <= 3
    assert os.path.isdir(store / "tables" / "assignments")


def test_automatic_compaction_merges_small_parts_and_leaves_big_ones(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A run rewrites every part holding a changed file's rows: merging a crowded table whole would
    make each later edit rewrite all of it. Only parts under SMALL_PART_BYTES count and are merged."""
    import codequarry.parts as parts_mod
    import codequarry.store.maintenance as maintenance

    src = tmp_path / "src"
    src.mkdir()
    # one file with many calls: the cold run's calls part is far bigger than the small ones
    (src / "big.py").write_text("".join(f"func_{i}(arg_{i}, {i})\n" for i in range(20_000)))
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    (big,) = (
        DeltaTable(str(store / "tables" / "calls"))
        .get_add_actions(flatten=True)
        .column("size_bytes")
        .to_pylist()
    )
    monkeypatch.setattr(parts_mod, "SMALL_PART_BYTES", big // 4)
    monkeypatch.setattr(maintenance, "AUTO_COMPACT_FILES", 3)
    notes = []
    for i in range(7):  # each run adds a small file: one small calls part each
        (src / f"m{i}.py").write_text(f"call_{i}({i})\n")
        notes += extract(make_plan([src], store=store, workers=1)).notes
    assert any("compacted" in n and "calls" in n for n in notes), notes
    sizes = (
        DeltaTable(str(store / "tables" / "calls"))
        .get_add_actions(flatten=True)
        .column("size_bytes")
        .to_pylist()
    )
    assert big in sizes  # the big part was neither merged nor rewritten
    assert sum(1 for s in sizes if s < big // 4) <= 3  # the small ones were merged
    rows = sql(open_store(store), "SELECT count(*) AS n FROM calls").column("n").to_pylist()
    assert rows == [20_007]

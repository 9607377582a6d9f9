"""The persisted part keys (store/keyindex.py): a CLI run that changes one file opens only the tables
whose parts hold it, and the record is a cache that any doubt sends down the full path.

Every test compares the store with a fresh extract of the same tree (tests/storedump.py), as
tests/test_exact.py does: the record may only make a run cheaper, never different."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from codequarry import extract, make_plan, open_store
from codequarry.store import keyindex
from codequarry.store.maintenance import compact
from tests import paths
from tests.storedump import dump

FIXTURE = paths.FIXTURES / "routes" / "flask_app"


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    hour_ago = os.stat(src).st_mtime - 3600
    for p in src.rglob("*"):
        os.utime(p, (hour_ago, hour_ago))
    return src


def _run(src: Path, store: Path) -> None:
    extract(make_plan([src], store=store, workers=1))


def _fresh(src: Path, tmp_path: Path) -> dict[str, list[str]]:
    fresh = tmp_path / f"fresh{len(list(tmp_path.glob('fresh*')))}"
    _run(src, fresh)
    return dump(fresh)


def _edit(src: Path, n: int) -> Path:
    """Append a function to one Python file (older than the racy window, so it is trusted)."""
    victim = sorted(src.rglob("*.py"))[0]
    with open(victim, "a") as fh:
        fh.write(f"\n\ndef keyindex_edit_{n}():\n    return {n}\n")
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + (n + 1) * 1_000_000_000))
    return victim


def _versions(store: Path) -> dict[str, int]:
    snap = open_store(store).snapshot()
    assert snap is not None
    return {k: v.version for k, v in snap.tables.items()}


def _records(store: Path) -> dict[str, dict[str, object]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((store / keyindex.FOLDER).glob("*.json"))}


def _edited_once(tmp_path: Path, n: int) -> tuple[Path, Path, Path, dict[str, int], dict[str, int]]:
    """A tree extracted, one file edited (``_edit(src, n)``) and extracted again: the source, the
    store, the edited file and the table versions before and after the second run."""
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    before = _versions(store)
    victim = _edit(src, n)
    _run(src, store)
    return src, store, victim, before, _versions(store)


def test_each_record_names_the_live_parts_and_the_keys_they_hold(tmp_path: Path) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    _edit(src, 0)
    _run(src, store)
    records = _records(store)
    snap = open_store(store).snapshot()
    assert snap is not None
    assert {"calls", "files", "functions"} <= records.keys()
    for name, doc in records.items():
        state = snap.tables[name]
        assert doc["version"] == state.version and doc["rows"] == state.rows, name
        table = open_store(store).open_delta(name, state.version)
        live = {uri.rsplit("/", 1)[1] for uri in table.file_uris()}
        parts = doc["parts"]
        assert isinstance(parts, dict)
        assert set(parts) == live, name
        for rel, part in parts.items():
            data = pq.read_table(store / "tables" / name / rel, columns=["repo", "path"]).to_pylist()
            assert {
                r["repo"]: sorted({d["path"] for d in data if d["repo"] == r["repo"]}) for r in data
            } == part["keys"]


def test_a_one_file_change_commits_only_the_tables_that_hold_the_file(tmp_path: Path) -> None:
    src, store, victim, before, after = _edited_once(tmp_path, 1)
    rel = victim.relative_to(src).as_posix()
    holding = set()
    for name in before:
        for uri in open_store(store).open_delta(name, after[name]).file_uris():
            part = pq.ParquetFile(uri.removeprefix("file://"))
            if "path" in part.schema_arrow.names and rel in part.read(columns=["path"]).column(0).to_pylist():
                holding.add(name)
    untouched = {n for n in before if before[n] == after[n]}
    assert untouched, "every table was committed: the record was not used"
    assert not (untouched & holding), "a table holding the changed file kept its version"
    assert dump(store) == _fresh(src, tmp_path)


@pytest.mark.parametrize(
    "damage",
    ["missing", "older_store", "truncated", "other_format", "wrong_version", "part_touched", "part_gone"],
)
def test_a_record_in_doubt_takes_the_full_path_and_is_written_again(tmp_path: Path, damage: str) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    folder = store / keyindex.FOLDER
    target = folder / "functions.json"
    doc = json.loads(target.read_text())
    if damage == "missing":
        target.unlink()
    elif damage == "older_store":  # written by a version of codequarry that kept no record
        shutil.rmtree(folder)
    elif damage == "truncated":
        target.write_text(target.read_text()[:40])
    elif damage == "other_format":
        target.write_text(json.dumps({**doc, "format": 99}))
    elif damage == "wrong_version":
        target.write_text(json.dumps({**doc, "version": doc["version"] + 1}))
    elif damage == "part_touched":  # a part file rewritten in place: never trusted from the record
        part = store / "tables" / "functions" / next(iter(doc["parts"]))
        st = part.stat()
        os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif damage == "part_gone":  # the record names a part the table no longer has
        doc["parts"]["part-gone.snappy.parquet"] = {"size": 1, "mtime": 1, "rows": 0, "keys": {}}
        target.write_text(json.dumps(doc))
    _edit(src, 2)
    _run(src, store)
    assert dump(store) == _fresh(src, tmp_path)
    again = json.loads(target.read_text())
    assert again["version"] == _versions(store)["functions"]
    assert "part-gone.snappy.parquet" not in again["parts"]
    _edit(src, 3)
    _run(src, store)
    assert dump(store) == _fresh(src, tmp_path)


def test_a_record_that_names_a_file_outside_the_table_is_not_read(tmp_path: Path) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    target = store / keyindex.FOLDER / "calls.json"
    doc = json.loads(target.read_text())
    doc["parts"] = {f"../files/{k}": v for k, v in doc["parts"].items()}
    target.write_text(json.dumps(doc))
    snap = open_store(store).snapshot()
    assert snap is not None
    state = snap.tables["calls"]
    assert keyindex.load(store, store / "tables" / "calls", "calls", state.version, state.rows) is None


def test_a_compaction_moves_the_version_on_and_the_next_run_writes_the_records_again(tmp_path: Path) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    for n in range(3):
        _edit(src, 10 + n)
        _run(src, store)
    compact(open_store(store))
    _edit(src, 20)
    _run(src, store)
    assert dump(store) == _fresh(src, tmp_path)
    versions = _versions(store)
    records = _records(store)
    assert records and all(doc["version"] == versions[name] for name, doc in records.items())


def test_a_deleted_file_leaves_every_table_exact(tmp_path: Path) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    _edit(src, 30)
    _run(src, store)
    sorted(src.rglob("*.py"))[-1].unlink()
    _run(src, store)
    assert dump(store) == _fresh(src, tmp_path)


def test_the_commit_records_the_keys_it_changed_for_the_operations_of_the_run(tmp_path: Path) -> None:
    from codequarry.store import warm

    src, store, victim, before, after = _edited_once(tmp_path, 40)
    key = (src.name, victim.relative_to(src).as_posix())
    committed = [
        n for n in before if after[n] == before[n] + 1 and (store / keyindex.FOLDER / f"{n}.json").exists()
    ]
    assert "functions" in committed
    for name in committed:
        recorded = warm.changes(store / "tables" / name, before[name], after[name])
        assert recorded is not None and key in recorded, name
        assert {k[1] for k in recorded} <= {key[1]}, name  # only the changed file's rows moved
    assert dump(store) == _fresh(src, tmp_path)

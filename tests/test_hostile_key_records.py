"""A part-keys record (``keys/<table>.json``, store/keyindex.py) edited by hand or by another tool is not
trusted (trust sweep 6).

The record is a cache trusted while the log entry and the parts it names are as they were; its content
was not checked. A record whose keys no longer named a file (still valid JSON, the log and the parts
untouched) made the next run of a change to that file keep the file's old rows beside its new ones:
``functions`` held both ``a`` and ``a2`` after ``def a`` became ``def a2``. Each record now starts
with a digest of the rest of its text; one that does not match sends the run down the full path.
Checked against the old code: ``keys_dropped`` left stale rows (``parse_manifest``, ``functions``);
``part_unlisted`` held there too (the record's row count must equal the snapshot's), kept as a guard.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codequarry.store import keyindex
from tests.store.test_keyindex import _edit, _fresh, _run, _tree
from tests.storedump import dump


def _tamper(store: Path, victim: str, how: str) -> int:
    """Edit every record as ``how`` says, keeping it valid JSON; how many records were edited."""
    edited = 0
    for target in sorted((store / keyindex.FOLDER).glob("*.json")):
        doc = json.loads(target.read_text())
        parts = doc["parts"]
        holding = [rel for rel, p in parts.items() if any(victim in paths for paths in p["keys"].values())]
        if not holding:
            continue
        for rel in holding:
            if how == "keys_dropped":
                for repo, paths in parts[rel]["keys"].items():
                    parts[rel]["keys"][repo] = [p for p in paths if p != victim]
            else:  # part_unlisted: the part left out, the record's row count made to agree
                doc["rows"] -= parts.pop(rel)["rows"]
        target.write_text(json.dumps(doc, separators=(",", ":")))
        edited += 1
    return edited


@pytest.mark.parametrize("how", ["keys_dropped", "part_unlisted"])
def test_an_edited_record_never_gives_wrong_rows(tmp_path: Path, how: str) -> None:
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    victim = sorted(src.rglob("*.py"))[0]
    assert _tamper(store, victim.relative_to(src).as_posix(), how) >= 3
    _edit(src, 1)
    _run(src, store)
    assert dump(store) == _fresh(src, tmp_path)
    _edit(src, 2)
    _run(src, store)
    assert dump(store) == _fresh(src, tmp_path)


def test_a_record_as_written_is_trusted(tmp_path: Path) -> None:
    """The control: the writer's own record reads back (its digest matches) and names the table."""
    src, store = _tree(tmp_path), tmp_path / "store"
    _run(src, store)
    from codequarry import open_store

    snap = open_store(store).snapshot()
    assert snap is not None
    state = snap.tables["functions"]
    idx = keyindex.load(store, store / "tables" / "functions", "functions", state.version, state.rows)
    assert idx is not None and idx.rows == state.rows

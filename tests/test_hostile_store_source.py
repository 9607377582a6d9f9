"""A source inside the store (or the store itself) is refused (trust sweep 10).

The store folder is pruned when it lies below a source, but a source that *is* the store, or a folder
of it, was listed: ``quarry extract st --store st`` took the store's own snapshots, keys and Parquet
files as a corpus (73 files), read them while the same run wrote beside them, and the next run found
them changed again. Such a source is now one line and exit 2; the store is untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import open_store, sql
from tests.hostile.conftest import core_store, quarry


@pytest.mark.parametrize("inner", ["", "tables", "snapshots"])
def test_a_source_inside_the_store_is_refused_and_the_store_is_untouched(tmp_path: Path, inner: str) -> None:
    store = core_store(tmp_path)
    before = open_store(store).snapshot().id
    done = quarry(
        "extract", store / inner if inner else store, "--store", store, "-w", "1", "-q", check=False
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "inside the store" in done.stderr
    reopened = open_store(store)
    assert reopened.snapshot().id == before
    assert sql(reopened, "SELECT repo, path FROM files").to_pylist() == [{"repo": "src", "path": "m.py"}]


def test_a_store_inside_the_source_is_still_pruned(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("A = 1\n")
    quarry("extract", src, "-w", "1", "-q")
    quarry("extract", src, "-w", "1", "-q")
    assert sql(open_store(src / ".quarry"), "SELECT path FROM files").to_pylist() == [{"path": "a.py"}]

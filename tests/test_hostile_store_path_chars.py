"""A store whose path Delta Lake or DataFusion cannot address is refused in one line, never read as empty.

Found by trust sweep 11: DataFusion lists a table's files by its path taken as a pattern, so a store
under a folder named with '?' or '*' (or '[a]') answered every query from empty tables: `quarry sql
"SELECT count(*) FROM files"` said 0, exit 0, over a store that held the rows. '[', ']' and '|' made
`quarry extract` panic inside delta-rs (a traceback); control characters, '\\' and a percent escape
such as '%41' failed its path parser, reported as a damaged table with the advice to repair it. The
store's real path is now checked when it is opened or created (store.py ``_check_addressable``);
a lone '%', '#', spaces and non-ASCII letters work as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.conftest import quarry

BAD = ["what?", "a*b", "x[a]", "p]q", "a|b", "esc\x1b[31m", "back\\slash", "pct%41"]
GOOD = ["100%", "#tag", "with space", "caf\u00e9"]


def _tree(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    (root / "b.py").write_text("y = 2\n")
    return root


@pytest.mark.parametrize("name", BAD)
def test_a_store_under_such_a_name_is_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    src = _tree(tmp_path / name / "src")
    done = quarry("extract", src, "-w", "1", "-q", check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot address" in done.stderr, done.stderr
    assert "\x1b" not in done.stderr  # the name is printed escaped
    assert not (src / ".quarry").exists()


@pytest.mark.parametrize("name", ["what?", "a*b", "x[a]"])
def test_a_store_moved_under_such_a_name_is_refused_not_read_as_empty(tmp_path: Path, name: str) -> None:
    src = _tree(tmp_path / "src")
    store = tmp_path / "store"
    quarry("extract", src, "--store", store, "-w", "1", "-q")
    moved = tmp_path / name
    os.rename(store, moved)
    done = quarry("sql", "--store", moved, "SELECT count(*) AS n FROM files", check=False)
    assert done.returncode == 2, done.stdout  # it printed n = 0, exit 0
    assert "cannot address" in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize("name", GOOD)
def test_other_names_still_work(tmp_path: Path, name: str) -> None:
    src = _tree(tmp_path / name / "src")
    quarry("extract", src, "-w", "1", "-q")
    got = quarry("sql", "--store", src / ".quarry", "-f", "csv", "SELECT count(*) AS n FROM files").stdout
    assert got.split()[-1] == "2", got

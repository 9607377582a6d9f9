"""A file whose mtime is past 2262 keeps its ``files`` row, and an unchanged one stays unchanged.

ext4 and tmpfs keep mtimes to the year 2446, and an archive (or ``touch -d 2300-01-01``) can set
one. Its ``st_mtime_ns`` does not fit the tables' int64: the file lost its ``files`` row to a schema
error (its other rows stayed, so ``modules`` named a file ``files`` did not), and every later run
found its mtime unequal to the stored one and extracted it again. The mtime is now stored as the
largest int64 (2262-04-11), in the scan and in the workers alike (corpus_io.mtime_ns).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.corpus_io import MTIME_MAX

FAR = (1 << 63) + 10**18  # the year 2294, in nanoseconds


def _far_file(root: Path) -> Path:
    root.mkdir()
    (root / "far.py").write_text("x = 1\n")
    (root / "near.py").write_text("y = 2\n")
    os.utime(root / "far.py", ns=(0, FAR))
    if os.stat(root / "far.py").st_mtime_ns != FAR:
        pytest.skip("this file system does not keep mtimes past 2262")
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_from_the_far_future_keeps_its_files_row_and_is_not_extracted_again(
    tmp_path: Path, workers: int
) -> None:
    src = _far_file(tmp_path / "src")
    store = tmp_path / "store"
    first = extract(make_plan([src], store=store, workers=workers))
    assert first.errors == 0
    rows = sql(open_store(store), "SELECT path, mtime_ns FROM files ORDER BY path").to_pylist()
    assert [(r["path"], r["mtime_ns"]) for r in rows] == [
        ("far.py", MTIME_MAX),
        ("near.py", os.stat(src / "near.py").st_mtime_ns),
    ]
    again = extract(make_plan([src], store=store, workers=workers))
    assert again.changed == 0 and again.touched == 0 and not again.published

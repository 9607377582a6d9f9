"""A sparse file of a terabyte in a tree (it costs the repository nothing on disk) is stopped by
--file-timeout, not hashed to its end (trust sweep 6).

Hashing a file over --max-file-size counts against the file's timeout, and the timer did stop it; but
the rows of a failed file then read the file again for its manifest row, with the timer cleared (one
worker) or in the supervisor (several): the run was held for as long as hashing a terabyte of zeros
takes. Checked against the old code: both runs passed the 120 s bound (a 200 GB file held one for
over five minutes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codequarry import open_store, sql
from tests.hostile.conftest import quarry


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_terabyte_sparse_file_is_one_timeout_row(tmp_path: Path, workers: str) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    with open(root / "big.bin", "wb") as fh:
        fh.truncate(1 << 40)
    assert os.stat(root / "big.bin").st_blocks < 64  # sparse: nothing on disk
    store = tmp_path / "store"
    for _ in range(2):  # the file has no manifest row, so the next run tries it again: the same rows
        quarry("extract", root, "--store", store, "-w", workers, "--file-timeout", "3", "-q", timeout=120)
        st = open_store(store)
        errors = sql(st, "SELECT path, kind FROM errors").to_pylist()
        assert errors == [{"path": "big.bin", "kind": "timeout"}]
        assert sql(st, "SELECT path FROM files").to_pylist() == [{"path": "a.py"}]
        assert sql(st, "SELECT qualname FROM functions").to_pylist() == [{"qualname": "a"}]

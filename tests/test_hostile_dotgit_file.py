"""A ``.git`` *file* whose ``gitdir:`` leads nowhere (a moved worktree, or a repository's trick) is
part of no listing: git never lists ``.git``, and the walk that replaces the listing prunes a ``.git``
folder, and skips a ``.git`` file too (it stored one as a corpus file: its content hashed, a 100 MB one
an errors row)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import open_store, sql
from tests.hostile.conftest import quarry


@pytest.mark.parametrize("pointer", ["gitdir: ../nowhere\n", "gitdir: /dev/zero\n", "not a pointer\n"])
def test_a_dangling_dotgit_file_is_not_a_corpus_file(tmp_path: Path, pointer: str) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / ".git").write_text(pointer)
    (root / "a.py").write_text("A = 1\n")
    quarry("extract", root, "--store", tmp_path / "store", "-w", "1", "-q")
    paths = sql(open_store(tmp_path / "store"), "SELECT path FROM files").column("path").to_pylist()
    assert paths == ["a.py"]

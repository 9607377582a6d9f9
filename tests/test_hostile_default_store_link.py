"""A default store (``SOURCE/.quarry``) that is a symbolic link is refused (trust sweep 10).

A repository can ship ``.quarry`` as a symlink: ``quarry extract repo`` followed it and made its store
in the folder it named, outside the source, where the user never said to write (any empty folder of
the machine), or added the repository's rows to another store of the user's that the link named.
Now the run stops before it writes anything: one line, exit 2, naming ``--store``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import open_store, sql
from tests.hostile.conftest import core_store, quarry


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("A = 1\n")
    return repo


def _refused(*args: object) -> str:
    done = quarry("extract", *args, "-w", "1", "-q", check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "symbolic link" in done.stderr and "--store" in done.stderr
    return done.stderr


@pytest.mark.parametrize("source", ["repo", "repo/a.py"])
def test_a_default_store_linked_out_of_the_source_is_not_written(tmp_path: Path, source: str) -> None:
    repo = _repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".quarry").symlink_to(elsewhere)
    _refused(tmp_path / source)
    assert list(elsewhere.iterdir()) == []


def test_a_default_store_linked_to_another_store_of_the_user_leaves_it_alone(tmp_path: Path) -> None:
    store = core_store(tmp_path)  # the user's own store, of the repo "src"
    before = open_store(store).snapshot().id
    repo = _repo(tmp_path)
    (repo / ".quarry").symlink_to(store)
    _refused(repo)
    assert open_store(store).snapshot().id == before
    assert sql(open_store(store), "SELECT DISTINCT repo FROM files").to_pylist() == [{"repo": "src"}]


def test_a_dangling_or_odd_link_is_one_printable_line_and_the_users_store_option_works(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    (repo / ".quarry").symlink_to(tmp_path / "nowhere\x1b[31m")
    assert "\x1b" not in _refused(repo)
    assert not (tmp_path / "nowhere\x1b[31m").exists()
    quarry("extract", repo, "--store", tmp_path / "own", "-w", "1", "-q")
    assert sql(open_store(tmp_path / "own"), "SELECT path FROM files").to_pylist() == [{"path": "a.py"}]

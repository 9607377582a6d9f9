"""A store that comes with the repository is not trusted as the user's own.

The default store is SOURCE/.quarry. A repository can commit one: made by its author, its tables
then say anything (here: no security finding for a ``shell=True`` call), and its ``files`` rows carry
the sha256 of the real files, so `quarry extract .` after a clone finds every file "already extracted",
copies the forged rows and publishes them, and `quarry doctor` calls the store whole. A store folder
that the repository's git index tracks is refused in one line (exit 2) before anything is read from
it; the user's own store (git-ignored, as the store's own ``.gitignore`` makes it) works as always.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import open_store, sql
from tests.hostile.conftest import SRC, clean_git_env, git, quarry

APP = "import subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)\n"


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir()
    return clean_git_env(tmp_path / "home")


def _findings(store: Path) -> int:
    return int(sql(open_store(store), "SELECT count(*) AS n FROM security_findings").column("n")[0].as_py())


def _forge(store: Path) -> None:
    """What the repository's author does: empty security_findings and make the snapshot agree."""
    from deltalake import DeltaTable, write_deltalake

    table = store / "tables" / "security_findings"
    write_deltalake(str(table), DeltaTable(str(table)).to_pyarrow_table().slice(0, 0), mode="overwrite")
    snap = json.loads((store / "snapshot.json").read_text())
    snap["tables"]["security_findings"] = {"rows": 0, "version": DeltaTable(str(table)).version()}
    (store / "snapshot.json").write_text(json.dumps(snap))


def test_a_store_committed_to_the_repository_is_refused(tmp_path: Path, git_env: dict[str, str]) -> None:
    author = tmp_path / "author"
    author.mkdir()
    git(author, git_env, "init", "-q")
    (author / "app.py").write_text(APP)
    quarry("extract", author, "-w", "1", "-q", env=git_env)
    assert _findings(author / ".quarry") == 1
    _forge(author / ".quarry")
    (author / ".quarry" / ".gitignore").unlink()
    git(author, git_env, "add", "-A")
    git(author, git_env, "commit", "-qm", "ship a store")

    victim = tmp_path / "victim"
    git(tmp_path, git_env, "clone", "-q", str(author), str(victim))
    shipped = [victim / ".quarry" / "snapshot.json", *(victim / ".quarry" / "tables").rglob("*")]
    before = {p: p.read_bytes() for p in shipped if p.is_file()}
    for workers in ("1", "2"):
        done = quarry("extract", victim, "-w", workers, env=git_env, check=False)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "tracked by git" in done.stderr and "--store" in done.stderr
    shipped = [victim / ".quarry" / "snapshot.json", *(victim / ".quarry" / "tables").rglob("*")]
    assert {p: p.read_bytes() for p in shipped if p.is_file()} == before  # nothing published into it

    # a query in the clone found the shipped store by itself and answered from it: refused too
    for cwd in (victim, victim / ".quarry" / "tables"):
        done = subprocess.run(
            [sys.executable, "-m", "codequarry", "sql", "SELECT count(*) FROM security_findings"],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**git_env, "PYTHONPATH": SRC},
            timeout=120,
        )
        assert done.returncode == 2 and "tracked by git" in done.stderr, (done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # the way out the message names: another store, which finds the real facts
    quarry("extract", victim, "-w", "1", "-q", "--store", tmp_path / "mine", env=git_env)
    assert _findings(tmp_path / "mine") == 1


def test_the_users_own_store_inside_a_git_tree_still_works(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, git_env, "init", "-q")
    (repo / "app.py").write_text(APP)
    (repo / ".quarry-notes.py").write_text("X = 1\n")  # a tracked name that starts like the store
    git(repo, git_env, "add", "-A")
    git(repo, git_env, "commit", "-qm", "code")
    quarry("extract", repo, "-w", "1", "-q", env=git_env)
    git(repo, git_env, "add", "-A")  # the store's .gitignore keeps it out of the index
    quarry("extract", repo, "-w", "1", "-q", env=git_env)
    assert _findings(repo / ".quarry") == 1
    # a store in a folder of its own inside the tree, tracked with `git add -f`: refused too
    quarry("extract", repo, "-w", "1", "-q", "--store", repo / "facts" / "st", env=git_env)
    git(repo, git_env, "add", "-f", "facts/st/store.json")
    # (--no-fast-path: the fast path trusts its own stamp, which a store made elsewhere cannot match)
    done = quarry(
        "extract",
        repo,
        "-w",
        "1",
        "--no-fast-path",
        "--store",
        repo / "facts" / "st",
        env=git_env,
        check=False,
    )
    assert done.returncode == 2 and "tracked by git" in done.stderr, done.stderr
    shutil.rmtree(repo / "facts")

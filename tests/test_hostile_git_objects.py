"""A scanned repository's refs and objects, read for its identity (``git:<root commit>``), cannot hold
the run, send reads out of the repository, or inflate without bound (trust sweep 6).

dulwich's ``DiskRefsContainer`` and ``DiskObjectStore`` opened them with a plain ``open``: a FIFO named
``refs/heads/main`` (or ``packed-refs``, a loose commit, a pack) held ``quarry extract`` forever before
it listed a file, and ``objects/info/alternates`` sent object reads to any folder the repository
named. Checked against the old code: every FIFO case timed out, the alternates case had an identity.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.repos import git_identity
from tests.hostile.conftest import git, quarry
from tests.hostile.conftest import git_env as git_env  # the fixture: git without the user's config


def _repo(path: Path, env: dict[str, str], *, packed: bool) -> str:
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    for i in range(3):
        (path / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
        git(path, env, "add", ".")
        git(path, env, "commit", "-q", "-m", f"c{i}")
    if packed:
        git(path, env, "gc", "-q")
    return git(path, env, "rev-list", "--max-parents=0", "HEAD").decode().strip()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _extract_sees_the_files(root: Path, store: Path) -> None:
    done = quarry("extract", root, "--store", store, "-w", "1", "-q", timeout=60)
    assert "Traceback" not in done.stderr
    got = sql(open_store(store), "SELECT repo, path FROM files ORDER BY path").to_pylist()
    assert got == [{"repo": root.name, "path": f"m{i}.py"} for i in range(3)]


def _head_object(root: Path, env: dict[str, str]) -> Path:
    sha = git(root, env, "rev-parse", "HEAD").decode().strip()
    return root / ".git" / "objects" / sha[:2] / sha[2:]


@pytest.mark.parametrize("where", ["loose_ref", "packed_refs", "loose_commit", "pack"])
def test_a_fifo_in_the_repository_does_not_hold_the_run(
    tmp_path: Path, git_env: dict[str, str], where: str
) -> None:
    root = tmp_path / "tree"
    _repo(root, git_env, packed=where in ("packed_refs", "pack"))
    dotgit = root / ".git"
    if where == "loose_ref":
        _fifo(dotgit / "refs" / "heads" / "main")
    elif where == "packed_refs":
        assert not (dotgit / "refs" / "heads" / "main").exists()
        _fifo(dotgit / "packed-refs")
    elif where == "loose_commit":
        _fifo(_head_object(root, git_env))
    else:
        (pack,) = (dotgit / "objects" / "pack").glob("*.pack")
        _fifo(pack)
    _extract_sees_the_files(root, tmp_path / "store")
    assert git_identity(str(root)) is None


def test_the_identity_of_loose_and_packed_histories_is_the_root_commit(
    tmp_path: Path, git_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the reader that replaced dulwich's finds what git finds, loose, packed or linked."""
    loose_root = _repo(tmp_path / "loose", git_env, packed=False)
    assert git_identity(str(tmp_path / "loose")) == f"git:{loose_root}"
    packed_root = _repo(tmp_path / "packed", git_env, packed=True)
    assert git_identity(str(tmp_path / "packed")) == f"git:{packed_root}"
    git(tmp_path / "packed", git_env, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "side")
    monkeypatch.setenv("QUARRY_GIT_DIRS", str(tmp_path / "packed"))  # its git directory, outside it
    assert git_identity(str(tmp_path / "linked")) == f"git:{packed_root}"
    for branch in ("fix#12/\u00fcmlaut", "a,b=c!"):  # names git allows, loose and then packed
        git(tmp_path / "loose", git_env, "checkout", "-q", "-b", branch)
        assert git_identity(str(tmp_path / "loose")) == f"git:{loose_root}"
        git(tmp_path / "loose", git_env, "pack-refs", "--all")
        assert git_identity(str(tmp_path / "loose")) == f"git:{loose_root}"


def test_alternates_are_not_followed(tmp_path: Path, git_env: dict[str, str]) -> None:
    """A clone whose objects live in another repository (``--shared``) reads nothing there: no identity."""
    _repo(tmp_path / "origin", git_env, packed=True)
    subprocess.run(
        ["git", "clone", "-q", "--shared", str(tmp_path / "origin"), str(tmp_path / "tree")],
        check=True,
        capture_output=True,
        env=git_env,
    )
    alternates = tmp_path / "tree" / ".git" / "objects" / "info" / "alternates"
    assert alternates.read_text().strip() == str(tmp_path / "origin" / ".git" / "objects")
    assert git_identity(str(tmp_path / "tree")) is None
    _extract_sees_the_files(tmp_path / "tree", tmp_path / "store")


def test_a_ref_out_of_refs_or_a_symlinked_ref_is_not_read(tmp_path: Path, git_env: dict[str, str]) -> None:
    root = tmp_path / "tree"
    _repo(root, git_env, packed=False)
    head = root / ".git" / "HEAD"
    outside = tmp_path / "outside"
    outside.write_text(git(root, git_env, "rev-parse", "HEAD").decode())
    head.write_text(f"ref: refs/../../../{outside.name}\n")
    assert git_identity(str(root)) is None
    head.write_text("ref: refs/heads/main\n")
    main = root / ".git" / "refs" / "heads" / "main"
    main.unlink()
    main.symlink_to(outside)
    assert git_identity(str(root)) is None


def test_a_deflate_bomb_commit_is_not_inflated(tmp_path: Path, git_env: dict[str, str]) -> None:
    """A loose 'commit' of 64 MB of zeros, 64 KB on disk: refused past the bound, not inflated whole."""
    root = tmp_path / "tree"
    _repo(root, git_env, packed=False)
    obj = _head_object(root, git_env)
    size = 64 << 20
    bomb = zlib.compressobj(9)
    data = bomb.compress(b"commit %d\0" % size)
    chunk = bytes(1 << 20)
    for _ in range(64):
        data += bomb.compress(chunk)
    data += bomb.flush()
    assert len(data) < size // 500
    obj.chmod(0o644)
    obj.write_bytes(data)
    assert git_identity(str(root)) is None
    shutil.rmtree(root / ".git" / "objects" / obj.parent.name)
    assert git_identity(str(root)) is None

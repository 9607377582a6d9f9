"""A git directory is read only inside the work tree that holds it (trust sweep 10).

A ``.git`` *file* (``gitdir: /elsewhere``), a ``.git`` symlink, or a ``commondir`` inside a real
``.git`` folder sent every read of the listing and of the identity to another folder of the machine:
a repository could name the user's own project there and borrow its identity (``git:<its root
commit>``: the store took the tree for that project, moved), its index (which names were "tracked")
and its ``info/exclude`` (which files were hidden). Such a git directory is now not read: the folder is
walked, and the run says why. A linked worktree or a submodule whose repository lives outside the
folder scanned is read when the user names that folder in ``QUARRY_GIT_DIRS``. Checked against the
old code: every hostile case was listed from the other repository, with its identity.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codequarry.git_listing import GitDirOutside, find_work_tree, list_work_tree
from codequarry.repos import git_identity
from tests.hostile.conftest import git, quarry
from tests.hostile.conftest import git_env as git_env  # the fixture: git without the user's config


def _victim(path: Path, env: dict[str, str]) -> str:
    """The user's own project: one commit, and an ``info/exclude`` that hides every ``.py`` file."""
    path.mkdir()
    git(path, env, "init", "-q", "-b", "main")
    (path / "secret.py").write_text("S = 1\n")
    git(path, env, "add", ".")
    git(path, env, "commit", "-qm", "victim")
    (path / ".git" / "info").mkdir(exist_ok=True)
    (path / ".git" / "info" / "exclude").write_text("*.py\n")
    return git(path, env, "rev-parse", "HEAD").decode().strip()


def _hostile(root: Path, victim: Path, how: str) -> None:
    root.mkdir()
    (root / "a.py").write_text("A = 1\n")
    if how == "gitdir_file":
        (root / ".git").write_text(f"gitdir: {victim / '.git'}\n")
    elif how == "relative_gitdir_file":
        (root / ".git").write_text(f"gitdir: {os.path.relpath(victim / '.git', root)}\n")
    elif how == "dotgit_symlink":
        (root / ".git").symlink_to(victim / ".git")
    else:  # a real .git folder whose commondir is the victim's
        dotgit = root / ".git"
        dotgit.mkdir()
        (dotgit / "HEAD").write_text("ref: refs/heads/main\n")
        (dotgit / "commondir").write_text(f"{victim / '.git'}\n")


def _extract(root: Path, store: Path, env: dict[str, str]) -> dict:
    done = quarry("extract", root, "--store", store, "--json", "-q", "-w", "1", env=env, timeout=300)
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("how", ["gitdir_file", "relative_gitdir_file", "dotgit_symlink", "commondir"])
def test_a_git_directory_outside_the_tree_is_not_read(
    tmp_path: Path, git_env: dict[str, str], how: str
) -> None:
    victim = tmp_path / "victim"
    _victim(victim, git_env)
    root = tmp_path / "tree"
    _hostile(root, victim, how)
    with pytest.raises(GitDirOutside):
        find_work_tree(str(root))
    assert git_identity(str(root)) is None  # not the victim's root commit
    summary = _extract(root, tmp_path / "store", git_env)
    assert summary["listing"] == {"tree": "gitignore"}
    assert any("outside the work tree" in n and "QUARRY_GIT_DIRS" in n for n in summary["notes"]), summary
    assert summary["files_scanned"] == 1  # a.py, which the victim's info/exclude would have hidden


def test_a_linked_worktree_outside_is_walked_unless_the_user_trusts_its_repository(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    main = tmp_path / "main"
    root_commit = _victim(main, git_env)
    (main / ".git" / "info" / "exclude").write_text("*.tmp\n")
    wt = tmp_path / "wt"
    git(main, git_env, "worktree", "add", "-q", str(wt), "-b", "side")
    (wt / "new.py").write_text("N = 1\n")
    (wt / "x.tmp").write_text("ignored by the main repository's info/exclude\n")
    (wt / ".gitignore").write_text("venv/\n")
    (wt / "venv").mkdir()
    (wt / "venv" / "site.py").write_text("V = 1\n")

    summary = _extract(wt, tmp_path / "s1", git_env)
    # nothing of the main repository is read (its info/exclude would hide x.tmp), but the worktree's
    # own .gitignore still keeps its virtualenv out, as git would
    assert summary["listing"] == {"wt": "gitignore"}
    assert any("outside the work tree" in n for n in summary["notes"])
    assert summary["files_scanned"] == 4  # .gitignore, secret.py, new.py, x.tmp; not venv/site.py
    assert git_identity(str(wt)) is None

    trusted = {**git_env, "QUARRY_GIT_DIRS": str(main)}
    summary = _extract(wt, tmp_path / "s2", trusted)
    assert summary["listing"] == {"wt": "git"}
    assert summary["files_scanned"] == 3  # .gitignore, secret.py (tracked), new.py; x.tmp is ignored
    os.environ["QUARRY_GIT_DIRS"] = str(main)
    try:
        assert git_identity(str(wt)) == f"git:{root_commit}"
    finally:
        del os.environ["QUARRY_GIT_DIRS"]


def test_a_submodule_inside_the_tree_and_a_subfolder_are_still_listed_by_git(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """The controls: a submodule's git directory (``.git/modules/...`` of the superproject) lies inside
    the work tree scanned, and a subfolder's work tree is found above it as git finds it."""
    lib = tmp_path / "lib"
    _victim(lib, git_env)
    (lib / ".git" / "info" / "exclude").unlink()
    main = tmp_path / "main"
    main.mkdir()
    git(main, git_env, "init", "-q")
    (main / "sub").mkdir()
    (main / "sub" / "a.py").write_text("A = 1\n")
    git(main, git_env, "add", ".")
    git(main, git_env, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(main, git_env, "commit", "-qm", "main")
    assert (main / "vendor" / "lib" / ".git").is_file()
    summary = _extract(main, tmp_path / "s1", git_env)
    assert summary["listing"] == {"main": "git"}
    assert summary["files_scanned"] == 3  # .gitmodules, sub/a.py, vendor/lib/secret.py
    assert not any("outside" in n for n in summary.get("notes", []))
    assert git_identity(str(main / "sub")) is not None
    # the submodule scanned alone: its git directory is the superproject's, outside it
    summary = _extract(main / "vendor" / "lib", tmp_path / "s2", git_env)
    assert summary["listing"] == {"lib": "gitignore"}
    assert any("outside the work tree" in n for n in summary["notes"])


def test_a_folder_is_a_nested_repository_only_when_git_would_say_so(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """Any ``.git`` entry in a folder made its untracked files vanish from the listing, with no note:
    a file of garbage in each folder hid a whole tree that git lists. Now only a real nested
    repository is left out (as git leaves it out); one whose ``.git`` names a git directory outside
    the tree is left out with a note."""
    root = tmp_path / "tree"
    root.mkdir()
    git(root, git_env, "init", "-q")
    for folder, dotgit in (("garbage", "not a pointer\n"), ("dangling", "gitdir: missing/.git\n")):
        (root / folder).mkdir()
        (root / folder / "a.py").write_text("A = 1\n")
        (root / folder / ".git").write_text(dotgit)
    (root / "empty_dotgit" / ".git").mkdir(parents=True)
    (root / "empty_dotgit" / "b.py").write_text("B = 1\n")
    nested = root / "nested"
    nested.mkdir()
    git(nested, git_env, "init", "-q")
    (nested / "c.py").write_text("C = 1\n")
    (root / "top.py").write_text("T = 1\n")
    shown = git(root, git_env, "ls-files", "-z", "--others", "--exclude-standard")
    # git names the nested repository itself ('nested/'), a folder: no file of quarry's
    expected = sorted(n for n in shown.decode().split("\0") if n and not n.endswith("/"))
    assert "garbage/a.py" in expected and not any(n.startswith("nested/") for n in expected)
    listing = list_work_tree(str(root))
    assert listing is not None and listing.names == expected and listing.notes == []

    (root / "outside").mkdir()
    (root / "outside" / "d.py").write_text("D = 1\n")
    (root / "outside" / ".git").write_text(f"gitdir: {tmp_path / 'victim' / '.git'}\n")
    listing = list_work_tree(str(root))
    assert listing is not None and listing.names == expected
    assert any(n.startswith("folder outside:") and "outside the work tree" in n for n in listing.notes)

"""A scanned git repository cannot make quarry run anything, and is still listed exactly as git lists it.

The fixture is a real repository whose config sets every option through which git runs a program
(fsmonitor, hooks, filters, external diff, pager, editor, ssh, credential helper, included files) to
a script that creates a marker file. quarry must list it as ``git ls-files`` (run by the test with a
clean config) does, and the marker must never appear; the test then proves the fixture is live by
running git on it once.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.git_listing import list_work_tree
from codequarry.scan import resolve_sources, scan

from .conftest import extract_json, git

VECTORS = """\
[core]
\tfsmonitor = {hook}
\thooksPath = {hooks}
\tuntrackedCache = true
\tpager = {hook}
\teditor = {hook}
\tsshCommand = {hook}
\taskPass = {hook}
\texcludesFile = {outside}
[diff]
\texternal = {hook}
[filter "evil"]
\tclean = {hook}
\tsmudge = {hook}
\tprocess = {hook}
\trequired = true
[pager]
\tls-files = {hook}
\tstatus = {hook}
[credential]
\thelper = !{hook}
[gpg]
\tprogram = {hook}
[include]
\tpath = {include}
[includeIf "gitdir:/"]
\tpath = {include}
"""


def _script(path: Path, marker: Path) -> None:
    path.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{marker}'\nexit 0\n")
    path.chmod(0o755)


def _hostile_repo(tmp: Path, env: dict[str, str]) -> tuple[Path, Path, set[str]]:
    """A repository with every code-running git option set; returns (repo, marker, git's listing)."""
    repo, evil = tmp / "repo", tmp / "evil"
    repo.mkdir()
    evil.mkdir()
    marker = tmp / "MARKER"
    git(repo, env, "init", "-q")
    files = {
        ".gitignore": "*.log\nbuild/\n!keep.log\ndocs/*\n!docs/index.py\n",
        ".gitattributes": "* filter=evil diff=evil\n",
        "app/main.py": "def main():\n    return 1\n",
        "app/util.py": "X = 1\n",
        "app/sub/.gitignore": "local_*.py\n",
        "app/sub/local_a.py": "A = 1\n",
        "app/sub/kept.py": "K = 1\n",
        "build/gen.py": "G = 1\n",
        "debug.log": "x\n",
        "keep.log": "kept\n",
        "docs/index.py": "I = 1\n",
        "docs/other.py": "O = 1\n",
        "café/ünï.py": "U = 1\n",
        "private.py": "P = 1\n",
    }
    for rel, text in files.items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("private.py\n")
    git(repo, env, "add", ".")
    git(repo, env, "add", "-f", "build/gen.py")  # tracked inside an ignored folder: listed
    git(repo, env, "commit", "-qm", "init")
    (repo / "app" / "util.py").unlink()  # tracked, deleted from the work tree: not listed
    (repo / "app" / "new.py").write_text("N = 1\n")  # untracked, not ignored: listed
    (repo / "build" / "untracked.py").write_text("B = 1\n")  # untracked in an ignored folder: not listed
    (repo / "scratch.py").write_text("S = 1\n")
    out = git(repo, env, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    expected = {os.fsdecode(n) for n in out.split(b"\0") if n and os.path.isfile(repo / os.fsdecode(n))}

    # now arm every vector
    hook = evil / "hook.sh"
    _script(hook, marker)
    hooks = evil / "hooks"
    hooks.mkdir()
    for name in (
        "pre-commit",
        "post-checkout",
        "post-index-change",
        "fsmonitor-watchman",
        "pre-auto-gc",
        "reference-transaction",
        "post-merge",
    ):
        _script(hooks / name, marker)
        _script(repo / ".git" / "hooks" / name, marker)
    include = evil / "evil.inc"
    include.write_text(f"[core]\n\tfsmonitor = {hook}\n")
    outside = evil / "outside-excludes"
    outside.write_text("*.py\n")  # honoured, it would hide every file: a repo's own excludesFile is not
    with open(repo / ".git" / "config", "a") as fh:
        fh.write(VECTORS.format(hook=hook, hooks=hooks, include=include, outside=outside))
    return repo, marker, expected


def test_hostile_git_config_runs_nothing_and_lists_like_git(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo, marker, expected = _hostile_repo(tmp_path, git_env)
    assert {
        "app/main.py",
        "app/new.py",
        "build/gen.py",
        "keep.log",
        "docs/index.py",
        "café/ünï.py",
    } <= expected
    assert not {"app/util.py", "build/untracked.py", "debug.log", "docs/other.py", "private.py"} & expected

    manifest = scan(resolve_sources([repo]))
    assert manifest.listing["repo"] == "git"
    assert {f.path for f in manifest.files} == expected
    store = tmp_path / "store"
    summary = extract_json(repo, "--store", store, "--workers", "2", env=git_env)
    assert summary["listing"] == {"repo": "git"}
    rows = sql(open_store(store), "SELECT path FROM files").column(0).to_pylist()
    assert set(rows) == expected
    assert not marker.exists(), marker.read_text()

    # the fixture is live: git itself, run on it, runs the scripts
    subprocess.run(["git", "-C", str(repo), "status"], capture_output=True, env=git_env, timeout=120)
    assert marker.exists()


def test_no_subprocess_is_started_by_the_scan(tmp_path: Path, git_env: dict[str, str]) -> None:
    """Even with no git on PATH the listing is git's: quarry never runs git."""
    repo, _marker, expected = _hostile_repo(tmp_path, git_env)
    saved = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path / "empty")
    try:
        listing = list_work_tree(str(repo))
    finally:
        os.environ["PATH"] = saved
    assert listing is not None
    assert {n for n in listing.names if (repo / n).is_file()} == expected


def test_linked_worktree_and_submodule(
    tmp_path: Path, git_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A linked worktree (a '.git' file) is listed from its own index, once the user trusts its main
    repository (outside it); a submodule's files are listed from the submodule's index, below its folder."""
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, git_env, "init", "-q")
    (lib / "core.py").write_text("C = 1\n")
    git(lib, git_env, "add", ".")
    git(lib, git_env, "commit", "-qm", "lib")
    main = tmp_path / "main"
    main.mkdir()
    git(main, git_env, "init", "-q")
    (main / "a.py").write_text("A = 1\n")
    git(main, git_env, "add", ".")
    git(main, git_env, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(main, git_env, "commit", "-qm", "main")
    git(main, git_env, "branch", "other")
    wt = tmp_path / "wt"
    git(main, git_env, "worktree", "add", "-q", str(wt), "other")
    (wt / "only_in_wt.py").write_text("W = 1\n")

    got = {f.path for f in scan(resolve_sources([main])).files}
    assert got == {".gitmodules", "a.py", "vendor/lib/core.py"}
    assert scan(resolve_sources([wt])).listing["wt"] == "gitignore"  # its git directory is main's
    monkeypatch.setenv("QUARRY_GIT_DIRS", str(main))
    in_wt = scan(resolve_sources([wt]))
    assert in_wt.listing["wt"] == "git"
    assert {f.path for f in in_wt.files} == {
        ".gitmodules",
        "a.py",
        "only_in_wt.py",
    }  # submodule not checked out


def test_damaged_index_is_walked_with_a_note(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, git_env, "init", "-q")
    (repo / "a.py").write_text("A = 1\n")
    (repo / "b.py").write_text("B = 1\n")
    git(repo, git_env, "add", ".")
    index = repo / ".git" / "index"
    data = bytearray(index.read_bytes())
    data[40] ^= 0xFF  # one flipped byte: the checksum no longer matches
    index.write_bytes(bytes(data))
    summary = extract_json(repo, "--store", tmp_path / "store", env=git_env)
    assert summary["listing"] == {"repo": "walk"}
    assert any("git index not read" in n and "checksum" in n for n in summary["notes"])
    assert summary["files_scanned"] == 2


def test_fifo_gitignore_and_index_do_not_hang(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    git(repo, git_env, "init", "-q")
    (repo / "a.py").write_text("A = 1\n")
    (repo / "sub" / "b.py").write_text("B = 1\n")
    os.mkfifo(repo / "sub" / ".gitignore")
    exclude = repo / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.unlink(missing_ok=True)
    os.mkfifo(exclude)
    listing = list_work_tree(str(repo))
    assert listing is not None
    assert {"a.py", "sub/b.py"} <= set(listing.names)
    index = repo / ".git" / "index"
    os.mkfifo(index)
    assert stat.S_ISFIFO(os.lstat(index).st_mode)
    manifest = scan(resolve_sources([repo]))
    assert manifest.listing["repo"] == "walk"
    assert any("not a readable regular file" in n for n in manifest.notes)


def test_a_merge_conflict_in_the_index_is_listed_once(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, git_env, "init", "-q", "-b", "main")
    (repo / "c.py").write_text("C = 0\n")
    git(repo, git_env, "add", ".")
    git(repo, git_env, "commit", "-qm", "base")
    git(repo, git_env, "checkout", "-q", "-b", "side")
    (repo / "c.py").write_text("C = 1\n")
    git(repo, git_env, "commit", "-qam", "side")
    git(repo, git_env, "checkout", "-q", "main")
    (repo / "c.py").write_text("C = 2\n")
    git(repo, git_env, "commit", "-qam", "main")
    subprocess.run(["git", "-C", str(repo), "merge", "-q", "side"], capture_output=True, env=git_env)
    out = git(repo, git_env, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    listing = list_work_tree(str(repo))
    assert listing is not None
    assert listing.names == sorted({os.fsdecode(n) for n in out.split(b"\0") if n}) == ["c.py"]


def test_a_crafted_index_cannot_name_files_outside_the_work_tree(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """Index entries with '..' or through a folder symlinked out of the tree are not listed."""
    from dulwich.index import read_index_dict, write_index_dict

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("SECRET = 1\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, git_env, "init", "-q")
    (repo / "a.py").write_text("A = 1\n")
    git(repo, git_env, "add", ".")
    index = repo / ".git" / "index"
    with open(index, "rb") as fh:
        entries = read_index_dict(fh)
    entry = entries[b"a.py"]
    entries[b"../outside/secret.py"] = entry
    entries[b"link/secret.py"] = entry
    (repo / "link").symlink_to(outside)
    body = io.BytesIO()
    write_index_dict(body, entries)
    index.write_bytes(body.getvalue() + hashlib.sha1(body.getvalue()).digest())  # git's trailer
    manifest = scan(resolve_sources([repo]))
    assert manifest.listing["repo"] == "git"
    assert {f.path for f in manifest.files} == {"a.py"}
    assert ("link/secret.py", "symlink_outside_root") in {(p, r) for _, p, r in manifest.skipped}


def test_quarry_never_starts_git() -> None:
    """No module of codequarry runs git (or looks for it): the listing is read, never asked of git."""
    src = Path(__file__).resolve().parents[2] / "src" / "codequarry"
    needles = ('which("git")', "which('git')", '["git"', "['git'", '"git", "-C"')
    hits = [f"{p.relative_to(src)}: {n}" for p in src.rglob("*.py") for n in needles if n in p.read_text()]
    assert hits == []


def test_git_ceiling_directories_stop_the_search_upwards(
    tmp_path: Path, git_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, git_env, "init", "-q")
    (tmp_path / ".gitignore").write_text("vendor/\n")
    (tmp_path / "vendor" / "lib").mkdir(parents=True)
    (tmp_path / "vendor" / "lib" / "x.py").write_text("X = 1\n")
    assert scan(resolve_sources([tmp_path / "vendor" / "lib"])).listing["lib"] == "walk"  # ignored: walked
    (tmp_path / ".gitignore").write_text("")
    assert scan(resolve_sources([tmp_path / "vendor" / "lib"])).listing["lib"] == "git"
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path / "vendor"))
    assert scan(resolve_sources([tmp_path / "vendor" / "lib"])).listing["lib"] == "walk"

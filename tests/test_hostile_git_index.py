"""Huge git metadata (a sparse file costs the repository nothing) is not read whole or parsed slowly.

Found: ``truncate -s 1G .git/index`` made ``quarry extract`` read the whole gigabyte and hash it:
2.2 GB peak RSS and 12 s for a one-file repository; 20 GB would have been an out-of-memory kill of
the run. An index over ``MAX_INDEX_BYTES`` is now damaged like one that fails its checksum: the
folder is walked, and the run's notes say why.
"""

from __future__ import annotations

import os
from pathlib import Path

from codequarry.git_listing import MAX_IGNORE_BYTES, MAX_INDEX_BYTES
from tests.hostile.conftest import extract_json, git
from tests.hostile.conftest import git_env as git_env  # the fixture: git without the user's config


def test_an_index_over_the_bound_is_not_read_and_the_folder_is_walked(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, git_env, "init", "-q")
    (repo / "a.py").write_text("A = 1\n")
    git(repo, git_env, "add", ".")
    os.truncate(repo / ".git" / "index", MAX_INDEX_BYTES + 1)  # sparse: no disk, no time
    summary = extract_json(repo, "--store", tmp_path / "store", env=git_env)
    assert summary["listing"] == {"repo": "walk"}
    assert any("git index not read" in n and "MiB" in n for n in summary["notes"]), summary["notes"]
    assert summary["files_scanned"] == 1


def test_a_long_ignore_line_or_a_huge_ignore_file_does_not_hold_the_scan(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """A 2 MB line in a .gitignore held the scan for minutes (dulwich translates a line in quadratic
    time, in the parent, where no file timeout applies): a line over MAX_PATTERN_BYTES is dropped,
    the others still apply. An ignore file over 100 MiB is skipped, as git 2.42+ skips it."""
    repo = tmp_path / "repo"
    (repo / "big").mkdir(parents=True)
    git(repo, git_env, "init", "-q")
    for name in ("a.py", "c.py", "big/d.py"):
        (repo / name).write_text("X = 1\n")
    (repo / ".gitignore").write_bytes(b"c.py\n" + b"\0" * (2 << 20) + b"\n")
    (repo / "big" / ".gitignore").write_bytes(b"d.py\n")
    os.truncate(repo / "big" / ".gitignore", MAX_IGNORE_BYTES + 1)
    summary = extract_json(repo, "--store", tmp_path / "store", env=git_env, timeout=120)
    assert summary["listing"] == {"repo": "git"}
    assert summary["files_scanned"] == 4  # a.py, big/d.py and the two .gitignore files; c.py ignored

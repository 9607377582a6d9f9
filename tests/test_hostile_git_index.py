"""A huge git index (a sparse file costs the repository nothing) is not read into memory.

Found: ``truncate -s 1G .git/index`` made ``quarry extract`` read the whole gigabyte and hash it:
2.2 GB peak RSS and 12 s for a one-file repository; 20 GB would have been an out-of-memory kill of
the run. An index over ``MAX_INDEX_BYTES`` is now damaged like one that fails its checksum: the
folder is walked, and the run's notes say why.
"""

from __future__ import annotations

import os
from pathlib import Path

from codequarry.git_listing import MAX_INDEX_BYTES
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

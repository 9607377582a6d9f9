"""Huge git metadata (a sparse file costs the repository nothing) is not read whole or parsed slowly.

Found: ``truncate -s 1G .git/index`` made ``quarry extract`` read the whole gigabyte and hash it:
2.2 GB peak RSS and 12 s for a one-file repository; 20 GB would have been an out-of-memory kill of
the run. An index over ``MAX_INDEX_BYTES`` is now damaged like one that fails its checksum: the
folder is walked, and the run's notes say why.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from codequarry.git_listing import MAX_IGNORE_BYTES, MAX_INDEX_BYTES, DamagedIndex, read_index
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


def _v4_index(names: list[bytes]) -> bytes:
    """An index version 4 naming ``names`` (in order), each stored as its prefix shared with the
    previous one stripped, as git writes it."""

    def varint(n: int) -> bytes:  # git's offset encoding
        out = [n & 0x7F]
        n >>= 7
        while n:
            n -= 1
            out.insert(0, 0x80 | (n & 0x7F))
            n >>= 7
        return bytes(out)

    body = bytearray(b"DIRC" + struct.pack(">II", 4, len(names)))
    prev = b""
    for name in names:
        shared = len(os.path.commonprefix([prev, name]))
        body += struct.pack(">10I", 0, 0, 0, 0, 0, 0, 0o100644, 0, 0, 0) + bytes(20)
        body += struct.pack(">H", min(len(name), 0xFFF)) + varint(len(prev) - shared) + name[shared:] + b"\0"
        prev = name
    return bytes(body + hashlib.sha1(body).digest())  # noqa: S324 - git's own checksum


def test_an_index_v4_whose_names_expand_without_bound_is_not_parsed(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """Each 65-byte entry of an index v4 can name a 4,000-byte path: 100,000 of them (6.5 MB) took
    856 MB and 11.6 s of CPU in the parent to parse; near the size limit, all the machine's memory.
    Their lengths are added up before anything is parsed: the folder is walked, with a note."""
    repo = tmp_path / "repo"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "a.py").write_text("A = 1\n")
    stem = b"d/" + b"x" * 3_990
    (repo / ".git" / "index").write_bytes(_v4_index([stem + b"%06d" % i for i in range(20_000)]))
    with pytest.raises(DamagedIndex, match="version 4"):
        read_index(str(repo / ".git"))
    summary = extract_json(repo, "--store", tmp_path / "store", env=git_env)
    assert summary["listing"] == {"repo": "walk"}
    assert any("git index not read" in n and "version 4" in n for n in summary["notes"]), summary["notes"]
    assert summary["files_scanned"] == 1


def test_a_real_index_v4_is_read_as_git_lists_it(tmp_path: Path, git_env: dict[str, str]) -> None:
    """The control: git's own version 4 index, with an intent-to-add entry (extended flags)."""
    repo = tmp_path / "repo"
    (repo / "pkg" / "sub").mkdir(parents=True)
    git(repo, git_env, "init", "-q")
    git(repo, git_env, "config", "index.version", "4")
    for i in range(300):
        (repo / "pkg" / "sub" / f"file_{i}.py").write_text("")
    (repo / "pkg" / "later.py").write_text("")
    git(repo, git_env, "add", "pkg/sub")
    git(repo, git_env, "add", "-N", "pkg/later.py")
    assert (repo / ".git" / "index").read_bytes()[4:8] == b"\0\0\0\x04"
    tracked, _modules = read_index(str(repo / ".git"))
    shown = git(repo, git_env, "ls-files", "-z").decode().split("\0")
    assert sorted(tracked) == sorted(n for n in shown if n)
    small = [b"a" * 10 + b"%03d" % i for i in range(200)]  # the same writer, short names: accepted
    (repo / ".git" / "index").write_bytes(_v4_index(small))
    assert len(read_index(str(repo / ".git"))[0]) == 200

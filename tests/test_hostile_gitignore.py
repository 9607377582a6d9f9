"""A hostile ``.gitignore``: a pattern with many stars (``a*a*a*...*b``) made the scan backtrack
exponentially on a long name (one line of ignore file hung ``quarry extract`` for good, in the parent,
where no file timeout applies). Patterns are now matched without exponential backtracking, with the
same answers as dulwich's own expressions."""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
from pathlib import Path

import pytest
from dulwich.ignore import translate

from codequarry.git_listing import _linear
from tests.hostile.conftest import clean_git_env, committed_repo, quarry


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir()
    return clean_git_env(tmp_path / "home")


HOSTILE = "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n"


def test_linear_patterns_answer_like_dulwichs() -> None:
    rng = random.Random(7)
    alphabet = [b"a", b"b", b"*", b"*", b"?", b"[ab]", b"[!a]", b"/", b".", b"**", b"ab"]
    names = [bytes(x) for n in range(7) for x in itertools.product(b"ab/.", repeat=n)]
    checked = 0
    while checked < 200:
        pattern = b"".join(rng.choice(alphabet) for _ in range(rng.randint(3, 10)))
        regex = translate(pattern)
        if regex.count(b"[^/]*") <= 2:
            continue
        checked += 1
        slow, fast = re.compile(regex, re.S | re.M), re.compile(_linear(regex), re.S | re.M)
        assert [bool(slow.match(n)) for n in names] == [bool(fast.match(n)) for n in names], pattern


def test_a_many_star_pattern_does_not_hang_the_scan(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = committed_repo(tmp_path / "repo", git_env)
    (repo / ".gitignore").write_text(HOSTILE + "*.log\n")  # untracked: git add -A would hang in git
    (repo / ("a" * 60 + ".py")).write_text("def many_a():\n    return 1\n")  # untracked, not ignored
    (repo / ("a" * 60 + "b")).write_text("ignored\n")
    (repo / "x.log").write_text("ignored\n")
    store = tmp_path / "store"
    try:
        done = quarry("extract", repo, "--store", store, "--json", "-q", "-w", "1", env=git_env, timeout=120)
    except subprocess.TimeoutExpired as exc:  # a hang guard, not a timing: it takes about a second
        raise AssertionError("the scan backtracked on a hostile .gitignore") from exc
    assert json.loads(done.stdout)["listing"] == {"repo": "git"}
    names = quarry("sql", "SELECT path FROM files ORDER BY path", "--store", store, "-f", "json", env=git_env)
    assert [r["path"] for r in json.loads(names.stdout)] == [".gitignore", "a" * 60 + ".py", "good.py"]

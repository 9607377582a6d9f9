"""A long ``.gitignore``: every pattern was tried on every entry of the scan, in the parent where no
file timeout applies (100,000 patterns and 2,000 untracked files took a minute of CPU). Patterns
without wildcards are now looked up by name, with the answers dulwich gives trying them all; a
file with more than MAX_TRIED_PATTERNS patterns that must be tried is not applied, with a note."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
from dulwich.ignore import IgnoreFilter, IgnoreFilterManager, read_ignore_patterns

from codequarry.git_listing import MAX_TRIED_PATTERNS, ignore_rules
from tests.hostile.conftest import clean_git_env, committed_repo, git, quarry


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir()
    return clean_git_env(tmp_path / "home")


SEGMENTS = ["a", "b", "a.py", "b.py", "build", "x y", "#c", "!d"]


def random_pattern(rng: random.Random) -> str:
    """A line of an ignore file: mostly plain names and paths (what the lookup answers), some with
    wildcards, negations, anchors, trailing slashes and escapes (what it must leave to the expressions)."""
    depth = rng.choice([1, 1, 1, 2, 3])
    parts = [rng.choice(SEGMENTS + ["*", "*.py", "a?", "[ab]", "**"]) for _ in range(depth)]
    text = "/".join(parts)
    if rng.random() < 0.25:
        text = "/" + text
    if rng.random() < 0.25:
        text += "/"
    if text.startswith(("#", "!")):
        text = "\\" + text
    return ("!" if rng.random() < 0.3 else "") + text


def test_narrowed_rules_answer_as_dulwichs_own(tmp_path: Path) -> None:
    """The oracle: dulwich's manager trying every pattern, on the same tree and the same files."""
    rng = random.Random(11)
    paths = ["/".join(p) for n in (1, 2, 3) for p in itertools.product(SEGMENTS[:6], repeat=n)]
    for round_ in range(30):
        top = tmp_path / f"t{round_}"
        gitdir = top / ".git"
        (gitdir / "info").mkdir(parents=True)
        for folder in ("", "a", "b", "a/b"):
            lines = [random_pattern(rng) for _ in range(rng.randint(0, 40))]
            (top / folder).mkdir(parents=True, exist_ok=True)
            (top / folder / ".gitignore").write_text("\n".join(lines) + "\n")
        exclude = "\n".join(random_pattern(rng) for _ in range(10)) + "\n"
        (gitdir / "info" / "exclude").write_text(exclude)
        ours = ignore_rules(str(top), str(gitdir))
        theirs = IgnoreFilterManager(
            str(top), [IgnoreFilter(read_ignore_patterns(iter(exclude.encode().splitlines())))], False
        )
        for path in paths:
            for asked in (path, path + "/"):
                assert ours.is_ignored(asked) == theirs.is_ignored(asked), (round_, asked)
            assert ours.may_prune_directory(path + "/") == theirs.may_prune_directory(path + "/"), (
                round_,
                path,
            )


def make_repo(tmp_path: Path, env: dict[str, str], ignore: str, untracked: int) -> Path:
    repo = committed_repo(tmp_path / "repo", env)
    (repo / ".gitignore").write_text(ignore)
    (repo / "gen").mkdir()
    for i in range(untracked):
        (repo / "gen" / f"m{i}.py").write_text(f"X = {i}\n")
    return repo


def test_a_long_list_of_paths_is_applied_and_listed_as_git_lists_it(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    # 100,000 plain names and paths, half of them naming the untracked files (every other one)
    names = [
        f"gen/m{i}.py" if i % 4 == 0 else f"m{i}.py" if i % 4 == 2 else f"other{i}.txt"
        for i in range(100_000)
    ]
    repo = make_repo(tmp_path, git_env, "\n".join(names) + "\n*.log\n", 2_000)
    (repo / "x.log").write_text("ignored\n")
    store = tmp_path / "store"
    done = quarry("extract", repo, "--store", store, "--json", "-q", "-w", "1", env=git_env, timeout=600)
    assert json.loads(done.stdout)["listing"] == {"repo": "git"}
    listed = quarry(
        "sql", "SELECT path FROM files ORDER BY path", "--store", store, "-f", "json", env=git_env
    )
    got = sorted(r["path"] for r in json.loads(listed.stdout))
    # git itself, on a tree the test made (its config is the test's): tracked + untracked not ignored
    shown = git(repo, git_env, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    assert got == sorted(n for n in shown.decode().split("\0") if n)
    assert "gen/m0.py" not in got and "gen/m1.py" in got and "gen/m2.py" not in got and "x.log" not in got


def test_too_many_wildcard_patterns_are_not_applied_and_the_run_says_so(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    lines = [f"*{i}.tmp" for i in range(MAX_TRIED_PATTERNS + 1)] + ["gen/"]
    repo = make_repo(tmp_path, git_env, "\n".join(lines) + "\n", 3)
    store = tmp_path / "store"
    done = quarry("extract", repo, "--store", store, "--json", "-q", "-w", "1", env=git_env, timeout=600)
    summary = json.loads(done.stdout)
    assert any(".gitignore" in n and "not applied" in n for n in summary["notes"]), summary["notes"]
    listed = quarry(
        "sql", "SELECT path FROM files ORDER BY path", "--store", store, "-f", "json", env=git_env
    )
    # the file is not applied whole (its gen/ too), as git skips an ignore file over 100 MB whole
    assert [r["path"] for r in json.loads(listed.stdout)] == [
        ".gitignore",
        "gen/m0.py",
        "gen/m1.py",
        "gen/m2.py",
        "good.py",
    ]

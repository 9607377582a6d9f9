"""A long ``.gitignore``: every pattern was tried on every entry of the scan, in the parent where no
file timeout applies (100,000 patterns and 2,000 untracked files took a minute of CPU). Patterns
without wildcards are now looked up by name, with the answers dulwich gives trying them all; a
file with more than MAX_TRIED_PATTERNS patterns that must be tried is not applied, with a note."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import pytest
from dulwich.ignore import IgnoreFilter, IgnoreFilterManager, read_ignore_patterns

from codequarry.git_listing import (
    MAX_NOTES,
    MAX_TRIED_PATTERNS,
    MAX_WILDCARDS,
    TooManyTries,
    ignore_rules,
    list_work_tree,
)
from codequarry.scan import resolve_sources, scan
from tests.hostile.conftest import clean_git_env, committed_repo, git, quarry


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir()
    return clean_git_env(tmp_path / "home")


SEGMENTS = ["a", "b", "a.py", "b.py", "build", "x y", "#c", "!d"]
#: wildcard segments, with a literal start or end (filed by affix) or none (tried on every entry)
WILD = ["*", "*.py", "a?", "[ab]", "**", "a*", "b*", "*a", "*y", "?.py", "bu*d", "[ab].py", "\\a*", "*.p[y]"]


def random_pattern(rng: random.Random, wild: bool = True) -> str:
    """A line of an ignore file: mostly plain names and paths (what the lookup answers), some with
    wildcards, negations, anchors, trailing slashes and escapes (what it must leave to the expressions)."""
    depth = rng.choice([1, 1, 1, 2, 3])
    parts = [rng.choice(SEGMENTS + WILD if wild else SEGMENTS) for _ in range(depth)]
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
    for round_ in range(40):
        top = tmp_path / f"t{round_}"
        gitdir = top / ".git"
        (gitdir / "info").mkdir(parents=True)
        for folder in ("", "a", "b", "a/b"):
            # one round in four: plain names and paths only (a wildcard pattern often decides last)
            lines = [random_pattern(rng, round_ % 4 != 0) for _ in range(rng.randint(0, 40))]
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


def _dulwichs_listing(top: Path, rules: IgnoreFilterManager) -> list[str]:
    """The oracle of a listing without an index: every folder asked ``may_prune_directory``, every
    file ``is_ignored``, each with every folder above it, as the listing asked before."""
    out: list[str] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        for entry in os.scandir(top / rel_dir if rel_dir else top):
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.name == ".git":
                continue
            if entry.is_dir(follow_symlinks=False):
                if not rules.may_prune_directory(rel + "/"):
                    stack.append(rel)
            elif not rules.is_ignored(rel):
                out.append(rel)
    return sorted(out)


def test_the_listing_asks_each_entry_once_with_the_answers_of_asking_every_folder_above_it(
    tmp_path: Path,
) -> None:
    """A file's folders are known not excluded when the walk reaches it (it would have pruned them):
    the listing asks only about the entry itself, with the answers dulwich's manager gives asking
    about each folder above it too, on random trees and rules (links to folders included)."""
    rng = random.Random(5)
    for round_ in range(25):
        top = tmp_path / f"t{round_}"
        (top / ".git" / "objects").mkdir(parents=True)
        (top / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        folders = [""] + [
            "/".join(p) for n in (1, 2, 3) for p in itertools.product(["a", "b", "build"], repeat=n)
        ]
        chosen = rng.sample(folders, 12)
        for folder in chosen:
            (top / folder).mkdir(parents=True, exist_ok=True)
        for folder in chosen:
            for name in rng.sample(SEGMENTS, 3):
                if not (top / folder / name).exists():
                    (top / folder / name).write_text("")
            if rng.random() < 0.5:
                lines = [random_pattern(rng) for _ in range(rng.randint(1, 12))]
                (top / folder / ".gitignore").write_text("\n".join(lines) + "\n")
        for folder in chosen[:4]:  # links to folders: a folder-only pattern names ln1
            link = top / folder / rng.choice(["ln1", "ln2"])
            if not link.is_symlink():
                link.symlink_to(top / rng.choice(chosen), target_is_directory=True)
        with (top / ".gitignore").open("a") as fh:
            fh.write("ln1/\n")
        listing = list_work_tree(str(top))
        assert listing is not None
        oracle = IgnoreFilterManager(str(top), [], False)
        assert sorted(listing.names) == _dulwichs_listing(top, oracle), round_


def test_patterns_no_name_narrows_cost_a_bounded_number_of_tries(tmp_path: Path) -> None:
    """2,000 wildcard patterns with no literal start or end (under MAX_TRIED_PATTERNS, so applied)
    were each tried on each of 20,000 files: 8 s of CPU in the parent. The listing now gives up after
    MAX_TRIES + MAX_TRIES_PER_ENTRY a file met, and the folder is walked, with a note."""
    repo = tmp_path / "repo"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".gitignore").write_text("".join(f"*{i}x*\n" for i in range(MAX_TRIED_PATTERNS)))
    (repo / "gen").mkdir()
    for i in range(20_000):
        (repo / "gen" / f"m{i}.py").touch()
    with pytest.raises(TooManyTries, match="pattern tries"):
        list_work_tree(str(repo))
    manifest = scan(resolve_sources([repo]))
    assert manifest.listing["repo"] == "walk"
    assert any("pattern tries" in n and "walked instead" in n for n in manifest.notes), manifest.notes
    assert len(manifest.files) == 20_001


def test_patterns_filed_by_their_suffix_are_tried_only_on_names_that_end_so(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """2,000 ``*N.tmp`` patterns and files six folders deep: each file was asked about with each
    folder above it, every pattern each time (85 s of CPU for 20,000 files). Now a name is tried
    only against the patterns its suffixes file, and once: the listing is git's."""
    repo = make_repo(tmp_path, git_env, "".join(f"*{i}.tmp\n" for i in range(MAX_TRIED_PATTERNS)), 0)
    for i in range(2_000):
        folder = repo.joinpath(*(f"d{(i >> (2 * k)) % 4}" for k in range(6)))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{i}.py").touch()
        (folder / f"m{i}.tmp").touch()
    listing = list_work_tree(str(repo))
    assert listing is not None
    assert listing.tries < 10_000  # was 2,000 x 7 per file
    shown = git(repo, git_env, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    assert listing.names == sorted(n for n in shown.decode().split("\0") if n)
    assert sum(n.endswith(".tmp") for n in listing.names) == 0


def test_wildcard_patterns_compiled_by_one_listing_are_bounded(tmp_path: Path) -> None:
    """Each ignore file under MAX_TRIED_PATTERNS was applied, each pattern compiled (65 us): 1,000
    folders of 2,000 wildcard patterns each held the parent for 130 s before a file was listed. The
    listing now compiles at most MAX_WILDCARDS; an ignore file past that is not applied, with a note.
    Plain names and paths are compiled only when an entry of that name is asked about."""
    repo = tmp_path / "repo"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    per_file = MAX_TRIED_PATTERNS
    folders = MAX_WILDCARDS // per_file + 2
    for k in range(folders):
        (repo / f"f{k:02}").mkdir()
        (repo / f"f{k:02}" / ".gitignore").write_text("".join(f"*{i}.tmp\n" for i in range(per_file)))
        (repo / f"f{k:02}" / "m1.tmp").touch()
    (repo / ".gitignore").write_text("".join(f"gen/m{i}.py\n" for i in range(100_000)))
    listing = list_work_tree(str(repo))
    assert listing is not None
    skipped = [n for n in listing.notes if "in all" in n and "not applied" in n]
    assert len(skipped) == 2, listing.notes
    # the other folders' rules apply (m1.tmp ignored); the two are listed as if without one
    unapplied = sorted(n.split("/")[0] for n in skipped)
    assert sorted(n.split("/")[0] for n in listing.names if n.endswith(".tmp")) == unapplied


def test_ignore_files_not_applied_are_named_up_to_a_bound_then_counted(tmp_path: Path) -> None:
    """A note per ignore file not applied: a repository of 100 such files made 100 lines of summary
    (and of every run record); past MAX_NOTES they are counted in one."""
    repo = tmp_path / "repo"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    body = "".join(f"*{i}x*\n" for i in range(MAX_TRIED_PATTERNS + 1))
    for k in range(MAX_NOTES + 30):
        (repo / f"f{k}").mkdir()
        (repo / f"f{k}" / ".gitignore").write_text(body)
    listing = list_work_tree(str(repo))
    assert listing is not None and len(listing.notes) == MAX_NOTES + 1
    assert listing.notes[-1] == "and 30 more notes of the listing like these"

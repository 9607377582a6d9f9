"""Listing a git work tree without running git, against `git ls-files` on the same tree.

    python bench/git_listing.py [--repeat 5] [--out FILE]

Builds a git repository from a copy of the standard library (about half of it committed, a
`.gitignore` with a few patterns, the rest untracked), then times codequarry.git_listing.list_work_tree
and `git ls-files -z --cached --others --exclude-standard` (the baseline, run with no system or user
git config) on it. Prints JSON: medians in seconds, the ratio quarry/git, and whether both listed
the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

from codequarry.git_listing import list_work_tree

IGNORE = shutil.ignore_patterns("site-packages", "__pycache__", "*.a", "*.so", "*.o")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="b",
        GIT_AUTHOR_EMAIL="b@b",
        GIT_COMMITTER_NAME="b",
        GIT_COMMITTER_EMAIL="b@b",
    )
    return env


def build(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp / "repo"
    shutil.copytree(sysconfig.get_paths()["stdlib"], repo, ignore=IGNORE, symlinks=True)
    env = _env(tmp)
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True, env=env)
    (repo / ".gitignore").write_text("*.txt\ntest/data/\n!keep.txt\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    tracked = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True, env=env
    )
    half = [n for i, n in enumerate(tracked.stdout.split(b"\0")) if n and i % 2]
    subprocess.run(
        ["git", "-C", str(repo), "rm", "-q", "--cached", "--pathspec-from-file=-", "--pathspec-file-nul"],
        input=b"\0".join(half),
        check=True,
        env=env,
    )
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "half"], check=True, env=env)
    return repo, env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, env = build(Path(tmp))
        git_t, quarry_t = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = subprocess.run(
                ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                capture_output=True,
                check=True,
                env=env,
            ).stdout
            git_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            listing = list_work_tree(str(repo))
            quarry_t.append(time.perf_counter() - start)
        assert listing is not None
        by_git = {os.fsdecode(n) for n in out.split(b"\0") if n}
        result = {
            "files": len(by_git),
            "git_ls_files_s": round(statistics.median(git_t), 4),
            "quarry_s": round(statistics.median(quarry_t), 4),
            "ratio_quarry_over_git": round(statistics.median(quarry_t) / statistics.median(git_t), 2),
            "same_listing": set(listing.names) == by_git,
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

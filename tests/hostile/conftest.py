"""Helpers of the hostile-input suite: real git repositories, real quarry processes, a clean git env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")


def clean_git_env(home: Path) -> dict[str, str]:
    """An environment in which git reads no system or user config: only what a test writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    return env


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return clean_git_env(home)


def git(root: Path, env: dict[str, str], *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env).stdout


def committed_repo(repo: Path, env: dict[str, str]) -> Path:
    """A new git repository at ``repo`` whose one commit holds ``good.py``."""
    repo.mkdir()
    git(repo, env, "init", "-q")
    (repo / "good.py").write_text("def good():\n    return 1\n")
    git(repo, env, "add", "good.py")
    git(repo, env, "commit", "-qm", "init")
    return repo


def quarry(
    *args: object, env: dict[str, str] | None = None, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real `quarry` command of this worktree in a child process."""
    full = {**(env if env is not None else os.environ), "PYTHONPATH": SRC + os.pathsep + str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "codequarry", *map(str, args)],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def extract_json(*args: object, env: dict[str, str] | None = None, timeout: float = 600) -> dict[str, Any]:
    done = quarry("extract", *args, "--json", "-q", env=env, timeout=timeout)
    return json.loads(done.stdout)


def wait_for(flag: Path, proc: subprocess.Popen[str], seconds: float = 120) -> None:
    """Wait until a paused quarry process has written its pause file."""
    deadline = time.monotonic() + seconds
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "quarry never reached its pause point"
        time.sleep(0.02)


def paused_quarry(
    point: str, flag: Path, *args: object, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start `quarry` stopped at the pause point ``point`` (see codequarry.run.pause); it goes on when
    ``flag`` is deleted."""
    full = {
        **(env if env is not None else os.environ),
        "PYTHONPATH": SRC + os.pathsep + str(ROOT),
        "QUARRY_PAUSE_AT": point,
        "QUARRY_PAUSE_FILE": str(flag),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "codequarry", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )
    wait_for(flag, proc)
    return proc


def make_socket(path: Path) -> None:
    """A Unix socket file at ``path`` (bound by its relative name: socket paths are limited to ~107 bytes)."""
    import socket

    here = os.getcwd()
    os.chdir(path.parent)
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


def one_file_store(factory: pytest.TempPathFactory, name: str, text: str, *options: str) -> Path:
    """A store (``src/.quarry``) of a tree holding one ``app.py`` with ``text``, extracted by the real
    command with one worker and ``options``: the output and query tests need a store, not a corpus."""
    root = factory.mktemp(name) / "src"
    root.mkdir()
    (root / "app.py").write_text(text)
    quarry("extract", root, "-w", "1", "-q", *options)
    return root / ".quarry"


def core_store(tmp_path: Path) -> Path:
    """``tmp_path/store``: the real command's extract (python.core, one worker) of ``tmp_path/src``,
    one ``m.py`` defining ``f``; the tests that damage a store's files need a small one of their own."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("def f():\n    return 1\n")
    quarry("extract", src, "--store", tmp_path / "store", "-w", "1", "-q", "--select", "python.core")
    return tmp_path / "store"


#: a recipe of one trivial cached task
ECHO_RECIPE = """[tools.echo]
command = ["{python}", "-c", "print('ok')"]
targets = ["one"]
"""


def echo_recipe(tmp_path: Path, timeout: float = 600) -> Path:
    """``tmp_path/recipe.toml`` (:data:`ECHO_RECIPE`), run once by the real command: its store
    ``.quarry/`` beside it holds one published run and one cached task."""
    path = tmp_path / "recipe.toml"
    path.write_text(ECHO_RECIPE)
    quarry("run", path, "-q", timeout=timeout)
    return path

"""`quarry repos remove NAME` with hostile names removes exactly one repo, or nothing.

Trust sweep 4. Held: a name is matched exactly (``*``, ``%``, ``sel*``, ``..``, ``../a``, the empty
name and a different case match nothing; a repo named ``*`` or ``select`` or ``x'y`` is removed
alone, the others keep every row). Found: a name holding a newline or a terminal escape was echoed
raw in the refusal (two lines, or a recoloured terminal; the suggestion names a stored repo, whose
name can come from a folder name); and once every repo was removed, ``quarry repos`` said the store
held no snapshot yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.conftest import quarry

ESC = "red\x1b[31mred"  # --repo refuses it; a folder's name becomes the repo's as it is
NAMES = {"a": "select", "b": "x'y", "c": "*", ESC: ESC}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    out = tmp_path / "store"
    for folder, repo in NAMES.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.py").write_text("def f():\n    return 1\n")
        name = ["--repo", repo] if folder != repo else []
        quarry("extract", tmp_path / folder, "-s", out, *name, "-q", "-w", "1", "--select", "python.core")
    return out


def _repos(store: Path) -> dict[str, int]:
    done = quarry(
        "sql", "-s", store, "--format", "jsonl", "SELECT repo, count(*) AS n FROM functions GROUP BY repo"
    )
    return {r["repo"]: r["n"] for r in map(json.loads, done.stdout.splitlines())}


def _refused(store: Path, name: str) -> str:
    done = quarry("repos", "remove", "-s", store, "--", name, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    err = done.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "\x1b" not in err
    return err


def test_hostile_names_remove_one_repo_or_nothing(store: Path) -> None:
    everything = _repos(store)
    assert set(everything) == set(NAMES.values())
    for name in ["", "..", "../a", "%", "sel*", "SELECT", "x'y' OR '1'='1", "a\nb", "red"]:
        _refused(store, name)
    assert _repos(store) == everything
    quarry("repos", "remove", "-s", store, "--", "*")
    assert _repos(store) == {k: v for k, v in everything.items() if k != "*"}
    quarry("repos", "remove", "-s", store, "--", "x'y")
    quarry("repos", "remove", "-s", store, "select")
    assert set(_repos(store)) == {ESC}


def test_a_refusal_escapes_control_characters(store: Path) -> None:
    err = _refused(store, "redd\x1b[31mred")  # suggests the stored 'red\x1b[31mred'
    assert "\\x1b" in err and "Did you mean" in err


def test_a_store_whose_repos_were_all_removed_says_so(store: Path) -> None:
    for name in NAMES.values():
        quarry("repos", "remove", "-s", store, "--", name)
    done = quarry("repos", "-s", store)
    assert "no repos" in done.stdout and "no snapshot" not in done.stdout

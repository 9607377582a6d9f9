"""Exact, always, over real histories (issue 12 item 1): the replay of bench/history.py, short.

A user's actions on real code, each followed by a comparison of every table of the store with a fresh
``quarry extract`` of the same tree and selection (tests/storedump.py, the state-machine test's
comparer): checkouts of later and earlier versions (a few files, then many: a branch switch, and a
switch back), a rename of the tree's folder, a selection change and back, ``quarry repos remove``, and
``quarry watch`` applying checkouts live. Every run is a real ``quarry`` subprocess.

Two histories: a slice of the standard library edited by the real diffs between Python 3.11's,
3.12's and 3.13's (pyenv's interpreters; skipped when fewer than two are installed), and a few
consecutive commits of netbox's feature branch (skipped without the mirror of its repository).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.history import NETBOX_GIT, GitHistory, Replay, folder_files, play, pyenv_stdlib

pytestmark = pytest.mark.slow

#: the slice of the standard library: packages with their tests, changed between 3.11 and 3.13
STDLIB_SLICE = ("json/", "test/test_json/", "asyncio/", "tomllib/", "test/test_tomllib/", "zoneinfo/")


def _fail(replay: Replay) -> list[dict[str, object]]:
    return [s for s in replay.steps if s["mismatches"]]


def test_the_standard_library_of_three_versions_replays_exactly(tmp_path: Path) -> None:
    libs = [(v, pyenv_stdlib(v)) for v in ("3.11", "3.12", "3.13")]
    found = [(v, lib) for v, lib in libs if lib is not None]
    if len(found) < 2:
        pytest.skip("fewer than two of Python 3.11, 3.12, 3.13 under pyenv")
    versions = [(v, folder_files(lib, lambda rel: rel.startswith(STDLIB_SLICE))) for v, lib in found]
    assert 60 <= len(versions[0][1]) <= 160
    assert versions[0][1] != versions[-1][1]
    n = len(versions)
    plan = [("checkout", 0), ("fork", n - 1), ("checkout", 1), ("checkout", n - 1), ("rename", 0)]
    plan += [("select", 0), ("remove", 0), ("watch", 0)]
    replay = Replay(tmp_path, [])
    # the selection change leaves the test operation out (the call graph's opt-in layers are the
    # netbox test's: over this slice they would take most of the minute)
    play(replay, versions, plan, watch=[0], alternate=["--skip", "python.tests"])
    assert len(replay.steps) == len(plan) + 1  # the run after the remove, a step of the watch
    assert {"functions", "calls", "tests", "test_facts"} <= replay.tables
    assert not _fail(replay), _fail(replay)


@pytest.mark.skipif(not NETBOX_GIT.is_dir(), reason="no mirror of netbox's repository")
def test_a_netbox_history_replays_exactly(tmp_path: Path) -> None:
    hist = GitHistory(NETBOX_GIT, ["netbox/circuits"])
    try:
        commits = hist.commits("v4.3.0^2", "2025-01-01", ["netbox/circuits"])[:5]
        versions = [(c[:10], hist.tree(c)) for c in commits]
    finally:
        hist.close()
    assert len(versions) == 5
    plan = [("checkout", 0), ("checkout", 1), ("checkout", 4), ("rename", 0), ("select", 0), ("watch", 0)]
    replay = Replay(tmp_path, [])
    play(replay, versions, plan, watch=[2], alternate=["--select", "python"])
    assert {"routes", "model_classes", "tests", "call_graph"} <= replay.tables
    assert not _fail(replay), _fail(replay)

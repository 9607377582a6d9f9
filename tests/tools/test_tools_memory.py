"""Memory limits that hold for the whole process tree: with a cgroup (the kernel stops it at the limit)
and with the sampling fallback (summed RSS of the tree every 10 ms, documented bound: under 25%)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psutil
import pytest

from codequarry import cgroup
from codequarry.query import open_store, sql
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.process import Limits, Outcome, TaskProcess
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, TOOL, write_recipe
from tests.tools.test_tools_escape import mechanisms

MB = 1 << 20
LIMIT = 200 * MB
# the scenarios of the issue: a tool growing in 20 MB steps, four forked children of 80 MB each; both
# then hold their memory for 60 s, so that a stopped task cannot be mistaken for a finished one
SCENARIOS = {"steps": ["steps", "600", "20", "60"], "four_children": ["fork_hog", "4", "80", "60"]}


def run(args: list[str], *, use_cgroup: bool, address_space: bool = True) -> Outcome:
    return TaskProcess(
        [PY, TOOL, *args],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=30, memory=LIMIT, grace=0.5, cgroup=use_cgroup, address_space=address_space),
        on_stdout=lambda _line: None,
    ).run()


def our_cgroups() -> list[Path]:
    h = cgroup.available()
    return [] if h is None else [p for p in h.parent.iterdir() if p.is_dir()]


@pytest.mark.parametrize("use_cgroup", mechanisms())
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_limit_holds_for_the_whole_tree(scenario: str, use_cgroup: bool) -> None:
    outcome = run(SCENARIOS[scenario], use_cgroup=use_cgroup)
    assert outcome.status == "memory_limit", outcome
    assert outcome.wall_seconds < 30  # the tool sleeps 60 s after allocating: it was stopped, not finished
    if use_cgroup:
        assert outcome.limit_mechanism in ("cgroup-v1", "cgroup-v2")
        # the kernel's own high-water mark: it never lets the tree past the limit (target: under 5%)
        assert 0.8 * LIMIT < outcome.peak_memory <= 1.05 * LIMIT, outcome.peak_memory / LIMIT
        assert our_cgroups() == []  # the task's cgroup folder is gone
    else:
        assert outcome.limit_mechanism == "rlimit_as+sampling"
        # sampled summed RSS: documented under 25% over; 50% here so a loaded machine cannot flake it,
        # still far below what this measured before (+60% and +129%)
        assert LIMIT < outcome.peak_memory < 1.5 * LIMIT, outcome.peak_memory / LIMIT
    assert not [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


def test_sampling_without_rlimit_still_stops_four_children() -> None:
    outcome = run(SCENARIOS["four_children"], use_cgroup=False, address_space=False)
    assert (outcome.status, outcome.limit_mechanism) == ("memory_limit", "sampling")
    assert LIMIT < outcome.peak_memory < 1.5 * LIMIT


@pytest.mark.parametrize("use_cgroup", mechanisms())
def test_a_task_under_its_limit_is_ok_and_its_peak_is_measured(use_cgroup: bool) -> None:
    outcome = run(["hog", "60"], use_cgroup=use_cgroup)
    assert outcome.status == "ok", outcome
    assert 60 * MB < outcome.peak_memory < LIMIT


def test_the_mechanism_is_recorded_in_tool_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = {
        "command": [PY, TOOL, "steps", "600", "20"],
        "targets": ["a"],
        "resources": {"memory": "200MB", "timeout": 20},
    }
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"t": tool})))
    expected = cgroup.available().mechanism if cgroup.available() else "rlimit_as+sampling"
    monkeypatch.setenv("QUARRY_NO_CGROUP", "1")  # forced fallback, the same recipe
    forced = run_recipe(make_tools_plan(write_recipe(tmp_path, {"t": tool})), no_cache=True)
    assert [r.outcome["limit_mechanism"] for r in summary.results] == [expected]
    assert [r.outcome["limit_mechanism"] for r in forced.results] == ["rlimit_as+sampling"]
    assert [r.status for r in [*summary.results, *forced.results]] == ["memory_limit", "memory_limit"]
    rows = sql(open_store(summary.store), "SELECT limit_mechanism, status FROM tool_runs").to_pylist()
    assert rows == [{"limit_mechanism": "rlimit_as+sampling", "status": "memory_limit"}]


class _PeakWatch:
    """The largest growth of RSS any child process of this one had above the RSS it was first seen
    with (a forked worker starts with its parent's image), sampled every 2 ms from a thread."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self._first: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.002):
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss = child.memory_info().rss
                    self.peak = max(self.peak, rss - self._first.setdefault(child.pid, rss))

    def __enter__(self) -> _PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("parent_mb", [0, 300], ids=["lean-parent", "fat-parent"])
@pytest.mark.parametrize("use_cgroup", mechanisms())
def test_the_extract_workers_memory_limit_holds(
    tmp_path: Path, use_cgroup: bool, parent_mb: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codequarry import extract, make_plan
    from codequarry.engine.supervisor import Limits as WorkerLimits
    from codequarry.engine.supervisor import Supervisor

    if not use_cgroup:
        monkeypatch.setenv("QUARRY_NO_CGROUP", "1")
    expected = "sampling" if not use_cgroup else cgroup.available().mechanism  # type: ignore[union-attr]
    assert Supervisor(1, WorkerLimits(max_memory=LIMIT)).limit_mechanism == expected
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.py", "grow.py", "b.py"):
        (src / name).write_text("x = 1\n")
    store = tmp_path / "store"
    # a parent holding 300 MB (a notebook, a test run) forks workers that start with it resident: it is
    # the parent's, not the worker's own use, and must not count against the worker's limit
    fat = bytearray(parent_mb << 20)
    fat[::4096] = b"x" * len(fat[::4096])
    with _PeakWatch() as watch:
        extract(
            make_plan(
                [src], store=store, workers=2, plugins=["tests.plugins.memhog"], max_memory_per_worker=LIMIT
            )
        )
    rows = sql(open_store(store), "SELECT path, kind FROM errors").to_pylist()
    assert rows == [{"path": "grow.py", "kind": "memory_limit"}]
    assert sql(open_store(store), "SELECT count(*) AS n FROM memhog_sizes").column("n")[0].as_py() == 2
    del fat
    # the worker grows 3 GB in 20 MB steps; the limit stops it 200 MB above where it started
    bound = 1.05 if use_cgroup else 1.5
    assert watch.peak < bound * LIMIT, watch.peak / LIMIT
    assert our_cgroups() == []


def test_the_recipe_can_force_sampling_and_check_says_which_mechanism_holds(tmp_path: Path) -> None:
    import subprocess
    import sys

    tool = {
        "command": [PY, TOOL, "steps", "600", "20"],
        "targets": ["a"],
        "resources": {"memory": "200MB", "timeout": 20},
    }
    forced = write_recipe(tmp_path, {"t": tool}, resources={"cgroup": False}, name="forced.toml")
    auto = write_recipe(tmp_path, {"t": tool}, name="auto.toml")
    summary = run_recipe(make_tools_plan(forced))
    assert [(r.status, r.outcome["limit_mechanism"]) for r in summary.results] == [
        ("memory_limit", "rlimit_as+sampling")
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}

    def check(recipe: Path) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "codequarry", "check", str(recipe)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        return next(line for line in out.splitlines() if line.startswith("memory limits "))

    assert check(forced).startswith("memory limits rlimit_as+sampling: ") and "turned off" in check(forced)
    hierarchy = cgroup.available()
    if hierarchy is not None:
        assert check(auto).startswith(f"memory limits {hierarchy.mechanism}: the kernel holds")


@pytest.mark.skipif(
    cgroup.available() is None or cgroup.available().version != 1,  # type: ignore[union-attr]
    reason="reuse is for cgroup v1 only",
)
def test_a_reused_cgroup_judges_each_task_on_its_own() -> None:
    """The runner reuses an emptied v1 cgroup for the next task with the same limit: a task stopped at
    the limit leaves no oom kill, failure count or peak for the small task after it in the same
    folder, and the runner's release removes the folder."""
    from codequarry.tools.process import release_cgroups

    def task(args: list[str]) -> Outcome:
        limits = Limits(timeout=30, memory=LIMIT, grace=0.5, reuse_cgroup=True)
        return TaskProcess(
            [PY, TOOL, *args], cwd=os.getcwd(), env=dict(os.environ), limits=limits, on_stdout=lambda _: None
        ).run()

    try:
        first = task(["sleep", "0"])
        folders = our_cgroups()
        hog = task(SCENARIOS["steps"])
        after = task(["sleep", "0"])
        assert (first.status, hog.status, after.status) == ("ok", "memory_limit", "ok"), (hog, after)
        assert our_cgroups() == folders and len(folders) == 1  # one folder, reused
        assert hog.peak_memory > 0.8 * LIMIT
        assert after.peak_memory < 0.25 * LIMIT, after.peak_memory  # not the hog's high-water mark
    finally:
        release_cgroups()
    assert our_cgroups() == []

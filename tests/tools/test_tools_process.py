"""Per-task limits on real process trees: checked by what the processes actually did."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from codequarry.tools.process import Limits, Outcome, TaskProcess
from tests.tools.conftest import PY, TOOL

MB = 1 << 20


def run(
    *args: str,
    timeout: float = 5,
    memory: int = 200 * MB,
    grace: float = 0.5,
    address_space: bool = True,
    stop: threading.Event | None = None,
) -> tuple[Outcome, list[bytes]]:
    lines: list[bytes] = []
    proc = TaskProcess(
        [PY, TOOL, *args],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=timeout, memory=memory, grace=grace, address_space=address_space),
        on_stdout=lines.append,
        stop=stop,
    )
    return proc.run(), lines


def test_ok_task_reports_its_output_and_measures() -> None:
    outcome, lines = run("emit", "3")
    assert outcome.status == "ok" and outcome.exit_code == 0 and outcome.signal is None
    assert len(lines) == 3
    assert outcome.wall_seconds > 0 and outcome.cpu_seconds > 0
    assert outcome.stderr_tail == ["0/3"]
    # memory is sampled: a task that lives past a few samples has a measured peak
    outcome, _ = run("hog", "40")
    assert outcome.status == "ok" and 40 * MB < outcome.peak_memory < 200 * MB
    assert outcome.limit_mechanism in ("cgroup-v1", "cgroup-v2", "rlimit_as+sampling")


def test_non_zero_exit_is_failed_with_the_last_stderr_lines() -> None:
    outcome, _ = run("exit", "3", "something broke")
    assert (outcome.status, outcome.exit_code, outcome.message) == ("failed", 3, "exit code 3")
    assert outcome.stderr_tail == ["something broke"]


def test_timeout_terminates_the_process() -> None:
    outcome, _ = run("sleep", "30", timeout=1)
    assert outcome.status == "timeout" and outcome.signal == 15  # it died of the SIGTERM
    assert 1 <= outcome.wall_seconds < 20  # stopped, far below the 30 s it would sleep


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    started = time.monotonic()
    outcome, _ = run("ignore_term", "30", timeout=0.7, grace=0.5)
    assert outcome.status == "timeout" and outcome.signal == 9
    assert 1.1 <= time.monotonic() - started < 20  # killed, far below the 30 s it would sleep
    assert outcome.stderr_tail == ["ignoring SIGTERM"]


def test_a_runaway_allocation_is_stopped() -> None:
    outcome, _ = run("hog", "2000", "60", memory=200 * MB)
    assert outcome.status == "memory_limit", outcome
    assert outcome.wall_seconds < 30  # stopped, not after the tool's 60 s sleep


def test_gradual_growth_is_stopped_near_the_limit_by_sampling() -> None:
    outcome, _ = run("grow", "1000", memory=150 * MB)
    assert outcome.status == "memory_limit", outcome
    assert 150 * MB <= outcome.peak_memory < 700 * MB  # at the limit (cgroup) or a sample past it


def test_children_that_together_pass_the_limit_stop_the_whole_tree() -> None:
    # each child stays under the limit (and under RLIMIT_AS); only the tree's sum passes it
    outcome, _ = run("fork_hog", "3", "100", "60", memory=200 * MB)
    assert outcome.status == "memory_limit", outcome
    assert outcome.peak_memory >= 200 * MB
    assert outcome.wall_seconds < 30  # the children sleep 60 s: they were killed
    assert not [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


def test_sampling_alone_still_stops_the_tree() -> None:
    outcome, _ = run("grow", "1000", memory=150 * MB, address_space=False)
    assert outcome.status == "memory_limit" and outcome.limit_mechanism in (
        "sampling",
        "cgroup-v1",
        "cgroup-v2",
    )


def test_what_a_task_leaves_behind_is_killed_when_it_exits() -> None:
    outcome, lines = run("orphan")
    assert outcome.status == "ok"
    time.sleep(0.1)
    pids = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"]
        and TOOL in p.info["cmdline"]
        and "orphan" in p.info["cmdline"]
        and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert pids == []


def test_stop_kills_a_running_task_as_killed() -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    outcome, _ = run("ignore_term", "30", timeout=20, stop=stop)
    assert outcome.status == "killed"
    assert outcome.wall_seconds < 15  # stopped, well before its 20 s timeout


def test_a_missing_program_is_a_failed_task_not_a_crash() -> None:
    proc = TaskProcess(
        ["/nonexistent/tool"],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(5, 100 * MB),
        on_stdout=lambda _: None,
    )
    outcome = proc.run()
    assert outcome.status == "failed" and "could not start" in (outcome.message or "")


@pytest.mark.parametrize("status", ["invalid_output"])
def test_fail_from_a_line_handler_stops_the_task(status: str) -> None:
    box: list[TaskProcess] = []

    def on_line(raw: bytes) -> None:
        box[0].fail(status, "bad line")

    proc = TaskProcess(
        [PY, TOOL, "ignore_term", "30"],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(20, 200 * MB),
        on_stdout=on_line,
    )
    box.append(proc)
    threading.Timer(0.2, lambda: on_line(b"x")).start()
    outcome = proc.run()
    assert outcome.status == status and outcome.message == "bad line"
    assert outcome.wall_seconds < 15  # stopped, well before its 20 s timeout

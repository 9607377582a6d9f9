"""A task's children that detach (setsid, setpgid, double fork, nohup) are stopped when the task ends,
with a cgroup and with the subreaper fallback, and what they print afterwards is not the task's."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import psutil
import pytest

from codequarry import cgroup
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.process import Limits, TaskProcess
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, TOOL, emit_tool, write_recipe

MB = 1 << 20
HOWS = ["setsid", "setpgid", "double_fork", "daemon", "nohup"]


def mechanisms() -> list[object]:
    has = cgroup.available() is not None
    return [
        pytest.param(True, id="cgroup", marks=pytest.mark.skipif(not has, reason="no usable cgroup here")),
        pytest.param(False, id="subreaper"),
    ]


def alive(tag: str) -> list[psutil.Process]:
    """Processes (not zombies) whose command line carries the tag."""
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if tag in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE:
            out.append(p)
    return out


def zombies_of_ours() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.status() == psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("use_cgroup", mechanisms())
@pytest.mark.parametrize("how", HOWS)
def test_detached_children_are_stopped_with_the_task(how: str, use_cgroup: bool) -> None:
    tag = uuid.uuid4().hex
    lines: list[bytes] = []
    proc = TaskProcess(
        [PY, TOOL, "escape", how, tag],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=20, memory=300 * MB, grace=0.5, cgroup=use_cgroup),
        on_stdout=lines.append,
    )
    outcome = proc.run()
    assert outcome.status == "ok", outcome
    assert outcome.limit_mechanism.startswith("cgroup-v") == use_cgroup
    assert outcome.left_processes == 0
    assert alive(tag) == []  # at once: killed when the main process exited, not later
    time.sleep(1.3)  # past the moment the escaped child would have printed its late record
    assert alive(tag) == []
    assert [b"late" in line for line in lines] == [False]  # only the main process's record
    assert zombies_of_ours() == []


@pytest.mark.parametrize("use_cgroup", mechanisms())
def test_a_timed_out_task_takes_its_detached_children_with_it(use_cgroup: bool) -> None:
    tag = uuid.uuid4().hex
    # the escaped child lingers 60 s; the main process sleeps past the timeout
    proc = TaskProcess(
        [
            PY,
            "-c",
            "import subprocess, sys, time; subprocess.Popen([sys.argv[1], sys.argv[2], "
            "'linger', sys.argv[3]], start_new_session=True); time.sleep(30)",
            PY,
            TOOL,
            tag,
        ],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=1, memory=300 * MB, grace=0.5, cgroup=use_cgroup),
        on_stdout=lambda _line: None,
    )
    outcome = proc.run()
    assert outcome.status == "timeout"
    assert alive(tag) == [] and outcome.left_processes == 0


@pytest.mark.parametrize("env", [{}, {"QUARRY_NO_CGROUP": "1"}], ids=["auto", "no-cgroup"])
def test_late_output_of_escaped_children_is_not_counted_as_rows(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    tags = {how: uuid.uuid4().hex for how in HOWS}
    tools = {f"t_{how}": emit_tool(["escape", how, tag], targets=["x"]) for how, tag in tags.items()}
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, tools)))
    assert summary.statuses == {"ok": len(HOWS)}
    assert {how: summary.rows[f"t_{how}"] for how in HOWS} == {how: 1 for how in HOWS}  # "main" only
    time.sleep(1.3)
    assert [p for tag in tags.values() for p in alive(tag)] == []


def test_quarry_is_a_subreaper_only_while_fallback_tasks_run() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def is_subreaper() -> bool:
        flag = ctypes.c_int(0)
        assert libc.prctl(37, ctypes.byref(flag), 0, 0, 0) == 0  # PR_GET_CHILD_SUBREAPER
        return bool(flag.value)

    seen: list[bool] = []
    proc = TaskProcess(
        [PY, TOOL, "emit", "1"],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=20, memory=300 * MB, cgroup=False),
        on_stdout=lambda _line: seen.append(is_subreaper()),
    )
    assert proc.run().status == "ok"
    assert seen == [True]  # while the task ran
    assert not is_subreaper()  # and no longer: other orphans of this process go to init as usual

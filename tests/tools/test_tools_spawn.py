"""How a task's command starts: under a cgroup v1 the spawning thread joins the task's cgroup for the
spawn only (so the child starts inside it, made with vfork), and comes back out; stdout lines arrive
in order whether handed over per line or per read."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from codequarry import cgroup
from codequarry.tools.process import Limits, TaskProcess


def memory_cgroup(path: str) -> str:
    with open(path) as fh:
        for line in fh:
            _id, controllers, where = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return where
    return ""


def test_the_child_starts_in_the_task_cgroup_and_the_thread_comes_back() -> None:
    hierarchy = cgroup.available()
    if hierarchy is None or hierarchy.version != 1:
        pytest.skip("needs a writable cgroup v1 memory hierarchy")
    lines: list[bytes] = []
    outcome = TaskProcess(
        ["/bin/cat", "/proc/self/cgroup"],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=30, memory=64 << 20),
        on_stdout=lines.append,
    ).run()
    assert outcome.status == "ok", outcome
    assert outcome.limit_mechanism == "cgroup-v1"
    child = [ln.decode() for ln in lines if b"memory" in ln]
    assert child and f"/{cgroup.PREFIX}{os.getpid()}/t" in child[0]  # inside a task cgroup of ours
    here = memory_cgroup(f"/proc/self/task/{threading.get_native_id()}/cgroup")
    assert here == memory_cgroup("/proc/self/cgroup")  # the thread is back where the process is
    assert f"{cgroup.PREFIX}{os.getpid()}/" not in here
    assert not [p for p in hierarchy.parent.iterdir() if p.is_dir()]  # the task's cgroup is gone


@pytest.mark.parametrize("batched", [False, True])
def test_lines_arrive_in_order_with_cut_lines_in_place(batched: bool) -> None:
    script = (
        "import sys\nw = sys.stdout.buffer.write\n"
        "for i in range(20000):\n    w(b'%d\\n' % i)\n"
        "w(b'x' * (9 << 20) + b'\\n')\nw(b'last\\n')\n"
    )
    got: list[bytes] = []
    cuts: list[tuple[int, int]] = []
    kwargs = {"on_stdout_lines": got.extend} if batched else {}
    outcome = TaskProcess(
        [sys.executable, "-c", script],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=60, memory=512 << 20),
        on_stdout=got.append,
        on_cut=lambda cut: cuts.append((len(got), cut.length)),
        **kwargs,
    ).run()
    assert outcome.status == "ok", outcome
    assert got == [b"%d\n" % i for i in range(20000)] + [b"last\n"]
    assert cuts == [(20000, (9 << 20) + 1)]  # the long line, cut, between the numbers and the last line

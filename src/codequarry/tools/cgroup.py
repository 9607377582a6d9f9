"""Memory limits by the kernel: a cgroup v2 per task, when this process may create them.

A task's cgroup has ``memory.max`` set to its limit, ``memory.swap.max`` to 0 and
``memory.oom.group`` to 1, so the kernel stops the whole process tree the moment it passes the limit,
however fast it allocates; ``memory.peak`` gives the true peak and ``memory.events`` says whether the
OOM killer acted. That needs a cgroup2 hierarchy with the memory controller delegated to us (a
systemd user slice, a container with a private cgroup namespace); :func:`available` probes once
and, when it cannot, the runner falls back to RLIMIT_AS plus sampling (see ``process.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import time
from pathlib import Path

_probed = False
_root: Path | None = None
_counter = itertools.count()


def _cgroup2_mount() -> Path | None:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return Path(left.split()[4])
    except OSError:
        return None
    return None


def _own_path() -> str | None:
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


def _write(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def available() -> Path | None:
    """The folder this run's task cgroups go in, or None when cgroups v2 cannot limit memory here."""
    global _probed, _root
    if _probed:
        return _root
    _probed = True
    if os.environ.get("QUARRY_NO_CGROUP"):
        return None
    mount, own = _cgroup2_mount(), _own_path()
    if mount is None or own is None:
        return None
    base = mount / own.lstrip("/")
    parent = base / f"codequarry-{os.getpid()}"
    try:
        if "memory" not in (base / "cgroup.controllers").read_text().split():
            return None
        if "memory" not in (base / "cgroup.subtree_control").read_text().split():
            _write(base / "cgroup.subtree_control", "+memory")
        parent.mkdir(exist_ok=True)
        if "memory" not in (parent / "cgroup.controllers").read_text().split():
            raise OSError("memory controller not delegated")
        _write(parent / "cgroup.subtree_control", "+memory")
        probe = parent / "probe"
        probe.mkdir(exist_ok=True)
        _write(probe / "memory.max", str(64 << 20))
        probe.rmdir()
    except OSError:
        with contextlib.suppress(OSError):
            parent.rmdir()
        return None
    _root = parent
    atexit.register(_cleanup, parent)
    return parent


def _cleanup(parent: Path) -> None:
    for child in parent.glob("t*"):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        parent.rmdir()


class TaskCgroup:
    """The cgroup of one task: the child joins it before exec (``procs`` is written in preexec)."""

    def __init__(self, root: Path, memory: int) -> None:
        self.path = root / f"t{next(_counter)}"
        self.path.mkdir()
        _write(self.path / "memory.max", str(memory))
        for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            if (self.path / name).exists():
                with contextlib.suppress(OSError):
                    _write(self.path / name, value)
        self.procs = str(self.path / "cgroup.procs")
        self._seen_peak = 0

    def current(self) -> int:
        try:
            value = int((self.path / "memory.current").read_text())
        except (OSError, ValueError):
            return 0
        self._seen_peak = max(self._seen_peak, value)
        return value

    def peak(self) -> int:
        try:
            return max(self._seen_peak, int((self.path / "memory.peak").read_text()))
        except (OSError, ValueError):
            return self._seen_peak

    def oom_killed(self) -> bool:
        try:
            for line in (self.path / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            return False
        return False

    def kill(self) -> bool:
        """Kill every process of the cgroup (cgroup.kill, Linux 5.14+); False when unsupported."""
        try:
            _write(self.path / "cgroup.kill", "1")
            return True
        except OSError:
            return False

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
        shutil.rmtree(self.path, ignore_errors=True)

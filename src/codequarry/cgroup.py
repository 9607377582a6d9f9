"""Memory limits by the kernel: a cgroup per task (v2 or v1), when this process may create them.

The kernel then enforces the limit on every process of the task, however it detached (``setsid``,
double fork) and however fast it allocates, and the cgroup lists every process to kill when the task
ends. As BenchExec does, the task's cgroup is created as a child of the cgroup this process is in,
under ``codequarry-<pid>/``, and the child process joins it before ``exec``:

- **cgroup v2** (a cgroup2 hierarchy whose memory controller is delegated to us): ``memory.max``,
  ``memory.swap.max = 0``, ``memory.oom.group = 1`` (the kernel stops the whole tree);
  ``memory.peak`` is the peak, ``memory.events`` ``oom_kill`` says the limit acted; ``cgroup.kill``
  ends the tree.
- **cgroup v1** (a writable ``memory`` hierarchy, e.g. ``/sys/fs/cgroup/memory``):
  ``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes`` (no swap past the limit);
  ``memory.max_usage_in_bytes`` is the peak, ``memory.oom_control`` ``oom_kill`` (or ``failcnt``)
  says the limit acted. The v1 OOM killer stops one process, so the runner kills the rest.

:func:`available` probes once per process (``QUARRY_NO_CGROUP=1`` turns it off, for the sampling
fallback in ``process.py``); every folder made is removed after its task, and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

_probed = False
_hierarchy: Hierarchy | None = None
_counter = itertools.count()
_lock = threading.Lock()  # tasks start in threads: one probe, and no task may see a half-done one
PREFIX = "codequarry-"
REUSE_LEFTOVER = 1 << 20  # bytes a v1 cgroup may still be charged with and be reused (ready_again)


@dataclass(frozen=True)
class Hierarchy:
    """Where this process's task cgroups go: ``parent`` (``.../codequarry-<pid>``), of one version."""

    version: int  # 1 or 2
    parent: Path

    @property
    def mechanism(self) -> str:
        return f"cgroup-v{self.version}"


def disabled() -> bool:
    """True when the environment asks for the sampling fallback (``QUARRY_NO_CGROUP=1``)."""
    return os.environ.get("QUARRY_NO_CGROUP", "") not in ("", "0")


def available() -> Hierarchy | None:
    """The hierarchy task cgroups are made in (v2 first, then v1), or None when neither can limit memory."""
    global _probed, _hierarchy
    if disabled():
        return None
    with _lock:
        if not _probed:
            for version, base in _candidates():
                parent = _prepare(version, base)
                if parent is not None:
                    _hierarchy = Hierarchy(version, parent)
                    atexit.register(_cleanup, parent)
                    break
            _probed = True
        return _hierarchy


def describe(use: bool = True, address_space: bool = True) -> str:
    """How memory limits will be held here, for ``quarry check`` and reports."""
    hierarchy = available() if use else None
    if hierarchy is not None:
        return (
            f"{hierarchy.mechanism}: the kernel holds each task's whole process tree to its limit "
            f"(a cgroup per task under {hierarchy.parent})"
        )
    why = "turned off" if not use or disabled() else "no writable cgroup memory controller here"
    name = "rlimit_as+sampling" if address_space else "sampling"
    return f"{name}: the summed RSS of each task's process tree, sampled ({why})"


def machine_memory() -> int:
    """Bytes of memory this process and its children may use together: the machine's, or less when
    a cgroup it sits in holds it to less (a container's limit: v1 ``hierarchical_memory_limit``, v2
    the smallest ``memory.max`` from its cgroup up to the mount). Read whether or not it may make
    cgroups of its own; what cannot be read counts as no limit."""
    total = int(psutil.virtual_memory().total)
    for version, own in _candidates():
        if version == 1:
            try:
                for line in (own / "memory.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "hierarchical_memory_limit" and value.isdigit():
                        total = min(total, int(value))
            except OSError:
                pass
            continue
        folder = own
        while (folder / "cgroup.controllers").exists():
            with contextlib.suppress(OSError):
                value = (folder / "memory.max").read_text().strip()
                if value.isdigit():
                    total = min(total, int(value))
            if folder.parent == folder:
                break
            folder = folder.parent
    return total


def _candidates() -> list[tuple[int, Path]]:
    """(version, the folder of our own cgroup) for each mounted hierarchy with a memory controller."""
    own = _own_paths()
    out: list[tuple[int, Path]] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            mounts = fh.read().splitlines()
    except OSError:
        return out
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype, options = fields[3], fields[4], tail[0], tail[2].split(",")
        if fstype == "cgroup2" and "" in own:
            out.insert(0, (2, _join(point, root, own[""])))
        elif fstype == "cgroup" and "memory" in options and "memory" in own:
            out.append((1, _join(point, root, own["memory"])))
    return out


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup path ("" for the v2 hierarchy)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            for line in fh:
                _id, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(",") if controllers else [""]:
                    out[c] = path
    except (OSError, ValueError):
        pass
    return out


def _join(mount: str, root: str, own: str) -> Path:
    rel = os.path.relpath(own, root) if own.startswith(root) else own.lstrip("/")
    return Path(mount) / ("" if rel == "." else rel)


def _write(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _prepare(version: int, base: Path) -> Path | None:
    """Make ``codequarry-<pid>`` under ``base`` and check that a child of it takes a memory limit."""
    _remove_stale(base)
    parent = base / f"{PREFIX}{os.getpid()}"
    try:
        if version == 2:
            if "memory" not in (base / "cgroup.controllers").read_text().split():
                return None
            if "memory" not in (base / "cgroup.subtree_control").read_text().split():
                _write(base / "cgroup.subtree_control", "+memory")
        parent.mkdir(exist_ok=True)
        if version == 2:
            if "memory" not in (parent / "cgroup.controllers").read_text().split():
                raise OSError("memory controller not delegated")
            _write(parent / "cgroup.subtree_control", "+memory")
        probe = TaskCgroup(Hierarchy(version, parent), 64 << 20, name="probe")
        probe.remove()
    except OSError:
        with contextlib.suppress(OSError):
            parent.rmdir()
        return None
    return parent


def _remove_stale(base: Path) -> None:
    """Folders left by a codequarry process that died without cleaning up (killed with SIGKILL)."""
    try:
        stale = [
            p
            for p in base.glob(f"{PREFIX}*")
            if p.name[len(PREFIX) :].isdigit() and not psutil.pid_exists(int(p.name[len(PREFIX) :]))
        ]
    except OSError:
        return
    for parent in stale:
        _cleanup(parent)


def _cleanup(parent: Path) -> None:
    """Remove a dead runner's cgroups, killing what still runs in them (its tasks outlived it)."""
    for child in parent.iterdir() if parent.is_dir() else []:
        if child.is_dir():
            with contextlib.suppress(OSError, ValueError):
                for pid in (child / "cgroup.procs").read_text().split():
                    if int(pid) != os.getpid():
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                child.rmdir()
    with contextlib.suppress(OSError):
        parent.rmdir()


class TaskCgroup:
    """The cgroup of one task (or one extract worker): create, limit, join, read, kill, remove."""

    def __init__(self, hierarchy: Hierarchy, memory: int, *, name: str | None = None) -> None:
        self.version = hierarchy.version
        self.path = hierarchy.parent / (name or f"t{next(_counter)}")
        self.path.mkdir()
        try:
            if self.version == 2:
                _write(self.path / "memory.max", str(memory))
                optional = [("memory.swap.max", "0"), ("memory.oom.group", "1")]
            else:
                _write(self.path / "memory.limit_in_bytes", str(memory))
                optional = [("memory.memsw.limit_in_bytes", str(memory)), ("memory.swappiness", "0")]
        except OSError:
            self.path.rmdir()
            raise
        for file, value in optional:
            if (self.path / file).exists():
                with contextlib.suppress(OSError):
                    _write(self.path / file, value)
        self.procs = str(self.path / "cgroup.procs")
        self.memory = memory
        self._oom_base = 0  # oom kills counted before this task (a reused v1 cgroup: see ready_again)
        self._seen_peak = 0
        self.seen: set[int] = set()  # every pid listed so far (to reap those re-parented to us)

    @contextlib.contextmanager
    def joined(self) -> Iterator[None]:
        """v1 only: the calling thread (not the process) sits in this cgroup for the block, so a child
        it spawns starts inside it. That lets the child be made with vfork (no preexec function,
        which forces a full fork of the runner: ~6 ms a task) and still never run outside its limit."""
        tid = str(threading.get_native_id())
        home = self.path.parent.parent / "tasks"  # the folder of our own cgroup (see _prepare)
        _write(self.path / "tasks", tid)
        try:
            yield
        finally:
            _write(home, tid)

    def add(self, pid: int) -> None:
        """Move a running process in (the extract workers; tasks join in their preexec)."""
        _write(Path(self.procs), str(pid))

    def set_limit(self, memory: int | None) -> None:
        """Change the limit (None: none) of this cgroup, which may hold a process: a worker's limit
        is lifted while it runs a call the parent would run unlimited (``Supervisor.call``). v1 keeps
        ``memsw`` at or above the limit, so it moves first when the limit rises, last when it falls.
        OSError when the kernel cannot bring the cgroup under a lower limit (it uses more)."""
        if self.version == 2:
            _write(self.path / "memory.max", "max" if memory is None else str(memory))
            return
        value = "-1" if memory is None else str(memory)
        files = ["memory.limit_in_bytes"]
        if (self.path / "memory.memsw.limit_in_bytes").exists():
            rising = memory is None or memory > self.memory
            files = (
                ["memory.memsw.limit_in_bytes", *files] if rising else [*files, "memory.memsw.limit_in_bytes"]
            )
        for name in files:
            _write(self.path / name, value)

    def _read_int(self, v1: str, v2: str) -> int:
        try:
            return int((self.path / (v2 if self.version == 2 else v1)).read_text())
        except (OSError, ValueError):
            return 0

    def current(self) -> int:
        value = self._read_int("memory.usage_in_bytes", "memory.current")
        self._seen_peak = max(self._seen_peak, value)
        return value

    def peak(self) -> int:
        """The kernel's high-water mark of the cgroup's memory (what it charged, page cache included)."""
        return max(self._seen_peak, self._read_int("memory.max_usage_in_bytes", "memory.peak"))

    def oom_killed(self) -> bool:
        """Did the kernel kill a process of this cgroup for passing the limit?"""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key in ("oom_kill", "oom_group_kill") and int(value) > self._oom_base:
                    return True
        except (OSError, ValueError):
            return False
        return False

    def ready_again(self, leftover: int = REUSE_LEFTOVER) -> bool:
        """v1: make this emptied cgroup ready for another task with the same limit, instead of a
        removal and a new folder (a fresh memory cgroup costs its first child ~0.5 ms of CPU and, on
        a busy machine, several ms of wall time). Its peak and failure counts start again; its oom
        kills so far are remembered. False (remove it then) when it is not v1, holds a process, or
        the kernel still charges it more than ``leftover`` bytes (page cache the last task left),
        so a task's peak includes at most that much of the task before it."""
        if self.version != 1 or self.pids():
            return False
        try:
            if int((self.path / "memory.usage_in_bytes").read_text()) > leftover:
                return False
            _write(self.path / "memory.max_usage_in_bytes", "0")
            _write(self.path / "memory.failcnt", "0")
            for line in (self.path / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    self._oom_base = int(value)
        except (OSError, ValueError):
            return False
        self._seen_peak = 0
        self.seen = set()
        return True

    def hit_limit(self) -> bool:
        """v1: did any charge fail at the limit (a weaker sign than oom_kill, on kernels without it)?"""
        return self.version == 1 and self._read_int("memory.failcnt", "") > 0

    def pids(self) -> list[int]:
        try:
            pids = [int(x) for x in Path(self.procs).read_text().split()]
        except (OSError, ValueError):
            return []
        self.seen.update(pids)
        return pids

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process of the cgroup, and wait until it is empty; True when it is."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self.path / "cgroup.kill", "1")
        end = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > end:
                return False
            for pid in pids:  # a process forking meanwhile puts its child here too: the next round gets it
                if pid == os.getpid():  # a runner thread still inside (see joined): never signal ourselves
                    continue
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        """Remove the folder (after :meth:`kill`); retried while the last processes finish exiting."""
        for _ in range(250):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                self.kill(timeout=0.02)

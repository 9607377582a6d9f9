"""One task's process tree under hard limits: wall time, memory of the whole tree, and a clean end.

The command runs as an argv list, never through a shell, in a session of its own (so that one
``killpg`` reaches every descendant that did not leave the session), with stdin closed and
stdout and stderr read line by line by two threads. A monitor loop, woken by the process's exit
(a pidfd) or every ``sample_interval`` seconds, enforces the limits:

- wall clock: past ``timeout`` the group gets SIGTERM, then SIGKILL after ``grace`` seconds;
- memory: with a cgroup v2 (``cgroup.py``) the kernel enforces ``memory.max`` on the tree; else each
  process gets RLIMIT_AS as a hard stop for a runaway allocation, and the summed RSS of the tree,
  sampled, gets the group SIGKILLed past the limit (``limit_mechanism`` says which);
- Ctrl-C (``stop`` set): the group is terminated and the task recorded as ``killed``.

When the main process exits, whatever it left in its session is killed too. The outcome carries the
status, exit code or signal, wall and CPU seconds, peak memory, and the last lines of stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import resource
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from codequarry.tools import cgroup

STATUSES = ("ok", "failed", "timeout", "memory_limit", "killed", "invalid_output")
NOT_OK = ("failed", "timeout", "memory_limit", "invalid_output")
STDERR_TAIL = 20
# an allocation refused under RLIMIT_AS, as runtimes report it
_OOM = re.compile(r"MemoryError|Cannot allocate memory|out of memory|bad_alloc|heap overflow|"
                  r"failed to allocate|memory allocation failed|ENOMEM", re.I)
# address space beyond resident memory that runtimes reserve (thread stacks, arenas, mapped libraries)
AS_SLACK = 256 << 20

try:
    _libc: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None


@dataclass(frozen=True)
class Limits:
    timeout: float
    memory: int  # bytes, whole tree
    grace: float = 5.0
    sample_interval: float = 0.05
    address_space: bool = True  # RLIMIT_AS per process (fallback mechanism only)


@dataclass
class Outcome:
    status: str
    exit_code: int | None
    signal: int | None
    wall_seconds: float
    cpu_seconds: float
    peak_memory: int
    stderr_tail: list[str]
    message: str | None
    limit_mechanism: str
    started: float  # epoch seconds

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Tree:
    """The processes of a task seen so far, for summed RSS and CPU."""

    root: psutil.Process
    members: dict[int, psutil.Process] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    peak: int = 0

    def sample(self) -> int:
        try:
            for child in self.root.children(recursive=True):
                self.members.setdefault(child.pid, child)
        except psutil.Error:
            pass
        self.members.setdefault(self.root.pid, self.root)
        total = 0
        for pid, proc in list(self.members.items()):
            try:
                with proc.oneshot():
                    total += proc.memory_info().rss
                    t = proc.cpu_times()
                    self.cpu[pid] = t.user + t.system
            except psutil.Error:
                del self.members[pid]
        self.peak = max(self.peak, total)
        return total


class TaskProcess:
    """Run one argv under limits. ``on_stdout`` gets each stdout line (bytes) from a reader thread."""

    def __init__(self, argv: list[str], *, cwd: str, env: dict[str, str], limits: Limits,
                 on_stdout: Callable[[bytes], None], on_stderr: Callable[[str], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.argv, self.cwd, self.env, self.limits = argv, cwd, env, limits
        self.on_stdout, self.on_stderr = on_stdout, on_stderr
        self.stop = stop or threading.Event()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._verdict: tuple[str, str] | None = None
        self._wake = threading.Event()
        self.rss = 0  # last sample, for progress views

    def fail(self, status: str, message: str) -> None:
        """Stop the task now with this status (e.g. invalid_output); callable from any thread."""
        if self._verdict is None:
            self._verdict = (status, message)
        self._wake.set()

    def run(self) -> Outcome:
        started, t0 = time.time(), time.monotonic()
        root = cgroup.available()
        group = None
        if root is not None:
            try:
                group = cgroup.TaskCgroup(root, self.limits.memory)
            except OSError:
                group = None
        mechanism = "cgroup_v2" if group else ("rlimit_as+sampling" if self.limits.address_space else "sampling")
        try:
            forked = psutil.Process().memory_info().rss
        except psutil.Error:
            forked = 0
        try:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                    preexec_fn=self._preexec(group))
        except OSError as exc:
            if group:
                group.remove()
            return Outcome("failed", None, None, time.monotonic() - t0, 0.0, 0, [],
                           f"could not start {self.argv[0]}: {exc.strerror or exc}", mechanism, started)
        readers = [threading.Thread(target=self._read_stdout, args=(proc.stdout,), daemon=True),
                   threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True)]
        for r in readers:
            r.start()
        try:
            status, code, sig, rusage, tree = self._monitor(proc, group, t0)
        finally:
            self._killpg(proc.pid, signal.SIGKILL)  # leftovers of the session
            if group:
                group.kill()
        wall = time.monotonic() - t0
        for r in readers:
            r.join(timeout=2.0)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()  # type: ignore[union-attr]
        cpu = max(rusage.ru_utime + rusage.ru_stime if rusage else 0.0, sum(tree.cpu.values()))
        # ru_maxrss counts the forked copy of this process before exec: trust it only above that
        maxrss = rusage.ru_maxrss * 1024 if rusage else 0
        peak = max(tree.peak, maxrss if maxrss > forked * 1.1 else 0)
        if group:
            peak = max(peak, group.peak())
            oom = group.oom_killed()
            group.remove()
        else:
            oom = False
        message = self._verdict[1] if self._verdict else None
        if status is None and self._verdict is not None:  # a line handler failed it as it was exiting
            status = self._verdict[0]
        if status is None:  # it exited by itself
            tail = "\n".join(self.stderr_tail)
            if oom:
                status, message = "memory_limit", f"the kernel stopped it at the {_mb(self.limits.memory)} limit"
            elif code == 0:
                status = "ok"
            elif self.limits.address_space and not group and _OOM.search(tail):
                status, message = "memory_limit", (f"an allocation failed under the {_mb(self.limits.memory)} "
                                                   "limit (RLIMIT_AS)")
            else:
                status = "failed"
                message = f"killed by signal {_signame(sig)}" if sig else f"exit code {code}"
        proc.returncode = code if code is not None else -(sig or 0)
        return Outcome(status, code, sig, round(wall, 4), round(cpu, 4), int(peak), list(self.stderr_tail),
                       message, mechanism, started)

    # -- the child --------------------------------------------------------------------------------
    def _preexec(self, group: cgroup.TaskCgroup | None) -> Callable[[], None]:
        procs = group.procs if group else None
        limit = None
        if not group and self.limits.address_space:
            limit = self.limits.memory + max(AS_SLACK, self.limits.memory)
            _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
        libc = _libc

        def pre() -> None:  # runs in the child between fork and exec: system calls only
            if procs is not None:
                fd = os.open(procs, os.O_WRONLY)
                os.write(fd, b"0")
                os.close(fd)
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            if libc is not None:
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the task's thread

        return pre

    # -- the parent -------------------------------------------------------------------------------
    def _monitor(self, proc: subprocess.Popen[bytes], group: cgroup.TaskCgroup | None,
                 t0: float) -> tuple[str | None, int | None, int | None, Any, _Tree]:
        lim = self.limits
        deadline = t0 + lim.timeout
        tree = _Tree(psutil.Process(proc.pid))
        poller = None
        try:
            pidfd = os.pidfd_open(proc.pid)
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
        except (AttributeError, OSError):
            pidfd = None
        try:
            while True:
                got = self._reap(proc.pid, block=False)
                if got is not None:
                    return (None, *got, tree)
                now = time.monotonic()
                verdict = None
                if self.stop.is_set():
                    verdict = ("killed", "interrupted (Ctrl-C)")
                elif self._verdict is not None:
                    verdict = self._verdict
                elif now >= deadline:
                    verdict = ("timeout", f"stopped after the {lim.timeout:g} s timeout")
                else:
                    rss = group.current() if group else tree.sample()
                    if group:
                        tree.sample()
                    self.rss = rss
                    if not group and rss > lim.memory:
                        verdict = ("memory_limit", f"the process tree used {_mb(rss)}, over the "
                                   f"{_mb(lim.memory)} limit")
                if verdict is not None:
                    self._verdict = verdict
                    hard = verdict[0] in ("memory_limit", "invalid_output")
                    code, sig, rusage = self._terminate(proc.pid, group, hard)
                    return verdict[0], code, sig, rusage, tree
                wait = max(0.001, min(lim.sample_interval, deadline - now))
                if poller is not None:
                    poller.poll(wait * 1000)
                else:
                    self._wake.wait(wait)
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _reap(self, pid: int, block: bool) -> tuple[int | None, int | None, Any] | None:
        try:
            wpid, status, rusage = os.wait4(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return None, None, None
        if wpid == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        return (code, None, rusage) if code >= 0 else (None, -code, rusage)

    def _terminate(self, pid: int, group: cgroup.TaskCgroup | None,
                   hard: bool) -> tuple[int | None, int | None, Any]:
        """SIGTERM, grace, SIGKILL (or SIGKILL at once); returns the root's (exit code, signal, rusage)."""
        grace = 0.0 if hard else self.limits.grace
        if self.stop.is_set():
            grace = min(grace, 2.0)
        if grace > 0:
            self._killpg(pid, signal.SIGTERM)
            end = time.monotonic() + grace
            while time.monotonic() < end:
                got = self._reap(pid, block=False)
                if got is not None:
                    self._killpg(pid, signal.SIGKILL)
                    return got
                time.sleep(0.01)
        if group is None or not group.kill():
            self._killpg(pid, signal.SIGKILL)
        got = self._reap(pid, block=True)
        return got if got is not None else (None, None, None)

    @staticmethod
    def _killpg(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def _read_stdout(self, stream: Any) -> None:
        on_line = self.on_stdout
        try:
            for line in stream:
                on_line(line)
        except (OSError, ValueError):
            pass
        except Exception as exc:  # a bug in a line handler must not leave the task hanging
            self.fail("failed", f"reading the output failed: {type(exc).__name__}: {exc}")

    def _read_stderr(self, stream: Any) -> None:
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if len(line) > 500:
                    line = line[:497] + "..."
                self.stderr_tail.append(line)
                if self.on_stderr is not None:
                    self.on_stderr(line)
        except (OSError, ValueError):
            pass


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def _signame(sig: int | None) -> str:
    try:
        return signal.Signals(sig).name if sig else "?"
    except ValueError:
        return str(sig)

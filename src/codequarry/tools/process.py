"""One task's process tree under hard limits: wall time, memory of the whole tree, and a clean end.

The command runs as an argv list, never through a shell, in a session of its own, with stdin
closed; stdout and stderr are read in bounded chunks by the task's own thread (``pipes.py``: a line
longer than ``MAX_LINE`` bytes is cut, so a tool printing gigabytes without a newline costs the
runner at most that much). A monitor loop, woken by the process's exit (a pidfd) or every ``sample_interval``
seconds, enforces the limits:

- wall clock: past ``timeout`` the task's processes get SIGTERM, then SIGKILL after ``grace`` seconds;
- memory: with a cgroup (v2 or v1, ``cgroup.py``) the kernel enforces the limit on the whole tree;
  else each process gets RLIMIT_AS as a hard stop for a runaway allocation, and the summed RSS of
  the tree, sampled, gets the tree SIGKILLed past the limit (``limit_mechanism`` says which);
- Ctrl-C (``stop`` set): the tree is terminated and the task recorded as ``killed``.

When the main process exits, every process of the task is killed too, however it detached
(``setsid``, ``setpgid``, a double fork): the cgroup lists them all; without one, the runner is a
child subreaper and finds them by the task's token (``reaper.py``). Their output after that is not
read. The outcome carries the status, exit code or signal, wall and CPU seconds, peak memory, and
the last lines of stderr.
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
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codequarry import cgroup
from codequarry.tools import reaper
from codequarry.tools.pipes import Cut, Pipe

STATUSES = ("ok", "failed", "timeout", "memory_limit", "killed", "invalid_output")
NOT_OK = ("failed", "timeout", "memory_limit", "invalid_output")
STDERR_TAIL = 20
# an allocation refused under RLIMIT_AS, as runtimes report it
_OOM = re.compile(
    r"MemoryError|Cannot allocate memory|out of memory|bad_alloc|heap overflow|"
    r"failed to allocate|memory allocation failed|ENOMEM",
    re.I,
)
# address space beyond resident memory that runtimes reserve (thread stacks, arenas, mapped libraries)
AS_SLACK = 256 << 20

STDERR_LINE = 500  # characters of a stderr line kept
DRAIN = 2.0  # seconds to read what is left in the pipes once every process of the task is gone
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")

try:
    _libc: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None


@dataclass(frozen=True)
class Limits:
    timeout: float
    memory: int  # bytes, whole tree
    grace: float = 5.0
    sample_interval: float = 0.01
    address_space: bool = True  # RLIMIT_AS per process (fallback mechanism only)
    cgroup: bool = True  # use a cgroup when this machine offers one (False: force the sampling fallback)
    # an emptied v1 cgroup goes back to a free list for the next task (the runner, which removes
    # them when its tasks are done: release_cgroups); else each task's cgroup is removed at its end
    reuse_cgroup: bool = False


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
    left_processes: int = 0  # processes of the task still alive after it ended (0 unless a kill failed)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Sampler:
    """Summed RSS and CPU of a task's processes, read from /proc (cheap enough for every 10 ms)."""

    def __init__(self, members: Callable[[], set[int] | list[int]]) -> None:
        self.members = members
        self.cpu: dict[int, float] = {}
        self.peak = 0

    def sample(self) -> int:
        total = 0
        for pid in self.members():
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    total += int(fh.read().split()[1]) * _PAGE
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    stat = fh.read()
                fields = stat[stat.rfind(b")") + 2 :].split()
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
            except (OSError, ValueError, IndexError):
                continue
        self.peak = max(self.peak, total)
        return total


class TaskProcess:
    """Run one argv under limits. ``on_stdout`` gets each stdout line (bytes), or ``on_stdout_lines``
    the lines of each read together;
    ``on_cut`` each line cut at MAX_LINE (default: its head goes to ``on_stdout``)."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        limits: Limits,
        on_stdout: Callable[[bytes], None],
        on_stderr: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
        on_cut: Callable[[Cut], None] | None = None,
        on_stdout_lines: Callable[[list[bytes]], None] | None = None,
        on_stdout_block: Callable[[bytes | memoryview, int, bytes], None] | None = None,
    ) -> None:
        self.argv, self.cwd, self.env, self.limits = argv, cwd, env, limits
        self.on_stdout, self.on_stderr = on_stdout, on_stderr
        self.on_stdout_lines = on_stdout_lines  # if given, stdout lines come in lists (one call per read)
        self.on_stdout_block = on_stdout_block  # if given, runs of whole lines come as one bytes block
        self.on_cut = on_cut or (lambda cut: on_stdout(cut.head + b"\n"))
        self.stop = stop or threading.Event()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._verdict: tuple[str, str] | None = None
        self._wake = threading.Event()
        self._over = False  # the task has ended: lines read from now on are dropped
        self.rss = 0  # last sample, for progress views
        self._members: Callable[[], set[int] | list[int]] = list

    def fail(self, status: str, message: str) -> None:
        """Stop the task now with this status (e.g. invalid_output); callable from any thread."""
        if self._verdict is None:
            self._verdict = (status, message)
        self._wake.set()

    def _cgroup(self) -> tuple[cgroup.TaskCgroup | None, str]:
        """The task's cgroup (None for the fallback) and the name of the memory-limit mechanism: an
        emptied v1 cgroup of an earlier task with the same limit when there is one (``_give_back``)."""
        hierarchy = cgroup.available() if self.limits.cgroup else None
        if hierarchy is not None:
            with _free_lock:
                for i, group in enumerate(_free if self.limits.reuse_cgroup else []):
                    if group.memory == self.limits.memory and group.path.parent == hierarchy.parent:
                        return _free.pop(i), hierarchy.mechanism
            try:
                return cgroup.TaskCgroup(hierarchy, self.limits.memory), hierarchy.mechanism
            except OSError:
                pass
        return None, "rlimit_as+sampling" if self.limits.address_space else "sampling"

    def run(self) -> Outcome:
        started, t0 = time.time(), time.monotonic()
        group, mechanism = self._cgroup()
        subreaper = group is None and reaper.acquire()
        try:
            return self._run(group, mechanism, started, t0)
        finally:
            if subreaper:
                reaper.release()

    def _run(self, group: cgroup.TaskCgroup | None, mechanism: str, started: float, t0: float) -> Outcome:
        token = uuid.uuid4().hex
        try:
            proc = self._spawn(group, token)
        except OSError as exc:
            return self._not_started(exc, group, mechanism, started, t0)
        reaper.register(proc.pid, True)
        tree = reaper.TaskTree(proc.pid, token)
        tree.born = reaper.start_time(proc.pid)
        members: Callable[[], set[int] | list[int]] = group.pids if group else tree.members
        self._members = members
        pipes = self._pipes(proc)
        sampler = _Sampler(members)
        try:
            status, code, sig, rusage = self._monitor(proc, group, sampler, t0, pipes)
        finally:
            left = self._kill_all(proc.pid, group, tree)
            reaper.register(proc.pid, False)
        wall = time.monotonic() - t0
        self._drain(pipes, time.monotonic() + DRAIN)  # every writer is gone: what is left was written before
        self._over = True  # output still coming past the drain time is not read
        for p in pipes:
            p.close()
        cpu = max(rusage.ru_utime + rusage.ru_stime if rusage else 0.0, sum(sampler.cpu.values()))
        peak, oom = self._peak_and_oom(group, sampler, sig)
        status, message = self._classify(status, code, sig, oom, bool(group))
        proc.returncode = code if code is not None else -(sig or 0)
        return Outcome(
            status,
            code,
            sig,
            round(wall, 4),
            round(cpu, 4),
            int(peak),
            list(self.stderr_tail),
            message,
            mechanism,
            started,
            left,
        )

    def _not_started(
        self, exc: OSError, group: cgroup.TaskCgroup | None, mechanism: str, started: float, t0: float
    ) -> Outcome:
        """The outcome of a task whose process could not start (no such file, not executable): failed."""
        if group:
            _give_back(group, self.limits.reuse_cgroup)
        return Outcome(
            "failed",
            None,
            None,
            time.monotonic() - t0,
            0.0,
            0,
            [],
            f"could not start {self.argv[0]}: {exc.strerror or exc}",
            mechanism,
            started,
        )

    def _pipes(self, proc: subprocess.Popen[bytes]) -> list[Pipe]:
        """The task's stdout (its lines to the reader, a cut line reported) and stderr (its tail kept)."""
        block = self._stdout_block if self.on_stdout_block is not None else None
        return [
            Pipe(proc.stdout, self._stdout_lines, self._stdout_cut, self._reader_failed, block),
            Pipe(
                proc.stderr, self._stderr_lines, lambda cut: self._stderr_line(cut.head), self._reader_failed
            ),
        ]

    def _peak_and_oom(
        self, group: cgroup.TaskCgroup | None, sampler: _Sampler, sig: int | None
    ) -> tuple[int, bool]:
        """The task's peak memory and whether the kernel killed it for memory; its cgroup, if it had
        one, is removed once read."""
        peak = sampler.peak  # summed RSS: a page shared by forked processes counts once per process
        oom = False
        if group:
            peak = group.peak() or peak  # the kernel's count: each page once
            oom = group.oom_killed() or (sig == signal.SIGKILL and group.hit_limit())
            _give_back(group, self.limits.reuse_cgroup)
        return peak, oom

    def _classify(
        self, status: str | None, code: int | None, sig: int | None, oom: bool, cgroup_used: bool
    ) -> tuple[str, str | None]:
        message = self._verdict[1] if self._verdict else None
        if status is None and self._verdict is not None:  # a line handler failed it as it was exiting
            status = self._verdict[0]
        if status is not None:
            return status, message
        tail = "\n".join(self.stderr_tail)
        if oom:
            return "memory_limit", f"the kernel stopped it at the {_mb(self.limits.memory)} limit"
        if code == 0:
            return "ok", message
        if self.limits.address_space and not cgroup_used and _OOM.search(tail):
            return (
                "memory_limit",
                f"an allocation failed under the {_mb(self.limits.memory)} limit (RLIMIT_AS)",
            )
        return "failed", f"killed by signal {_signame(sig)}" if sig else f"exit code {code}"

    # -- output -----------------------------------------------------------------------------------
    def _stdout_lines(self, lines: list[bytes]) -> None:
        if self._over:
            return
        if self.on_stdout_lines is not None:
            self.on_stdout_lines(lines)
            return
        for line in lines:
            self.on_stdout(line)

    def _stdout_block(self, block: bytes | memoryview, lines: int, head: bytes) -> None:
        if not self._over:
            self.on_stdout_block(block, lines, head)  # type: ignore[misc]  # set: _pipes passes it only then

    def _stderr_lines(self, lines: list[bytes]) -> None:
        for line in lines:
            self._stderr_line(line)

    def _stdout_cut(self, cut: Cut) -> None:
        if not self._over:
            self.on_cut(cut)

    def _stderr_line(self, raw: bytes) -> None:
        if self._over:
            return
        line = raw[: STDERR_LINE * 4].decode("utf-8", "replace").rstrip("\r\n")
        if len(line) > STDERR_LINE:
            line = line[: STDERR_LINE - 3] + "..."
        self.stderr_tail.append(line)
        if self.on_stderr is not None:
            self.on_stderr(line)

    def _reader_failed(self, message: str) -> None:
        self.fail("failed", message)

    # -- the child --------------------------------------------------------------------------------
    def _spawn(self, group: cgroup.TaskCgroup | None, token: str) -> subprocess.Popen[bytes]:
        """Start the command. Under a v1 cgroup the spawning thread joins the cgroup and the child is
        made with vfork (no preexec function: a full fork of the runner costs ~6 ms a task); the
        child then has no parent-death signal, but the cgroup kills it with the task, and a runner
        that died leaves cgroups whose processes the next run kills. Elsewhere a preexec function
        joins the cgroup (v2), sets RLIMIT_AS (fallback) and the parent-death signal."""
        kwargs: dict[str, Any] = dict(
            cwd=self.cwd,
            env={**self.env, reaper.TOKEN_VAR: token},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            shell=False,
        )
        if group is not None and group.version == 1:
            with group.joined():
                return subprocess.Popen(self.argv, **kwargs)
        return subprocess.Popen(self.argv, preexec_fn=self._preexec(group), **kwargs)

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
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            if libc is not None:
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the task's thread

        return pre

    # -- the parent -------------------------------------------------------------------------------
    def _monitor(
        self,
        proc: subprocess.Popen[bytes],
        group: cgroup.TaskCgroup | None,
        sampler: _Sampler,
        t0: float,
        pipes: list[Pipe],
    ) -> tuple[str | None, int | None, int | None, Any]:
        """Wait for the root's exit (a pidfd) or output (read here), checking the limits every sample
        interval; returns (status if the runner stopped it, exit code, signal, rusage)."""
        lim = self.limits
        deadline = t0 + lim.timeout
        # with a cgroup the kernel holds the limit: samples are for the v1 OOM check and the view
        every = lim.sample_interval if group is None else max(lim.sample_interval, 0.05)
        poller = select.poll()
        by_fd = {p.fd: p for p in pipes}
        for fd in by_fd:
            poller.register(fd, select.POLLIN | select.POLLHUP)
        pidfd: int | None
        try:
            pidfd = os.pidfd_open(proc.pid)
            poller.register(pidfd, select.POLLIN)
        except (AttributeError, OSError):
            pidfd = None
        # without a cgroup, sample at once (a short task's peak is what the samples saw); with one,
        # the first check waits an interval like the others: the kernel holds the limit and keeps
        # the peak, and a task over before then costs no reads of cgroupfs and /proc for it
        next_check = 0.0 if group is None else t0 + every
        try:
            while True:
                got = self._reap(proc.pid, block=False)
                if got is not None:
                    return (None, *got)
                now = time.monotonic()
                if now >= next_check or now >= deadline or self._verdict is not None or self.stop.is_set():
                    verdict = self._verdict_now(group, sampler, now >= deadline)
                    if verdict is not None:
                        self._verdict = verdict
                        hard = verdict[0] in ("memory_limit", "invalid_output")
                        return (verdict[0], *self._terminate(proc.pid, group, hard))
                    next_check = now + every
                wait = max(0.001, min(next_check - now, deadline - now))
                for fd, _event in poller.poll(wait * 1000):  # without a pidfd: a reap every interval
                    pipe = by_fd.get(fd)
                    if pipe is not None:
                        pipe.read()
                        if not pipe.open:
                            poller.unregister(fd)
                            del by_fd[fd]
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _drain(self, pipes: list[Pipe], until: float) -> None:
        """Read what is left in the pipes, until EOF on both or ``until``."""
        poller = select.poll()
        by_fd = {p.fd: p for p in pipes if p.open}
        for fd in by_fd:
            poller.register(fd, select.POLLIN | select.POLLHUP)
        while by_fd and time.monotonic() < until:
            for fd, _event in poller.poll(max(1.0, 1000 * (until - time.monotonic()))):
                pipe = by_fd[fd]
                pipe.read()
                if not pipe.open:
                    poller.unregister(fd)
                    del by_fd[fd]

    def _verdict_now(
        self, group: cgroup.TaskCgroup | None, sampler: _Sampler, late: bool
    ) -> tuple[str, str] | None:
        lim = self.limits
        if self.stop.is_set():
            return "killed", "interrupted (Ctrl-C)"
        if self._verdict is not None:
            return self._verdict
        if late:
            return "timeout", f"stopped after the {lim.timeout:g} s timeout"
        rss = sampler.sample()
        if group is not None:
            self.rss = group.current()
            if group.oom_killed():  # v1 kills one process at the limit: the rest of the tree follows
                return "memory_limit", f"the kernel stopped it at the {_mb(lim.memory)} limit"
            return None
        self.rss = rss
        if rss > lim.memory:
            return "memory_limit", f"the process tree used {_mb(rss)}, over the {_mb(lim.memory)} limit"
        return None

    def _reap(self, pid: int, block: bool) -> tuple[int | None, int | None, Any] | None:
        try:
            wpid, status, rusage = os.wait4(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return None, None, None
        if wpid == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        return (code, None, rusage) if code >= 0 else (None, -code, rusage)

    def _signal_all(self, pid: int, group: cgroup.TaskCgroup | None, sig: int) -> None:
        """A signal to the task's session, and to every other process of the task (detached ones)."""
        self._killpg(pid, sig)
        for other in self._members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(other, sig)

    def _terminate(
        self, pid: int, group: cgroup.TaskCgroup | None, hard: bool
    ) -> tuple[int | None, int | None, Any]:
        """SIGTERM, grace, SIGKILL (or SIGKILL at once); returns the root's (exit code, signal, rusage)."""
        grace = 0.0 if hard else self.limits.grace
        if self.stop.is_set():
            grace = min(grace, 2.0)
        if grace > 0:
            self._signal_all(pid, group, signal.SIGTERM)
            end = time.monotonic() + grace
            while time.monotonic() < end:
                got = self._reap(pid, block=False)
                if got is not None:
                    return got
                time.sleep(0.01)
        self._signal_all(pid, group, signal.SIGKILL)
        got = self._reap(pid, block=True)
        return got if got is not None else (None, None, None)

    def _kill_all(self, pid: int, group: cgroup.TaskCgroup | None, tree: reaper.TaskTree) -> int:
        """Kill whatever the task left behind, however it detached; returns how many survived."""
        self._killpg(pid, signal.SIGKILL)
        if group is not None:
            left = 0 if group.kill() else len(group.pids())
            # orphans re-parented to this process (a subreaper while fallback tasks run): reap them
            reaper.reap(group.seen - {pid})
            reaper.reap_strays(pid, tree.born)
            return left
        left = 0 if tree.kill() else len(tree.members() - {pid})
        reaper.reap_strays(pid, tree.born)
        return left

    @staticmethod
    def _killpg(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)


_free: list[cgroup.TaskCgroup] = []  # emptied v1 cgroups ready for another task (one per task thread)
_free_lock = threading.Lock()
MAX_FREE = 64  # past this many, an emptied cgroup is removed


def _give_back(group: cgroup.TaskCgroup, reuse: bool) -> None:
    """An ended task's cgroup (read, its processes gone): kept for the next task when asked and it
    can be reused (``TaskCgroup.ready_again``), else removed."""
    if reuse and group.ready_again():
        with _free_lock:
            if len(_free) < MAX_FREE:
                _free.append(group)
                return
    group.remove()


def release_cgroups() -> None:
    """Remove the cgroups kept for reuse (the runner, once its tasks have ended; at exit, the rest)."""
    with _free_lock:
        kept = list(_free)
        _free.clear()
    for group in kept:
        group.remove()


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def _signame(sig: int | None) -> str:
    try:
        return signal.Signals(sig).name if sig else "?"
    except ValueError:
        return str(sig)

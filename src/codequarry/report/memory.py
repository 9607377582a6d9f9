"""Memory over time: a light background thread sampling the resident memory of this process and of
its children (the worker pool, tool tasks) a few times a second, for the run report's chart."""

from __future__ import annotations

import os
import resource
import threading
import time

from codequarry.report.model import Memory, MemorySample

MAX_SAMPLES = 600  # past this, every other sample is dropped and the interval doubles
_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemorySampler:
    """``with MemorySampler() as m: ...`` then ``m.memory()``; costs a few /proc reads per sample.

    The resident sizes are read from ``/proc/PID/statm``, as psutil reads them on Linux; psutil
    (10 ms of import) serves only where /proc cannot be read."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[MemorySample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._t0 = time.perf_counter()
        self.worker_peak = 0

    def __enter__(self) -> MemorySampler:
        self._t0 = time.perf_counter()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="quarry-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        try:
            got: tuple[int, list[int | None]] | None = _proc_sample(self._pid)
        except OSError:  # no /proc here (or not its files): psutil
            got = _psutil_sample(self._pid)
        if got is None:
            return
        parent, workers = got
        children = 0
        for rss in workers:
            if rss is not None:
                children += rss
                self.worker_peak = max(self.worker_peak, rss)
        self.samples.append(
            MemorySample(t=round(time.perf_counter() - self._t0, 3), parent=parent, workers=children)
        )
        if len(self.samples) > MAX_SAMPLES:
            self.samples = self.samples[::2]
            self.interval *= 2

    def memory(self, worker_peak: int = 0) -> Memory:
        """The samples, this program's peak (the kernel's figure) and the largest worker peak seen."""
        peak = max([peak_rss(), *(s.parent for s in self.samples)])
        return Memory(
            parent_peak=peak,
            worker_peak=max(worker_peak, self.worker_peak),
            interval=self.interval,
            samples=list(self.samples),
        )


def peak_rss() -> int:
    """This program's peak resident bytes: ``VmHWM`` of ``/proc/self/status``, the high-water mark of
    its own memory map. ``ru_maxrss`` is not that: Linux keeps it across ``execve``, so a quarry
    started by a process that had grown (a bench script that had read a large store, a shell tool)
    reported the launcher's peak as its own. ``ru_maxrss`` only where /proc cannot tell."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _rss(pid: int) -> int:
    """Resident bytes of a process: the second field of ``/proc/PID/statm``, in pages."""
    with open(f"/proc/{pid}/statm", "rb") as fh:
        return int(fh.read().split()[1]) * _PAGE


def _psutil_sample(pid: int) -> tuple[int, list[int | None]] | None:
    """What ``_proc_sample`` reads, asked of psutil; None when the process cannot be read."""
    import psutil

    sizes: list[int | None] = []
    try:
        proc = psutil.Process(pid)
        for child in proc.children(recursive=True):
            try:
                sizes.append(int(child.memory_info().rss))
            except psutil.Error:
                sizes.append(None)
        return int(proc.memory_info().rss), sizes
    except psutil.Error:
        return None


def _proc_sample(pid: int) -> tuple[int, list[int | None]]:
    """(this process's resident bytes, each descendant's or None when it ended meanwhile), from
    /proc; OSError where /proc cannot tell."""
    parent = _rss(pid)
    sizes: list[int | None] = []
    for child in descendants(pid):
        try:
            sizes.append(_rss(child))
        except (OSError, ValueError, IndexError):
            sizes.append(None)  # ended since it was listed
    return parent, sizes


def descendants(pid: int) -> list[int]:
    """The pids of ``psutil.Process(pid).children(recursive=True)``, read from
    ``/proc/PID/task/TID/children`` where Linux has it: psutil reads every process of the machine to
    find the children (~1.5 ms a sample with 100 processes, four samples a second), these files only
    the process's own. OSError where the kernel lacks those files."""
    pids: list[int] = []
    todo = [pid]
    while todo:
        at = todo.pop()
        try:
            tids = os.listdir(f"/proc/{at}/task")
        except FileNotFoundError:
            if at == pid:
                raise
            continue  # a process that ended meanwhile
        for tid in tids:
            try:
                with open(f"/proc/{at}/task/{tid}/children", encoding="ascii") as fh:
                    found = [int(c) for c in fh.read().split()]
            except FileNotFoundError:
                if at == pid and tid == str(pid):
                    raise  # no such file at all: a kernel without it
                continue  # a thread or process that ended meanwhile
            except ValueError as exc:
                raise OSError(f"unreadable children of {at}") from exc
            pids += found
            todo += found
    return pids

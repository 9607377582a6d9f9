"""Memory over time: a light background thread sampling the resident memory of this process and of
its children (the worker pool, tool tasks) a few times a second, for the run report's chart."""

from __future__ import annotations

import os
import resource
import threading
import time

import psutil

from codequarry.report.model import Memory, MemorySample

MAX_SAMPLES = 600  # past this, every other sample is dropped and the interval doubles


class MemorySampler:
    """``with MemorySampler() as m: ...`` then ``m.memory()``; costs a few /proc reads per sample."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[MemorySample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc = psutil.Process()
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
            parent = self._proc.memory_info().rss
            children = 0
            for child in descendants(self._proc):
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                children += rss
                self.worker_peak = max(self.worker_peak, rss)
        except psutil.Error:
            return
        self.samples.append(
            MemorySample(t=round(time.perf_counter() - self._t0, 3), parent=parent, workers=children)
        )
        if len(self.samples) > MAX_SAMPLES:
            self.samples = self.samples[::2]
            self.interval *= 2

    def memory(self, worker_peak: int = 0) -> Memory:
        """The samples, this process's peak (the kernel's figure) and the largest worker peak seen."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak = max([peak, *(s.parent for s in self.samples)])
        return Memory(
            parent_peak=peak,
            worker_peak=max(worker_peak, self.worker_peak),
            interval=self.interval,
            samples=list(self.samples),
        )


def descendants(proc: psutil.Process) -> list[psutil.Process]:
    """``proc.children(recursive=True)``, read from ``/proc/PID/task/TID/children`` where Linux has
    it: psutil reads every process of the machine to find the children (~1.5 ms a sample with 100
    processes, four samples a second), these files only the process's own."""
    pids: list[int] = []
    todo = [proc.pid]
    try:
        while todo:
            pid = todo.pop()
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                        found = [int(c) for c in fh.read().split()]
                except FileNotFoundError:
                    if pid == proc.pid and tid == str(proc.pid):
                        raise  # no such file at all: a kernel without it
                    continue  # a thread or process that ended meanwhile
                pids += found
                todo += found
    except (OSError, ValueError):
        return list(proc.children(recursive=True))
    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return out

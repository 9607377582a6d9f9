"""The local engine: a pool of worker processes on this machine, or the calling process itself.

At most two chunks per worker are in flight, so the parent never holds more than a few results in
memory whatever the corpus size (the writer spools each result to disk as it arrives).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from codequarry.engine.worker import ChunkResult, FileTask, WorkerConfig, process_chunk


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    # the parent handles Ctrl-C and stops the pool; workers must not print their own tracebacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a killed run leaves no orphan."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers still exit when their queue closes
        pass


class LocalEngine:
    """Workers are forked, and forked early (``start``), before the parent has started the threads
    of Delta Lake or DataFusion: a fork copies no lock held by a thread, nothing re-imports the user's
    ``__main__`` (as spawn and forkserver do), and a worker costs milliseconds to start."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 1 and self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("fork"),
                                             initializer=_init_worker)
            self._pool.submit(os.getpid).result()  # forks every worker now

    def close(self) -> None:
        """Stop workers that were started but not used (the run failed before executing)."""
        if self._pool is not None:
            _kill_pool(self._pool)
            self._pool = None

    def map(self, config: WorkerConfig, chunks: Iterable[list[FileTask]]) -> Iterator[ChunkResult]:
        if self.workers <= 1:
            for chunk in chunks:
                yield process_chunk(config, chunk)
            return
        self.start()
        pool = self._pool
        assert pool is not None
        self._pool = None
        pending: set[Future[ChunkResult]] = set()
        todo = iter(chunks)
        clean = False
        try:
            for chunk in todo:
                pending.add(pool.submit(process_chunk, config, chunk))
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending.add(pool.submit(process_chunk, config, nxt))
                    yield fut.result()
            clean = True
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:
                _kill_pool(pool)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now (Ctrl-C, or the consumer gave up): nothing is left running."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=5)

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


class LocalEngine:
    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()

    def map(self, config: WorkerConfig, chunks: Iterable[list[FileTask]]) -> Iterator[ChunkResult]:
        if self.workers <= 1:
            for chunk in chunks:
                yield process_chunk(config, chunk)
            return
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["codequarry.engine.worker"])
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker)
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

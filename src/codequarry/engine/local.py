"""The local engine: supervised worker processes on this machine, or the calling process itself.

With more than one worker, files run in forked processes watched by a Supervisor (timeouts,
crashes and memory limits cost one file). With ``--workers 1`` everything runs in the calling
process, which is easy to debug; a hang in pure Python is still stopped by a timer signal there,
but a crash in native code ends the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from codequarry.cores import default_workers
from codequarry.engine.limits import Limits
from codequarry.engine.worker import ChunkResult, FileTask, WorkerConfig, process_alone_on_failure

if TYPE_CHECKING:
    from codequarry.engine.supervisor import Supervisor


class LocalEngine:
    """Workers are forked early (``start``), before the parent has started the threads of Delta Lake
    or DataFusion and before it takes the store lock: nothing re-imports the user's ``__main__`` (as
    spawn and forkserver do), no worker inherits the lock, and a worker costs milliseconds to start."""

    name = "local"

    def __init__(self, workers: int | None = None, limits: Limits | None = None) -> None:
        self.workers = workers or default_workers()
        self.limits = limits or Limits()
        self._supervisor: Supervisor | None = None

    def start(self) -> None:
        if self.workers > 1 and self._supervisor is None:
            from codequarry.engine.supervisor import Supervisor  # not imported by a one-worker run

            self._supervisor = Supervisor(self.workers, self.limits)
            self._supervisor.start()

    def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.close()
            self._supervisor = None

    def release(self) -> None:
        """The run needs its workers no more (its operations are done): they are killed now, so that
        the kernel frees them while the run publishes; ``close`` waits for them."""
        if self._supervisor is not None:
            self._supervisor.stop()

    def offload(self) -> Callable[..., Any] | None:
        """Where the run may send picklable calls to run beside the parent (``Supervisor.call``):
        the pool's worker processes, idle once the files are extracted. None with one worker, and
        under ``--max-memory-per-worker`` (a worker's address-space limit is not the parent's); a
        default limit is lifted for each call instead (``Supervisor.call``)."""
        if self._supervisor is None or (self.limits.max_memory and not self.limits.memory_default):
            return None
        return self._supervisor.call

    def memory_mechanism(self) -> str:
        """What holds the workers to their memory limit (``Supervisor.limit_mechanism``: cgroup-v1,
        cgroup-v2, rlimit_as or sampling), for the run's summary; "" when no worker was started."""
        return self._supervisor.limit_mechanism if self._supervisor is not None else ""

    def map(self, config: WorkerConfig, chunks: Iterable[list[FileTask]]) -> Iterator[ChunkResult]:
        if self.workers <= 1:
            yield from _in_process(config, chunks, self.limits)
            return
        self.start()
        assert self._supervisor is not None
        yield from self._supervisor.map(config, chunks)


def _in_process(
    config: WorkerConfig, chunks: Iterable[list[FileTask]], limits: Limits
) -> Iterator[ChunkResult]:
    for chunk in chunks:
        yield from process_alone_on_failure(config, chunk, limits.file_timeout)

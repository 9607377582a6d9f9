"""The Ray engine: the same chunks, run as Ray tasks on a cluster (or a local Ray instance).

Workers run :func:`process_chunk` exactly as local workers do and write their Parquet parts into the
store's table folders, returning only small metadata; the driver commits and publishes. Sources and
the store must therefore be on a filesystem every node sees (NFS, a shared volume); a worker that
cannot read a source says so and the run stops with that message.

Bad files are contained as in the local engine:
- a hang in Python code is stopped inside the task by a per-file timer;
- a task that dies (segfault, ``os._exit``, Ray's memory monitor) is retried by Ray once; if it
  dies again, or runs past its deadline (a hang in native code), its chunk is split into one task
  per file, and the file whose task fails alone becomes an error row (``crash``, ``timeout``,
  ``memory_limit``) while the others are processed.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from codequarry.engine.limits import Limits
from codequarry.engine.supervisor import CRASH_MESSAGE, MEMORY_MESSAGE, timeout_message
from codequarry.engine.worker import ChunkResult, FileTask, WorkerConfig, failure_result
from codequarry.errors import QuarryError, UsageError

INSTALL = "pip install 'codequarry[ray]'"
GRACE = 30.0  # seconds a chunk may run beyond the sum of its files' timeouts


class SharedFilesystemError(QuarryError):
    """A Ray worker cannot see a source or the store."""


def _import_ray(loopback: bool = False) -> Any:
    """Ray; with ``loopback``, told that the cluster is on this machine's loopback interface (Ray
    otherwise rewrites 127.0.0.1 in an address to the machine's outward address, where a
    loopback-only head does not listen)."""
    if loopback:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
        from ray._private import ray_constants
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed: {INSTALL}") from None
    if loopback:
        ray_constants.ENABLE_RAY_CLUSTER = False  # read at call time; set when Ray was imported earlier
    return ray


def _is_loopback(address: str | None) -> bool:
    host = (address or "").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _ray_chunk(
    config: WorkerConfig, tasks: list[FileTask], limits: Limits, progress_path: str | None = None
) -> ChunkResult | str:
    """Runs on a Ray worker. Returns the result, or a message when this node cannot see the files.
    With ``progress_path``, the file and extractor being processed are kept in that (memory-mapped)
    file, so that the driver can name the extractor a dying worker was running."""
    import mmap
    import resource
    import threading

    from codequarry.engine.worker import process_chunk

    host = socket.gethostname()
    for root in sorted({t.root for t in tasks}):
        if not os.path.isdir(root):
            return f"node {host} cannot read source folder {root}"
    if config.tables_dir is not None and not os.access(config.tables_dir, os.W_OK):
        return f"node {host} cannot write the store's tables folder {config.tables_dir}"
    timer = limits.file_timeout if threading.current_thread() is threading.main_thread() else None
    old = None
    if limits.max_memory:
        import psutil

        old = resource.getrlimit(resource.RLIMIT_AS)
        limit = psutil.Process().memory_info().vms + limits.max_memory
        if old[1] == resource.RLIM_INFINITY or old[1] > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, old[1]))
    progress = mapped = None
    if progress_path is not None:
        with open(progress_path, "wb") as fh:
            fh.write(b"\xff" * 24)
        fd = os.open(progress_path, os.O_RDWR)
        mapped = mmap.mmap(fd, 24)
        os.close(fd)
        progress = memoryview(mapped).cast("q")
    try:
        return process_chunk(config, tasks, progress=progress, timeout=timer)
    finally:
        if old is not None:
            resource.setrlimit(resource.RLIMIT_AS, old)
        if progress is not None and mapped is not None:
            progress.release()
            mapped.close()


class RayEngine:
    name = "ray"

    def __init__(
        self, workers: int | None = None, limits: Limits | None = None, address: str | None = None
    ) -> None:
        self.workers = workers
        self.limits = limits or Limits()
        self.address = address
        self._started = False
        self._ray: Any = None

    def start(self) -> None:
        if self._ray is not None:
            return
        ray = _import_ray(loopback=self.address is None or _is_loopback(self.address))
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if self.address:
                kwargs["address"] = self.address
            else:
                # a Ray of our own on loopback, never a cluster some other program left running here
                kwargs["address"] = "local"
                kwargs["_node_ip_address"] = "127.0.0.1"
                kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
                # local workers import extractors (plugins too) from the driver's path
                kwargs["runtime_env"] = {
                    "env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
                }
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise UsageError(f"cannot join the Ray cluster at '{self.address}': {exc}") from None
            self._started = True
        self._ray = ray

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray = None
        self._started = False

    def map(self, config: WorkerConfig, chunks: Iterable[list[FileTask]]) -> Iterator[ChunkResult]:
        self.start()
        ray = self._ray
        chunk_task = ray.remote(_ray_chunk).options(num_cpus=1, max_retries=1, retry_exceptions=False)
        single_task = ray.remote(_ray_chunk).options(num_cpus=1, max_retries=0, retry_exceptions=False)
        capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limits = self.limits
        pending: dict[Any, tuple[list[FileTask], float, bool]] = {}
        todo = iter(chunks)
        splits: list[list[FileTask]] = []

        def deadline(tasks: list[FileTask]) -> float:
            per = limits.file_timeout or 3600.0
            return time.monotonic() + per * len(tasks) + GRACE

        def submit(tasks: list[FileTask], alone: bool) -> None:
            if alone:
                ref = single_task.remote(config, tasks, limits, self._progress_path(config, tasks[0]))
                pending[ref] = (tasks, time.monotonic() + (limits.file_timeout or 3600.0) + GRACE, True)
            else:
                pending[chunk_task.remote(config, tasks, limits)] = (tasks, deadline(tasks), False)

        try:
            while True:
                while len(pending) < 2 * capacity:
                    if splits:
                        submit([splits.pop()[0]], alone=True)
                        continue
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    submit(nxt, alone=False)
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    tasks, _dl, alone = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the task's worker died, or Ray killed it for memory
                        yield from self._failed(config, tasks, alone, _kind(exc), splits)
                        continue
                    if isinstance(result, str):
                        raise SharedFilesystemError(
                            f"{result}: with --engine ray, sources and the store must be on a filesystem every "
                            "node sees (the same path on each)"
                        )
                    yield result
                now = time.monotonic()
                for ref, (tasks, dl, alone) in list(pending.items()):
                    if now > dl:  # a hang in native code: only killing the worker stops it
                        ray.cancel(ref, force=True)
                        del pending[ref]
                        yield from self._failed(config, tasks, alone, "timeout", splits)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _failed(
        self,
        config: WorkerConfig,
        tasks: list[FileTask],
        alone: bool,
        kind: str,
        splits: list[list[FileTask]],
    ) -> Iterator[ChunkResult]:
        if not alone:
            splits.extend([t] for t in tasks)  # find the culprit: one task per file
            return
        task = tasks[0]
        message = {
            "timeout": timeout_message(self.limits.file_timeout),
            "memory_limit": MEMORY_MESSAGE,
            "crash": CRASH_MESSAGE,
        }[kind]
        extractor = self._extractor_of(config, task)
        yield failure_result(config, task, kind, f"{message} while running {extractor}", extractor=extractor)

    def memory_mechanism(self) -> str:
        """Each Ray task caps its own address space (``_run_tasks``)."""
        return "rlimit_as"

    @staticmethod
    def _progress_path(config: WorkerConfig, task: FileTask) -> str | None:
        if config.tables_dir is None:
            return None
        folder = os.path.join(os.path.dirname(config.tables_dir), "staging", config.run_id)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"progress-{task.key}")

    def _extractor_of(self, config: WorkerConfig, task: FileTask) -> str:
        """The extractor a failed single-file task was running, from its progress file."""
        import struct

        from codequarry.engine.worker import load_extractors

        path = self._progress_path(config, task)
        try:
            with open(path or "", "rb") as fh:
                key, index, _started = struct.unpack("qqq", fh.read(24))
        except (OSError, struct.error):
            return "worker"
        names = [ex.name for ex in load_extractors(config.extractors)]
        return names[index] if key == task.key and 0 <= index < len(names) else "worker"


def _kind(exc: Exception) -> str:
    name = type(exc).__name__
    if "OutOfMemory" in name:
        return "memory_limit"
    if "TaskCancelled" in name:
        return "timeout"
    return "crash"

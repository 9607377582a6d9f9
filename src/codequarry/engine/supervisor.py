"""A pool of forked worker processes that survives bad files.

Each worker publishes, in a few shared integers, the file it is on, the extractor running and when
the file started. The supervisor needs nothing else to contain a failure to one file:

- a file that runs past ``file_timeout`` gets its worker killed, and becomes an error of kind
  ``timeout``;
- a worker that dies (a segfault in a native parser, ``os._exit`` in a plugin, the OOM killer) costs
  the file it was on: the file is retried once alone, then recorded as ``crash``;
- a worker whose own memory (what it allocates after the fork, not the parent's image it shares)
  passes ``max_memory`` is stopped: the file becomes ``memory_limit``. Where this process may create
  cgroups (v2, or v1 as on a ``/sys/fs/cgroup/memory`` hierarchy: see ``codequarry.cgroup``)
  each worker runs in its own cgroup and the kernel holds it to the limit; otherwise its resident
  memory above its size at the fork is sampled every ``SAMPLE`` seconds (and an allocation past the
  address-space limit raises MemoryError inside it). ``Supervisor.limit_mechanism`` says which.
  The run's default limit (``Limits.memory_default``) is held by the kernel only: the cgroup where
  there is one, else the address-space limit, without sampling.

The rest of the chunk is sent again, without the culprit, to a fresh worker. Workers die with the
parent (PR_SET_PDEATHSIG) and are killed on Ctrl-C, SIGTERM or any error in the parent.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing as mp
import os
import pickle
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import psutil

from codequarry import cgroup
from codequarry.engine.limits import MEMORY_MESSAGE as MEMORY_MESSAGE  # the engines' and worker's
from codequarry.engine.limits import Limits as Limits  # where it was defined before
from codequarry.engine.worker import (
    ChunkResult,
    FileTask,
    WorkerConfig,
    alone_failure,
    failure_result,
    load_extractors,
)

POLL = 0.05  # seconds between checks of timeouts, at least (and of memory, when a cgroup holds it)
POLL_MAX = 1.0  # at most: a 60 s --file-timeout is checked every second, not 20 times a second
SAMPLE = 0.01  # seconds between samples of each worker's memory when no cgroup holds it
# messages are the same whatever the engine, so that engines produce the same rows
CRASH_MESSAGE = "the worker process died"


def timeout_message(seconds: float | None) -> str:
    return f"stopped after --file-timeout {seconds:g} s" if seconds else "stopped: it ran too long"


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a killed run leaves no orphan."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers still exit when their pipe closes
        pass


def _worker_main(conn: Connection, slot: Any, max_memory: int | None, address_space: bool) -> None:
    from codequarry.engine.worker import per_file_error, process_chunk

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.disable()  # a crash in a worker is reported as an error row, not a dump on stderr
    die_with_parent()
    if max_memory and address_space:
        # a hard stop for allocations too fast for the supervisor to sample: above the address
        # space the worker already uses, at most max_memory more (MemoryError, not a crash)
        base = psutil.Process().memory_info().vms
        limit = base + max_memory
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        if msg[0] == "call":
            _answer_call(conn, msg[1])
            continue
        chunk_id, config, tasks = msg
        try:
            result = process_chunk(config, tasks, progress=slot)
        except BaseException as exc:  # reported to the parent: it retries each file alone, or fails the run
            conn.send(("error", chunk_id, (f"{type(exc).__name__}: {exc}", per_file_error(exc))))
            continue
        conn.send(("done", chunk_id, result))


def _answer_call(conn: Connection, payload: bytes) -> None:
    """Run one ``Supervisor.call`` (``payload``: the pickled function and arguments, unpickled here so
    that a failure to rebuild them is the call's exception) and send back what it returned or raised;
    an exception that could not be rebuilt in the parent travels as its type name and message.
    The call runs as the parent would: without the address-space limit the files have (set again
    after it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        fn, args = pickle.loads(payload)
        value = fn(*args)
    except BaseException as exc:  # the caller re-raises it
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - any failure to travel: send its text instead
            exc = CallFailed(f"{type(exc).__name__}: {exc}")
        conn.send(("raised", exc))
        return
    finally:
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    try:
        conn.send(("returned", value))
    except Exception as exc:  # noqa: BLE001 - the value cannot travel (pickling it failed)
        conn.send(("raised", CallFailed(f"its result could not be sent back: {type(exc).__name__}: {exc}")))


def _no_async_runtime() -> bool:
    """Has this process no tokio runtime (Delta Lake's, DataFusion's) yet? A child forked after one
    started panics on its first use of it ("Forked process detected"), so only a worker forked before
    takes ``Supervisor.call``s, which may read and write Delta tables (the extraction itself uses
    only Arrow and Parquet). Told by the threads' names; False where /proc cannot say."""
    try:
        names = [Path(f"/proc/self/task/{t}/comm").read_text() for t in os.listdir("/proc/self/task")]
    except OSError:
        return False
    return not any(name.startswith("tokio") for name in names)


def _before_fork() -> None:
    """Import here what every worker would import on its first chunk, so that it is imported once:
    Arrow's Acero (``Table.group_by`` of a part's keys; it brings ``pyarrow.dataset``), ~0.02 s of
    CPU a worker. The parent imports it anyway when it reads the run's error parts and tables."""
    import pyarrow.acero  # noqa: F401


class _Worker:
    def __init__(
        self,
        ctx: Any,
        slot: Any,
        max_memory: int | None,
        hierarchy: cgroup.Hierarchy | None = None,
        address_space: bool = True,
    ) -> None:
        self.slot = slot
        self.takes_calls = _no_async_runtime()  # decided before the fork: what the child inherits
        self.conn, child = ctx.Pipe(duplex=True)
        args = (child, slot, max_memory, address_space)
        self.proc = ctx.Process(target=_worker_main, args=args, daemon=True)
        self.proc.start()
        child.close()
        self.ps = psutil.Process(self.proc.pid)
        try:  # the parent's image the fork shares: resident, but not the worker's own use
            self.baseline = self.ps.memory_info().rss
        except psutil.Error:
            self.baseline = 0
        self.job: tuple[int, list[FileTask]] | None = None
        self.group = _join_cgroup(self.proc.pid, hierarchy, max_memory)

    def oom_killed(self) -> bool:
        """Did the kernel stop this worker at its cgroup's memory limit?"""
        return self.group is not None and self.group.oom_killed()

    def kill(self) -> None:
        self.signal_kill()
        self.reap()

    def signal_kill(self) -> None:
        """Send SIGKILL, without waiting for the process to go (``reap`` waits)."""
        if self.proc.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    def reap(self) -> None:
        """Wait for the killed process (the kernel frees its memory meanwhile), close its pipe and
        remove its cgroup."""
        self.proc.join(timeout=5)
        self.conn.close()
        if self.group is not None:
            self.group.kill()
            self.group.remove()
            self.group = None


def _join_cgroup(
    pid: int, hierarchy: cgroup.Hierarchy | None, max_memory: int | None
) -> cgroup.TaskCgroup | None:
    """A cgroup limited to ``max_memory`` with the worker in it (before it gets any file), or None. The
    cgroup charges what the worker allocates after the fork (and the pages it copies on write), not the
    image of the parent it shares, as the sampling fallback counts RSS above the worker's baseline."""
    if hierarchy is None or not max_memory:
        return None
    try:
        group = cgroup.TaskCgroup(hierarchy, max_memory, name=f"w{pid}")
    except OSError:
        return None
    try:
        group.add(pid)
    except OSError:
        group.remove()
        return None
    return group


class WorkerFailed(Exception):
    """process_chunk itself raised (not an extractor: those become error rows)."""


class CallFailed(Exception):
    """A ``Supervisor.call`` did not come back: its worker died, or what it raised or returned could
    not be sent to the parent."""


class NotOffloaded(Exception):
    """A ``Supervisor.call`` was not started (no idle worker, or its arguments cannot be pickled):
    nothing ran; the caller runs the call itself."""


class Supervisor:
    def __init__(self, workers: int, limits: Limits) -> None:
        self.n = workers
        self.limits = limits
        self.ctx = mp.get_context("fork")
        self.slots = [self.ctx.RawArray("q", 3) for _ in range(workers)]
        for slot in self.slots:
            slot[0] = -1
        self.workers: list[_Worker | None] = [None] * workers
        self.crashes: dict[tuple[str, str], int] = {}
        self.hierarchy = cgroup.available() if limits.max_memory else None
        # a limit the user gave: the address-space limit in every worker (fast allocations), the
        # cgroup or sampling; the default: the cgroup alone (the worker keeps its part-writing
        # thread, see worker._threads_allowed), else the address-space limit alone
        self.address_space = not limits.memory_default or self.hierarchy is None
        if self.hierarchy is not None:
            self.limit_mechanism = self.hierarchy.mechanism
        else:
            self.limit_mechanism = "rlimit_as" if limits.memory_default else "sampling"
        self._calls = threading.Lock()  # calls come from several threads (see ``call``)
        self._stopped: list[_Worker] = []  # killed by ``stop``, not yet waited for

    def start(self) -> None:
        _before_fork()
        for i in range(self.n):
            if self.workers[i] is None:
                self.workers[i] = self._new_worker(i)

    def _new_worker(self, i: int) -> _Worker:
        return _Worker(self.ctx, self.slots[i], self.limits.max_memory, self.hierarchy, self.address_space)

    def stop(self) -> None:
        """Kill every worker without waiting for them to go (``close`` waits): the kernel frees their
        memory (copies of the parent's pages) meanwhile, all at once rather than one worker after the
        other. A later ``map`` forks new ones."""
        for i, w in enumerate(self.workers):
            if w is not None:
                try:
                    if w.proc.is_alive() and w.job is None:
                        w.conn.send(None)
                except OSError:
                    pass
                w.signal_kill()
                self._stopped.append(w)
                self.workers[i] = None

    def close(self) -> None:
        self.stop()
        while self._stopped:
            self._stopped.pop().reap()

    def _respawn(self, i: int) -> _Worker:
        old = self.workers[i]
        if old is not None:
            old.kill()
        self.slots[i][0] = -1
        w = self.workers[i] = self._new_worker(i)
        return w

    def map(self, config: WorkerConfig, chunks: Iterable[list[FileTask]]) -> Iterator[ChunkResult]:
        """Run every chunk; yield results, including the rows of files that failed their worker."""
        names = [ex.name for ex in load_extractors(config.extractors)]
        self.start()
        todo: deque[list[FileTask]] = deque()
        source = iter(chunks)
        next_id = 0
        complete = False
        try:
            while True:
                next_id = self._dispatch(config, todo, source, next_id)
                busy = [w for w in self.workers if w is not None and w.job is not None]
                if not busy:
                    if not todo:
                        complete = True
                        return
                    continue
                every = self._every()
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=every)
                for i, w in enumerate(self.workers):
                    if w is None or w.job is None:
                        continue
                    if w.conn in ready:
                        try:
                            kind, _cid, payload = w.conn.recv()
                        except (EOFError, OSError):
                            kind, payload = "died", None
                        if kind == "done":
                            w.job = None
                            # the next chunk first: the worker works while the caller stores this result
                            next_id = self._dispatch(config, todo, source, next_id)
                            yield payload
                            continue
                        if kind == "error":
                            message, per_file = payload
                            if not per_file:
                                raise WorkerFailed(message)
                            assert w.job is not None
                            tasks = w.job[1]
                            w.job = None
                            yield from self._split(config, tasks, todo, "internal", message)
                            continue
                    if kind_died(w, ready):
                        if w.oom_killed():  # the kernel held it to its cgroup's limit
                            yield from self._fail(i, w, config, names, todo, "memory_limit", MEMORY_MESSAGE)
                        else:
                            yield from self._fail(i, w, config, names, todo, "crash", CRASH_MESSAGE)
                        continue
                    yield from self._check_limits(i, w, config, names, todo)
        finally:
            # after a complete map the idle workers stay for the run's calls (``call``) and next
            # map, until ``close``; an error, Ctrl-C or a consumer that stops early kills them now
            if not complete:
                self.close()

    def _every(self) -> float:
        """Seconds between checks of the busy workers when none reports. Results and deaths wake the
        loop at once (pipes, sentinels); only timeouts and sampled memory need the clock, and each
        wake-up is parent CPU taken from the workers' cores (~140 a stdlib run at 0.05 s)."""
        if self._sampled():
            return SAMPLE
        timeout = self.limits.file_timeout
        return POLL_MAX if timeout is None else min(POLL_MAX, max(POLL, timeout / 50))

    def _sampled(self) -> bool:
        """Is the workers' memory sampled by this process (a limit the user gave, and no cgroup)?"""
        return bool(self.limits.max_memory) and not self.limits.memory_default and self.hierarchy is None

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in an idle worker process; returns its value or raises what it raised.

        For the run's serial work after the extraction (the operations of one DAG layer): the
        workers are idle then. ``fn`` and ``args`` go by pickle (``fn`` by reference), the value
        comes back the same way. Raises NotOffloaded when nothing was started (no idle worker forked
        before the parent's async runtime, see ``_no_async_runtime``; arguments that cannot be
        pickled): the caller runs the call itself; CallFailed when the worker died on it (it is not
        replaced) or its answer cannot be read. No timeout or memory limit applies: the worker runs
        the call as the parent would (a default memory limit is lifted for it, see ``_unlimited``)."""
        with self._calls:
            index = next(
                (
                    i
                    for i, w in enumerate(self.workers)
                    if w is not None and w.job is None and w.takes_calls and w.proc.is_alive()
                ),
                None,
            )
            if index is None:
                raise NotOffloaded("no idle worker")
            w = self.workers[index]
            assert w is not None
            w.job = (-1, [])  # taken: neither another call nor a map sends it anything meanwhile
        try:
            try:
                payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise NotOffloaded(f"cannot be pickled: {exc}") from exc
            with self._unlimited(index, w):
                return self._call(index, w, payload)
        finally:
            w.job = None

    @contextlib.contextmanager
    def _unlimited(self, index: int, w: _Worker) -> Iterator[None]:
        """Worker ``w`` without its cgroup's limit for the block (the address-space limit the worker
        lifts itself, ``_answer_call``). When the limit cannot be set again (the worker now holds
        more than it allows) the worker goes: a later ``map`` forks a fresh one."""
        group = w.group
        if group is None:
            yield
            return
        try:
            group.set_limit(None)
        except OSError as exc:
            raise NotOffloaded(f"its memory limit could not be lifted: {exc}") from None
        try:
            yield
        finally:
            try:
                if w.group is not None:
                    w.group.set_limit(w.group.memory)
            except OSError:
                with self._calls:
                    w.kill()
                    if self.workers[index] is w:
                        self.workers[index] = None

    def _call(self, index: int, w: _Worker, payload: bytes) -> Any:
        """Send one call to worker ``w`` and wait for its answer (see ``call``)."""
        w.conn.send(("call", payload))
        answer: Any
        try:
            kind, answer = w.conn.recv()
        except (EOFError, OSError):
            with self._calls:
                w.kill()
                self.workers[index] = None  # map forks a new one if it runs again
            raise CallFailed(CRASH_MESSAGE) from None
        except Exception as exc:  # noqa: BLE001 - an answer this process cannot unpickle
            raise CallFailed(f"its answer could not be read: {type(exc).__name__}: {exc}") from None
        if kind == "raised":
            raise answer
        return answer

    def _dispatch(
        self,
        config: WorkerConfig,
        todo: deque[list[FileTask]],
        source: Iterator[list[FileTask]],
        next_id: int,
    ) -> int:
        """Send the next chunk (retries first) to every idle worker; returns the last chunk id."""
        for i, w in enumerate(self.workers):
            if w is not None and w.job is None:
                job = todo.popleft() if todo else next(source, None)
                if not job:  # the chunks are used up (None), or an empty one
                    continue
                next_id += 1
                w.job = (next_id, job)
                self.slots[i][0] = -1
                w.conn.send((next_id, config, job))
        return next_id

    def _check_limits(
        self, i: int, w: _Worker, config: WorkerConfig, names: list[str], todo: deque[list[FileTask]]
    ) -> Iterator[ChunkResult]:
        slot = self.slots[i]
        key = slot[0]
        if key < 0:
            return
        limits = self.limits
        if limits.file_timeout is not None and (time.monotonic_ns() - slot[2]) / 1e9 > limits.file_timeout:
            yield from self._fail(i, w, config, names, todo, "timeout", timeout_message(limits.file_timeout))
            return
        if limits.max_memory and not limits.memory_default and w.group is None:  # sampled
            try:
                rss = w.ps.memory_info().rss
            except psutil.Error:
                return
            if rss - w.baseline > limits.max_memory:
                yield from self._fail(i, w, config, names, todo, "memory_limit", MEMORY_MESSAGE)

    def _split(
        self,
        config: WorkerConfig,
        tasks: list[FileTask],
        todo: deque[list[FileTask]],
        kind: str,
        message: str,
    ) -> Iterator[ChunkResult]:
        """A chunk failed as a whole (its rows could not be built or written, the worker raised or
        died): each file runs again alone, and a file that fails alone (twice for a crash) is one
        error row. One file's data thus never stops the run."""
        if len(tasks) > 1:
            _retry_alone(tasks, todo)
            return
        task = tasks[0]
        ident = (task.repo, task.path)
        if kind == "crash" and self.crashes.get(ident, 0) < self.limits.crash_retries:
            self.crashes[ident] = self.crashes.get(ident, 0) + 1
            todo.append([replace(task)])
            return
        yield alone_failure(config, task, kind, message)

    def _fail(
        self,
        i: int,
        w: _Worker,
        config: WorkerConfig,
        names: list[str],
        todo: deque[list[FileTask]],
        kind: str,
        message: str,
    ) -> Iterator[ChunkResult]:
        """Kill the worker; the file it was on fails (or, after a first crash, is retried alone);
        the rest of its chunk goes back to the queue."""
        assert w.job is not None
        _cid, tasks = w.job
        key, ex_index = self.slots[i][0], self.slots[i][1]
        w.job = None
        w.kill()
        self._respawn(i)
        culprit = next((t for t in tasks if t.key == key), None)
        if culprit is None:  # died between files, building or writing the rows of the chunk
            yield from self._split(config, tasks, todo, kind, f"{message} while writing its rows")
            return
        rest = [t for t in tasks if t.key != key]
        if rest:
            todo.appendleft(rest)
        extractor = names[ex_index] if 0 <= ex_index < len(names) else "worker"
        ident = (culprit.repo, culprit.path)
        if kind == "crash" and self.crashes.get(ident, 0) < self.limits.crash_retries:
            self.crashes[ident] = self.crashes.get(ident, 0) + 1
            todo.append([replace(culprit)])  # once more, alone, at the end
            return
        yield failure_result(
            config, culprit, kind, f"{message} while running {extractor}", extractor=extractor
        )


def _retry_alone(tasks: list[FileTask], todo: deque[list[FileTask]]) -> None:
    for t in reversed(tasks):
        todo.appendleft([t])


def kind_died(w: _Worker, ready: list[Any]) -> bool:
    return w.job is not None and (w.proc.sentinel in ready or not w.proc.is_alive())

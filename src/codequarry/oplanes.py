"""Where a layer's operations run: in this process's threads, or also in the local engine's idle
worker processes (``offload``), so that their Python code uses every core after the extraction.

An operation goes to a worker by the module and attribute it is declared at (``_OpRef``): the
``@operation`` decorator replaces the function at that name, so the function itself does not pickle
by reference. What cannot be sent runs here; a worker that dies on a job fails the run with the
operation named, as an exception raised in this process would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codequarry.api import Operation
from codequarry.errors import OperationError
from codequarry.store import Store


@dataclass(frozen=True)
class Job:
    """One call of a layer: ``fn(*args)`` here, or ``fn(*sent)`` in a worker (``sent``: the same
    arguments in a form that pickles); ``name`` for the message if the worker dies on it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    sent: tuple[Any, ...]
    name: str


def job(fn: Callable[..., Any], store: Store, op: Operation, *rest: Any) -> Job:
    """The job that runs ``op`` by ``fn(store, op, *rest)`` (operations' ``_run_one``); the operation goes by reference (``_OpRef``) when
    where it is declared makes this very operation: an ``@operation`` replaces its function at that
    name, so the function itself does not pickle by reference."""
    import sys

    args = (store, op, *rest)
    mod = sys.modules.get(op.module) if op.module and op.attribute else None
    found = _declared(mod, op.attribute) if mod is not None else None
    ref = found is not None and _same_declaration(found, op)
    sent = (store, _OpRef(op.module, op.attribute, op.name), *rest) if ref else args
    return Job(fn, args, sent, op.name)


def in_parallel(jobs: list[Job], workers: int, offload: Callable[..., Any] | None) -> list[Any]:
    """Each job's result, in order; every job runs, and the first failed job's exception is raised.

    Without ``offload``: ``workers`` threads (Arrow and Delta release the GIL, Python code does not).
    With it (``Supervisor.call``: the pool's ``workers`` processes, idle by now and forked before the
    parent started any thread): one lane per worker, each taking the next job, so Python code runs
    on every core and the operations' memory is the workers', not this process's; a job a lane
    cannot send (an argument that does not pickle: a lambda) runs here. Not in a long-lived process
    (`quarry watch`): there operations keep state in this process's memory (``ctx.kept``,
    partcache.py)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from codequarry import opstate

    if offload is not None and opstate.enabled():
        offload = None
    results: list[Any] = [None] * len(jobs)
    failed: dict[int, BaseException] = {}
    order = iter(range(len(jobs)))
    lock = threading.Lock()

    def lane(remote: bool) -> None:
        while True:
            with lock:
                i = next(order, None)
            if i is None:
                return
            job = jobs[i]
            try:
                results[i] = _offloaded(offload, job) if remote and offload else job.fn(*job.args)
            except BaseException as exc:  # raised below, after every job ran (as a pool's map does)
                failed[i] = exc

    # with offload, the workers only (one lane each): a job run here would put its peak on the
    # parent's, whose memory is meant to stay flat in the corpus (docs/scale.md); the workers are as
    # many as the cores, and a job that cannot be sent still runs here, in its lane's thread
    lanes = [True] * min(workers, len(jobs)) if offload else [False] * min(workers, len(jobs))
    if len(lanes) <= 1:
        lane(bool(lanes) and lanes[0])
    else:
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            for done in [pool.submit(lane, remote) for remote in lanes]:
                done.result()
    if failed:
        raise failed[min(failed)]
    return results


def _offloaded(offload: Callable[..., Any], job: Job) -> Any:
    """The job through ``offload``; here when it cannot go; an OperationError naming the operation
    when its worker died on it."""
    from codequarry.engine.supervisor import CallFailed, NotOffloaded

    try:
        return offload(job.fn, *job.sent)
    except NotOffloaded:
        return job.fn(*job.args)
    except CallFailed as exc:
        raise OperationError(
            f"operation '{job.name}' failed: {exc}; nothing was published (leave it out with --skip {job.name})"
        ) from None


def _same_declaration(a: Operation, b: Operation) -> bool:
    """Field by field (an Operation compares by identity)."""
    import dataclasses

    return all(getattr(a, f.name) == getattr(b, f.name) for f in dataclasses.fields(Operation))


def _declared(mod: Any, attribute: str) -> Operation | None:
    """The operation the module declares at ``attribute``, as the catalog records it (registry.py
    copies it with the attribute it was found at)."""
    import dataclasses

    found = getattr(mod, attribute, None)
    return dataclasses.replace(found, attribute=attribute) if isinstance(found, Operation) else None


@dataclass(frozen=True)
class _OpRef:
    """An operation by where it is declared; it becomes the operation again when unpickled (in a
    worker forked from the process that declared it)."""

    module: str
    attribute: str
    name: str

    def __reduce__(self) -> tuple[Any, ...]:
        return (_resolve_op, (self.module, self.attribute, self.name))


def _resolve_op(module: str, attribute: str, name: str) -> Operation:
    import importlib

    op = _declared(importlib.import_module(module), attribute)
    if op is None or op.name != name:
        raise OperationError(f"operation '{name}' is not at {module}.{attribute} in a worker")
    return op

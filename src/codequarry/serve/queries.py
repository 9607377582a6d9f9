"""Queries of the web UI, each in its own short-lived process, so that a timeout really stops one.

DataFusion cannot cancel a running query from Python; a thread that ran past its timeout would go on
burning a core. Each query therefore runs in a child forked from a *forkserver* that has already
imported pyarrow, DataFusion and codequarry (a fork costs milliseconds, not an import); the result
comes back as Arrow IPC over a pipe, capped to ``cap + 1`` rows in the child (the query itself is
limited to them: it stops there, where it used to run to its end and hold every row before the
slice); a child past the timeout is killed.

Each child is held to a memory bound (``quarry serve --query-memory``, 2 GiB by default): a task cgroup
(:mod:`codequarry.cgroup`, v2 or v1) that the child joins before it runs the query, where this process
may create one, so the kernel bounds its resident memory; else ``RLIMIT_AS`` at the address space the
child has already reserved plus the bound plus ``AS_SLACK`` (runtimes reserve address space they do
not use: thread stacks, allocator arenas). A query past it is stopped (``QueryMemory``) and the server
goes on: ``SELECT repeat('x', 1000000000)`` or a large cross join took as much of the machine's memory
as it asked for.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import resource
import signal
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

_CTX: Any = None


class QueryTimeout(Exception):
    pass


class QueryFailed(Exception):
    pass


class QueryMemory(Exception):
    pass


DEFAULT_MEMORY = 2 << 30
#: address space beyond the bound that the child may reserve under RLIMIT_AS (tokio's threads and
#: mimalloc reserve far more address space than they touch)
AS_SLACK = 1 << 30
# an allocation refused, as Python, Arrow and DataFusion word it
_OOM = re.compile(
    r"MemoryError|out of memory|failed to allocate|memory allocation|ENOMEM|Cannot allocate", re.I
)


def _bound(memory: int, procs: str | None) -> str:
    """Put this child under its memory bound; the mechanism used ("cgroup" or "rlimit_as")."""
    if procs is not None:
        try:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
            return "cgroup"
        except OSError:
            pass
    with open("/proc/self/statm") as fh:
        vms = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vms + memory + AS_SLACK
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return "rlimit_as"


def _context() -> Any:
    global _CTX
    if _CTX is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["pyarrow", "datafusion", "codequarry.query", "codequarry.serve.queries"])
        _CTX = ctx
    return _CTX


def _child(store: str, sql_text: str, cap: int, conn: Any, memory: int | None, procs: str | None) -> None:
    try:
        from codequarry.errors import QuarryError
        from codequarry.query import open_store, sql

        if memory:
            _bound(memory, procs)
        try:
            table = sql(open_store(store), sql_text, limit=cap + 1)
        except QuarryError as exc:
            conn.send(("memory" if memory and _OOM.search(str(exc)) else "error", str(exc)))
            return
        truncated = table.num_rows > cap
        if truncated:
            table = table.slice(0, cap)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        conn.send(("ok", (sink.getvalue().to_pybytes(), truncated)))
    except BaseException as exc:  # the parent must get an answer, whatever happened
        text = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(BaseException):  # under its bound, even this send may fail
            conn.send(("memory" if memory and _OOM.search(text) else "error", f"query failed: {text}"))
    finally:
        conn.close()


def _task_cgroup(memory: int | None) -> Any:
    """A task cgroup of ``memory`` bytes for one query child, or None (then the child uses RLIMIT_AS)."""
    if not memory:
        return None
    from codequarry import cgroup

    hierarchy = cgroup.available()
    if hierarchy is None:
        return None
    try:
        return cgroup.TaskCgroup(hierarchy, memory)
    except OSError:
        return None


def run_query(
    store: Path, sql_text: str, *, cap: int, timeout: float, memory: int | None = DEFAULT_MEMORY
) -> tuple[pa.Table, bool, float]:
    """(result, truncated, seconds); raises QueryTimeout, QueryMemory or QueryFailed (one line)."""
    ctx = _context()
    started = time.perf_counter()
    group = _task_cgroup(memory)
    over = f"query passed its memory bound of {(memory or 0) >> 20} MiB and was stopped (--query-memory)"
    try:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child,
            args=(str(store), sql_text, cap, send, memory, group.procs if group else None),
            daemon=True,
        )
        proc.start()
        send.close()
        try:
            if not receive.poll(timeout):
                raise QueryTimeout(f"query ran past {timeout:g} s and was stopped")
            try:
                status, payload = receive.recv()
            except EOFError:
                proc.join(5)
                oom = group.oom_killed() or group.hit_limit() if group else False
                if oom or (memory and proc.exitcode in (-signal.SIGABRT, -signal.SIGKILL, -signal.SIGSEGV)):
                    raise QueryMemory(over) from None
                raise QueryFailed("query failed: its process died (out of memory?)") from None
        finally:
            receive.close()
            if proc.is_alive():
                proc.kill()
            proc.join(5)
    finally:
        if group is not None:
            group.kill()
            group.remove()
    if status == "memory":
        raise QueryMemory(f"{over}: {payload}")
    if status == "error":
        raise QueryFailed(str(payload))
    data, truncated = payload
    table = pa.ipc.open_stream(data).read_all()
    return table, truncated, time.perf_counter() - started

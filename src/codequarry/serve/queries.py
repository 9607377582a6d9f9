"""Queries of the web UI, each in its own short-lived process, so that a timeout really stops one.

DataFusion cannot cancel a running query from Python; a thread that ran past its timeout would go on
burning a core. Each query therefore runs in a child forked from a *forkserver* that has already
imported pyarrow, DataFusion and codequarry (a fork costs milliseconds, not an import); the result
comes back as Arrow IPC over a pipe, capped to ``cap + 1`` rows in the child (the query itself is
limited to them: it stops there, where it used to run to its end and hold every row before the
slice); a child past the timeout is killed.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

_CTX: Any = None


class QueryTimeout(Exception):
    pass


class QueryFailed(Exception):
    pass


def _context() -> Any:
    global _CTX
    if _CTX is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["pyarrow", "datafusion", "codequarry.query", "codequarry.serve.queries"])
        _CTX = ctx
    return _CTX


def _child(store: str, sql_text: str, cap: int, conn: Any) -> None:
    try:
        from codequarry.errors import QuarryError
        from codequarry.query import open_store, sql

        try:
            table = sql(open_store(store), sql_text, limit=cap + 1)
        except QuarryError as exc:
            conn.send(("error", str(exc)))
            return
        truncated = table.num_rows > cap
        if truncated:
            table = table.slice(0, cap)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        conn.send(("ok", (sink.getvalue().to_pybytes(), truncated)))
    except BaseException as exc:  # the parent must get an answer, whatever happened
        conn.send(("error", f"query failed: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_query(store: Path, sql_text: str, *, cap: int, timeout: float) -> tuple[pa.Table, bool, float]:
    """(result, truncated, seconds); raises QueryTimeout or QueryFailed (with a one-line message)."""
    ctx = _context()
    started = time.perf_counter()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(str(store), sql_text, cap, send), daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise QueryTimeout(f"query ran past {timeout:g} s and was stopped")
        try:
            status, payload = receive.recv()
        except EOFError:
            raise QueryFailed("query failed: its process died (out of memory?)") from None
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    if status == "error":
        raise QueryFailed(str(payload))
    data, truncated = payload
    table = pa.ipc.open_stream(data).read_all()
    return table, truncated, time.perf_counter() - started

"""Three operations of one DAG layer that say which process ran them (tests/test_engine_offload.py).

Each counts the functions and records ``os.getpid()``; ``where.fail`` raises when the corpus holds a
function named ``boom``, ``where.exit`` ends its process when one is named ``die``."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.compute as pc

from codequarry import dataset, operation


@dataset("where_ran", provenance=False)
class WhereRan:
    op: str
    pid: int
    functions: int


def _row(ctx, name: str) -> pa.Table:  # type: ignore[no-untyped-def]
    time.sleep(0.5)  # long enough that the lanes of the layer each take one operation
    names = ctx.table("functions", columns=["name"]).column("name")
    if name == "where.fail" and pc.any(pc.equal(names, "boom")).as_py():
        raise ValueError("a function named boom")
    if name == "where.exit" and pc.any(pc.equal(names, "die")).as_py():
        os._exit(3)
    return pa.table({"op": [name], "pid": [os.getpid()], "functions": [len(names)]})


@operation("where.a", version=1, inputs=["functions"], outputs=[WhereRan], default=False)
def a(ctx):  # type: ignore[no-untyped-def]
    return _row(ctx, "where.a")


@operation("where.fail", version=1, inputs=["functions"], outputs=["where_fail"], default=False)
def fail(ctx):  # type: ignore[no-untyped-def]
    return _row(ctx, "where.fail").rename_columns(["op", "pid", "functions"])


@operation("where.exit", version=1, inputs=["functions"], outputs=["where_exit"], default=False)
def exit_(ctx):  # type: ignore[no-untyped-def]
    return _row(ctx, "where.exit")

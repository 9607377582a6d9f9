"""Operations over core datasets: one in SQL, one in Python over Arrow, one reading another's output."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from codequarry import dataset, operation


@dataset("module_sizes", provenance=False)
class ModuleSize:
    module: str
    functions: int
    classes: int


@operation("acme.sizes", version=1, inputs=["functions", "classes"], outputs=[ModuleSize])
def sizes(ctx):  # type: ignore[no-untyped-def]
    return ctx.sql("""
        SELECT m AS module, sum(f) AS functions, sum(c) AS classes FROM (
            SELECT module AS m, 1 AS f, 0 AS c FROM functions
            UNION ALL SELECT module AS m, 0 AS f, 1 AS c FROM classes) GROUP BY m
    """)


@operation("acme.big", version=1, inputs=["module_sizes"], outputs=["big_modules"])
def big(ctx):  # type: ignore[no-untyped-def]
    t = ctx.table("module_sizes")
    return t.filter(pc.greater_equal(t.column("functions"), 2)).select(["module"])


@operation("acme.async_count", version=1, inputs=["functions"], outputs=["async_count"])
def async_count(ctx):  # type: ignore[no-untyped-def]
    t = ctx.table("functions", columns=["is_async"])
    n = pc.sum(t.column("is_async").cast(pa.int64())).as_py() or 0
    ctx.report("async functions", n)
    return pa.table({"n": [n]})

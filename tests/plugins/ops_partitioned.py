"""A partitioned operation (partition='repo'), and one that breaks its promise."""

from __future__ import annotations

from codequarry import dataset, operation


@dataset("defs_per_repo")
class DefsPerRepo:
    n: int


@operation("acme.defs", version=1, inputs=["functions"], outputs=[DefsPerRepo], partition="repo")
def defs(ctx):  # type: ignore[no-untyped-def]
    ctx.report("partitions seen", sorted(ctx.partitions) if ctx.partitions is not None else "all")
    return ctx.sql("SELECT repo, '' AS path, '' AS sha256, count(*) AS n FROM functions GROUP BY repo")

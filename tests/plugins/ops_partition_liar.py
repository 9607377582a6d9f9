"""An operation declaring partition='repo' that returns rows of a repo it was not given."""

from __future__ import annotations

from codequarry import dataset, operation


@dataset("liar_rows")
class LiarRow:
    n: int


@operation("acme.liar", version=1, inputs=["functions"], outputs=[LiarRow], partition="repo")
def liar(ctx):  # type: ignore[no-untyped-def]
    return ctx.sql("SELECT 'elsewhere' AS repo, '' AS path, '' AS sha256, count(*) AS n FROM functions")

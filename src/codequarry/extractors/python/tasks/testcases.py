"""The operation ``python.tests.cases``: which pending tests of ``test_facts`` are unittest tests.

A method ``test_x`` of a class is a unittest test when the class derives, through any number of
files, from a ``*TestCase`` class from outside the corpus; the per-file extractor (:mod:`.testsuite`)
cannot know that, so this step settles it across files and writes ``tests``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.api import operation
from codequarry.extractors.python.tasks.testsuite import CommonColumns
from codequarry.python.bulk import gc_paused
from codequarry.schema import dataset


@dataset("tests")
class TestItem(CommonColumns):
    """One row per test (function or method) or pytest fixture."""


@operation("python.tests.cases", version=1, inputs=["test_facts"], outputs=[TestItem])
def test_cases(ctx: Any) -> pa.Table:
    """Tests across files: a method of a class deriving (anywhere in the corpus) from a TestCase is a
    unittest test."""
    with gc_paused():
        return _test_cases(ctx)


def _test_cases(ctx: Any) -> pa.Table:
    facts = ctx.table("test_facts")
    kind = facts["kind"]
    classes = (
        facts.filter(pc.equal(kind, "class"))
        .select(["repo", "path", "line", "class_fqn", "bases", "is_case"])
        .to_pylist()
    )
    # the same class name defined twice (two repos): the first in source order wins, however the
    # store orders rows
    classes.sort(key=lambda c: (c["repo"], c["path"], c["line"]), reverse=True)
    by_fqn = {c["class_fqn"]: c for c in classes}
    by_short: dict[tuple[str, str], list[str]] = {}
    for c in classes:
        hits = by_short.setdefault((c["repo"], c["class_fqn"].rsplit(".", 1)[-1]), [])
        if c["class_fqn"] not in hits:
            hits.append(c["class_fqn"])
    memo: dict[str, bool] = {}

    def is_case(fqn: str, depth: int = 0) -> bool:
        if fqn in memo:
            return memo[fqn]
        row = by_fqn[fqn]
        got = bool(row["is_case"])
        if not got and depth < 50:
            memo[fqn] = False  # a cycle ends here
            for base in row["bases"]:
                target = base if base in by_fqn else None
                if target is None:  # re-exported elsewhere: one class of that name in the source
                    hits = by_short.get((row["repo"], base.rsplit(".", 1)[-1]), [])
                    target = hits[0] if len(hits) == 1 else None
                if target is not None and is_case(target, depth + 1):
                    got = True
                    break
        memo[fqn] = got
        return got

    cases = [fqn for fqn in by_fqn if is_case(fqn)]
    items = facts.filter(pc.not_equal(kind, "class"))
    in_case = pc.fill_null(pc.is_in(items["class_fqn"], value_set=pa.array(cases, pa.string())), False)
    pending = items["pending"]
    framework = pc.if_else(pc.and_(pending, in_case), pa.scalar("unittest"), items["framework"])
    items = items.set_column(items.column_names.index("framework"), "framework", framework)
    items = items.filter(pc.invert(pc.is_null(items["framework"])))
    ctx.report("tests", int(pc.sum(pc.equal(items["kind"], "test")).as_py() or 0))
    return items

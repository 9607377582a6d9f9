"""The operation ``python.tests.cases``: which pending tests of ``test_facts`` are unittest tests.

A method ``test_x`` of a class is a unittest test when the class derives, through any number of
files, from a ``*TestCase`` class from outside the corpus; the per-file extractor (:mod:`.testsuite`)
cannot know that, so this step settles it across files and writes ``tests``.

Incremental: partitioned by file. A file's ``tests`` rows come from its own ``test_facts`` rows and
from whether its classes are test cases, which depends on the classes their bases name, through any
number of files. A base is looked up by fully qualified name, else by its last part among the
classes of the same repo, so a lookup can only give another answer than before if a changed file
defines (or defined) a class of that name. :func:`affected` therefore walks every class up through
its bases and marks it when some lookup on the way names a class of a changed file, before or after
the change; the files holding the marked classes' tests, and the changed files, are re-derived.
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


_CLASS_COLUMNS = ["repo", "path", "line", "class_fqn", "bases", "is_case"]


def affected(ctx: Any, changed: frozenset[tuple[str, str]]) -> set[tuple[str, str]]:
    """The files whose ``tests`` rows may change when ``changed`` files change (see the module)."""
    touched: set[str] = set()
    shorts: set[tuple[str, str]] = set()
    for rows in (
        ctx.before("test_facts", ["kind", "class_fqn"]),
        ctx.changed_rows("test_facts", ["kind", "class_fqn"]),
    ):
        for repo, kind, fqn in zip(
            *(rows[c].to_pylist() for c in ("repo", "kind", "class_fqn")), strict=True
        ):
            if kind == "class" and fqn:
                touched.add(fqn)
                shorts.add((repo, fqn.rsplit(".", 1)[-1]))
    keys = set(changed)
    if not touched:
        return keys
    by_fqn, by_short = _shared_classes(ctx)
    marked = set(touched)
    below: dict[str, list[str]] = {}  # class -> the classes whose bases resolve to it
    for fqn, row in by_fqn.items():
        for base in row["bases"]:
            if base in touched or (row["repo"], base.rsplit(".", 1)[-1]) in shorts:
                marked.add(fqn)  # a lookup that may answer otherwise now
            target = _target(row, base, by_fqn, by_short)
            if target is not None:
                below.setdefault(target, []).append(fqn)
    todo = list(marked)
    while todo:  # every class above which a marked class sits is marked
        for sub in below.get(todo.pop(), ()):
            if sub not in marked:
                marked.add(sub)
                todo.append(sub)
    if marked:
        facts = ctx.table("test_facts", columns=["repo", "path", "class_fqn"])
        hit = facts.filter(
            pc.fill_null(pc.is_in(facts["class_fqn"], value_set=pa.array(sorted(marked), pa.string())), False)
        )
        keys |= set(zip(hit["repo"].to_pylist(), hit["path"].to_pylist(), strict=True))
    return keys


@operation(
    "python.tests.cases",
    version=1,
    inputs=["test_facts"],
    outputs=[TestItem],
    partition="file",
    affected=affected,
)
def test_cases(ctx: Any) -> pa.Table:
    """Tests across files: a method of a class deriving (anywhere in the corpus) from a TestCase is a
    unittest test."""
    pa.default_memory_pool().release_unused()  # what earlier stages freed, before this one's peak
    with gc_paused():
        return _test_cases(ctx)


def _shared_classes(ctx: Any) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], list[str]]]:
    """``_classes`` of the run's ``test_facts``, built once for ``affected`` and the operation."""
    got = ctx.shared.get("classes")
    if got is None:
        got = ctx.shared["classes"] = _classes(ctx.table("test_facts", columns=[*_CLASS_COLUMNS, "kind"]))[1:]
    return got  # type: ignore[no-any-return]


def _classes(
    facts: pa.Table,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[tuple[str, str], list[str]]]:
    """The class rows, by fully qualified name (the first in source order wins) and by (repo, last part)."""
    classes = facts.filter(pc.equal(facts["kind"], "class")).select(_CLASS_COLUMNS).to_pylist()
    # the same class name defined twice (two repos): the first in source order wins, however the
    # store orders rows
    classes.sort(key=lambda c: (c["repo"], c["path"], c["line"]), reverse=True)
    by_fqn = {c["class_fqn"]: c for c in classes}
    by_short: dict[tuple[str, str], list[str]] = {}
    for c in classes:
        hits = by_short.setdefault((c["repo"], c["class_fqn"].rsplit(".", 1)[-1]), [])
        if c["class_fqn"] not in hits:
            hits.append(c["class_fqn"])
    return classes, by_fqn, by_short


def _target(
    row: dict[str, Any], base: str, by_fqn: dict[str, Any], by_short: dict[tuple[str, str], list[str]]
) -> str | None:
    """The class a base names: by fully qualified name, else the one class of that name in the repo."""
    if base in by_fqn:
        return base
    hits = by_short.get((row["repo"], base.rsplit(".", 1)[-1]), [])
    return hits[0] if len(hits) == 1 else None


def _test_cases(ctx: Any) -> pa.Table:
    by_fqn, by_short = _shared_classes(ctx)
    memo: dict[str, bool] = {}

    def is_case(fqn: str, depth: int = 0) -> bool:
        if fqn in memo:
            return memo[fqn]
        row = by_fqn[fqn]
        got = bool(row["is_case"])
        if not got and depth < 50:
            memo[fqn] = False  # a cycle ends here
            for base in row["bases"]:
                # re-exported elsewhere: one class of that name in the source
                target = _target(row, base, by_fqn, by_short)
                if target is not None and is_case(target, depth + 1):
                    got = True
                    break
        memo[fqn] = got
        return got

    cases = [fqn for fqn in by_fqn if is_case(fqn)]
    # the columns the tests rows need, and the rows that are not classes: never the whole table
    columns = [*(f.name for f in TestItem.schema), "class_fqn", "pending"]
    facts = ctx.table("test_facts", columns=list(dict.fromkeys(columns)))
    in_case = pc.fill_null(pc.is_in(facts["class_fqn"], value_set=pa.array(cases, pa.string())), False)
    framework = pc.if_else(pc.and_(facts["pending"], in_case), pa.scalar("unittest"), facts["framework"])
    # one filter, so that the rows are copied once: not a class, a framework, one of ctx.keys
    keep = pc.and_(pc.not_equal(facts["kind"], "class"), pc.invert(pc.is_null(framework)))
    if ctx.keys is not None:
        from codequarry.operations import key_filter

        keep = pc.and_(keep, key_filter(facts, ("repo", "path"), ctx.keys))
    facts = facts.set_column(facts.column_names.index("framework"), "framework", framework)
    items = facts.filter(pc.fill_null(keep, False))
    n = int(pc.sum(pc.equal(items["kind"], "test")).as_py() or 0)
    if ctx.keys is None:
        ctx.report("tests", n)
    else:
        ctx.report("tests re-derived", f"{n} in {len(ctx.keys)} file(s)")
    return items

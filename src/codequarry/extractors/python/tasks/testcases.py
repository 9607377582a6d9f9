"""The operation ``python.tests.cases``: which pending tests of ``test_facts`` are unittest tests.

A method ``test_x`` of a class is a unittest test when the class derives, through any number of
files, from a ``*TestCase`` class from outside the corpus; the per-file extractor (:mod:`.testsuite`)
cannot know that, so this step settles it across files and writes ``tests``.

Incremental: partitioned by file. A file's ``tests`` rows come from its own ``test_facts`` rows and
from whether its classes are test cases, which depends on the classes their bases name, through any
number of files. A base is looked up by fully qualified name, else by its last part among the
classes of the same repo, so a lookup can only give another answer than before if a changed file
defines (or defined) a class of that name. :func:`affected` therefore marks every class some lookup on
the way up from which names a class a changed file defines or defined; the files defining the marked
classes (the index knows them: a class's methods and fixtures are in its own file), and the changed
files, are re-derived, and only their ``test_facts`` rows are read (``ctx.rows_of_files``).

Stateful: the class rows live in a :class:`~.testindex.ClassIndex` (by name, by last part, by the
last parts their bases write), which a long-lived process (``quarry watch``) keeps between runs and
updates from the changed files' rows (``ctx.kept``); so ``affected`` looks only at the classes
whose bases write a touched name, and the operation settles only the classes of the files it
re-derives. A one-run process builds the index from the class rows of the whole table (what is
still read whole on an incremental run: ``kind = 'class'``, eight columns), and only when a changed
file defines or defined a class row or a re-derived file holds a pending method: an edit of a file
whose ``test_facts`` rows hold no class reads no class row of the corpus.

Twins (``twins=True``, codequarry.optwins): a base is answered by the first class of its name in
(repo, path, line, col) order, and a class by its own repo's classes otherwise, so two repos with the
same ``test_facts`` rows get the same ``tests`` rows, and a repo whose rows equal an earlier repo's
answers for nobody: a whole run derives one of them and copies its rows to the others.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry import opstate
from codequarry.api import operation
from codequarry.extractors.python.tasks.testindex import CLASS_COLUMNS, ClassIndex, last
from codequarry.extractors.python.tasks.testsuite import CommonColumns
from codequarry.python.bulk import gc_paused
from codequarry.schema import dataset


@dataset("tests")
class TestItem(CommonColumns):
    """One row per test (function or method) or pytest fixture."""


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
                shorts.add((repo, last(fqn)))
    keys = set(changed)
    if not touched:
        if opstate.enabled():
            _index(ctx)  # (kept: brought up to date even when nothing is touched)
        return keys
    index = _index(ctx)
    # a class's rows (its own, its methods', its fixtures') are in the files defining it: the index's
    for fqn in index.marked(touched, shorts):
        keys |= {(row.repo, row.path) for row in index.defs.get(fqn, ())}
    return keys


@operation(
    "python.tests.cases",
    version=1,
    inputs=["test_facts"],
    outputs=[TestItem],
    partition="file",
    affected=affected,
    twins=True,  # a base is the first class of its name in repo order: see the module
)
def test_cases(ctx: Any) -> pa.Table:
    """Tests across files: a method of a class deriving (anywhere in the corpus) from a TestCase is a
    unittest test."""
    pa.default_memory_pool().release_unused()  # what earlier stages freed, before this one's peak
    with gc_paused():
        return _test_cases(ctx)


def _index(ctx: Any) -> ClassIndex:
    """The class index of the run's ``test_facts``: kept between runs of a long-lived process and
    updated from the changed files' rows (``ctx.kept``), else built from the whole table."""

    def update(index: ClassIndex) -> bool:
        index.remove(ctx.changed)
        index.add(ctx.changed_rows("test_facts", CLASS_COLUMNS))
        return True

    def build() -> ClassIndex:
        with gc_paused():
            return ClassIndex.of(_class_rows(ctx))

    return ctx.kept("classes", build, update)


def _class_rows(ctx: Any) -> pa.Table:
    """The class rows of ``test_facts`` (``CLASS_COLUMNS``), cut as they are read."""
    import pyarrow.dataset as ds

    return ctx.read("test_facts", CLASS_COLUMNS, ds.field("kind") == "class")


def _test_cases(ctx: Any) -> pa.Table:
    """One repo's ``test_facts`` at a time (``ctx.by_repo``), or on a keyed run the rows of the
    files of ``ctx.keys`` alone: the index of every class row of the corpus answers the cross-repo
    base lookups, so only it and those rows are held."""
    index = _index(ctx) if opstate.enabled() else _Lazy(ctx)
    # the columns the tests rows need, and the rows that are not classes: never the whole table
    columns = list(dict.fromkeys([*(f.name for f in TestItem.schema), "class_fqn", "pending"]))
    pieces = []
    if ctx.keys is not None:  # the files of ctx.keys only: read from the parts holding them
        pieces.append(_items(index, ctx.rows_of_files("test_facts", ctx.keys, columns).select(columns)))
    else:
        for _repo, facts in ctx.by_repo("test_facts", columns):
            pieces.append(_items(index, facts))
    if not pieces:
        import pyarrow.dataset as ds

        pieces.append(_items(index, ctx.read("test_facts", columns, ds.scalar(False))))
    items = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    n = int(pc.sum(pc.equal(items["kind"], "test")).as_py() or 0)
    if ctx.keys is None:
        ctx.report("tests", n)
    else:
        ctx.report("tests re-derived", f"{n} in {len(ctx.keys)} file(s)")
    return items


class _Lazy:
    """The run's class index (``_index``), built when a pending class first asks for it: a keyed
    run whose files hold no pending method (no class row touched either, see ``affected``) reads no
    class row of the corpus."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def cases(self, fqns: list[str]) -> list[str]:
        return _index(self._ctx).cases(fqns) if fqns else []


def _items(index: ClassIndex | _Lazy, facts: pa.Table) -> pa.Table:
    """The ``tests`` rows of some ``test_facts`` rows: a pending method of a unittest case is a test."""
    pending = facts.filter(pc.fill_null(facts["pending"], False))
    cases = index.cases(sorted(set(pc.unique(pending["class_fqn"]).to_pylist()) - {None}))
    in_case = pc.fill_null(pc.is_in(facts["class_fqn"], value_set=pa.array(cases, pa.string())), False)
    framework = pc.if_else(pc.and_(facts["pending"], in_case), pa.scalar("unittest"), facts["framework"])
    # one filter, so that the rows are copied once: not a class, a framework
    keep = pc.and_(pc.not_equal(facts["kind"], "class"), pc.invert(pc.is_null(framework)))
    facts = facts.set_column(facts.column_names.index("framework"), "framework", framework)
    return facts.filter(pc.fill_null(keep, False))

"""The call-graph walker's scope table (``callgraph.scopes.bindings``), read from the shared node index:
what each scope binds is what its own body binds, never what a nested def's or class's body binds."""

from __future__ import annotations

import ast
import gc
import textwrap
from typing import Any

from codequarry.extractors.python.callgraph import codec
from codequarry.extractors.python.callgraph.facts import callgraph_facts
from codequarry.extractors.python.callgraph.scopes import bindings
from codequarry.source import SourceFile

CODE = textwrap.dedent(
    """
    import os.path as osp, sys
    from pkg import *
    from .rel import thing

    def outer(a, b=(w := 1)):
        x = 1
        def inner(it):
            for y in it:
                yield y
        class Local:
            z = 2
        global G
        lam = lambda q: [v for v in q if (u := v)]
        return inner

    class C:
        attr = 1
        def method(self):
            nonlocal_missing = 3
            try:
                pass
            except ValueError as err:
                pass
            match self:
                case [first, *rest] as whole:
                    pass
    """
)


class _Out:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, **row: Any) -> None:
        self.rows.append(row)


def _src(text: str) -> SourceFile:
    data = text.encode()
    return SourceFile(repo="r", path="m.py", data=data, sha256=None, size=len(data), language="python")


def _by_name(src: SourceFile) -> dict[str, Any]:
    table = bindings(src)
    names = {n: getattr(n, "name", "<lambda>") for n in table if not isinstance(n, ast.Module)}
    return {("<module>" if isinstance(n, ast.Module) else names[n]): b for n, b in table.items()}


def test_each_scope_binds_its_own_body_only() -> None:
    got = _by_name(_src(CODE))
    module = got["<module>"]
    assert module.bound == {"osp", "sys", "thing", "outer", "C"}
    assert module.defs == {"outer", "C"}
    outer = got["outer"]
    # the parameters are the walker's to add; `w` (a default's walrus) is the header's, no scope's
    assert outer.bound == {"x", "inner", "Local", "lam"}
    assert outer.globals == {"G"} and outer.defs == {"inner", "Local"}
    assert not outer.gen  # the yield is inner's
    assert got["inner"].bound == {"y"} and got["inner"].gen
    assert got["Local"].bound == {"z"}
    assert got["<lambda>"].bound == {"v", "u"}  # comprehensions are transparent, as in the walker
    assert got["C"].bound == {"attr", "method"}
    assert got["method"].bound == {"nonlocal_missing", "err", "first", "rest", "whole"}


def test_a_nested_def_does_not_make_its_outer_def_a_generator() -> None:
    out = _Out()
    src = _src("def outer(it):\n    def inner():\n        yield from it\n    return inner()\n")
    callgraph_facts(src, type("O", (), {"callgraph_facts": out})())
    facts = codec.decode(out.rows[0]["facts"])
    gen = {d[0]: d[4] for d in facts["def"]}
    assert gen == {"outer": False, "outer.<locals>.inner": True}


def test_the_facts_of_a_file_leave_no_cycle_behind() -> None:
    """The worker pauses the collector for a chunk of files (trees are acyclic): a cycle through the
    walker would keep each file's tree alive until a collection after the chunk traversed them all
    (on the standard library, 4.7 s of a one-worker extract)."""
    out = _Out()
    holder = type("O", (), {"callgraph_facts": out})()  # a class made here is a cycle of its own
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        src = _src(CODE + "\ndef typed(a: C) -> 'C':\n    return a\n")
        callgraph_facts(src, holder)
        assert out.rows  # it ran
        del src
        assert gc.collect() == 0  # nothing was left for the collector: refcounting freed it all
    finally:
        if was:
            gc.enable()

"""The ``calls`` table: call sites, callee as written and resolved."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.python.calls import callee_text
from codequarry.python.resolve import Resolver
from codequarry.python.scopes import module_name, scope_and_lambdas
from codequarry.python.spans import wide_lines
from codequarry.schema import dataset
from codequarry.source import SourceFile

_EMPTY: list[str] = []  # shared by rows with no keywords; never mutated
_MISSING: Any = object()


@dataset("calls")
class PyCall:
    """One row per call expression."""

    scope: str
    callee: str
    resolved: str | None
    n_args: int
    keywords: list[str]
    has_starargs: bool
    has_kwargs: bool
    line: int
    col: int
    end_line: int
    end_col: int


@file_extractor("python.core.calls", version=1, needs=["ast"], outputs=[PyCall])
def calls(src: SourceFile, out: Any) -> None:
    """Call sites: callee as written and resolved through imports, aliases and the file's own defs.

    ``scope`` is the def or class whose body evaluates the call (lambdas and comprehensions count as
    their enclosing def; a decorator, default value or base class belongs to the enclosing scope).
    """
    nodes = src.nodes(ast.Call)
    if not nodes:
        return
    parent = src.parents.get
    seg = src.segment
    Attribute, Name, Starred = ast.Attribute, ast.Name, ast.Starred
    heads: set[str] = set()
    pending = []
    for call in nodes:
        # the callee as written: a dotted name split into head and rest, else source text
        func = call.func
        cls = func.__class__
        if cls is Name:
            head = callee = func.id
            rest = ""
            heads.add(head)
        elif cls is Attribute:
            attrs = [func.attr]
            n = func.value
            while n.__class__ is Attribute:
                attrs.append(n.attr)
                n = n.value
            if n.__class__ is Name:
                head = n.id
                heads.add(head)
                attrs.reverse()
                rest = ".".join(attrs)
                callee = f"{head}.{rest}"
            else:
                head = rest = None
                callee = callee_text(seg, func)
        else:
            head = rest = None
            callee = callee_text(seg, func)
        # the scope evaluating the call, and the lambdas in between (their parameters shadow names)
        anc, lambdas = scope_and_lambdas(parent, call)
        pending.append((call, callee, head, rest, anc, lambdas))

    starred = {parent(s) for s in src.nodes(Starred)}  # calls with *args, among other parents
    resolver = Resolver(src, module_name(src), heads)
    lookup = resolver.lookup
    shadowable = resolver.shadowable
    file_wide = {h: resolver.global_lookup(h) for h in heads if h not in shadowable}
    memo: dict[Any, dict[str, str | None]] = {}  # scope -> head -> what it refers to there
    scope_names: dict[Any, str] = {None: ""}
    wide, convert = wide_lines(src)
    add = out.calls.add
    for call, callee, head, rest, scope, lambdas in pending:
        resolved = None
        if head is not None:
            if head in file_wide:  # lambda parameters are shadowable too
                resolved = file_wide[head]
            elif lambdas is None:
                per_scope = memo.get(scope)
                if per_scope is None:
                    per_scope = memo[scope] = {}
                resolved = per_scope.get(head, _MISSING)
                if resolved is _MISSING:
                    resolved = per_scope[head] = lookup(head, scope)
            else:
                resolved = lookup(head, scope, lambdas)
            if rest and resolved is not None:
                resolved = f"{resolved}.{rest}"
        qual = scope_names.get(scope)
        if qual is None:
            qual = scope_names[scope] = src.qualname(scope)
        kws = call.keywords
        if kws:
            keywords = [kw.arg if kw.arg is not None else "**" for kw in kws]
            kwargs = "**" in keywords
        else:
            keywords = _EMPTY
            kwargs = False
        line, end_line = call.lineno, call.end_lineno
        if wide and (line in wide or end_line in wide):
            line, col, end_line, end_col = convert(call)
        else:
            col, end_col = call.col_offset, call.end_col_offset
        add(
            scope=qual,
            callee=callee,
            resolved=resolved,
            n_args=len(call.args),
            keywords=keywords,
            has_starargs=call in starred,
            has_kwargs=kwargs,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

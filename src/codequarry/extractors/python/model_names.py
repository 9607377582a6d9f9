"""Cheap name resolution for the models, tasks and tests extractors.

These extractors ask about a few names per file (base classes, decorators, field constructors), mostly
at module or class level, on every file of the corpus. :class:`~codequarry.extractors.python.resolve.
Resolver` collects every binding of the file (each assignment target, each parameter), which costs
more than these extractors themselves; :class:`FileNames` collects only what such names depend on:
the file's imports (from :func:`~codequarry.extractors.python.names.import_bindings`, with their
scopes), and the defs, classes and assignments at module level (``Model = db.Model`` is an alias of
what ``db.Model`` resolves to). A name bound only inside a function (a parameter, a local variable)
is not resolved, unless an extractor binds it (:meth:`FileNames.bind`); with a single star import,
an unbound name is taken to come from the starred module. One instance per file, shared by the extractors that run on it.
"""

from __future__ import annotations

import ast
import sys
import weakref
from typing import Any

from codequarry.extractors.python.names import (
    BUILTIN_NAMES,
    DEF_TYPES,
    dotted_parts,
    import_bindings,
    module_name,
)
from codequarry.source import SourceFile

MAX_TEXT = 200
_TRY_TYPES = frozenset(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)


def body_statements(body: list[Any]) -> list[Any]:
    """Statements of a module or class body, including those under ``if``/``try``/``with`` at that level."""
    out = []
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        cls = stmt.__class__
        if cls is ast.If:
            stack.extend(reversed(stmt.orelse))
            stack.extend(reversed(stmt.body))
        elif cls in _TRY_TYPES:
            for part in (stmt.finalbody, stmt.orelse, *[h.body for h in reversed(stmt.handlers)], stmt.body):
                stack.extend(reversed(part))
        elif cls is ast.With:
            stack.extend(reversed(stmt.body))
        else:
            out.append(stmt)
    return out


def last_name(func: Any) -> str | None:
    """The last identifier of a callee or decorator: ``a.b.c`` -> 'c', ``f()`` -> 'f', ``g()()`` -> 'g'."""
    cls = func.__class__
    if cls is ast.Name:
        return func.id
    if cls is ast.Attribute:
        return func.attr
    if cls is ast.Call:
        return last_name(func.func)
    return None


def enclosing_def(parent: Any, node: Any) -> Any:
    """The def or class whose body (or header) holds ``node``; None at module level."""
    anc = parent(node)
    while anc is not None and anc.__class__ not in DEF_TYPES:
        anc = parent(anc)
    return anc


def str_const(node: Any) -> str | None:
    if node.__class__ is ast.Constant and node.value.__class__ is str:
        return node.value
    return None


def value_text(seg: Any, node: Any) -> str:
    """A value as written, a string literal unquoted, at most MAX_TEXT characters."""
    if node.__class__ is ast.Constant and node.value.__class__ is str:
        value = node.value
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."
    return seg(node, MAX_TEXT)


class FileNames:
    """What a dotted name used in the file refers to (see the module docstring for what is followed)."""

    def __init__(self, src: SourceFile) -> None:
        self._src = weakref.ref(src)  # no strong reference: see file_names
        self.modname = modname = module_name(src)
        self.parent = src.parents.get
        module: dict[str, str | None] = {}
        scoped: dict[tuple[Any, str], str | None] = {}
        stars: list[str] = []
        for b in import_bindings(src):
            if b.is_star:
                if b.scope is None and b.resolved:
                    stars.append(b.resolved)
                continue
            if b.bound_name is None:
                continue
            if b.scope is None:
                module.setdefault(b.bound_name, b.target)
            else:
                scoped.setdefault((b.scope, b.bound_name), b.target)
        for stmt in body_statements(src.tree.body):
            cls = stmt.__class__
            if cls in DEF_TYPES:
                module.setdefault(stmt.name, f"{modname}.{stmt.name}")
            elif cls is ast.Assign or (cls is ast.AnnAssign and stmt.value is not None):
                for target in stmt.targets if cls is ast.Assign else (stmt.target,):
                    if target.__class__ is ast.Name and target.id not in module:
                        module[target.id] = self._alias(stmt.value, module) or f"{modname}.{target.id}"
        self.module = module
        self.scoped = scoped
        #: with exactly one ``from m import *``, an otherwise unbound name most likely comes from ``m``
        self.star = stars[0] if len(stars) == 1 else None
        self.memo: dict[tuple[Any, str], str | None] = {}

    @staticmethod
    def _alias(value: Any, module: dict[str, str | None]) -> str | None:
        parts = dotted_parts(value)
        if parts is None:
            return None
        head, rest = parts
        base = module.get(head) if head in module else (f"builtins.{head}" if head in BUILTIN_NAMES else None)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def lookup(self, head: str, scope: Any) -> str | None:
        """What ``head`` used in the body of ``scope`` (None: the module) refers to."""
        key = (scope, head)
        memo = self.memo
        if key in memo:
            return memo[key]
        got = None
        s = scope
        scoped = self.scoped
        while s is not None:
            got = scoped.get((s, head))
            if got is not None:
                break
            s = enclosing_def(self.parent, s)
        if got is None:
            got = self.module.get(head)
            if got is None and head not in self.module:
                if head in BUILTIN_NAMES:
                    got = f"builtins.{head}"
                elif self.star is not None:
                    got = f"{self.star}.{head}"
        memo[key] = got
        return got

    def bind(self, scope: Any, name: str, target: str) -> None:
        """Record a binding made inside a def or class body (e.g. a class defined in a function)."""
        self.scoped.setdefault((scope, name), target)

    def resolve(self, node: Any, scope: Any) -> str | None:
        """The fully qualified name of a Name/Attribute chain, or None."""
        parts = dotted_parts(node)
        if parts is None:
            return None
        head, rest = parts
        base = self.lookup(head, scope)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def name(self, node: Any, scope: Any) -> str:
        """Resolved dotted name of a name, attribute or call's callee, else its text as written."""
        if node.__class__ is ast.Call:
            node = node.func
        got = self.resolve(node, scope)
        if got is not None:
            return got
        src = self._src()
        return src.segment(node, MAX_TEXT) if src is not None else ""


#: one FileNames per live SourceFile, dropped with it: holding on to a finished file (its tree, its
#: node index) until the next one comes measurably slows the whole run down
_cache: weakref.WeakKeyDictionary[SourceFile, FileNames] = weakref.WeakKeyDictionary()


def file_names(src: SourceFile) -> FileNames:
    """The file's :class:`FileNames`, built once however many extractors ask."""
    got = _cache.get(src)
    if got is None:
        got = _cache[src] = FileNames(src)
    return got


STDLIB = frozenset(sys.stdlib_module_names) | {"builtins", "__future__"}


def stdlib_heads(src: SourceFile, own_top: str) -> set[str]:
    """Names the file binds only by importing from the standard library (not from its own top-level
    package, whatever its name)."""
    std: set[str] = set()
    other: set[str] = set()
    stdlib = STDLIB
    for stmt in src.nodes(ast.Import, ast.ImportFrom):
        if stmt.__class__ is ast.Import:
            for alias in stmt.names:
                top = alias.name.partition(".")[0]
                bound = alias.asname or top
                (std if top in stdlib and top != own_top else other).add(bound)
        else:
            top = (stmt.module or "").partition(".")[0]
            into = std if not stmt.level and top in stdlib and top != own_top else other
            for alias in stmt.names:
                into.add(alias.asname or alias.name)
    std -= other
    return std

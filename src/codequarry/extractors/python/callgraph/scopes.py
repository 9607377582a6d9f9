"""The scope table of the call-graph walker: what each def, lambda, class or module binds.

Unlike :mod:`codequarry.python.scopes` (which scope holds a node), the walker needs every name a scope
binds before it reads the scope's body, as Python's compiler does, to tell locals from globals.
:func:`bindings` answers that for every scope of a file at once from the shared node index (no walk of
its own: it was two walks per scope, 65% of the walker's time).
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.source import SourceFile

FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
#: every statement class: a statement caches the scope whose body holds it (:func:`bindings`)
_STMT_TYPES = frozenset(c for c in vars(ast).values() if isinstance(c, type) and issubclass(c, ast.stmt))


class Scope:
    """A def, lambda, class or the module, with the names it binds."""

    __slots__ = (
        "kind",
        "qual",
        "parent",
        "bound",
        "globals",
        "nonlocals",
        "func",
        "cls",
        "first",
        "meta",
        "defs",
    )

    def __init__(self, kind: str, qual: str, parent: Scope | None) -> None:
        self.kind, self.qual, self.parent = kind, qual, parent
        self.bound: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.func: str | None = None  # the def's qualname (functions and lambdas)
        self.cls: str | None = None  # for a method's scope: its class's qualname
        self.first: str | None = None  # a method's first parameter (self, cls)
        self.defs: set[str] = set()  # names a def or class statement of this scope binds
        self.meta = False  # a class scope of a metaclass: its methods' self is a class, not an instance


def method_of(scope: Scope) -> tuple[str | None, str | None]:
    """(class qualname, first parameter) of the method holding ``scope``, through nested defs."""
    s: Scope | None = scope
    while s is not None and s.kind == "function":
        if s.cls is not None:
            return s.cls, s.first
        s = s.parent
    return None, None


def module_scope(scope: Scope) -> Scope:
    while scope.parent is not None:
        scope = scope.parent
    return scope


def function_scope(scope: Scope) -> Scope:
    return scope


class Binds:
    """What one scope's own nodes bind and declare (see :func:`bindings`)."""

    __slots__ = ("bound", "globals", "nonlocals", "defs", "gen")

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.defs: set[str] = set()  # names a def or class statement binds
        self.gen = False  # a yield among a def's own nodes: the def is a generator


_DEF_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_NOWHERE = object()  # a def's or lambda's header (decorators, defaults, bases): no scope collects it


def bindings(src: SourceFile) -> dict[Any, Binds]:
    """Per scope node (the module, a def, a class, a lambda), what its own nodes bind, from the file's
    shared node index: no walk of its own; each binding node climbs its parents to the scope whose
    body holds it (comprehensions are transparent here, as in the walker). A node in a def's or a
    lambda's header (decorators, defaults, annotations, bases) is collected by no scope."""
    owner = _Owners(src.parents.get)
    table: dict[Any, Binds] = {}

    def binds(node: Any) -> Binds | None:
        got = owner(node)
        if got is _NOWHERE:
            return None
        b = table.get(got)
        if b is None:
            b = table[got] = Binds()
        return b

    load = ast.Load
    for node in src.nodes(ast.Name):
        if node.ctx.__class__ is not load and (b := binds(node)) is not None:
            b.bound.add(node.id)
    for node in src.nodes(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        if (b := binds(node)) is not None:
            b.bound.add(node.name)
            b.defs.add(node.name)
    for node in src.nodes(ast.Import, ast.ImportFrom):
        if (b := binds(node)) is not None:
            b.bound.update(a.asname or a.name.partition(".")[0] for a in node.names if a.name != "*")
    for node in src.nodes(ast.ExceptHandler, ast.MatchAs, ast.MatchStar):
        if node.name and (b := binds(node)) is not None:
            b.bound.add(node.name)
    for node in src.nodes(ast.Global):
        if (b := binds(node)) is not None:
            b.globals.update(node.names)
    for node in src.nodes(ast.Nonlocal):
        if (b := binds(node)) is not None:
            b.nonlocals.update(node.names)
    for node in src.nodes(ast.Yield, ast.YieldFrom):
        if (b := binds(node)) is not None:
            b.gen = True
    return table


class _Owners:
    """The scope node whose body holds a node (``_NOWHERE`` for a header), climbing parent links;
    each statement passed on the way remembers the answer, so a climb stops at the first one known."""

    def __init__(self, parent: Any) -> None:
        self.parent = parent
        self.known: dict[Any, Any] = {}  # a statement -> its scope node

    def __call__(self, node: Any) -> Any:
        get, known = self.parent, self.known
        child, anc = node, get(node)
        passed: list[Any] = []
        got: Any = None
        while anc is not None:
            if child.__class__ in _STMT_TYPES:
                got = known.get(child)
                if got is not None:
                    break
                passed.append(child)
            cls = anc.__class__
            if cls in _DEF_TYPES:
                got = anc if isinstance(child, ast.stmt) else _NOWHERE
                break
            if cls is ast.Lambda:
                got = anc if child is anc.body else _NOWHERE
                break
            child, anc = anc, get(anc)
        else:
            got = child  # the module
        for stmt in passed:
            known[stmt] = got
        return got


def tail(node: ast.expr) -> str:
    """The last name of a dotted expression (``models.Model``: ``Model``), else ''."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def all_args(args: ast.arguments) -> list[ast.arg]:
    out = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        out.append(args.vararg)
    if args.kwarg:
        out.append(args.kwarg)
    return out

"""The scope table of the call-graph walker: what each def, lambda, class or module binds.

Unlike :mod:`codequarry.python.scopes` (which scope holds a node), the walker needs every name a scope
binds before it reads the scope's body, as Python's compiler does, to tell locals from globals.
"""

from __future__ import annotations

import ast
from typing import Any

FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


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


def own_nodes(stmts: list[ast.stmt]) -> Any:
    """The nodes of a body that belong to its own scope (not to nested defs, classes or lambdas,
    though a nested def or class statement itself is yielded: it binds its name in this scope)."""
    stack: list[ast.AST] = list(stmts)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (*FUNCS, ast.ClassDef)):
                yield child  # a def under if/try/with binds its name here; its body is its own scope
            elif not isinstance(child, ast.Lambda):
                stack.append(child)


def collect(stmts: list[ast.stmt], scope: Scope) -> None:
    """The names a scope binds (assigned, imported, defined, loop and with targets, walrus) and declares
    global or nonlocal."""
    for stmt in stmts:
        if isinstance(stmt, (*FUNCS, ast.ClassDef)):
            scope.bound.add(stmt.name)
            scope.defs.add(stmt.name)
    for node in own_nodes(stmts):
        bind(node, scope)
        if isinstance(node, (*FUNCS, ast.ClassDef)):
            scope.bound.add(node.name)
            scope.defs.add(node.name)


def collect_expr(node: ast.expr, scope: Scope) -> None:
    for n in own_nodes([node]):  # type: ignore[list-item]
        bind(n, scope)


def bind(node: ast.AST, scope: Scope) -> None:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        scope.bound.add(node.id)
    elif isinstance(node, ast.Global):
        scope.globals.update(node.names)
    elif isinstance(node, ast.Nonlocal):
        scope.nonlocals.update(node.names)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name != "*":
                scope.bound.add(alias.asname or alias.name.partition(".")[0])
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        scope.bound.add(node.name)


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

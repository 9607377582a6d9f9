"""Scopes of a Python file: which def, class or lambda holds a node, and what scopes are called.

Every function here starts from a node the file's index serves and climbs parent links (pass
``src.parents.get`` as ``parent``); nothing walks the tree, so each answer costs the depth of the node.

Scopes follow Python's evaluation rules rather than plain nesting: a def's decorators, default values
and annotations, and a class's bases and keywords, are evaluated in the *enclosing* scope, so a node
there belongs to the outer scope even though the def node is its ancestor (:func:`scope_of`).
:func:`enclosing_def` is the plain-nesting answer, which is the same for a statement and cheaper.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Callable
from typing import Any

from codequarry.source import SourceFile

FUNCTION_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef})
DEF_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
COMPREHENSION_TYPES = frozenset({ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp})
TRY_TYPES = frozenset(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)

Parent = Callable[[Any], Any]


def scope_of(parent: Parent, node: Any) -> Any:
    """The def, class or lambda whose body evaluates ``node``; None at module level.

    Headers (decorators, defaults, annotations, bases) belong to the enclosing scope; comprehensions
    are transparent (their variables are not followed by anything here).
    """
    child = node
    anc = parent(node)
    while anc is not None:
        cls = anc.__class__
        if cls in DEF_TYPES:
            if isinstance(child, ast.stmt):
                return anc
        elif cls is ast.Lambda and child is anc.body:
            return anc
        child = anc
        anc = parent(anc)
    return None


def scope_and_lambdas(parent: Parent, node: Any) -> tuple[Any, list[Any] | None]:
    """(the def or class whose body evaluates ``node``, None for the module; the lambdas in between,
    innermost first, or None when there are none).

    Like :func:`scope_of`, but lambdas are looked through and collected: their parameters shadow
    names, which is what :meth:`codequarry.python.resolve.Resolver.lookup` takes them for.
    """
    lambdas = None
    child = node
    anc = parent(node)
    while anc is not None:
        cls = anc.__class__
        if cls in DEF_TYPES:
            if isinstance(child, ast.stmt):
                break
        elif cls is ast.Lambda and child is anc.body:
            if lambdas is None:
                lambdas = [anc]
            else:
                lambdas.append(anc)
        child = anc
        anc = parent(anc)
    return anc, lambdas


def enclosing_def(parent: Parent, node: Any) -> Any:
    """The innermost def or class node above ``node`` (its body or its header); None at module level.

    For a statement (or an except handler) this is the scope that holds it; for an expression in a
    def's header it is the def itself, unlike :func:`scope_of`. Lambdas are not scopes here.
    """
    anc = parent(node)
    while anc is not None and anc.__class__ not in DEF_TYPES:
        anc = parent(anc)
    return anc


def module_name(src: SourceFile) -> str:
    """The dotted module name the planner computed, else the file's stem (a package's folder name)."""
    if src.module:
        return src.module
    head, base = posixpath.split(src.path.replace("\\", "/"))
    stem = base.rsplit(".", 1)[0] if "." in base else base
    if stem == "__init__" and head:
        return posixpath.basename(head)
    return stem


class ScopeNames:
    """Qualified names of scope nodes, as Python computes ``__qualname__``, cached per file.

    ``qualname(None)`` is '' (the module); ``full(scope)`` prefixes the module name
    (``pkg.mod.C.f``, ``pkg.mod`` for the module itself).
    """

    def __init__(self, src: SourceFile) -> None:
        self._src = src
        self.module = module_name(src)
        self._names: dict[Any, str] = {None: ""}

    def qualname(self, scope: Any) -> str:
        got = self._names.get(scope)
        if got is None:
            got = self._names[scope] = self._src.qualname(scope)
        return got

    def full(self, scope: Any) -> str:
        qual = self.qualname(scope)
        return f"{self.module}.{qual}" if qual else self.module


def parameter_names(args: ast.arguments) -> set[str]:
    """Every name a def or lambda binds for its parameters."""
    names = {a.arg for a in args.posonlyargs}
    names.update(a.arg for a in args.args)
    names.update(a.arg for a in args.kwonlyargs)
    if args.vararg is not None:
        names.add(args.vararg.arg)
    if args.kwarg is not None:
        names.add(args.kwarg.arg)
    return names


def body_statements(body: list[Any]) -> list[Any]:
    """Statements of a module or class body in source order, including those under ``if`` / ``try`` /
    ``with`` at that level (the statements themselves are left out; ``async with`` is not entered)."""
    out = []
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        cls = stmt.__class__
        if cls is ast.If:
            stack.extend(reversed(stmt.orelse))
            stack.extend(reversed(stmt.body))
        elif cls in TRY_TYPES:
            for part in (stmt.finalbody, stmt.orelse, *[h.body for h in reversed(stmt.handlers)], stmt.body):
                stack.extend(reversed(part))
        elif cls is ast.With:
            stack.extend(reversed(stmt.body))
        else:
            out.append(stmt)
    return out

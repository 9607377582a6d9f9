"""Resolving a dotted name used in a file to the fully qualified name it most likely refers to.

Static and per file: the bindings that count are imports (module level and, shadowing them, local to
a function or class), defs and classes, assignments (``x = ...``, ``for x in``, ``with .. as x``,
``except .. as x``, ``x := ...``), ``global`` declarations and parameters, scoped as Python scopes
them (a function sees its enclosing functions and the module, not the bodies of enclosing classes).
A module-level ``p = os.path`` makes ``p`` an alias of ``os.path``. When a name has several bindings
in one scope, imports win, then defs, then the first assignment. Star imports, comprehension
variables and attributes of instances (``self.x``) are not followed.

Results: ``os.path.join`` for an imported name, ``<module>.<qualname>`` for a def or class of the file
(a local def included: ``pkg.mod.f.<locals>.helper``), ``<module>.<name>`` for another module-level
name, ``builtins.<name>`` for an unshadowed builtin, None for parameters and other locals.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.names import (
    BUILTIN_NAMES,
    DEF_TYPES,
    FUNCTION_TYPES,
    import_bindings,
    owner,
    parameter_names,
)
from codequarry.source import SourceFile

_LOCAL = object()  # a binding that is a plain local variable: known, but not resolvable


class Resolver:
    """Bindings of one file for the head names in ``heads`` (the only ones anyone will ask about)."""

    def __init__(self, src: SourceFile, modname: str, heads: set[str]) -> None:
        self.src = src
        self.modname = modname
        self.module_bind: dict[str, str | None] = {}
        self.scope_bind: dict[tuple[Any, str], Any] = {}  # (def or class node, name) -> target | _LOCAL
        self._params: dict[Any, set[str]] = {}
        self._outer: dict[Any, Any] = {}
        self._collect(heads)
        #: names some scope of the file binds locally (parameters included); any other name means
        #: the same thing everywhere in the file, and :meth:`global_lookup` answers for it
        self.shadowable: set[str] = {name for _, name in self.scope_bind}
        self.shadowable.update(a.arg for a in src.nodes(ast.arg))

    # -- collecting bindings ------------------------------------------------------------------------
    def _collect(self, heads: set[str]) -> None:
        src, modname = self.src, self.modname
        module_bind, scope_bind = self.module_bind, self.scope_bind
        for b in import_bindings(src):
            if b.is_star or b.bound_name is None:
                continue
            if b.scope is None:
                module_bind.setdefault(b.bound_name, b.target)
            else:
                scope_bind.setdefault((b.scope, b.bound_name), b.target)
        parent = src.parents.get
        qualname = src.qualname
        for d in src.nodes(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            if d.name in heads:
                scope = _stmt_scope(parent, d)
                target = f"{modname}.{qualname(d)}"
                if scope is None:
                    module_bind.setdefault(d.name, target)
                else:
                    scope_bind.setdefault((scope, d.name), target)
        globals_: set[tuple[Any, str]] = set()
        for g in src.nodes(ast.Global):
            scope = _stmt_scope(parent, g)
            globals_.update((scope, n) for n in g.names)
        for node, name in _stores(src, heads):
            scope = (
                _stmt_scope(parent, node)
                if node.__class__ is not ast.NamedExpr
                else _walrus_scope(parent, node)
            )
            if scope is None:
                if name not in module_bind:
                    module_bind[name] = self._module_alias(node) or f"{modname}.{name}"
            elif scope is _UNKNOWN:
                continue
            elif (scope, name) in globals_:
                module_bind.setdefault(name, f"{modname}.{name}")
            elif scope.__class__ is ast.ClassDef:
                scope_bind.setdefault((scope, name), f"{modname}.{qualname(scope)}.{name}")
            else:
                scope_bind.setdefault((scope, name), _LOCAL)

    def _module_alias(self, stmt: Any) -> str | None:
        """For ``x = a.b`` at module level, what ``a.b`` resolves to (bindings seen so far)."""
        if stmt.__class__ is not ast.Assign or len(stmt.targets) != 1:
            return None
        value = stmt.value
        attrs: list[str] = []
        while value.__class__ is ast.Attribute:
            attrs.append(value.attr)
            value = value.value
        if value.__class__ is not ast.Name:
            return None
        head = value.id
        if head in self.module_bind:
            base = self.module_bind[head]
        else:
            base = f"builtins.{head}" if head in BUILTIN_NAMES else None
        if base is None:
            return None
        attrs.reverse()
        return ".".join([base, *attrs])

    # -- lookups ------------------------------------------------------------------------------------
    def _param_names(self, node: Any) -> set[str]:
        got = self._params.get(node)
        if got is None:
            got = self._params[node] = parameter_names(node.args)
        return got

    def _outer_function(self, scope: Any) -> Any:
        """The nearest function enclosing ``scope`` (class bodies in between are not visible)."""
        try:
            return self._outer[scope]
        except KeyError:
            outer = self.src.scope_of(scope)
            while outer is not None and outer.__class__ not in FUNCTION_TYPES:
                outer = self.src.scope_of(outer)
            self._outer[scope] = outer
            return outer

    def global_lookup(self, head: str) -> str | None:
        """What ``head`` refers to where no local binding shadows it: module level, then builtins."""
        module_bind = self.module_bind
        if head in module_bind:
            return module_bind[head]
        if head in BUILTIN_NAMES:
            return f"builtins.{head}"
        return None

    def lookup(self, head: str, scope: Any, lambdas: list[Any] | None = None) -> str | None:
        """What the name ``head`` used in the body of ``scope`` (None: module) refers to; ``lambdas``
        are the lambdas between the use and ``scope``, whose parameters shadow everything."""
        if lambdas:
            for lam in lambdas:
                if head in self._param_names(lam):
                    return None
        scope_bind = self.scope_bind
        s = scope
        while s is not None:  # the scope itself, then the functions around it, innermost first
            key = (s, head)
            if key in scope_bind:
                got = scope_bind[key]
                return None if got is _LOCAL else got
            if s.__class__ in FUNCTION_TYPES and head in self._param_names(s):
                return None
            s = self._outer_function(s)
        return self.global_lookup(head)


_UNKNOWN = object()  # a binding in a place we do not follow (a walrus inside a lambda)


def _stmt_scope(parent: Any, node: Any) -> Any:
    """The def or class whose body holds the statement (or except handler) ``node``; None: module."""
    anc = parent(node)
    while anc is not None and anc.__class__ not in DEF_TYPES:
        anc = parent(anc)
    return anc


def _walrus_scope(parent: Any, node: Any) -> Any:
    """Where ``(x := ...)`` binds: the enclosing def's body, through comprehensions; headers bind
    outside; inside a lambda's body it is unknown."""
    scope = owner(parent, node)
    return _UNKNOWN if isinstance(scope, ast.Lambda) else scope


def _stores(src: SourceFile, heads: set[str]) -> list[tuple[Any, str]]:
    """(binding node, name) for names in ``heads`` bound by assignment, for, with, walrus or except.

    The node is the statement (the ``with`` for a with-item), or the walrus expression.
    """
    found: list[tuple[Any, str]] = []
    targets: list[tuple[Any, Any]] = []
    for node in src.nodes(ast.Assign):
        for t in node.targets:
            targets.append((node, t))
    for node in src.nodes(ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.NamedExpr):
        targets.append((node, node.target))
    parent = src.parents.get
    for item in src.nodes(ast.withitem):
        if item.optional_vars is not None:
            targets.append((parent(item), item.optional_vars))
    for handler in src.nodes(ast.ExceptHandler):
        if handler.name in heads:
            found.append((handler, handler.name))
    Name = ast.Name
    for node, t in targets:
        cls = t.__class__
        if cls is Name:
            if t.id in heads:
                found.append((node, t.id))
        elif cls is ast.Tuple or cls is ast.List or cls is ast.Starred:
            stack = [t]
            while stack:
                e = stack.pop()
                cls = e.__class__
                if cls is Name:
                    if e.id in heads:
                        found.append((node, e.id))
                elif cls is ast.Tuple or cls is ast.List:
                    stack.extend(e.elts)
                elif cls is ast.Starred:
                    stack.append(e.value)
    return found

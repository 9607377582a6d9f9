"""Name resolution: the fully qualified name a dotted name used in a file most likely refers to.

Static and per file; nothing is imported. Two resolvers, one per cost:

- :class:`Resolver` knows every binding of the file for the head names it is built for: imports
  (module level and, shadowing them, local to a function or class), defs and classes, assignments
  (``x = ...``, ``for x in``, ``with .. as x``, ``except .. as x``, ``x := ...``), ``global``
  declarations and parameters, scoped as Python scopes them (a function sees its enclosing functions
  and the module, not the bodies of enclosing classes). When a name has several bindings in one scope,
  imports win, then defs, then the first assignment. The core ``calls`` table uses it.
- :class:`FileNames` (one per file: :func:`file_names`) knows only imports (with their scopes) and the
  defs, classes and assignments at module level; a name bound only inside a function is not resolved
  unless an extractor binds it (:meth:`FileNames.bind`), and with a single star import an otherwise
  unbound name is taken to come from the starred module. It costs a fraction of a :class:`Resolver`
  and suits extractors that ask about a few names per file (bases, decorators, field constructors).

Both make a module-level ``p = os.path`` an alias of ``os.path``. Neither follows comprehension
variables or attributes of instances (``self.x``); :class:`Resolver` ignores star imports.

Results: ``os.path.join`` for an imported name, ``<module>.<qualname>`` for a def or class of the file
(:class:`Resolver` includes local defs: ``pkg.mod.f.<locals>.helper``), ``<module>.<name>`` for
another module-level name, ``builtins.<name>`` for an unshadowed builtin, None for parameters and
other locals.
"""

from __future__ import annotations

import ast
import builtins
import weakref
from typing import Any

from codequarry.python.calls import dotted_parts
from codequarry.python.imports import import_bindings
from codequarry.python.scopes import (
    DEF_TYPES,
    FUNCTION_TYPES,
    body_statements,
    enclosing_def,
    module_name,
    parameter_names,
    scope_of,
)
from codequarry.source import SourceFile, enclosing_scope

#: names a call resolves to ``builtins.<name>`` when nothing in the file shadows them
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_")) | {"__import__"}
MAX_TEXT = 200  # characters of source text :meth:`FileNames.name` falls back to


def alias_target(value: Any, module_bind: dict[str, str | None]) -> str | None:
    """What a module-level alias ``x = a.b`` refers to: ``a.b`` resolved through the module-level
    bindings seen so far (else a builtin), or None when ``value`` is no dotted name or ``a`` unknown."""
    parts = dotted_parts(value)
    if parts is None:
        return None
    head, rest = parts
    base = module_bind.get(head, f"builtins.{head}" if head in BUILTIN_NAMES else None)
    if base is None:
        return None
    return f"{base}.{rest}" if rest else base


_LOCAL = object()  # a binding that is a plain local variable: known, but not resolvable


class Resolver:
    """Bindings of one file for the head names in ``heads`` (the only ones anyone will ask about)."""

    def __init__(self, src: SourceFile, modname: str, heads: set[str]) -> None:
        # no reference to ``src`` itself: a resolver kept with a file's shared facts must not keep
        # the file (its tree) alive past its last extractor (see security.callsites.file_facts)
        self._src = weakref.ref(src)
        self._parent = src.parents.get
        self.modname = modname
        self.module_bind: dict[str, str | None] = {}
        self.scope_bind: dict[tuple[Any, str], Any] = {}  # (def or class node, name) -> target | _LOCAL
        self._params: dict[Any, set[str]] = {}
        self._outer: dict[Any, Any] = {}
        self._collect(src, heads)
        #: names some scope of the file binds locally (parameters included); any other name means
        #: the same thing everywhere in the file, and :meth:`global_lookup` answers for it
        self.shadowable: set[str] = {name for _, name in self.scope_bind}
        self.shadowable.update(a.arg for a in src.nodes(ast.arg))

    @property
    def src(self) -> SourceFile | None:
        """The file the resolver was built for (None once that file is freed)."""
        return self._src()

    # -- collecting bindings ------------------------------------------------------------------------
    def _collect(self, src: SourceFile, heads: set[str]) -> None:
        modname = self.modname
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
                scope = enclosing_def(parent, d)
                target = f"{modname}.{qualname(d)}"
                if scope is None:
                    module_bind.setdefault(d.name, target)
                else:
                    scope_bind.setdefault((scope, d.name), target)
        globals_: set[tuple[Any, str]] = set()
        for g in src.nodes(ast.Global):
            scope = enclosing_def(parent, g)
            globals_.update((scope, n) for n in g.names)
        for node, name in _stores(src, heads):
            scope = (
                enclosing_def(parent, node)
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
        return alias_target(stmt.value, self.module_bind)

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
            outer = self._scope_of(scope)
            while outer is not None and outer.__class__ not in FUNCTION_TYPES:
                outer = self._scope_of(outer)
            self._outer[scope] = outer
            return outer

    def _scope_of(self, node: Any) -> Any:
        return enclosing_scope(self._parent, node)

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


def _walrus_scope(parent: Any, node: Any) -> Any:
    """Where ``(x := ...)`` binds: the enclosing def's body, through comprehensions; headers bind
    outside; inside a lambda's body it is unknown."""
    scope = scope_of(parent, node)
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
                        module[target.id] = alias_target(stmt.value, module) or f"{modname}.{target.id}"
        self.module = module
        self.scoped = scoped
        #: with exactly one ``from m import *``, an otherwise unbound name most likely comes from ``m``
        self.star = stars[0] if len(stars) == 1 else None
        self.memo: dict[tuple[Any, str], str | None] = {}

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

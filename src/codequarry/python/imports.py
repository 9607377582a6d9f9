"""Import bindings of a Python file: what each imported name binds, where, and under which guard.

:func:`import_bindings` reads every ``import`` / ``from ... import`` of a file (any scope) into
:class:`ImportBinding` values in source order; it is the source of the ``imports`` dataset and of both
resolvers in :mod:`codequarry.python.resolve`. Relative imports are made absolute as importlib does,
from the module name the planner computed for the file; nothing is imported or looked up on disk.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codequarry.python.scopes import DEF_TYPES
from codequarry.source import SourceFile


def resolve_relative(module: str | None, is_package: bool, level: int, name: str | None) -> str | None:
    """The absolute module ``from <level dots><name> import ...`` refers to, as importlib computes it.

    The anchor is the module's package (the module itself for a package ``__init__``); each level past
    the first goes one package up. None when the module is unknown or the import climbs above the
    top-level package.
    """
    if level == 0:
        return name
    if not module:
        return None
    parts = module.split(".")
    if not is_package:
        parts.pop()
    keep = len(parts) - (level - 1)
    if keep <= 0:
        return None
    base = ".".join(parts[:keep])
    return f"{base}.{name}" if name else base


def type_checking_test(test: Any) -> int:
    """1 for ``TYPE_CHECKING`` / ``x.TYPE_CHECKING``, -1 for ``not`` of one, 0 otherwise."""
    cls = test.__class__
    if cls is ast.Name:
        return 1 if test.id == "TYPE_CHECKING" else 0
    if cls is ast.Attribute:
        return 1 if test.attr == "TYPE_CHECKING" else 0
    if cls is ast.UnaryOp and test.op.__class__ is ast.Not:
        return -type_checking_test(test.operand)
    return 0


@dataclass(slots=True)
class ImportBinding:
    """One imported name and the local binding it makes (see the ``imports`` dataset)."""

    alias: ast.alias
    stmt: ast.Import | ast.ImportFrom
    scope: Any  # the def or class node whose body holds the import; None at module level
    module: str | None
    name: str | None
    asname: str | None
    level: int
    resolved: str | None
    target: str | None
    bound_name: str | None
    is_type_checking: bool
    in_try: bool
    is_star: bool


def _import_context(parent: Callable[[Any], Any], stmt: Any) -> tuple[Any, bool, bool]:
    """(scope node, under TYPE_CHECKING, in a try body or handler), looking no further than the scope."""
    is_tc = in_try = False
    child = stmt
    anc = parent(stmt)
    while anc is not None:
        cls = anc.__class__
        if cls in DEF_TYPES:
            return anc, is_tc, in_try
        if cls is ast.If:
            sign = type_checking_test(anc.test)
            if sign and (child in anc.body) == (sign > 0):
                is_tc = True
        elif (cls is ast.Try or cls is _TRY_STAR) and (
            child.__class__ is ast.ExceptHandler or child in anc.body
        ):
            in_try = True
        child = anc
        anc = parent(anc)
    return None, is_tc, in_try


_TRY_STAR = getattr(ast, "TryStar", ast.Try)


def import_bindings(src: SourceFile) -> list[ImportBinding]:
    """Every imported name of the file, in source order, with what it binds and where.

    Worked out once per file and kept on it (the ``imports`` extractor and both resolvers ask, ~2.5
    times per file on the standard library); each caller gets its own list of the shared bindings,
    which nobody changes. The bindings hold nodes, never the file, so keeping them makes no cycle."""
    cached = src.__dict__.get("_import_bindings")
    if cached is None:
        cached = src.__dict__["_import_bindings"] = _bindings(src)
    return list(cached)


def _bindings(src: SourceFile) -> tuple[ImportBinding, ...]:
    stmts = src.nodes(ast.Import, ast.ImportFrom)
    if not stmts:
        return ()
    stmts.sort(key=lambda s: (s.lineno, s.col_offset))
    parent = src.parents.get
    out: list[ImportBinding] = []
    for stmt in stmts:
        scope, is_tc, in_try = _import_context(parent, stmt)
        if stmt.__class__ is ast.Import:
            out.extend(_plain_import(stmt, scope, is_tc, in_try))
        else:
            out.extend(_from_import(src, stmt, scope, is_tc, in_try))
    return tuple(out)


def _plain_import(stmt: ast.Import, scope: Any, is_tc: bool, in_try: bool) -> list[ImportBinding]:
    """``import a.b.c`` binds ``a`` (target ``a``); ``import a.b.c as m`` binds ``m`` (target ``a.b.c``)."""
    out = []
    for alias in stmt.names:
        written = alias.name
        if alias.asname:
            bound, target = alias.asname, written
        else:
            bound = target = written.partition(".")[0]
        out.append(
            ImportBinding(
                alias,
                stmt,
                scope,
                module=written,
                name=None,
                asname=alias.asname,
                level=0,
                resolved=written,
                target=target,
                bound_name=bound,
                is_type_checking=is_tc,
                in_try=in_try,
                is_star=False,
            )
        )
    return out


def _from_import(
    src: SourceFile, stmt: ast.ImportFrom, scope: Any, is_tc: bool, in_try: bool
) -> list[ImportBinding]:
    """``from m import x as y`` binds ``y`` (target ``m.x``, m made absolute); ``*`` binds nothing known."""
    level = stmt.level or 0
    resolved = resolve_relative(src.module, src.is_package, level, stmt.module)
    out = []
    for alias in stmt.names:
        name = alias.name
        star = name == "*"
        out.append(
            ImportBinding(
                alias,
                stmt,
                scope,
                module=stmt.module,
                name=name,
                asname=None if star else alias.asname,
                level=level,
                resolved=resolved,
                target=None if star else (f"{resolved}.{name}" if resolved else None),
                bound_name=None if star else (alias.asname or name),
                is_type_checking=is_tc,
                in_try=in_try,
                is_star=star,
            )
        )
    return out


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

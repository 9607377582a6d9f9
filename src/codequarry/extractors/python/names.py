"""Name facts of one Python file: its module name, where nodes live, and what its imports bind.

Shared by the core extractors. Everything here starts from nodes the file's index serves and climbs
parent links; nothing walks the tree.

Scopes follow Python's evaluation rules rather than plain nesting: a def's decorators, default values
and annotations, and a class's bases and keywords, are evaluated in the *enclosing* scope, so a node
there belongs to the outer scope even though the def node is its ancestor.
"""

from __future__ import annotations

import ast
import builtins
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codequarry.source import SourceFile

FUNCTION_TYPES: frozenset[type[ast.FunctionDef | ast.AsyncFunctionDef]] = frozenset(
    {ast.FunctionDef, ast.AsyncFunctionDef}
)
DEF_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
COMPREHENSION_TYPES = frozenset({ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp})

#: names a call resolves to ``builtins.<name>`` when nothing in the file shadows them
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_")) | {"__import__"}

Span = tuple[int, int, int, int]


def module_name(src: SourceFile) -> str:
    """The dotted module name the planner computed, else the file's stem (a package's folder name)."""
    if src.module:
        return src.module
    head, base = posixpath.split(src.path.replace("\\", "/"))
    stem = base.rsplit(".", 1)[0] if "." in base else base
    if stem == "__init__" and head:
        return posixpath.basename(head)
    return stem


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


def wide_lines(src: SourceFile) -> tuple[set[int], Callable[[Any], Span]]:
    """(numbers of the lines holding non-ASCII characters, the converting span function).

    Positions of a node that neither starts nor ends on such a line are already in characters.
    """
    if src.text.isascii():
        return set(), src.span
    return {i for i, line in enumerate(src.lines, 1) if not line.isascii()}, src.span


def span_getter(src: SourceFile) -> Callable[[Any], Span]:
    """A function node -> (line, col, end_line, end_col) in characters (see :func:`wide_lines`)."""
    wide, convert = wide_lines(src)
    if not wide:
        return _raw_span

    def span(node: Any) -> Span:
        line, end = node.lineno, node.end_lineno
        if line in wide or end in wide:
            return convert(node)
        return (line, node.col_offset, end, node.end_col_offset)

    return span


def _raw_span(node: Any) -> Span:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)


def dotted_parts(node: Any) -> tuple[str, str] | None:
    """(head, rest) of a Name/Attribute chain: ``a.b.c`` -> ('a', 'b.c'), ``a`` -> ('a', ''); else None."""
    attrs: list[str] = []
    while node.__class__ is ast.Attribute:
        attrs.append(node.attr)
        node = node.value
    if node.__class__ is not ast.Name:
        return None
    if not attrs:
        return node.id, ""
    attrs.reverse()
    return node.id, ".".join(attrs)


def owner(parent: Callable[[Any], Any], node: Any) -> Any:
    """The def, class or lambda whose body holds ``node`` (None at module level).

    Headers (decorators, defaults, annotations, bases) belong to the enclosing scope; comprehensions
    are transparent.
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
    """Every imported name of the file, in source order, with what it binds and where."""
    stmts = src.nodes(ast.Import, ast.ImportFrom)
    if not stmts:
        return []
    stmts.sort(key=lambda s: (s.lineno, s.col_offset))
    parent = src.parents.get
    module, is_package = src.module, src.is_package
    out: list[ImportBinding] = []
    target: str | None
    for stmt in stmts:
        scope, is_tc, in_try = _import_context(parent, stmt)
        if stmt.__class__ is ast.Import:
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
                        written,
                        None,
                        alias.asname,
                        0,
                        written,
                        target,
                        bound,
                        is_tc,
                        in_try,
                        False,
                    )
                )
        else:
            level = stmt.level or 0
            resolved = resolve_relative(module, is_package, level, stmt.module)
            for alias in stmt.names:
                name = alias.name
                if name == "*":
                    out.append(
                        ImportBinding(
                            alias,
                            stmt,
                            scope,
                            stmt.module,
                            name,
                            None,
                            level,
                            resolved,
                            None,
                            None,
                            is_tc,
                            in_try,
                            True,
                        )
                    )
                    continue
                target = f"{resolved}.{name}" if resolved else None
                out.append(
                    ImportBinding(
                        alias,
                        stmt,
                        scope,
                        stmt.module,
                        name,
                        alias.asname,
                        level,
                        resolved,
                        target,
                        alias.asname or name,
                        is_tc,
                        in_try,
                        False,
                    )
                )
    return out


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


_MAX_CALLEE = 120  # characters of a callee that is not a dotted name
_MAX_CALLEE_BASE = 40  # characters of source text kept for the start of such a callee


def callee_text(seg: Any, func: Any) -> str:
    """A callee that is not a dotted name, as written but on one line: a call or subscript along the
    chain stays as written when short (``super(C, self).m``, ``items[0].strip``), a longer one is
    shortened (``cls(...).decode``) so that the names at the end survive."""
    parts: list[str] = []
    node = func
    while True:
        cls = node.__class__
        if cls is ast.Attribute:
            parts.append(f".{node.attr}")
            node = node.value
            continue
        if cls is ast.Name:
            parts.append(node.id)
            break
        text = seg(node, _MAX_CALLEE_BASE + 1)
        if len(text) <= _MAX_CALLEE_BASE and "\n" not in text:
            parts.append(text)
            break
        if cls is ast.Call:
            parts.append("(...)" if node.args or node.keywords else "()")
            node = node.func
        elif cls is ast.Subscript:
            parts.append("[...]")
            node = node.value
        else:
            parts.append(text.partition("\n")[0][: _MAX_CALLEE_BASE - 3] + "...")
            break
    parts.reverse()
    text = "".join(parts)
    return text if len(text) <= _MAX_CALLEE else text[: _MAX_CALLEE - 3] + "..."

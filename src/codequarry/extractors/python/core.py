"""Core facts of Python files: modules, functions, classes, imports, calls and assignments.

One extractor per dataset, each a single pass over the node types it needs from the file's index.
Every span is ``line, col, end_line, end_col``: lines from 1, columns from 0 in characters (not the
UTF-8 byte offsets the ``ast`` module reports). Source-text columns (decorators, annotations,
defaults, bases) hold the text as written. Names are resolved statically as
:mod:`codequarry.python.resolve` describes; nothing from the scanned code is imported.
"""

from __future__ import annotations

import ast
from inspect import cleandoc
from typing import Any

from codequarry.api import file_extractor
from codequarry.python.calls import callee_text
from codequarry.python.imports import import_bindings
from codequarry.python.resolve import Resolver
from codequarry.python.scopes import enclosing_def, module_name, scope_and_lambdas, scope_of
from codequarry.python.spans import span_getter, wide_lines
from codequarry.python.values import LITERAL_KINDS, MAX_VALUE, assignment_targets, is_literal, value_kind
from codequarry.schema import dataset
from codequarry.source import SourceFile

_EMPTY: list[str] = []  # shared by rows with no keywords / decorators; never mutated
_MAX_TARGET = 200  # characters of a target's source text (``x.y[...]``) kept
_MISSING = object()


@dataset("modules")
class PyModule:
    """One row per parsed Python file."""

    module: str
    is_package: bool
    docstring: str | None
    lines: int
    has_main_guard: bool
    parser: str  # "ast", or "tree-sitter-python <version>" for syntax newer than the interpreter


class Parameter:
    """One parameter of a function, in declaration order."""

    name: str
    kind: str
    annotation: str | None
    has_default: bool
    default: str | None


@dataset("functions")
class PyFunction:
    """One row per ``def`` / ``async def`` (lambdas are not functions here)."""

    name: str
    qualname: str
    module: str
    class_name: str | None
    kind: str
    is_async: bool
    is_generator: bool
    is_nested: bool
    decorators: list[str]
    parameters: list[Parameter]
    returns: str | None
    docstring: str | None
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("classes")
class PyClass:
    """One row per ``class`` statement."""

    name: str
    qualname: str
    module: str
    bases: list[str]
    keywords: list[str]
    decorators: list[str]
    docstring: str | None
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("imports")
class PyImport:
    """One row per imported name (``import a, b`` gives two rows)."""

    module: str | None
    name: str | None
    alias: str | None
    level: int
    resolved: str | None
    target: str | None
    bound_name: str | None
    scope: str
    is_type_checking: bool
    in_try: bool
    is_star: bool
    line: int
    col: int
    end_line: int
    end_col: int


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


@dataset("assignments")
class PyAssignment:
    """One row per name assigned at module or class level (``=``, annotated, augmented)."""

    scope: str
    target: str
    annotation: str | None
    value_kind: str | None
    value: str | None
    is_augmented: bool
    line: int
    col: int
    end_line: int
    end_col: int


# -- modules ---------------------------------------------------------------------------------------


@file_extractor("python.core.modules", version=2, needs=["ast"], outputs=[PyModule])
def modules(src: SourceFile, out: Any) -> None:
    """Python modules: dotted name, package flag, docstring, line count, main guard."""
    tree = src.tree
    text = src.text
    count = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
    guard = any(s.__class__ is ast.If and _is_main_guard(s.test) for s in tree.body)
    out.modules.add(
        module=module_name(src),
        is_package=src.is_package,
        docstring=_docstring(tree),
        lines=count,
        has_main_guard=guard,
        parser=src.parser,
    )


def _is_main_guard(test: Any) -> bool:
    if test.__class__ is not ast.Compare or len(test.ops) != 1 or test.ops[0].__class__ is not ast.Eq:
        return False
    sides = (test.left, test.comparators[0])
    return any(s.__class__ is ast.Name and s.id == "__name__" for s in sides) and any(
        s.__class__ is ast.Constant and s.value == "__main__" for s in sides
    )


# -- functions and classes ---------------------------------------------------------------------------

_MAX_DEFAULT = 80  # characters of a default value's source text kept
_PROPERTY_NAMES = frozenset({"property", "cached_property", "abstractproperty"})
_PROPERTY_ATTRS = frozenset({"setter", "getter", "deleter"})
# methods the class machinery wraps implicitly, whatever their decorators say
_IMPLICIT_KIND = {
    "__new__": "staticmethod",
    "__init_subclass__": "classmethod",
    "__class_getitem__": "classmethod",
}


def _method_kind(node: Any) -> str:
    """method | classmethod | staticmethod | property, from the decorators of a def in a class body."""
    found = set()
    for dec in node.decorator_list:
        if dec.__class__ is ast.Call:
            dec = dec.func
        if dec.__class__ is ast.Name:
            last = dec.id
        elif dec.__class__ is ast.Attribute:
            last = dec.attr
            if last in _PROPERTY_ATTRS:
                found.add("property")
                continue
        else:
            continue
        if last == "staticmethod" or last == "classmethod":
            found.add(last)
        elif last in _PROPERTY_NAMES:
            found.add("property")
    for kind in ("staticmethod", "classmethod", "property"):
        if kind in found:
            return kind
    return _IMPLICIT_KIND.get(node.name, "method")


def _parameters(seg: Any, args: ast.arguments) -> list[dict[str, Any]]:
    """The parameters of a def, in declaration order, as ``Parameter`` structs."""
    out = []
    defaults = args.defaults
    first_default = len(args.posonlyargs) + len(args.args) - len(defaults)
    i = 0
    for group, kind in ((args.posonlyargs, "positional_only"), (args.args, "positional_or_keyword")):
        for arg in group:
            out.append(_param(seg, arg, kind, defaults[i - first_default] if i >= first_default else None))
            i += 1
    if args.vararg is not None:
        out.append(_param(seg, args.vararg, "var_positional", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append(_param(seg, arg, "keyword_only", default))
    if args.kwarg is not None:
        out.append(_param(seg, args.kwarg, "var_keyword", None))
    return out


def _param(seg: Any, arg: ast.arg, kind: str, default: Any) -> dict[str, Any]:
    ann = arg.annotation
    if default is None:
        return {
            "name": arg.arg,
            "kind": kind,
            "annotation": None if ann is None else seg(ann),
            "has_default": False,
            "default": None,
        }
    return {
        "name": arg.arg,
        "kind": kind,
        "annotation": None if ann is None else seg(ann),
        "has_default": True,
        "default": seg(default, _MAX_DEFAULT),
    }


def _docstring(node: Any) -> str | None:
    """The cleaned docstring, as ``inspect.getdoc`` shows it (``ast.get_docstring`` without its checks)."""
    body = node.body
    if not body:
        return None
    first = body[0]
    if first.__class__ is not ast.Expr:
        return None
    value = first.value
    if value.__class__ is not ast.Constant or value.value.__class__ is not str:
        return None
    text = value.value
    if "\n" not in text:  # what cleandoc makes of one line, without its line splitting
        return text.expandtabs().lstrip()
    return cleandoc(text)


@file_extractor("python.core.functions", version=1, needs=["ast"], outputs=[PyFunction])
def functions(src: SourceFile, out: Any) -> None:
    """Functions and methods: kind, decorators, parameters, annotations, docstring."""
    defs = src.nodes(ast.FunctionDef, ast.AsyncFunctionDef)
    if not defs:
        return
    modname = module_name(src)
    span = span_getter(src)
    seg = src.segment
    parent = src.parents.get
    qualname = src.qualname
    ClassDef, AsyncFunctionDef = ast.ClassDef, ast.AsyncFunctionDef
    generators = {scope_of(parent, y) for y in src.nodes(ast.Yield, ast.YieldFrom)}
    add = out.functions.add
    for node in defs:
        scope = enclosing_def(parent, node)
        if scope is None:
            qual = node.name
            class_name = None
            kind = "function"
        elif scope.__class__ is ClassDef:
            qual = f"{qualname(scope)}.{node.name}"
            class_name = scope.name
            kind = _method_kind(node)
        else:
            qual = f"{qualname(scope)}.<locals>.{node.name}"
            class_name = None
            kind = "function"
        decorators = node.decorator_list
        returns = node.returns
        line, col, end_line, end_col = span(node)
        add(
            name=node.name,
            qualname=qual,
            module=modname,
            class_name=class_name,
            kind=kind,
            is_async=node.__class__ is AsyncFunctionDef,
            is_generator=node in generators,
            is_nested="<locals>" in qual,
            decorators=[seg(d) for d in decorators] if decorators else _EMPTY,
            parameters=_parameters(seg, node.args),
            returns=None if returns is None else seg(returns),
            docstring=_docstring(node),
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


@file_extractor("python.core.classes", version=1, needs=["ast"], outputs=[PyClass])
def classes(src: SourceFile, out: Any) -> None:
    """Classes: bases, keywords (metaclass=...), decorators, docstring."""
    nodes = src.nodes(ast.ClassDef)
    if not nodes:
        return
    modname = module_name(src)
    span = span_getter(src)
    seg = src.segment
    add = out.classes.add
    for node in nodes:
        keywords = [
            f"{kw.arg}={seg(kw.value)}" if kw.arg is not None else f"**{seg(kw.value)}"
            for kw in node.keywords
        ]
        line, col, end_line, end_col = span(node)
        add(
            name=node.name,
            qualname=src.qualname(node),
            module=modname,
            bases=[seg(b) for b in node.bases],
            keywords=keywords,
            decorators=[seg(d) for d in node.decorator_list],
            docstring=_docstring(node),
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


# -- imports -----------------------------------------------------------------------------------------


@file_extractor("python.core.imports", version=1, needs=["ast"], outputs=[PyImport])
def imports(src: SourceFile, out: Any) -> None:
    """Imported names: as written, resolved to absolute modules, the binding they make, and context.

    ``resolved`` is the absolute module (``from ..x import y`` in ``pkg.sub.mod`` -> ``pkg.x``);
    ``target`` the fully qualified name the local binding refers to: ``from os import path as p`` ->
    ``os.path``, ``import a.b.c`` (binds ``a``) -> ``a``, ``import a.b.c as m`` -> ``a.b.c``.
    """
    bindings = import_bindings(src)
    if not bindings:
        return
    span = span_getter(src)
    qualname = src.qualname
    add = out.imports.add
    for b in bindings:
        line, col, end_line, end_col = span(b.alias)
        add(
            module=b.module,
            name=b.name,
            alias=b.asname,
            level=b.level,
            resolved=b.resolved,
            target=b.target,
            bound_name=b.bound_name,
            scope=qualname(b.scope),
            is_type_checking=b.is_type_checking,
            in_try=b.in_try,
            is_star=b.is_star,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


# -- calls -------------------------------------------------------------------------------------------


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


# -- assignments -------------------------------------------------------------------------------------


@file_extractor("python.core.assignments", version=1, needs=["ast"], outputs=[PyAssignment])
def assignments(src: SourceFile, out: Any) -> None:
    """Module- and class-level assignments: one row per target name, with literal values."""
    stmts = src.nodes(ast.Assign, ast.AnnAssign, ast.AugAssign)
    if not stmts:
        return
    parent = src.parents.get
    ClassDef = ast.ClassDef
    seg = src.segment
    span = span_getter(src)
    scope_names: dict[Any, str] = {None: ""}
    add = out.assignments.add
    for stmt in stmts:
        scope = enclosing_def(parent, stmt)
        if scope is not None and scope.__class__ is not ClassDef:
            continue  # inside a function
        qual = scope_names.get(scope)
        if qual is None:
            qual = scope_names[scope] = src.qualname(scope)
        cls = stmt.__class__
        value = stmt.value
        if cls is ast.Assign:
            pairs = [p for t in stmt.targets for p in assignment_targets(t, value)]
            annotation = None
        else:
            pairs = [(stmt.target, value)]
            annotation = seg(stmt.annotation) if cls is ast.AnnAssign else None
        for target, val in pairs:
            kind = text = None
            if val is not None:
                kind = value_kind(val)
                # a literal of at most MAX_VALUE characters spans at most half as many lines
                if kind in LITERAL_KINDS and val.end_lineno - val.lineno <= MAX_VALUE // 2:
                    text = seg(val)
                    if len(text) > MAX_VALUE or not is_literal(val):
                        text = None
            line, col, end_line, end_col = span(target)
            add(
                scope=qual,
                target=target.id if target.__class__ is ast.Name else seg(target, _MAX_TARGET),
                annotation=annotation,
                value_kind=kind,
                value=text,
                is_augmented=cls is ast.AugAssign,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )

"""The ``functions`` and ``classes`` tables: kind, decorators, parameters, annotations, docstring."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.core.modules import docstring
from codequarry.python.scopes import enclosing_def, module_name, scope_of
from codequarry.python.spans import span_getter
from codequarry.schema import dataset
from codequarry.source import SourceFile

_EMPTY: list[str] = []  # shared by rows with no decorators; never mutated


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
            docstring=docstring(node),
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
            docstring=docstring(node),
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

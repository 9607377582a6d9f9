"""The ``modules`` table: one row per parsed Python file."""

from __future__ import annotations

import ast
from inspect import cleandoc
from typing import Any

from codequarry.api import file_extractor
from codequarry.python.scopes import module_name
from codequarry.schema import dataset
from codequarry.source import SourceFile


@dataset("modules")
class PyModule:
    """One row per parsed Python file."""

    module: str
    is_package: bool
    docstring: str | None
    lines: int
    has_main_guard: bool
    parser: str  # "ast", or "tree-sitter-python <version>" for syntax newer than the interpreter


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
        docstring=docstring(tree),
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


def docstring(node: Any) -> str | None:
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

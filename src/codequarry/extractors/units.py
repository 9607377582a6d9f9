"""``code_units``: the exact source text of every definition, with its docstring, for datasets.

"Every function with its docstring and its code" is the first thing ML dataset builders ask for;
this table answers it without re-reading files (``quarry export`` writes it like any other table).
Python's units are its functions and classes (decorators included in the text, the docstring as
``ast.get_docstring`` gives it); other languages' units are their tree-sitter definitions, with the
comment block right above each one as its docstring. Opt-in (``--select units``): the text roughly
doubles the store's size.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.schema import dataset
from codequarry.source import SourceFile

#: nodes that wrap a definition, so that its comment sits above the wrapper
_WRAPPERS = frozenset(
    {
        "export_statement",
        "template_declaration",
        "decorated_definition",
        "type_declaration",
        "lexical_declaration",
        "variable_declaration",
    }
)
_SKIPPED_BETWEEN = frozenset({"attribute_item", "decorator", "annotation", "marker_annotation"})


@dataset("code_units")
class CodeUnit:
    """One function, class or other definition, with its source text."""

    language: str
    kind: str
    name: str
    qualname: str
    line: int
    end_line: int
    docstring: str | None
    source: str  # exactly as written, from the first decorator to the end of the body


def leading_comment(data: bytes, node: Any) -> str | None:
    """The comment lines directly above a tree-sitter definition node (JSDoc, ///, /** */, #)."""
    while node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent
    parts: list[bytes] = []
    row = node.start_point[0]
    prev = node.prev_sibling
    while prev is not None and prev.type in _SKIPPED_BETWEEN:
        row = prev.start_point[0]
        prev = prev.prev_sibling
    while prev is not None and "comment" in prev.type and prev.end_point[0] >= row - 1:
        parts.append(data[prev.start_byte : prev.end_byte].rstrip())
        row = prev.start_point[0]
        prev = prev.prev_sibling
    if not parts:
        return None
    return b"\n".join(reversed(parts)).decode("utf-8", "replace")


@file_extractor(
    "units.python",
    version=1,
    needs=["ast"],
    outputs=[CodeUnit],
    default=False,
    description="the source text and docstring of every Python function and class",
)
def python_units(src: SourceFile, out: Any) -> None:
    for node in src.nodes(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        first = node.decorator_list[0] if node.decorator_list else node
        start = _Span(
            first.lineno,
            first.col_offset - (1 if node.decorator_list else 0),
            node.end_lineno,
            node.end_col_offset,
        )
        kind = (
            "class"
            if isinstance(node, ast.ClassDef)
            else ("method" if isinstance(src.parent(node), ast.ClassDef) else "function")
        )
        out.code_units.add(
            language="python",
            kind=kind,
            name=node.name,
            qualname=src.qualname(node),
            line=start.lineno,
            end_line=node.end_lineno or node.lineno,
            docstring=ast.get_docstring(node),
            source=src.segment(start),
        )


class _Span:
    """A node-like span (lineno, col_offset, end_lineno, end_col_offset) for ``SourceFile.segment``."""

    def __init__(
        self, lineno: int, col_offset: int, end_lineno: int | None, end_col_offset: int | None
    ) -> None:
        self.lineno = lineno
        self.col_offset = max(col_offset, 0)
        self.end_lineno = end_lineno
        self.end_col_offset = end_col_offset

"""The shared part of the tree-sitter -> ``ast`` converter: positions, child lists, notes.

Positions follow ``ast``: lines from 1, columns as UTF-8 byte offsets, which is what tree-sitter
reports when it parses the UTF-8 encoding of the decoded, newline-normalised text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: tree-sitter "extras" that can appear between any two tokens and never make an ``ast`` node
EXTRAS = frozenset({"comment", "line_continuation"})


PYTHON2 = "Python 2"  # how the messages of Unsupported for Python 2 syntax begin


class Unsupported(Exception):
    """The tree-sitter tree holds something ``ast`` cannot represent (Python 2 syntax, an ERROR)."""

    def __init__(self, message: str, node: Any) -> None:
        super().__init__(message)
        self.line = None if node is None else node.start_point[0] + 1
        self.column = None if node is None else node.start_point[1] + 1


@dataclass(frozen=True)
class Note:
    """A construct of newer Python that the 3.11 ``ast`` tree holds only approximately, or that made
    the running interpreter reject the file. ``since`` is the first Python version that accepts it."""

    construct: str
    since: tuple[int, int]
    line: int
    column: int
    approximated: str | None = None  # what the tree lacks; None when it is exact


@dataclass
class Context:
    """What a conversion accumulates: the source bytes and the notes on newer constructs."""

    data: bytes
    notes: list[Note] = field(default_factory=list)

    def note(
        self, node: Any, construct: str, since: tuple[int, int], approximated: str | None = None
    ) -> None:
        row, col = node.start_point
        self.notes.append(Note(construct, since, row + 1, col + 1, approximated))


def span(node: Any) -> dict[str, int]:
    """The ``ast`` position attributes of a tree-sitter node."""
    s = node.start_point
    e = node.end_point
    return {"lineno": s[0] + 1, "col_offset": s[1], "end_lineno": e[0] + 1, "end_col_offset": e[1]}


def span2(first: Any, last: Any) -> dict[str, int]:
    """Positions from the start of ``first`` to the end of ``last`` (tree-sitter or ``ast`` nodes)."""
    return {**start_of(first), **end_of(last)}


def start_of(node: Any) -> dict[str, int]:
    if isinstance(node, ast.AST):
        return {"lineno": node.lineno, "col_offset": node.col_offset}  # type: ignore[attr-defined]
    s = node.start_point
    return {"lineno": s[0] + 1, "col_offset": s[1]}


def end_of(node: Any) -> dict[str, int]:
    if isinstance(node, ast.AST):
        return {"end_lineno": node.end_lineno, "end_col_offset": node.end_col_offset}  # type: ignore[attr-defined]
    e = node.end_point
    return {"end_lineno": e[0] + 1, "end_col_offset": e[1]}


_Node = TypeVar("_Node")


def named(node: Any) -> list[Any]:
    """The named children of ``node`` without comments and line continuations."""
    return [c for c in node.named_children if c.type not in EXTRAS]


def text(node: Any) -> str:
    decoded: str = node.text.decode("utf-8")
    return decoded


def tokens(node: Any) -> list[Any]:
    """Every child except the extras, named and anonymous alike."""
    return [c for c in node.children if c.type not in EXTRAS]


def set_ctx(node: _Node, ctx: ast.expr_context) -> _Node:
    """Give a target and its sub-targets ``ctx``, as CPython does for assignment and ``del`` targets."""
    target: Any = node
    cls = target.__class__
    if cls in (ast.Name, ast.Attribute, ast.Subscript):
        target.ctx = ctx
    elif cls in (ast.Tuple, ast.List):
        target.ctx = ctx
        for elt in target.elts:
            set_ctx(elt, ctx)
    elif cls is ast.Starred:
        target.ctx = ctx
        set_ctx(target.value, ctx)
    return node


LOAD = ast.Load()
STORE = ast.Store()
DEL = ast.Del()

"""Positions of nodes in characters: ``(line, col, end_line, end_col)``, lines from 1, columns from 0.

The ``ast`` module reports columns as UTF-8 byte offsets; every dataset stores characters. Converting
costs a look at the line, so :func:`span_getter` converts only on lines that hold non-ASCII text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codequarry.source import SourceFile

Span = tuple[int, int, int, int]


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

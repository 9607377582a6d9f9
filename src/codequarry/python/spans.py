"""Positions of nodes in characters: ``(line, col, end_line, end_col)``, lines from 1, columns from 0.

The ``ast`` module reports columns as UTF-8 byte offsets; every dataset stores characters. Converting
costs a look at the line, so :func:`span_getter` converts only on lines that hold non-ASCII text.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any

from codequarry.source import SourceFile

Span = tuple[int, int, int, int]
#: a run of non-ASCII characters (newlines are ASCII, so a run lies on one line)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
#: [weak reference to the last file wide_lines was asked about, its wide lines]: no strong reference,
#: so the cache never keeps a file's text alive
_last_wide: list[Any] = []


def wide_lines(src: SourceFile) -> tuple[frozenset[int], Callable[[Any], Span]]:
    """(numbers of the lines holding non-ASCII characters, the converting span function).

    Positions of a node that neither starts nor ends on such a line are already in characters.
    """
    text = src.text
    if text.isascii():
        return frozenset(), src.span
    cached = _last_wide
    if cached and cached[0]() is src:  # many extractors ask, file by file: computed once per file
        got: frozenset[int] = cached[1]
        return got, src.span
    wide: set[int] = set()
    line, last = 1, 0
    for match in _NON_ASCII.finditer(text):  # few runs of non-ASCII text: count newlines in C
        start = match.start()
        line += text.count("\n", last, start)
        last = start
        wide.add(line)
    frozen = frozenset(wide)
    _last_wide[:] = [weakref.ref(src), frozen]
    return frozen, src.span


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

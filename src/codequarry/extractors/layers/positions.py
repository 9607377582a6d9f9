"""Byte columns to character columns, cheaply: the AST and ``co_positions`` count UTF-8 bytes, every
codequarry table counts characters (as ``SourceFile.span`` does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def char_columns(src: Any) -> Callable[[int | None, int | None], int | None] | None:
    """A ``(line, byte_col) -> char_col`` converter for a file (a ``SourceFile``), or None when the
    file is ASCII (then bytes and characters agree and callers skip the conversion). An ASCII file's
    ``lines`` are not asked for: splitting every file into lines cost ~0.1 s on the stdlib."""
    if src.text.isascii():
        return None
    lines: list[str] = src.lines
    cache: dict[int, bytes | None] = {}

    def convert(line: int | None, col: int | None) -> int | None:
        if line is None or col is None or not 0 < line <= len(lines):
            return col
        raw = cache.get(line, b"")
        if raw == b"":
            raw = None if lines[line - 1].isascii() else lines[line - 1].encode("utf-8")
            cache[line] = raw
        if raw is None:
            return col
        return len(raw[:col].decode("utf-8", "replace"))

    return convert

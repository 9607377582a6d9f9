"""Byte columns to character columns, cheaply: the AST and ``co_positions`` count UTF-8 bytes, every
codequarry table counts characters (as ``SourceFile.span`` does)."""

from __future__ import annotations

from collections.abc import Callable


def char_columns(lines: list[str], text: str) -> Callable[[int | None, int | None], int | None] | None:
    """A ``(line, byte_col) -> char_col`` converter for a file, or None when the file is ASCII (then
    bytes and characters agree and callers skip the conversion)."""
    if text.isascii():
        return None
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

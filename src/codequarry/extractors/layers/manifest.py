"""``parse_manifest``: how each Python file was read and parsed, one row per file (default: cheap).

Encoding as the interpreter detects it (BOM, PEP 263 cookie), the file's first line ending and its
indentation unit found as LibCST finds them (the first newline; the first INDENT token, read off
the shared parse tree instead of tokenizing), and which parser produced the file's facts, with its version and the language
version it accepts. ``grammar_abi`` is the grammar's ABI for parsers that have one (tree-sitter);
CPython's own parser has none.
"""

from __future__ import annotations

import ast
import io
import platform
import re
import sys
import tokenize
from typing import Any

from codequarry.api import file_extractor
from codequarry.schema import dataset

_NEWLINE = re.compile(rb"\r\n?|\n")
PYTHON = platform.python_version()
FEATURE_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


@dataset("parse_manifest")
class ParseManifest:
    """One row per Python file that was decoded: how it was read and which parser read it."""

    encoding: str
    has_bom: bool
    newline: str | None
    newlines_mixed: bool
    indentation: str | None
    has_trailing_newline: bool
    parser: str
    parser_version: str
    feature_version: str
    grammar_abi: int | None


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def first_indent(tree: ast.Module, lines: list[str]) -> str | None:
    """The whitespace of the file's first INDENT token, read off the parsed tree: the first block, in
    source order, whose first statement starts its own line (``if x: pass`` opens no block). Nested
    blocks come after their parent's first body line, so top-level statements suffice. None when the
    file has no indented block."""
    for stmt in tree.body:
        found = _block_indent(stmt, lines)
        if found is not None:
            return found
    return None


def _block_indent(stmt: ast.AST, lines: list[str]) -> str | None:
    items: list[Any] = [item for name in _BLOCKS for item in getattr(stmt, name, None) or ()]
    items.sort(key=_position)
    for item in items:
        if isinstance(item, ast.match_case):  # the INDENT comes before `case`
            line = lines[item.pattern.lineno - 1]
            return line[: len(line) - len(line.lstrip(" \t\f"))]
        if isinstance(item, ast.ExceptHandler):  # `except` sits at its `try`'s level: look inside
            found = _block_indent(item, lines)
            if found is not None:
                return found
            continue
        prefix = lines[item.lineno - 1][: item.col_offset]
        if not prefix.strip():
            return prefix
    return None


def _position(node: Any) -> tuple[int, int]:
    if isinstance(node, ast.match_case):
        return node.pattern.lineno, node.pattern.col_offset
    return node.lineno, node.col_offset


@file_extractor(
    "python.layers.parse_manifest",
    version=1,
    needs=["ast"],
    outputs=[ParseManifest],
    description="per file: encoding, BOM, newline, indentation, parser and its version",
)
def parse_manifest(src: Any, out: Any) -> None:
    data: bytes = src.data
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    crlf = data.count(b"\r\n")
    kinds = (crlf, data.count(b"\r") - crlf, data.count(b"\n") - crlf)
    first = _NEWLINE.search(data)
    tree = src.tree  # parsed first: the fallback parser of newer syntax names itself while parsing
    parser = getattr(src, "parser", None)
    version, abi = PYTHON, None
    if isinstance(parser, str) and parser.startswith("tree-sitter-python"):  # the newer-syntax fallback
        version = parser.partition(" ")[2] or "unknown"
        parser, abi = "tree-sitter-python", _grammar_abi()
    elif parser in (None, "ast"):
        parser = "cpython"
    out.parse_manifest.add(
        encoding=encoding,
        has_bom=data.startswith(b"\xef\xbb\xbf"),
        newline=first.group(0).decode("ascii") if first else None,
        newlines_mixed=sum(1 for k in kinds if k) > 1,
        indentation=first_indent(tree, src.lines),
        has_trailing_newline=data.endswith((b"\n", b"\r")),
        parser=parser,
        parser_version=version,
        feature_version=FEATURE_VERSION,
        grammar_abi=abi,
    )


def _grammar_abi() -> int | None:
    """The ABI version of the tree-sitter-python grammar the fallback parser uses."""
    try:
        import tree_sitter
        import tree_sitter_python

        return int(tree_sitter.Language(tree_sitter_python.language()).abi_version)
    except Exception:  # an older binding without abi_version: unknown, not wrong
        return None

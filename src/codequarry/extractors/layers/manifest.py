"""``parse_manifest``: how each Python file was read and parsed, one row per file (default: cheap).

Encoding as the interpreter detects it (BOM, PEP 263 cookie), the file's first line ending and its
indentation unit found as LibCST finds them (the first newline; the first INDENT token, tokenizing
only up to it), and which parser produced the file's facts, with its version and the language
version it accepts. ``grammar_abi`` is the grammar's ABI for parsers that have one (tree-sitter);
CPython's own parser has none.
"""

from __future__ import annotations

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


def first_indent(text: str) -> str | None:
    """The whitespace of the file's first INDENT token, or None (no indented block, or a tokenize error
    before one)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.INDENT:
                return tok.string
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


@file_extractor(
    "python.layers.parse_manifest",
    version=1,
    needs=["text"],
    outputs=[ParseManifest],
    description="per file: encoding, BOM, newline, indentation, parser and its version",
)
def parse_manifest(src: Any, out: Any) -> None:
    data: bytes = src.data
    text: str = src.text  # decodes, or raises the file's decode error
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    crlf = data.count(b"\r\n")
    kinds = (crlf, data.count(b"\r") - crlf, data.count(b"\n") - crlf)
    first = _NEWLINE.search(data)
    parser = getattr(src, "parser", None)
    out.parse_manifest.add(
        encoding=encoding,
        has_bom=data.startswith(b"\xef\xbb\xbf"),
        newline=first.group(0).decode("ascii") if first else None,
        newlines_mixed=sum(1 for k in kinds if k) > 1,
        indentation=first_indent(text),
        has_trailing_newline=data.endswith((b"\n", b"\r")),
        parser=parser if isinstance(parser, str) else "cpython",
        parser_version=PYTHON,
        feature_version=FEATURE_VERSION,
        grammar_abi=None,
    )

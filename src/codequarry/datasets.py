"""The two datasets every run writes, whatever its selection: the file manifest and the errors.

They are declared here, at the level of the schema, because the engine (which records failures and
finds the manifest by its dataset), the store's callers and the tool runner all need them, and none
of those may import an extractor module. The manifest's extractor (``core.files``) lives with the
other extractors, in extractors/core.py.
"""

from __future__ import annotations

from typing import Any

from codequarry.schema import dataset


@dataset("files")
class File:
    """One row per file of the manifest (every language, binary files included). ``generated``
    says why a file was recognised as a minified build output (``name`` or ``minified``, see
    generated.py), whose language's extractors then skip it; None for every other file."""

    size_bytes: int
    mtime_ns: int
    language: str | None
    lines: int | None
    generated: str | None


@dataset("errors")
class Error:
    """Every file or extractor that failed, and what an operation could not do or cut (``extractor``
    is then the operation's name; see operrors.py): the run goes on and says why here."""

    extractor: str
    kind: str
    message: str
    line: int | None
    column: int | None
    source_line: str | None


def error_fields(
    extractor: str,
    kind: str,
    message: str,
    line: int | None = None,
    column: int | None = None,
    source_line: str | None = None,
) -> dict[str, Any]:
    """The columns of one errors row, made so that the row always builds (a worker's, or an
    operation's): text quoted from the corpus may hold lone surrogates (kept as ``\\udXXX``), a message
    is cut at 2,000 characters and a source line at 500, a line or column out of int64's range is None."""
    if source_line is not None and len(source_line) > 500:
        source_line = source_line[:497] + "..."
    return {
        "extractor": _utf8(extractor),
        "kind": kind,
        "message": _utf8(message[:2000]),
        "line": line if isinstance(line, int) and abs(line) < 2**62 else None,
        "column": column if isinstance(column, int) and abs(column) < 2**62 else None,
        "source_line": None if source_line is None else _utf8(source_line),
    }


def _utf8(text: object) -> str:
    """``text`` as valid UTF-8 (lone surrogates written as ``\\udXXX``)."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")

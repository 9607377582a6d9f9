"""The two datasets every run writes, whatever its selection: the file manifest and the errors.

They are declared here, at the level of the schema, because the engine (which records failures and
finds the manifest by its dataset), the store's callers and the tool runner all need them, and none
of those may import an extractor module. The manifest's extractor (``core.files``) lives with the
other extractors, in extractors/core.py.
"""

from __future__ import annotations

from codequarry.schema import dataset


@dataset("files")
class File:
    """One row per file of the manifest (every language, binary files included)."""

    size_bytes: int
    mtime_ns: int
    language: str | None
    lines: int | None


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

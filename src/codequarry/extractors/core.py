"""Language-independent datasets: the file manifest and the errors every stage reports into."""

from __future__ import annotations

from codequarry.api import file_extractor
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
    """Every file or extractor that failed: the run goes on and says why here."""

    extractor: str
    kind: str
    message: str
    line: int | None
    column: int | None
    source_line: str | None


@file_extractor(
    "core.files",
    version=1,
    needs=[],
    outputs=[File],
    languages=None,
    description="the file manifest: size, mtime, sha256, language, line count",
)
def files(src, out) -> None:  # type: ignore[no-untyped-def]
    out.files.add(size_bytes=src.size, mtime_ns=src.mtime_ns, language=src.language, lines=src.line_count)

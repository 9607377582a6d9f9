"""The file manifest's extractor. Its dataset (``files``) and the ``errors`` every stage reports into
are declared in codequarry.datasets, where the engine may read them too."""

from __future__ import annotations

from codequarry.api import file_extractor
from codequarry.datasets import File


@file_extractor(
    "core.files",
    # 2: a lone CR ends a line in ``lines`` (it counted LF only); 3: the ``generated`` column
    version=3,
    needs=[],
    outputs=[File],
    languages=None,
    description="the file manifest: size, mtime, sha256, language, line count, minified build outputs",
)
def files(src, out) -> None:  # type: ignore[no-untyped-def]
    out.files.add(
        size_bytes=src.size,
        mtime_ns=src.mtime_ns,
        language=src.language,
        lines=src.line_count,
        generated=src.generated,
    )

"""``blobs``: the content of every file, once per distinct SHA-256 in the store (opt-in).

An operation, not a file extractor, because a blob belongs to no single file: ten repos vendoring
one file share one row, and the row must stay while any of them still holds the content. Each run
it reads the ``files`` manifest, keeps the rows of hashes still referenced (read back from its own
last output, never from disk again), reads from disk only the hashes it has not stored yet, and drops
hashes no file has any more. So a file's content is read once across runs, and the table always
equals what a fresh extract would give. The table itself is rewritten when the manifest changes
(Delta Lake has no cheaper "upsert by key" here); select it with ``--select blobs``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.api import operation
from codequarry.corpus_io import open_corpus
from codequarry.schema import dataset

MAX_BLOB = 10 * 1024 * 1024  # larger files (over the default --max-file-size) get no blob


@dataset("blobs", provenance=False)
class Blob:
    """One distinct content: text when it decodes as UTF-8, bytes otherwise."""

    sha256: str
    size_bytes: int
    is_text: bool
    text: str | None
    data: bytes | None


@operation(
    "blobs",
    version=1,
    inputs=["files"],
    outputs=[Blob],
    default=False,
    description="file contents, one row per distinct sha256 (opt-in)",
)
def blobs(ctx: Any) -> pa.Table:
    files = ctx.table("files", ["repo", "path", "sha256", "size_bytes"])
    wanted: dict[str, tuple[str, str, int]] = {}
    for repo, path, sha, size in zip(*(files.column(i).to_pylist() for i in range(4)), strict=True):
        if sha is not None and size <= MAX_BLOB and sha not in wanted:
            wanted[sha] = (repo, path, size)
    kept = ctx.own("blobs")
    if kept is not None and kept.num_rows:
        kept = kept.filter(pc.is_in(kept.column("sha256"), pa.array(list(wanted), pa.string())))
    have = set(kept.column("sha256").to_pylist()) if kept is not None else set()
    rows: dict[str, list[Any]] = {"sha256": [], "size_bytes": [], "is_text": [], "text": [], "data": []}
    missing = 0
    for sha, (repo, path, _size) in wanted.items():
        if sha in have:
            continue
        data = _read(ctx.sources.get(repo), path, sha)
        if data is None:
            missing += 1
            continue
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        for key, value in (
            ("sha256", sha),
            ("size_bytes", len(data)),
            ("is_text", text is not None),
            ("text", text),
            ("data", None if text is not None else data),
        ):
            rows[key].append(value)
    ctx.report("blobs read from disk", len(rows["sha256"]))
    if missing:
        ctx.report("blobs not readable now (changed since the scan, or of a repo not in this run)", missing)
    new = pa.table(rows, schema=Blob.schema)
    return pa.concat_tables([kept.cast(Blob.schema), new]) if kept is not None else new


def _read(root: str | None, path: str, sha: str) -> bytes | None:
    """The file's bytes if it still has the manifest's hash; None otherwise (the next run sees it)."""
    if root is None:
        return None
    try:  # the one safe open of corpus files: no symlink out of the root, no FIFO, no device
        fh, _st = open_corpus(root, path)
        with fh:
            data = fh.read(MAX_BLOB + 1)
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha else None

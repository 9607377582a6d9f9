"""The engine protocol: run process_chunk over chunks of files, somewhere, and yield the results."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from codequarry.engine.worker import ChunkResult, FileTask, WorkerConfig


class Engine(Protocol):
    name: str

    def map(self, config: WorkerConfig, chunks: Iterable[list[FileTask]]) -> Iterator[ChunkResult]:
        """Yield one result per chunk, in any order; stop all work if the consumer stops early."""
        ...


def make_chunks(
    tasks: list[FileTask], *, workers: int, max_files: int = 256, max_bytes: int = 4 << 20
) -> list[list[FileTask]]:
    """Group files into chunks: big files first (shorter tail), enough chunks to keep workers busy.

    A chunk never mixes sources, so every Parquet part holds the rows of one repo and replacing a
    repo's rows never rewrites another's. Nor does it mix languages: a worker pays once for each
    language it meets (a tree-sitter query pack compiled, ~0.015-0.04 s; the first Python file's
    lazy imports), so the few JavaScript or TypeScript files of a Python project go to one worker
    rather than, sorted by size among the Python files, to every one.
    """
    if not tasks:
        return []
    total = sum(t.size for t in tasks)
    target = max(64 << 10, min(max_bytes, total // max(1, workers * 8)))
    ordered = sorted(tasks, key=lambda t: -t.size)
    chunks: list[list[FileTask]] = []
    open_chunks: dict[tuple[str, str | None], tuple[list[FileTask], list[int]]] = {}
    for t in ordered:
        key = (t.repo, t.language)
        cur, size = open_chunks.setdefault(key, ([], [0]))
        if cur and (len(cur) >= max_files or size[0] + t.size > target):
            chunks.append(cur)
            cur, size = open_chunks[key] = ([], [0])
        cur.append(t)
        size[0] += t.size
    chunks.extend(cur for cur, _ in open_chunks.values() if cur)
    # the chunks left open go where their biggest file puts them, not all last (the tail)
    chunks.sort(key=lambda chunk: -chunk[0].size)
    return chunks

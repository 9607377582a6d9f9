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
    repo's rows never rewrites another's.
    """
    if not tasks:
        return []
    total = sum(t.size for t in tasks)
    target = max(64 << 10, min(max_bytes, total // max(1, workers * 8)))
    ordered = sorted(tasks, key=lambda t: -t.size)
    chunks: list[list[FileTask]] = []
    open_chunks: dict[str, tuple[list[FileTask], list[int]]] = {}
    for t in ordered:
        cur, size = open_chunks.setdefault(t.repo, ([], [0]))
        if cur and (len(cur) >= max_files or size[0] + t.size > target):
            chunks.append(cur)
            cur, size = open_chunks[t.repo] = ([], [0])
        cur.append(t)
        size[0] += t.size
    chunks.extend(cur for cur, _ in open_chunks.values() if cur)
    return chunks

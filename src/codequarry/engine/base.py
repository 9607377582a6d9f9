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


def make_chunks(tasks: list[FileTask], *, workers: int, max_files: int = 256,
                max_bytes: int = 4 << 20) -> list[list[FileTask]]:
    """Group files into chunks: big files first (shorter tail), enough chunks to keep workers busy."""
    if not tasks:
        return []
    total = sum(t.size for t in tasks)
    target = max(64 << 10, min(max_bytes, total // max(1, workers * 8)))
    ordered = sorted(tasks, key=lambda t: -t.size)
    chunks: list[list[FileTask]] = []
    cur: list[FileTask] = []
    cur_bytes = 0
    for t in ordered:
        if cur and (len(cur) >= max_files or cur_bytes + t.size > target):
            chunks.append(cur)
            cur, cur_bytes = [], 0
        cur.append(t)
        cur_bytes += t.size
    if cur:
        chunks.append(cur)
    return chunks

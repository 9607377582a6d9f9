"""How the files of a run are cut into chunks (engine/base.py make_chunks)."""

from __future__ import annotations

from codequarry.engine.base import make_chunks
from codequarry.engine.worker import FileTask


def _task(key: int, size: int, language: str | None, repo: str = "r") -> FileTask:
    return FileTask(key=key, repo=repo, root="/x", path=f"f{key}", size=size, mtime_ns=0, language=language)


def test_a_chunk_holds_one_repo_and_one_language_biggest_files_first() -> None:
    tasks = [_task(i, 1000 + i, "python") for i in range(600)]
    tasks += [_task(1000 + i, 500 + i, "typescript") for i in range(30)]
    tasks += [_task(2000 + i, 400 + i, "javascript") for i in range(5)]
    tasks += [_task(3000 + i, 2000 + i, "python", repo="other") for i in range(3)]
    chunks = make_chunks(tasks, workers=2)
    assert sorted(t.key for c in chunks for t in c) == sorted(t.key for t in tasks)
    for chunk in chunks:
        assert len({(t.repo, t.language) for t in chunk}) == 1
    # the 30 TypeScript files (15 KB) make one chunk: one worker compiles the query pack, not both
    assert sum(1 for c in chunks if c[0].language == "typescript") == 1
    firsts = [c[0].size for c in chunks]
    assert firsts == sorted(firsts, reverse=True)

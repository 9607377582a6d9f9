"""A file appended to while a worker reads it is read no further than bounded (trust sweep 7).

``engine.reading.read_file`` checked the size of the open file, then read to EOF: a file that a writer
grew after the check was held whole in memory when it had been small (``--max-file-size`` was no
bound), and a large one was hashed for as long as its writer went on. The read now stops at
``max_size + 1`` bytes for a small file (one that grew past the limit is then taken as a large file
of the bytes read) and at the checked size for a large one.

The growth is made deterministic by a real second descriptor that appends right after the guarded open
(the moment a concurrent writer would act), through the opener ``read_file`` calls. Checked against
the old code: both tests read every appended byte.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from codequarry.engine import reading

GROWTH = 8 << 20  # bytes a writer appends after the size was checked


@pytest.fixture
def grows_after_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file ``read_file`` opens gets GROWTH more bytes, through another descriptor, once opened."""
    real = reading.open_corpus

    def open_then_grow(root: str, path: str) -> Any:
        opened = real(root, path)
        fd = os.open(os.path.join(root, path), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b"y\n" * (GROWTH // 2))
        finally:
            os.close(fd)
        return opened

    monkeypatch.setattr(reading, "open_corpus", open_then_grow)


def test_a_small_file_that_grows_is_read_to_the_limit_and_no_further(
    tmp_path: Path, grows_after_open: None
) -> None:
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    data, sha, size, lines, _mtime = reading.read_file(str(tmp_path), "a.py", 1000)
    first = (b"x = 1\n" + b"y\n" * (GROWTH // 2))[:1001]
    assert data is None  # past the limit now: hashed and counted as a large file, not parsed
    assert (size, sha, lines) == (1001, hashlib.sha256(first).hexdigest(), first.count(b"\n") + 1)


def test_a_small_file_that_grows_under_the_limit_is_read_whole(
    tmp_path: Path, grows_after_open: None
) -> None:
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    data, _sha, size, _lines, _mtime = reading.read_file(str(tmp_path), "a.py", 2 * GROWTH)
    assert data == b"x = 1\n" + b"y\n" * (GROWTH // 2) and size == len(data)


def test_a_large_file_that_grows_is_hashed_to_its_checked_size(
    tmp_path: Path, grows_after_open: None
) -> None:
    body = b"z\n" * 5000
    (tmp_path / "big.py").write_bytes(body)
    data, sha, size, lines, _mtime = reading.read_file(str(tmp_path), "big.py", 100)
    assert data is None
    assert (size, sha, lines) == (len(body), hashlib.sha256(body).hexdigest(), 5000)

"""`quarry sql -o OUT` never replaces what is not a file, and never writes through a planted link.

Found by trust sweep 3: the result was written to ``.OUT.<pid>.tmp`` and renamed over OUT, so an OUT
that was a FIFO (or, run as root, a device such as ``/dev/null``, or ``/dev/stdout``'s link) was
silently replaced by a regular file, exit 0; and the fixed, guessable temporary name let a link
planted in a shared folder redirect the write to any file. Now an existing OUT that is not a regular
file is one line, exit 2, and the temporary file is a new ``mkstemp`` name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pyarrow as pa
import pytest

from codequarry import sqlout
from tests.hostile.conftest import one_file_store, quarry


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_file_store(tmp_path_factory, "sqlout", "def f():\n    return 1\n")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_fifo_stays_a_fifo(store: Path, tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = quarry("sql", "-s", store, "-o", fifo, "-f", fmt, "select 1 as a", check=False, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not a regular file" in done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_nothing_is_written_through_a_link_at_the_old_temporary_name(tmp_path: Path, fmt: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "shared" / f"result.{fmt}"
    out.parent.mkdir()
    (out.parent / f".{out.name}.{os.getpid()}.tmp").symlink_to(victim)
    sqlout.check_target(out)
    sqlout.write(pa.table({"a": [1, 2]}), out, fmt)
    assert victim.read_text() == "precious\n"
    assert out.is_file() and out.stat().st_size > 0


def test_a_regular_file_is_still_replaced_whole(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old\n")
    quarry("sql", "-s", store, "-o", out, "select 1 as a")
    assert out.read_text().split() == ['"a"', "1"]
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]

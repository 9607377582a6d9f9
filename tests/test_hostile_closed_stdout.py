"""`quarry extract ... | head -1`: a reader that goes away costs no traceback, and the run stands.

The summary is printed after the run published. When stdout's reader had gone (``head``, a closed
pipe), the write raised BrokenPipeError out of `quarry extract` as a traceback (exit 1), as the
typer commands do not (click exits 1 quietly). It now exits 1 quietly too; the snapshot stays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from codequarry import open_store, sql
from tests import paths


def _closed_stdout_run(args: list[str]) -> subprocess.CompletedProcess[str]:
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    try:
        return subprocess.run(
            [sys.executable, "-m", "codequarry", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(paths.ROOT / "src")},
        )
    finally:
        os.close(write)


def test_extract_into_a_closed_pipe_is_quiet_and_the_snapshot_stands(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    store = tmp_path / "store"
    for _ in range(2):  # the run, then the no-op fast path
        done = _closed_stdout_run(["extract", str(src), "--store", str(store), "-w", "1"])
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert sql(open_store(store), "SELECT count(*) AS n FROM files").column("n")[0].as_py() == 1

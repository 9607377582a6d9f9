"""`quarry export OUT` never destroys what OUT already is, never writes through a planted link, and a
place it cannot write is one line (exit 2), in every format.

Found by this sweep: ``-f sarif`` replaced whatever OUT was by renaming its temporary file over it: a
user's file, a FIFO, even a device node (run as root, ``/dev/full`` became a regular file); its
temporary file had a fixed name that a planted symlink redirected; sqlite, parquet and jsonl gave a
traceback for an OUT below a file or under /proc.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.hostile.conftest import one_file_store, quarry

FORMATS = ["parquet", "jsonl", "sqlite", "sarif"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_file_store(
        tmp_path_factory, "exp", "import subprocess\n\ndef run(c):\n    subprocess.run(c, shell=True)\n"
    )


def _refused(store: Path, out: Path, fmt: str) -> str:
    done = quarry("export", "-s", store, "-q", "-f", fmt, out, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def test_sarif_does_not_replace_a_file_that_is_not_a_sarif_export(store: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes.sarif"
    mine.write_text("my own notes\n")
    assert "not a codequarry SARIF export" in _refused(store, mine, "sarif")
    assert mine.read_text() == "my own notes\n"
    # its own earlier export is replaced, as the other formats replace theirs
    new = tmp_path / "out.sarif"
    quarry("export", "-s", store, "-q", "-f", "sarif", new)
    quarry("export", "-s", store, "-q", "-f", "sarif", new)
    assert json.loads(new.read_text())["runs"][0]["results"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_fifo_stays_a_fifo(store: Path, tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _refused(store, fifo, fmt)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_sarif_writes_nothing_through_a_planted_temporary_link(store: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "shared" / "report.sarif"
    out.parent.mkdir()
    for planted in (f".{out.name}.tmp", f".{out.name}.tmp-{os.getpid()}"):
        (out.parent / planted).symlink_to(victim)
    quarry("export", "-s", store, "-q", "-f", "sarif", out)
    assert victim.read_text() == "precious\n"
    assert json.loads(out.read_text())["version"] == "2.1.0"


@pytest.mark.parametrize("fmt", FORMATS)
def test_sarif_and_the_rest_refuse_the_store_itself(store: Path, fmt: str) -> None:
    name = "x.sarif" if fmt == "sarif" else "x"
    assert "inside the store" in _refused(store, store / "tables" / name, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("where", ["below_a_file", "proc"])
def test_a_place_that_cannot_be_written_is_one_line(
    store: Path, tmp_path: Path, fmt: str, where: str
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x\n")
    out = blocker / "out" if where == "below_a_file" else Path("/proc/self/quarry-out")
    assert "cannot write" in _refused(store, out, fmt)
    assert blocker.read_text() == "x\n"

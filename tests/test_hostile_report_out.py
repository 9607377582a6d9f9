"""`quarry report --html OUT` never destroys what OUT already is.

Found by trust sweep 3: the page was written with ``Path.write_text``, so ``--html .quarry/store.json``
replaced the store's own description with HTML (every later command: "unreadable store.json"), a
FIFO blocked the command forever, and any file of the user's was overwritten. Now, like ``quarry
export -f sarif``, OUT is refused inside the store, when it is a folder or not a regular file, or when
it is a file that is not an earlier codequarry HTML report; the page is written to a new temporary file
renamed over OUT.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.hostile.conftest import one_file_store, quarry


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_file_store(tmp_path_factory, "rep", "def f():\n    return 1\n")


def _refused(store: Path, out: Path, says: str) -> None:
    done = quarry("report", "-s", store, "--html", out, check=False, timeout=30)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr, done.stderr


@pytest.mark.parametrize("name", ["store.json", "snapshot.json", "tables/new.html"])
def test_the_store_is_never_overwritten(store: Path, name: str) -> None:
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    _refused(store, store / name, "inside the store")
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
    assert quarry("tables", "-s", store).returncode == 0


def test_a_fifo_does_not_block_and_stays_a_fifo(store: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    _refused(store, fifo, "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_users_file_and_a_folder_are_kept(store: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>\n")
    _refused(store, mine, "not a codequarry HTML report")
    assert mine.read_text() == "<p>my notes</p>\n"
    folder = tmp_path / "site"
    folder.mkdir()
    _refused(store, folder, "is a folder")
    assert folder.is_dir() and not any(folder.iterdir())


def test_its_own_earlier_report_is_replaced_and_no_temporary_file_is_left(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r" / "report.html"
    quarry("report", "-s", store, "--html", out)
    first = out.read_text()
    out.write_text(first.replace("</body>", "<p>stale</p></body>"))
    quarry("report", "-s", store, "--html", out)
    assert out.read_text() == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044  # readable like any page, not 0600

"""`quarry watch` on a hostile tree (trust sweep 4), through a real watch process.

Held (kept here): a file replaced by a FIFO, by a link to /etc/passwd, to a file or a folder outside
the root; a link loop made while watching; files written into the store folder: the watch never
blocks, reads nothing outside the root, keeps running, and the store equals a fresh extract of the
tree. (Also probed and held: 10,000 files created in a burst, applied in two batches.)
Found: the watched root deleted or renamed gave a traceback (the batch's listing stat'ed a root that
was gone) and exit 1; the watch now stops with one line and exit 2, the store as last published.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codequarry import extract, make_plan
from tests.storedump import dump
from tests.test_watch import wait_for

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
QUARRY = [sys.executable, "-m", "codequarry"]


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for i in range(5):
        (src / "pkg" / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("def secret():\n    return 'S'\n")
    return src, outside


@contextmanager
def _watching(src: Path, store: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [*QUARRY, "watch", str(src), "--store", str(store), "--select", "python.core"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
    try:
        assert wait_for(lambda: "watching" in log.read_text()), log.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def _applied(log: Path, n: int) -> bool:
    return log.read_text().count(" applied ") >= n


def test_fifos_links_out_loops_and_store_writes_are_harmless(tmp_path: Path) -> None:
    src, outside = _tree(tmp_path)
    store, log = tmp_path / "store", tmp_path / "watch.log"
    with _watching(src, store, log) as proc:
        pkg = src / "pkg"
        os.unlink(pkg / "m1.py")
        os.mkfifo(pkg / "m1.py")
        os.unlink(pkg / "m2.py")
        os.symlink("/etc/passwd", pkg / "m2.py")
        os.unlink(pkg / "m3.py")
        os.symlink(outside / "secret.py", pkg / "m3.py")
        os.symlink(outside, pkg / "out")
        os.symlink("loop2", pkg / "loop1")
        os.symlink("loop1", pkg / "loop2")
        os.symlink("..", pkg / "up")
        assert wait_for(lambda: _applied(log, 1)), log.read_text()
        (store / "junk.py").write_text("def junk():\n    pass\n")
        (pkg / "m0.py").write_text("def f0():\n    return 100\n\ndef later():\n    pass\n")
        assert wait_for(lambda: "later" in str(dump(store).get("functions"))), log.read_text()
        assert proc.poll() is None, log.read_text()
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, repo="src", select=["python.core"], workers=1))
    assert dump(store) == dump(fresh)
    names = str(dump(store).get("functions"))
    assert "secret" not in names and "junk" not in names
    assert "Traceback" not in log.read_text()


def test_a_renamed_root_stops_the_watch_with_one_line(tmp_path: Path) -> None:
    src, _outside = _tree(tmp_path)
    store, log = tmp_path / "store", tmp_path / "watch.log"
    with _watching(src, store, log) as proc:
        before = dump(store)
        os.rename(src, tmp_path / "moved")
        proc.wait(120)
    text = log.read_text()
    assert proc.returncode == 2, text
    assert "Traceback" not in text and "is gone (deleted or renamed): stopped" in text, text
    assert dump(store) == before

"""A source root removed during `quarry extract` (trust sweep 4).

Found: a root renamed between the command's check and the scan (the run stopped at its ``scan``
pause point, as tests/test_crash.py stops runs) gave a traceback from the scanner and exit 1. Now it
is one line, exit 2, and nothing is published: the store keeps its last snapshot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.storedump import dump

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def test_a_root_renamed_before_the_scan_is_one_line(tmp_path: Path) -> None:
    src, store, flag = tmp_path / "src", tmp_path / "store", tmp_path / "flag"
    src.mkdir()
    (src / "a.py").write_text("def f():\n    return 1\n")
    quarry = [sys.executable, "-m", "codequarry", "extract", str(src), "-s", str(store), "-w", "1", "-q"]
    subprocess.run([*quarry, "--select", "python.core"], check=True, env=ENV, capture_output=True)
    before = dump(store)
    (src / "b.py").write_text("def g():\n    return 2\n")
    env = {**ENV, "QUARRY_PAUSE_AT": "scan", "QUARRY_PAUSE_FILE": str(flag)}
    proc = subprocess.Popen(
        [*quarry, "--select", "python.core"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not flag.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert flag.exists(), proc.communicate()
    os.rename(src, tmp_path / "moved")
    flag.unlink()
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "removed or renamed" in err
    assert dump(store) == before

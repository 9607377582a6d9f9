"""`quarry run RECIPE --report OUT` must not destroy the store, nor end in a traceback.

Found by trust sweep 3 in ``tools/`` and fixed. ``tools/report.write`` copied report.json to OUT with ``shutil.copyfile`` and
``write_html`` wrote OUT's ``.html`` sibling with ``write_text``, after the run:

- ``--report .quarry/store.json`` replaced the store's description with the report (exit 0, and
  every later command: "store has format None"), and wrote ``.quarry/store.html``;
- ``--report FIFO`` ended in a ``shutil.SpecialFileError`` traceback, exit 1.

The fix: ``tools/report.check_target`` checks OUT before the run as ``sqlout.check_target`` does (refuse it inside the store, or
when it exists and is not a regular file; one line, exit 2), and write both copies through
``tempfile.mkstemp`` + ``os.replace``.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.hostile.conftest import echo_recipe, quarry


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    return echo_recipe(tmp_path)  # the store .quarry/ beside the recipe, with one published run


def _one_line(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    err = done.stderr
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_report_named_inside_the_store_is_refused(recipe: Path) -> None:
    store = recipe.parent / ".quarry"
    before = (store / "store.json").read_bytes()
    done = quarry("run", recipe, "-q", "--report", store / "store.json", check=False, timeout=120)
    assert (store / "store.json").read_bytes() == before
    assert not (store / "store.html").exists()
    assert quarry("tables", "-s", store, check=False).returncode == 0
    _one_line(done)


def test_a_fifo_report_is_one_line_and_stays_a_fifo(recipe: Path) -> None:
    fifo = recipe.parent / "pipe.json"
    os.mkfifo(fifo)
    done = quarry("run", recipe, "-q", "--report", fifo, check=False, timeout=120)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    _one_line(done)

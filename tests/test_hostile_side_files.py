"""The store's side files: tool cache entries, service PID files and logs (trust sweep 8).

Trust sweep 7 made the store's JSON files go through store/metafile.py; these were still read with a
plain ``open``. Before:

- a cache entry that is a FIFO held ``quarry run`` and ``quarry cache info`` forever; an entry that
  is a JSON list, or whose ``outcome`` is not an object, ended ``cache info`` (AttributeError) and
  ``quarry run`` (the restored outcome) in a traceback;
- ``services/ui.json`` as a FIFO held ``quarry status`` and ``quarry down`` forever;
- ``services/ui.log`` as a FIFO held ``quarry logs ui`` forever, and as a link to /dev/zero ended it in
  a MemoryError (it read the whole log to print its last 50 lines).

Now a damaged cache entry is a miss (the task runs again) and counts as unreadable in ``cache info``,
a PID file that is not a plain file is no service, and ``quarry logs`` reads only a regular file,
backwards from its end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.conftest import ROOT, SRC, echo_recipe, quarry


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    return echo_recipe(tmp_path, timeout=300)  # the store .quarry/ beside the recipe, one cached task


def _entry(recipe: Path) -> Path:
    (entry,) = (recipe.parent / ".quarry" / "cache").glob("*/*.json")
    return entry


@pytest.mark.parametrize("damage", ["fifo", "list", "outcome-text", "no-outcome"])
def test_a_damaged_cache_entry_is_a_miss_never_a_hang_or_a_traceback(recipe: Path, damage: str) -> None:
    entry = _entry(recipe)
    key = entry.stem
    entry.unlink()
    if damage == "fifo":
        os.mkfifo(entry)
    else:
        doc = {"list": [1], "outcome-text": {"key": key, "outcome": "ok"}, "no-outcome": {"key": key}}[damage]
        entry.write_text(json.dumps(doc))
    store = recipe.parent / ".quarry"
    info = quarry("cache", "info", "--store", store, check=False, timeout=120)
    assert info.returncode == 0 and "Traceback" not in info.stderr, info.stderr
    assert "unreadable" in info.stdout
    done = quarry("run", recipe, "-q", check=False, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
    got = quarry("sql", "SELECT status, cached FROM tool_runs", "--store", store, "-f", "csv", timeout=120)
    assert got.stdout.split()[1:] == ['"ok",false']  # ran again, not restored from the damaged entry


@pytest.fixture
def services(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("x = 1\n")
    quarry("extract", src, "--store", tmp_path / "store", "-w", "1", "-q", "--select", "python.core")
    (tmp_path / "store" / "services").mkdir()
    return tmp_path / "store"


def test_a_pid_file_that_is_a_fifo_is_no_service(services: Path) -> None:
    os.mkfifo(services / "services" / "ui.json")
    done = quarry("status", "--store", services, check=False, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    done = quarry("down", "--store", services, check=False, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_log_that_is_not_a_file_is_one_line(services: Path, kind: str) -> None:
    log = services / "services" / "ui.log"
    if kind == "fifo":
        os.mkfifo(log)
    else:
        log.symlink_to("/dev/zero")
    code = (
        "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
        "sys.argv = ['quarry', 'logs', 'ui', '--store', sys.argv[1]]; runpy.run_module('codequarry', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(services)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC + os.pathsep + str(ROOT)},
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert len(done.stderr.strip().splitlines()) == 1 and "ui.log" in done.stderr, done.stderr


def test_logs_prints_the_last_lines_of_a_long_log(services: Path) -> None:
    log = services / "services" / "ui.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(200_000)))
    done = quarry("logs", "ui", "--store", services, "-n", "3", timeout=120)
    assert done.stdout.split("\n")[:3] == ["line 199997", "line 199998", "line 199999"]
    done = quarry("logs", "ui", "--store", services, "-n", "0", timeout=120)
    assert done.stdout == ""

"""A FIFO or a symlink inside a table's ``_delta_log`` (trust sweep 8).

deltalake opens ``_last_checkpoint`` and each commit with a plain blocking open that follows links.
Before: a FIFO named ``_last_checkpoint`` (or in a commit's place) held ``quarry sql``, ``quarry
doctor`` and ``quarry extract`` forever, and SIGTERM did not stop them (the main thread sat in Rust);
a commit replaced by a symlink was read from wherever it pointed, outside the store. Now every
command names the entry in one line, exit code 2 (doctor: a damaged table), reading nothing through
it; ``quarry doctor --repair`` moves the table aside and rebuilds it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.conftest import SRC, core_store, quarry

LOG = ("tables", "functions", "_delta_log")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return core_store(tmp_path)


def _plant(store: Path, kind: str, outside: Path) -> Path:
    log = store.joinpath(*LOG)
    if kind == "fifo-checkpoint":
        os.mkfifo(log / "_last_checkpoint")
        return log / "_last_checkpoint"
    (commit,) = sorted(log.glob("*.json"))[-1:]
    if kind == "fifo-commit":
        commit.unlink()
        os.mkfifo(commit)
    else:  # the commit moved out of the store and linked back
        shutil.move(commit, outside)
        commit.symlink_to(outside)
    return commit


def _one_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("kind", ["fifo-checkpoint", "fifo-commit", "symlink-commit"])
def test_an_odd_log_entry_is_named_never_waited_on_or_followed(
    store: Path, tmp_path: Path, kind: str
) -> None:
    planted = _plant(store, kind, tmp_path / "elsewhere.json")
    # a hang is the bug: the child is killed at the timeout and the test fails
    _one_line(
        quarry("sql", "SELECT count(*) FROM functions", "--store", store, check=False, timeout=120),
        "functions",
        planted.name,
    )
    done = quarry("doctor", "--store", store, check=False, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert planted.name in done.stdout + done.stderr and "functions" in done.stdout + done.stderr
    status = json.loads(quarry("status", "--json", "--store", store, timeout=120).stdout)  # never waits
    assert planted.name in status["tables"]["functions"]["damaged"]
    text = quarry("status", "--store", store, timeout=120).stdout
    assert "table functions is damaged" in text and planted.name in text
    (tmp_path / "src" / "m.py").write_text("def f():\n    return 2\n")  # a run with work to do
    _one_line(
        quarry(
            "extract",
            tmp_path / "src",
            "--store",
            store,
            "-w",
            "1",
            "-q",
            "--select",
            "python.core",
            check=False,
            timeout=120,
        ),
        "functions",
    )
    done = quarry("doctor", "--repair", "--store", store, check=False, timeout=300)
    assert done.returncode == 0, (done.stdout, done.stderr)
    got = quarry("sql", "SELECT name FROM functions", "--store", store, "--format", "csv", timeout=120).stdout
    assert got.split() == ['"name"', '"f"']
    if kind == "symlink-commit":  # the link's target is left alone
        assert (tmp_path / "elsewhere.json").read_text().startswith("{")


def test_a_fifo_in_the_runs_log_stops_no_query_and_runs_says_so(store: Path) -> None:
    (store / "runs" / "table" / "_delta_log" / "_last_checkpoint").unlink()
    os.mkfifo(store / "runs" / "table" / "_delta_log" / "_last_checkpoint")
    got = quarry("sql", "SELECT count(*) AS n FROM functions", "--store", store, "-f", "csv", timeout=120)
    assert got.stdout.split() == ['"n"', "1"]  # the runs table is left out, the snapshot's tables answer
    for command in ("runs", "report"):
        _one_line(quarry(command, "--store", store, check=False, timeout=120), "runs", "_last_checkpoint")


def test_the_watchs_checkpoint_never_waits_on_a_fifo(store: Path) -> None:
    os.mkfifo(store.joinpath(*LOG, "_last_checkpoint"))
    code = (
        "import sys; from codequarry.store.store import Store; from codequarry.watch import checkpoint_logs; "
        "print(checkpoint_logs(Store.open(sys.argv[1]), ['functions'], every=1))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr  # no checkpoint, no hang
    assert stat.S_ISFIFO(os.lstat(store.joinpath(*LOG, "_last_checkpoint")).st_mode)

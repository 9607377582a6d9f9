"""Hand-made or truncated Delta commits in a table's ``_delta_log`` (a trust sweep, g7).

deltalake reads a commit replaced by ``{}`` (or emptied) as a valid commit with no files: the table
silently reads as empty. A hand-made commit after the published version (``{}``, half a JSON
object) made the next writer die with a DeltaProtocolError traceback while rolling it back. Every
command must instead stop with one line naming the table and ``quarry doctor``, exit code 2, publish
nothing; readers of the published version keep their answers when only an unpublished commit is
damaged; ``quarry doctor`` names the damage and ``--repair`` makes the store whole again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.test_store_damage import make_tree, one_line_error, quarry

LOG = ("tables", "functions", "_delta_log")


def commit(store: Path, version: int) -> Path:
    return store.joinpath(*LOG, f"{version:020d}.json")


def live_version(store: Path) -> int:
    return int(json.loads((store / "snapshot.json").read_text())["tables"]["functions"]["version"])


def brace_published(store: Path) -> None:
    """The published commit replaced by ``{}``: deltalake reads an empty table."""
    commit(store, live_version(store)).write_text("{}\n")


def empty_published(store: Path) -> None:
    commit(store, live_version(store)).write_text("")


def brace_unpublished(store: Path) -> None:
    """A hand-made ``{}`` commit after the published version (the known DeltaProtocolError)."""
    commit(store, live_version(store) + 1).write_text("{}\n")


def truncated_unpublished(store: Path) -> None:
    """Half of a real commit, as the commit after the published version."""
    text = commit(store, live_version(store)).read_bytes()
    commit(store, live_version(store) + 1).write_bytes(text[: len(text) // 2])


def truncated_published(store: Path) -> None:
    path = commit(store, live_version(store))
    path.write_bytes(path.read_bytes()[:100])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "brace-published": brace_published,
    "empty-published": empty_published,
    "brace-unpublished": brace_unpublished,
    "truncated-unpublished": truncated_unpublished,
    "truncated-published": truncated_published,
}
#: damage to a commit no reader reads: readers still answer from the published version
UNPUBLISHED = {"brace-unpublished", "truncated-unpublished"}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    src, store = tmp_path / "src", tmp_path / "store"
    make_tree(src, 3)
    assert quarry("extract", src, "--store", store, "-q", "-w", "1").returncode == 0
    return src, store


def count(store: Path) -> int:
    got = quarry("sql", "SELECT count(*) AS n FROM functions", "--store", store, "-f", "json")
    assert got.returncode == 0, got.stderr
    return int(json.loads(got.stdout)[0]["n"])


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_sql(built: tuple[Path, Path], case: str) -> None:
    _src, store = built
    DAMAGE[case](store)
    if case in UNPUBLISHED:
        assert count(store) == 3  # the published version is whole: its answer stands
    else:
        one_line_error(
            quarry("sql", "SELECT count(*) FROM functions", "--store", store), "functions", "doctor"
        )
        assert quarry("sql", "SELECT count(*) FROM files", "--store", store).returncode == 0


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_tables(built: tuple[Path, Path], case: str) -> None:
    _src, store = built
    DAMAGE[case](store)
    done = quarry("tables", "--store", store)
    if case in UNPUBLISHED:
        assert done.returncode == 0 and "functions" in done.stdout, done.stderr
    else:
        one_line_error(done, "functions", "quarry doctor")


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_export(built: tuple[Path, Path], tmp_path: Path, case: str) -> None:
    _src, store = built
    DAMAGE[case](store)
    out = tmp_path / "out"
    done = quarry("export", out, "--store", store, "--table", "functions", "-f", "jsonl")
    if case in UNPUBLISHED:
        assert done.returncode == 0, done.stderr
        assert len((out / "functions.jsonl").read_text().splitlines()) == 3
    else:  # one line even with RUST_BACKTRACE=1 (deltalake then appends a backtrace to its message)
        one_line_error(done, "functions", "quarry doctor")


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_extract(built: tuple[Path, Path], case: str) -> None:
    src, store = built
    DAMAGE[case](store)
    live = (store / "snapshot.json").read_bytes()
    (src / "pkg" / "new.py").write_text("def added():\n    pass\n")
    one_line_error(quarry("extract", src, "--store", store, "-q", "-w", "1"), "functions", "quarry doctor")
    assert (store / "snapshot.json").read_bytes() == live  # nothing published on top of the damage


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_watch(built: tuple[Path, Path], case: str) -> None:
    """`quarry watch` catches up first: on a damaged store it stops there, in one line, exit 2."""
    src, store = built
    DAMAGE[case](store)
    live = (store / "snapshot.json").read_bytes()
    (src / "pkg" / "new.py").write_text("def added():\n    pass\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "codequarry", "watch", str(src), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if (store / "snapshot.json").read_bytes() != live:
            break  # it published on top of the damage: stop waiting
        time.sleep(0.1)
    if proc.poll() is None:
        proc.terminate()
    stdout, stderr = proc.communicate(timeout=60)
    one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), "functions")
    assert (store / "snapshot.json").read_bytes() == live


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_doctor_names_and_repairs_it(built: tuple[Path, Path], case: str) -> None:
    src, store = built
    DAMAGE[case](store)
    check = quarry("doctor", "--store", store)
    assert check.returncode == 2 and "functions: DAMAGED" in check.stdout, check.stdout + check.stderr
    fixed = quarry("doctor", "--store", store, "--repair")
    assert fixed.returncode == 0 and "every table is whole" in fixed.stdout, fixed.stdout + fixed.stderr
    (src / "pkg" / "new.py").write_text("def added():\n    pass\n")
    assert quarry("extract", src, "--store", store, "-q", "-w", "1").returncode == 0
    assert count(store) == 4  # the rebuilt table holds every file's rows, the new one's too


def test_a_rust_backtrace_in_the_environment_still_gives_one_line(built: tuple[Path, Path]) -> None:
    """deltalake appends a Rust backtrace to its messages when RUST_BACKTRACE is set."""
    _src, store = built
    truncated_published(store)
    env = {**os.environ, "RUST_BACKTRACE": "1"}
    for args in (["sql", "SELECT 1 FROM functions"], ["tables"], ["export", store.parent / "o"]):
        done = subprocess.run(
            [sys.executable, "-m", "codequarry", *map(str, args), "--store", str(store)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        one_line_error(done, "functions", "quarry doctor")

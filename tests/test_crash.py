"""A run killed at any moment leaves the store answering with its previous snapshot, and the next
run finishes the work; Ctrl-C stops every worker and publishes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import psutil
import pytest

from codequarry import open_store, sql

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def make_tree(root: Path, n: int) -> None:
    (root / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "pkg" / "__init__.py").write_text("")
    for i in range(n):
        (root / "pkg" / f"m{i}.py").write_text(f"import os\n\ndef f{i}(x):\n    return os.path.join(x)\n")


def quarry(*args: object, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "codequarry", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def count(store: Path, query: str) -> int:
    return int(sql(open_store(store), query).column(0)[0].as_py())


def live_files(store: Path) -> set[str]:
    """Every Parquet file a reader of the published snapshot would read."""
    from deltalake import DeltaTable

    snap = open_store(store).snapshot()
    assert snap is not None
    out = set()
    for name, state in snap.tables.items():
        dt = DeltaTable(str(store / "tables" / name), version=state.version)
        out |= {f"{name}/{u.rsplit('/', 1)[-1]}" for u in dt.file_uris()}
    return out


@pytest.mark.parametrize("point", ["scan", "table:errors", "table:functions", "table:modules", "publish"])
def test_sigkill_at_any_point_keeps_the_previous_snapshot(tmp_path: Path, point: str) -> None:
    src = tmp_path / "src"
    make_tree(src, 5)
    store = tmp_path / "store"
    subprocess.run([sys.executable, "-m", "codequarry", "extract", src, "--store", store, "-q"], check=True)
    assert count(store, "SELECT count(*) FROM functions") == 5
    before = live_files(store)

    make_tree(src, 9)  # four more files
    (src / "pkg" / "m0.py").unlink()
    flag = tmp_path / "paused"
    proc = quarry(
        "extract", src, "--store", store, "-q", env={"QUARRY_PAUSE_AT": point, "QUARRY_PAUSE_FILE": str(flag)}
    )
    deadline = time.time() + 60
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    flag.unlink()

    # readers still see exactly the previous snapshot
    assert count(store, "SELECT count(*) FROM functions") == 5
    assert live_files(store) == before
    # the next run finishes the work
    done = subprocess.run(
        [sys.executable, "-m", "codequarry", "extract", src, "--store", store, "--json", "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert count(store, "SELECT count(*) FROM functions") == 8
    assert count(store, "SELECT count(*) FROM functions WHERE path = 'pkg/m0.py'") == 0
    assert json.loads(done.stdout)["published"] is True if done.stdout.strip() else True


def test_ctrl_c_stops_every_worker_publishes_nothing_and_exits_130(tmp_path: Path) -> None:
    store = tmp_path / "store"
    flag = tmp_path / "paused"
    # pause just before the scan, so that the workers are already running when we interrupt
    proc = quarry(
        "extract",
        STDLIB,
        "--exclude",
        "site-packages",
        "--store",
        store,
        "--workers",
        "2",
        env={"QUARRY_PAUSE_AT": "scan", "QUARRY_PAUSE_FILE": str(flag)},
    )
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2  # the worker pool is up
    flag.unlink()
    time.sleep(1.0)  # let it extract for a while
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(children, timeout=5)  # counted from quarry's exit, not the signal
    assert not alive, f"workers survived: {alive}"
    assert open_store(store).snapshot() is None  # nothing was published

"""Engines survive bad files: hangs, dying workers, memory hogs; Ctrl-C and SIGTERM leave nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from codequarry import extract, make_plan, open_store, sql
from tests import paths

PLUGIN = "tests.plugins.hostile"


def tree(root: Path, bad: list[str], good: int = 12) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        (root / f"ok{i}.py").write_text(f"a{i} = b{i}\n")
    for name in bad:
        (root / name).write_text("x = y\n")
    return root


def errors(store: Path) -> dict[str, tuple[str, str]]:
    rows = sql(open_store(store), "SELECT path, kind, extractor FROM errors").to_pylist()
    return {r["path"]: (r["kind"], r["extractor"]) for r in rows}


def names(store: Path) -> set[str]:
    return set(sql(open_store(store), "SELECT DISTINCT path FROM hostile_names").column("path").to_pylist())


@pytest.mark.parametrize("workers", [2, 1])
def test_a_hanging_file_times_out_and_the_rest_is_processed(tmp_path: Path, workers: int) -> None:
    src = tree(tmp_path / "src", ["hang.py"] + (["spin.py"] if workers == 2 else []))
    store = tmp_path / "store"
    s = extract(make_plan([src], store=store, workers=workers, plugins=[PLUGIN], file_timeout=1.0))
    errs = errors(store)
    assert errs["hang.py"] == ("timeout", "hostile.names")
    if workers == 2:
        assert errs["spin.py"] == ("timeout", "hostile.names")
    assert names(store) == {f"ok{i}.py" for i in range(12)}
    assert s.skipped.get("timeout") == len(errs)
    # the manifest still lists the file, so an unchanged file is not retried by the next run
    assert (
        sql(open_store(store), "SELECT count(*) AS n FROM files WHERE path = 'hang.py'")
        .column("n")[0]
        .as_py()
        == 1
    )
    again = extract(make_plan([src], store=store, workers=workers, plugins=[PLUGIN], file_timeout=1.0))
    assert again.changed == 0 and not again.published


def test_dying_workers_cost_only_their_file(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", ["exit.py", "segv.py"], good=20)
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=2, plugins=[PLUGIN]))
    errs = errors(store)
    assert errs == {"exit.py": ("crash", "hostile.names"), "segv.py": ("crash", "hostile.names")}
    assert names(store) == {f"ok{i}.py" for i in range(20)}
    # every other file keeps all its rows; the two culprits keep only their manifest row
    assert sql(open_store(store), "SELECT count(*) AS n FROM assignments").column("n")[0].as_py() == 20
    assert sql(open_store(store), "SELECT count(*) AS n FROM files").column("n")[0].as_py() == 22


def test_memory_hog_becomes_memory_limit(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", ["hog.py"])
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=2, plugins=[PLUGIN], max_memory_per_worker=400 << 20))
    assert errors(store) == {"hog.py": ("memory_limit", "hostile.names")}
    assert names(store) == {f"ok{i}.py" for i in range(12)}


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_stop_every_worker_within_5_seconds(tmp_path: Path, sig: int, code: int) -> None:
    src = tree(tmp_path / "src", ["hang.py", "spin.py"], good=4)
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "codequarry",
            "extract",
            str(src),
            "--store",
            str(store),
            "--workers",
            "2",
            "--plugin",
            PLUGIN,
            "--file-timeout",
            "600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(paths.ROOT)},
    )
    deadline = time.time() + 60
    children: list[psutil.Process] = []
    while time.time() < deadline and len(children) < 2:
        children = psutil.Process(proc.pid).children(recursive=True)
        time.sleep(0.1)
    time.sleep(2)  # both workers are now stuck on hang.py and spin.py
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    _, alive = psutil.wait_procs(children, timeout=5)  # counted from quarry's exit, not the signal
    assert not alive
    assert "Traceback" not in err
    assert open_store(store).snapshot() is None

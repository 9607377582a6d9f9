"""The Ray engine on a real two-node cluster made with ``ray start`` (head + a second node with its own
resources), driven by ``quarry extract --engine ray --address 127.0.0.1:PORT``: the same rows as the
local engine, and a node killed while it holds chunks costs only those chunks (retried elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_incremental import dump

pytestmark = [pytest.mark.ray, pytest.mark.slow]
pytest.importorskip("ray")

from codequarry.engine.ray_local import LocalCluster, loopback_name  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PACKAGES = ("email", "json", "http", "urllib", "logging", "xml", "asyncio", "concurrent", "importlib")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real code: a few packages of the standard library (a few hundred files)."""
    root = tmp_path_factory.mktemp("corpus") / "src"
    for name in PACKAGES:
        shutil.copytree(STDLIB / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "test*"))
    return root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if shutil.which("ray") is None or loopback_name() is None:
        pytest.skip("needs the ray command and a host name resolving to 127.0.0.1")
    # a short folder of its own: Ray's socket paths under it (session_<time>_<pid>/sockets/plasma_store)
    # must stay within AF_UNIX's 107 bytes, which pytest-xdist's deeper tmp paths went past
    base = Path(tempfile.mkdtemp(prefix="qray-", dir="/tmp"))
    c = LocalCluster(base)
    try:
        c.start_head(cpus=1)
        c.add_node("node2", cpus=1, resources='{"node2": 1}')
        c.wait_for(2)
        yield c
    finally:
        left = c.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert left == [], f"Ray processes left behind: {left}"


def quarry(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "codequarry", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def extract_on(cluster: LocalCluster, src: Path, store: Path) -> subprocess.Popen[str]:
    return quarry(
        [
            "extract",
            str(src),
            "--store",
            str(store),
            "--engine",
            "ray",
            "--address",
            cluster.address,
            "--workers",
            "2",
            "--quiet",
        ],
        cluster.env(),
    )


@pytest.fixture(scope="module")
def local_rows(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    store = tmp_path_factory.mktemp("local") / "store"
    proc = quarry(
        ["extract", str(corpus), "--store", str(store), "--workers", "2", "--quiet"], dict(os.environ)
    )
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return dump(store)


def test_two_node_cluster_gives_the_rows_of_the_local_engine(
    cluster: LocalCluster, corpus: Path, local_rows: dict[str, list[str]], tmp_path: Path
) -> None:
    proc = extract_on(cluster, corpus, tmp_path / "store")
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    rows = dump(tmp_path / "store")
    assert sum(len(v) for v in rows.values()) > 10_000
    assert rows == local_rows


def test_a_node_killed_mid_run_costs_only_its_chunks(
    cluster: LocalCluster, corpus: Path, local_rows: dict[str, list[str]], tmp_path: Path
) -> None:
    proc = extract_on(cluster, corpus, tmp_path / "store")
    killed = 0
    end = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < end:  # wait until node2 runs a chunk, then lose it
        if any("_ray_chunk" in _title(p) for p in cluster.processes("node2")):
            killed = cluster.kill_node("node2")
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=900)
    assert killed > 0, "node2 never ran a chunk"
    assert cluster.processes("node2") == []
    assert proc.returncode == 0, err
    assert dump(tmp_path / "store") == local_rows


def _title(p: object) -> str:
    try:
        return " ".join(p.cmdline())  # type: ignore[attr-defined]
    except Exception:
        return ""

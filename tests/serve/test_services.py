"""`quarry up/down/status/logs`: real background processes on 127.0.0.1, none left behind."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.serve.conftest import free_port, http, quarry


@pytest.fixture
def store(tmp_path: Path, web_tree: Path) -> Path:
    shutil.copytree(web_tree / ".quarry", tmp_path / "store")
    return tmp_path / "store"


def _services(store: Path) -> dict[str, dict]:
    info = json.loads(quarry("status", "--store", str(store), "--json").stdout)
    return {s["name"]: s for s in info["services"]}


def _tree_pids(pid: int) -> set[int]:
    try:
        root = psutil.Process(pid)
        return {pid, *(c.pid for c in root.children(recursive=True))}
    except psutil.Error:
        return set()


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except psutil.Error:
            continue
    return out


def test_up_status_logs_down(store: Path) -> None:
    port = free_port()
    up = quarry("up", "--store", str(store), "--port", str(port))
    assert f"127.0.0.1:{port}" in up.stdout
    try:
        ui = _services(store)["ui"]
        assert ui["status"] == "running" and ui["healthy"] and ui["port"] == port
        assert http(f"http://127.0.0.1:{port}/healthz")[0] == 200
        human = quarry("status", "--store", str(store)).stdout
        assert "ui" in human and "running" in human
        again = quarry("up", "--store", str(store), "--port", str(port))
        assert "already running" in again.stdout  # idempotent, like make
        logs = quarry("logs", "ui", "--store", str(store)).stdout
        assert "starting:" in logs and "serve" in logs
        pids = _tree_pids(ui["pid"])
    finally:
        down = quarry("down", "--store", str(store))
    assert "ui: stopped" in down.stdout
    assert not _alive(pids)
    assert _services(store).get("ui", {}).get("status") in (None, "stopped")
    assert "no service is running" in quarry("down", "--store", str(store)).stdout


def test_a_stale_pid_file_is_detected_and_replaced(store: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (store / "services").mkdir(exist_ok=True)
    (store / "services" / "ui.json").write_text(
        json.dumps(
            {"pid": dead.pid, "create_time": 1.0, "port": 1, "health": "http:/healthz", "started": 1.0}
        )
    )
    ui = _services(store)["ui"]
    assert ui["status"] == "stale" and "not running" in ui["detail"]
    port = free_port()
    quarry("up", "--store", str(store), "--port", str(port))
    try:
        assert _services(store)["ui"]["status"] == "running"
    finally:
        quarry("down", "--store", str(store))


def test_a_busy_port_is_a_message(store: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = quarry("up", "--store", str(store), "--port", str(port), check=False)
    assert proc.returncode == 2 and "in use" in proc.stderr and "Traceback" not in proc.stderr
    assert not (store / "services" / "ui.json").exists()


def test_logs_of_an_unknown_service_suggests(store: Path) -> None:
    proc = quarry("logs", "uii", "--store", str(store), check=False)
    assert proc.returncode == 2 and "ui" in proc.stderr


def test_bad_config_is_a_message(store: Path) -> None:
    (store / "config.toml").write_text("[services.redis]\nport = 1\n")
    proc = quarry("up", "--store", str(store), check=False)
    assert proc.returncode == 2 and "unknown service 'redis'" in proc.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_ray_and_prefect_come_up_in_order_and_go_down(store: Path) -> None:
    pytest.importorskip("prefect")
    ports = {name: free_port() for name in ("ray", "prefect", "ui")}
    (store / "config.toml").write_text(
        f"[services.ray]\nport = {ports['ray']}\n[services.prefect]\nport = {ports['prefect']}\n"
        f"[services.ui]\nport = {ports['ui']}\n"
    )
    pids: set[int] = set()
    try:
        quarry("up", "--store", str(store))
        states = _services(store)
        assert [states[n]["status"] for n in ("ray", "prefect", "ui")] == ["running"] * 3
        started = [states[n]["started"] for n in ("ray", "prefect", "ui")]
        assert started == sorted(started)  # dependency order
        assert http(f"http://127.0.0.1:{ports['prefect']}/api/health")[0] == 200
        for s in states.values():
            pids |= _tree_pids(s["pid"])
        sessions = {s["pid"] for s in states.values()}
        for proc in psutil.process_iter():
            try:
                if psutil.Process(proc.pid).pid != 0 and __import__("os").getsid(proc.pid) in sessions:
                    pids.add(proc.pid)
            except (OSError, psutil.Error):
                continue
    finally:
        down = quarry("down", "--store", str(store)).stdout
    assert down.index("ui:") < down.index("prefect:") < down.index("ray:")  # reverse order
    assert not _alive(pids), "a service process survived 'quarry down'"

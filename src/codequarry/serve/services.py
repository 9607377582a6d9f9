"""Services around a store, managed like a Makefile: ``up`` in dependency order, ``down`` in reverse.

The UI server is always a service; a local Ray head and a Prefect server are services when the
store's ``config.toml`` asks for them::

    [services.ui]
    port = 8765
    [services.ray]        # a local Ray head (needs codequarry[ray])
    port = 6380
    [services.prefect]    # a Prefect server (needs codequarry[prefect])
    port = 4200

Each service runs detached in its own session; its PID file (``services/NAME.json``: pid, process
start time, port, command) and its log (``services/NAME.log``) live in the store. A PID file whose
process is gone, or whose pid now belongs to another process (start time differs), is *stale*:
``status`` says so and ``up``/``down`` clean it. ``down`` stops the whole process tree and session of a
service (SIGTERM, then SIGKILL after a grace period), so nothing is left running.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import psutil

from codequarry.corpus_io import OPEN_FLAGS
from codequarry.errors import UsageError
from codequarry.store import metafile

CONFIG = "config.toml"
#: the bound of the store's config.toml (a few lines): a link to /dev/zero or a 10 GB file is refused
CONFIG_BYTES = 1 << 20
FOLDER = "services"
DEFAULT_PORTS = {"ray": 6380, "prefect": 4200, "ui": 8765}
ORDER = ("ray", "prefect", "ui")  # dependency order: the UI comes up last, goes down first


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]
    port: int
    health: str  # "http:<path>" or "tcp"
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0


@dataclass
class ServiceState:
    name: str
    status: str  # running | stopped | stale | unhealthy
    pid: int | None = None
    port: int | None = None
    started: float | None = None
    healthy: bool = False
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _folder(store: Path) -> Path:
    return store / FOLDER


def read_config(store: Path) -> dict[str, dict[str, Any]]:
    """The [services.*] tables of the store's config.toml (the UI is always there)."""
    path = store / CONFIG
    services: dict[str, dict[str, Any]] = {}
    if os.path.lexists(path):
        # read as the store's own files are (metafile): a link is not followed out of the store, a
        # FIFO does not hold `quarry up` or `quarry status`, a huge file is not read whole
        try:
            data = tomllib.loads(metafile.read_text(path, CONFIG_BYTES))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise UsageError(f"{path}: cannot read it: {why}; fix or remove the file") from None
        raw = data.get("services", {})
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: [services] must be a table")
        for name, conf in raw.items():
            if name not in ORDER:
                raise UsageError(f"{path}: unknown service '{name}'; services are {', '.join(ORDER)}")
            if not isinstance(conf, dict) or not conf.get("enabled", True):
                continue
            services[name] = conf
    services.setdefault("ui", {})
    return services


def _tool(name: str) -> str | None:
    """An executable installed beside the running interpreter (a venv's bin/), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() and os.access(local, os.X_OK) else shutil.which(name)


def _port(store: Path, name: str, value: Any) -> int:
    """A service's ``port`` from the config: a whole number from 1 to 65535 (a string, a float, inf or
    a port out of range were tracebacks of `quarry up`)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise UsageError(
            f"{store / CONFIG}: services.{name}.port must be a whole number from 1 to 65535, got {value!r}"
        )
    return value


def specs(store: Path, *, ui_port: int | None = None, token: str | None = None) -> list[ServiceSpec]:
    """The configured services in dependency order."""
    conf = read_config(store)
    out: list[ServiceSpec] = []
    for name in ORDER:
        if name not in conf:
            continue
        port = _port(store, name, conf[name].get("port", DEFAULT_PORTS[name]))
        if name == "ui":
            port = ui_port or port
            env = {"QUARRY_SERVE_TOKEN": token} if token else {}
            argv: tuple[str, ...] = (
                sys.executable,
                "-m",
                "codequarry",
                "serve",
                "--store",
                str(store),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            )
            out.append(ServiceSpec(name, argv, port, "http:/healthz", env, start_timeout=30))
        elif name == "ray":
            ray = _tool("ray")
            if ray is None:
                raise UsageError(
                    "the store's config asks for a Ray head, but Ray is not installed: "
                    "pip install 'codequarry[ray]'"
                )
            argv = (
                ray,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--include-dashboard=false",
                "--disable-usage-stats",
            )
            out.append(
                ServiceSpec(name, argv, port, "tcp", {"RAY_USAGE_STATS_ENABLED": "0"}, start_timeout=90)
            )
        else:
            prefect = _tool("prefect")
            if prefect is None:
                raise UsageError(
                    "the store's config asks for a Prefect server, but Prefect is not installed: "
                    "pip install 'codequarry[prefect]'"
                )
            home = _folder(store) / "prefect-home"
            argv = (prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port))
            env = {
                "PREFECT_HOME": str(home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "false",
            }
            out.append(ServiceSpec(name, argv, port, "http:/api/health", env, start_timeout=120))
    return out


def _pidfile(store: Path, name: str) -> Path:
    return _folder(store) / f"{name}.json"


def log_path(store: Path, name: str) -> Path:
    return _folder(store) / f"{name}.log"


def _record(store: Path, name: str) -> dict[str, Any] | None:
    try:
        data = json.loads(metafile.read_text(_pidfile(store, name)))  # a FIFO there held status
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _process(record: dict[str, Any]) -> psutil.Process | None:
    """The recorded process if it still runs and is the same process (same start time)."""
    try:
        proc = psutil.Process(int(record["pid"]))
        if abs(proc.create_time() - float(record["create_time"])) > 0.5:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.Error, KeyError, ValueError, TypeError):
        return None


def _healthy(spec_health: str, port: int, timeout: float = 1.0) -> bool:
    if spec_health == "tcp":
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True
        except OSError:
            return False
    path = spec_health.split(":", 1)[1]
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        token = os.environ.get("QUARRY_SERVE_TOKEN")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            status: int = resp.status
            return 200 <= status < 300
    except OSError:
        return False


def status(store: Path) -> list[ServiceState]:
    """Each known service (configured, or with a PID file) and what it is doing."""
    names = [n for n in ORDER if n in read_config(store) or _pidfile(store, n).exists()]
    out = []
    for name in names:
        rec = _record(store, name)
        if rec is None:
            out.append(ServiceState(name, "stopped"))
            continue
        proc = _process(rec)
        if proc is None:
            out.append(
                ServiceState(
                    name,
                    "stale",
                    pid=rec.get("pid"),
                    port=rec.get("port"),
                    detail=f"pid {rec.get('pid')} is not running; 'quarry down' cleans it up",
                )
            )
            continue
        ok = _healthy(rec.get("health", "tcp"), int(rec.get("port", 0)))
        out.append(
            ServiceState(
                name,
                "running" if ok else "unhealthy",
                pid=proc.pid,
                port=rec.get("port"),
                started=rec.get("started"),
                healthy=ok,
                detail="" if ok else f"not answering on 127.0.0.1:{rec.get('port')}",
            )
        )
    return out


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start(store: Path, spec: ServiceSpec) -> ServiceState:
    """Start one service detached, wait until it is healthy; a failure stops it and says why."""
    rec = _record(store, spec.name)
    if rec is not None and _process(rec) is not None:
        return ServiceState(
            spec.name,
            "running",
            pid=int(rec["pid"]),
            port=rec.get("port"),
            healthy=True,
            detail="already running",
        )
    if not _port_free(spec.port):
        raise UsageError(
            f"cannot start {spec.name}: port {spec.port} on 127.0.0.1 is in use; set another port "
            f"in {store / CONFIG} ([services.{spec.name}] port = N) or free it"
        )
    proc, record = _spawn(store, spec)
    return _await_healthy(store, spec, proc, record["started"])


def _spawn(store: Path, spec: ServiceSpec) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the service in a session of its own, its output appended to its log, and record its
    pid file (written whole: a reader never sees half of one)."""
    _folder(store).mkdir(parents=True, exist_ok=True)
    with open_log(log_path(store, spec.name), append=True) as fh:
        fh.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **spec.env},
            cwd=str(store),
        )
    record = {
        "name": spec.name,
        "pid": proc.pid,
        "create_time": psutil.Process(proc.pid).create_time(),
        "port": spec.port,
        "health": spec.health,
        "started": time.time(),
        "argv": list(spec.argv),
    }
    tmp = _pidfile(store, spec.name).with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # a link left there is removed, never written through
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, 0o644), "w") as out:
        out.write(json.dumps(record, indent=1))
    os.replace(tmp, _pidfile(store, spec.name))
    return proc, record


def open_log(log: Path, *, append: bool = False) -> BinaryIO:
    """A service's log, opened to read (`quarry logs`) or to append (`quarry up`) as the store's own
    files are (store/metafile.py): only a regular file of the store. With a plain ``open``, a FIFO
    there held `quarry logs` and `quarry up` forever, a link to /dev/zero filled memory, and a log
    linked elsewhere had `quarry up` write outside the store."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS if append else OPEN_FLAGS  # O_RDONLY is 0
    what = "write" if append else "read"
    try:
        fd = os.open(log, flags, 0o644)
    except OSError as exc:
        odd = exc.errno in (errno.ELOOP, errno.ENXIO)  # a link; a FIFO no one reads (or writes)
        why = "a symlink or a FIFO, which the store never makes" if odd else exc.strerror
        raise UsageError(f"cannot {what} the log '{log}': {why}; remove it") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"cannot {what} the log '{log}': not a regular file; remove it")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab" if append else "rb")


def _await_healthy(
    store: Path, spec: ServiceSpec, proc: subprocess.Popen[bytes], started: float
) -> ServiceState:
    """Wait for the service's health check; one that exits or stays silent is stopped and named."""
    deadline = time.monotonic() + spec.start_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(store, spec.name)
            raise UsageError(
                f"{spec.name} exited with code {proc.returncode} while starting; "
                f"see 'quarry logs {spec.name}'"
            )
        if _healthy(spec.health, spec.port):
            return ServiceState(
                spec.name, "running", pid=proc.pid, port=spec.port, started=started, healthy=True
            )
        time.sleep(0.2)
    stop(store, spec.name)
    raise UsageError(
        f"{spec.name} did not answer on 127.0.0.1:{spec.port} within {spec.start_timeout:g} s; "
        f"it was stopped; see 'quarry logs {spec.name}'"
    )


def _tree(pid: int) -> list[psutil.Process]:
    """The process, its descendants, and anything else in its session (a daemon that double-forked)."""
    procs: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(pid)
        procs[pid] = root
        for child in root.children(recursive=True):
            procs[child.pid] = child
    except psutil.Error:
        pass
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and os.getsid(proc.pid) == pid:
                procs[proc.pid] = proc
        except (OSError, psutil.Error):
            continue
    return list(procs.values())


def stop(store: Path, name: str, *, grace: float = 10.0) -> str:
    """Stop one service and everything it started; remove its PID file. Returns what happened."""
    rec = _record(store, name)
    if rec is None:
        return "not running"
    proc = _process(rec)
    what = "stale PID file removed"
    if proc is not None:
        procs = _tree(proc.pid)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGTERM)
        _gone, alive = psutil.wait_procs(procs, timeout=grace)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        what = "stopped" if not alive else f"killed after {grace:g} s"
    _pidfile(store, name).unlink(missing_ok=True)
    return what


def up(store: Path, *, ui_port: int | None = None, token: str | None = None) -> list[ServiceState]:
    """Start every configured service in dependency order; on a failure, stop what this call started."""
    started: list[str] = []
    states = []
    try:
        for spec in specs(store, ui_port=ui_port, token=token):
            state = start(store, spec)
            if state.detail != "already running":
                started.append(spec.name)
            states.append(state)
    except BaseException:
        for name in reversed(started):
            stop(store, name)
        raise
    return states


def down(store: Path) -> dict[str, str]:
    """Stop every service with a PID file, in reverse dependency order."""
    return {name: stop(store, name) for name in reversed(ORDER) if _pidfile(store, name).exists()}

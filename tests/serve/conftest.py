"""A real store of a small web app, and a real `quarry serve` process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import paths

FIXTURES = paths.FIXTURES


def quarry(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "codequarry", *args], capture_output=True, text=True, timeout=300, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"quarry {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    url: str, *, data: dict[str, Any] | None = None, token: str | None = None, timeout: float = 60
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of one request to the test server; errors are answers too."""
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def post_sql(srv: Server, sql: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) of one console query POSTed to ``/api/sql``."""
    status, body, _headers = http(srv.url + "/api/sql", data={"sql": sql}, timeout=timeout)
    return status, json.loads(body)


@pytest.fixture(scope="session")
def web_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Flask app with security findings, extracted once into its default store."""
    root = tmp_path_factory.mktemp("web") / "shopapp"
    shutil.copytree(FIXTURES / "routes" / "flask_app", root)
    shutil.copytree(FIXTURES / "security" / "shop", root / "sec")
    quarry("extract", str(root), "--workers", "1", "-q")
    return root


class Server:
    def __init__(self, store: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "codequarry",
                "serve",
                "--store",
                str(store),
                "--port",
                str(self.port),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 60
        token = dict(zip(extra[::2], extra[1::2], strict=False)).get("--token")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"quarry serve exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            try:
                if http(self.url + "/healthz", token=token, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("quarry serve did not answer within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def server(web_tree: Path) -> Iterator[Server]:
    srv = Server(web_tree / ".quarry", "--row-cap", "5")
    yield srv
    srv.stop()


def one_file_server(factory: pytest.TempPathFactory, *options: str) -> Iterator[Server]:
    """A server over a one-file store (core tables), with ``options`` for ``quarry serve``: the
    hostile-request tests need a store, not a web application."""
    from tests.hostile.conftest import one_file_store

    store = one_file_store(factory, "serve", "def f():\n    return 1\n", "--select", "python.core")
    srv = Server(store, *options)
    yield srv
    srv.stop()

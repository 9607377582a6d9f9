"""`quarry serve` with an oversized request head, and how it stops.

Found (trust sweep 4, left): a GET whose URL passed ~64 KB was reset by uvicorn's parser (its
16 KiB buffer for an incomplete head) with no message; a long header the same. Now the server holds a
head of up to 1 MiB and answers a URL over 64 KiB with 414 and a header block over 64 KiB with 431,
each with a one-line JSON message, and keeps serving. And ``serve`` exited 130 on SIGTERM where
``watch`` exits 143: both now give 130 for Ctrl-C and 143 for SIGTERM. A query returning a
nanosecond timestamp (``now()``) was a 500 in the console: it is text now, its type still named.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

from tests.serve.conftest import Server, quarry


def _store(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "app.py").write_text("def f():\n    return 1\n")
    quarry("extract", str(root), "--workers", "1", "-q", "--select", "python.core")
    return root / ".quarry"


def _raw(port: int, head: bytes) -> tuple[int, bytes]:
    """Send a whole request head, then read the answer (the status code and the body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_a_long_url_or_header_gets_its_status_and_a_message(tmp_path: Path) -> None:
    srv = Server(_store(tmp_path))
    try:
        host = b"Host: 127.0.0.1\r\nConnection: close\r\n"
        status, body = _raw(srv.port, b"GET /api/sql?q=" + b"1" * 200_000 + b" HTTP/1.1\r\n" + host + b"\r\n")
        assert status == 414 and "POST /api/sql" in json.loads(body)["error"]
        big = b"X-Big: " + b"b" * 100_000 + b"\r\n"
        status, body = _raw(srv.port, b"GET /api/tables HTTP/1.1\r\n" + host + big + b"\r\n")
        assert status == 431 and "headers" in json.loads(body)["error"]
        status, body = _raw(
            srv.port, b"GET /api/tables?x=" + b"a" * 30_000 + b" HTTP/1.1\r\n" + host + b"\r\n"
        )
        assert status == 200 and "tables" in json.loads(body)  # a long URL under the bound still works
        query = json.dumps({"sql": "SELECT now() AS t, INTERVAL '1 day' AS i"}).encode()
        post = b"POST /api/sql HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
        status, body = _raw(srv.port, post + b"Content-Length: %d\r\n\r\n" % len(query) + query)
        assert status == 200, body  # a nanosecond timestamp was a 500
        got = json.loads(body)
        assert got["types"][0].startswith("timestamp[ns") and got["rows"][0][0][:2] == "20"
    finally:
        srv.stop()


def test_sigterm_exits_143_and_ctrl_c_130(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        srv = Server(store)
        srv.proc.send_signal(sig)
        assert srv.proc.wait(timeout=60) == code
        err = srv.proc.stderr.read() if srv.proc.stderr else ""
        assert "Traceback" not in err, err

"""`quarry serve` against hostile request paths, query strings and bodies (trust sweep 4).

Held (probed through a real server, kept here): paths that climb (``/../``, ``%2e%2e``, ``%2F`` in a
run id or a view name) are 404s that read nothing; a run id is matched against the recorded runs,
never joined to a path; SQL that writes (COPY, CREATE EXTERNAL TABLE, DROP, SET, CREATE VIEW) is
refused and a file function (``read_csv('/etc/passwd')``) does not exist; a query nested past the
parser's depth is a message; a view's filter holding SQL stays a literal; the server answers after
all of it. Found: a POST body was read whole into memory whatever its size (a 50 MB body of
spaces after the JSON was accepted): /api/sql now refuses a body over 1 MiB (413) before holding it.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.conftest import Server, one_file_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from one_file_server(tmp_path_factory)


def _ask(srv: Server, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api/runs/..%2F..%2Fstore.json",
        "/api/runs/..",
        "/runs/..%2F..%2Fetc%2Fpasswd/report.html",
        "/api/views/..%2F..%2Fetc",
    ],
)
def test_paths_that_climb_are_not_found(server: Server, path: str) -> None:
    status, body = _ask(server, "GET", path)
    assert status == 404 and b"root:" not in body and b"format" not in body


@pytest.mark.parametrize(
    "sql, says",
    [
        ("SELECT * FROM read_csv('/etc/passwd')", b"read_csv"),
        ("CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'", b"read-only"),
        ("DROP TABLE functions", b"read-only"),
        ("SET datafusion.execution.target_partitions = 1", b"read-only"),
        ("SELECT " + "(" * 20000 + "1" + ")" * 20000, b"RecursionLimit"),
    ],
)
def test_sql_that_writes_reads_files_or_nests_is_a_message(server: Server, sql: str, says: bytes) -> None:
    status, body = _ask(server, "POST", "/api/sql", json.dumps({"sql": sql}).encode())
    assert status == 400 and says in body and b"root:" not in body


def test_a_copy_writes_nothing(server: Server, tmp_path: Path) -> None:
    target = tmp_path / "pwn.csv"
    sql = f"COPY (SELECT 1) TO '{target}' STORED AS CSV"
    status, _ = _ask(server, "GET", "/api/sql?q=" + urllib.parse.quote(sql))
    assert status == 400 and not target.exists()


def test_a_view_filter_stays_a_literal(server: Server) -> None:
    status, body = _ask(server, "GET", "/api/views/routes?path=" + urllib.parse.quote("%' OR 1=1 --"))
    assert status == 200 and json.loads(body).get("rows", []) == []


def test_a_huge_body_is_refused_before_it_is_read(server: Server) -> None:
    body = json.dumps({"sql": "SELECT 1"}).encode() + b" " * (2 << 20)
    status, answer = _ask(server, "POST", "/api/sql", body)
    assert status == 413 and b"larger than" in answer
    status, answer = _ask(server, "POST", "/api/sql", json.dumps({"sql": "SELECT 41 + 1 AS n"}).encode())
    assert status == 200 and json.loads(answer)["rows"] == [[42]]

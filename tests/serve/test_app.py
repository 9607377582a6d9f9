"""`quarry serve` as a real process on 127.0.0.1: API answers match the CLI's, limits hold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.serve.conftest import Server, http, quarry


def test_tables_match_the_store(server: Server, web_tree: Path) -> None:
    status, body, _ = http(server.url + "/api/tables")
    assert status == 200
    tables = {t["name"]: t for t in json.loads(body)["tables"]}
    listed = quarry("status", "--store", str(web_tree / ".quarry"), "--json").stdout
    expected = json.loads(listed)["tables"]
    assert set(tables) == set(expected)
    for name, t in expected.items():
        assert tables[name]["rows"] == t["rows"]
    assert {"repo", "path", "name", "line"} <= {c["name"] for c in tables["functions"]["columns"]}


def test_sql_console_and_downloads_match_quarry_sql(server: Server, web_tree: Path) -> None:
    query = "SELECT path, name, line FROM functions ORDER BY path, line, name"
    status, body, _ = http(server.url + "/api/sql", data={"sql": query})
    assert status == 200
    answer = json.loads(body)
    cli_rows = json.loads(quarry("sql", "--store", str(web_tree / ".quarry"), "-f", "json", query).stdout)
    assert len(cli_rows) > 5
    assert answer["columns"] == ["path", "name", "line"]
    assert answer["truncated"] is True and answer["row_cap"] == 5  # the server runs with --row-cap 5
    assert answer["rows"] == [[r["path"], r["name"], r["line"]] for r in cli_rows[:5]]
    from urllib.parse import quote

    status, csv_body, headers = http(server.url + "/api/sql?format=csv&q=" + quote(query))
    assert status == 200 and "attachment" in headers.get("content-disposition", "")
    cli_csv = quarry("sql", "--store", str(web_tree / ".quarry"), "-f", "csv", query).stdout
    assert csv_body.decode() == cli_csv  # downloads are not capped by the console's row cap
    status, json_body, _ = http(server.url + "/api/sql?format=json-download&q=" + quote(query))
    assert json.loads(json_body) == cli_rows


def test_bad_sql_is_a_message_not_a_crash(server: Server) -> None:
    status, body, _ = http(server.url + "/api/sql", data={"sql": "SELECT * FROM functionz"})
    assert status == 400
    assert "Did you mean 'functions'" in json.loads(body)["error"]


def test_sql_from_the_ui_is_read_only(server: Server, tmp_path: Path) -> None:
    target = tmp_path / "written.csv"
    for statement in (
        f"COPY (SELECT 1) TO '{target}' STORED AS CSV",
        "CREATE TABLE t AS SELECT 1",
        f"CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{tmp_path}'",
        "DROP TABLE functions",
    ):
        status, body, _ = http(server.url + "/api/sql", data={"sql": statement})
        assert status == 400 and "read-only" in json.loads(body)["error"], statement
    assert not target.exists()
    from urllib.parse import quote

    status, _, _ = http(server.url + "/api/sql?format=csv&q=" + quote(f"COPY (SELECT 1) TO '{target}'"))
    assert status == 400 and not target.exists()


def test_bad_requests_are_messages(server: Server) -> None:
    status, body, _ = http(server.url + "/api/sql", data={"sql": "   "})
    assert status == 400
    status, _, _ = http(server.url + "/api/views/nope")
    assert status == 404


def test_query_timeout_stops_the_query(web_tree: Path) -> None:
    srv = Server(web_tree / ".quarry", "--query-timeout", "1.5")
    try:
        slow = "SELECT count(*) FROM generate_series(1, 3000000000) a, generate_series(1, 10) b"
        started = time.monotonic()
        status, body, _ = http(srv.url + "/api/sql", data={"sql": slow})
        assert status == 504 and "stopped" in json.loads(body)["error"]
        assert time.monotonic() - started < 60  # generous: the query itself would take minutes
        import psutil

        time.sleep(0.5)
        busy = [p for p in psutil.Process(srv.proc.pid).children(recursive=True) if p.cpu_percent(0.2) > 50]
        assert not busy, "the timed-out query still runs"
        assert http(srv.url + "/api/sql", data={"sql": "SELECT 1 AS one"})[0] == 200  # the server goes on
    finally:
        srv.stop()


def test_views_filter_routes_models_and_findings(server: Server) -> None:
    status, body, _ = http(server.url + "/api/views/routes")
    every = json.loads(body)
    assert status == 200 and every["rows"]
    cols = every["columns"]
    status, body, _ = http(server.url + "/api/views/routes?no_auth=1")
    unauth = json.loads(body)["rows"]
    assert all(r[cols.index("auth")] == "" for r in unauth)
    status, body, _ = http(server.url + "/api/views/findings?severity=high")
    findings = json.loads(body)
    assert findings["rows"] and all(
        r[findings["columns"].index("severity")] == "high" for r in findings["rows"]
    )
    # a filter value is data, never SQL
    status, body, _ = http(server.url + "/api/views/findings?rule=x'%20OR%20'1'='1")
    assert status == 200 and json.loads(body)["rows"] == []


def test_token_is_required_when_given(web_tree: Path) -> None:
    srv = Server(web_tree / ".quarry", "--token", "s3cret")
    try:
        assert http(srv.url + "/api/tables")[0] == 401
        assert http(srv.url + "/api/tables?token=wrong")[0] == 401
        assert http(srv.url + "/api/tables", token="s3cret")[0] == 200
        assert http(srv.url + "/api/tables?token=s3cret")[0] == 200
    finally:
        srv.stop()


def test_non_loopback_host_needs_a_token(web_tree: Path) -> None:
    proc = quarry("serve", "--store", str(web_tree / ".quarry"), "--host", "0.0.0.0", check=False)
    assert proc.returncode == 2
    assert "--token" in proc.stderr and "Traceback" not in proc.stderr


def test_keeps_answering_while_a_writer_publishes(tmp_path: Path, web_tree: Path) -> None:
    tree = tmp_path / "app"
    shutil.copytree(web_tree, tree, ignore=shutil.ignore_patterns(".quarry"))
    quarry("extract", str(tree), "--workers", "1", "-q")
    srv = Server(tree / ".quarry")
    failures: list[str] = []
    answers = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal answers
        while not stop.is_set():
            status, body, _ = http(srv.url + "/api/sql", data={"sql": "SELECT count(*) AS n FROM functions"})
            if status != 200:
                failures.append(body.decode())
            answers += 1

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        for i in range(3):
            (tree / f"added_{i}.py").write_text(
                "".join(f"def f{i}_{k}():\n    return {k}\n" for k in range(10))
            )
            quarry("extract", str(tree), "--workers", "1", "-q")
    finally:
        stop.set()
        thread.join(120)
    try:
        assert answers >= 3 and not failures
        status, body, _ = http(
            srv.url + "/api/sql",
            data={"sql": "SELECT count(*) AS n FROM functions WHERE path LIKE 'added_%'"},
        )
        assert json.loads(body)["rows"] == [[30]]  # the new snapshot is served without a restart
    finally:
        srv.stop()


def test_progress_of_a_running_extract(tmp_path: Path, web_tree: Path) -> None:
    tree = tmp_path / "app"
    shutil.copytree(web_tree, tree, ignore=shutil.ignore_patterns(".quarry"))
    quarry("extract", str(tree), "--workers", "1", "-q")
    (tree / "more.py").write_text("def more():\n    pass\n")
    srv = Server(tree / ".quarry")
    flag = tmp_path / "pause"
    env = {**os.environ, "QUARRY_PAUSE_AT": "publish", "QUARRY_PAUSE_FILE": str(flag)}
    run = subprocess.Popen(
        [sys.executable, "-m", "codequarry", "extract", str(tree), "--workers", "1", "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), run.stderr.read() if run.poll() is not None and run.stderr else "no pause"
        live = json.loads(http(srv.url + "/api/progress")[1])
        assert live["state"] == "running" and live["alive"] is True and live["kind"] == "extract"
        assert live["total"] == 1 and live["done"] == 1  # one changed file
        flag.unlink()
        assert run.wait(120) == 0
        done = json.loads(http(srv.url + "/api/progress")[1])
        assert done["state"] == "published" and done["alive"] is False
    finally:
        if run.poll() is None:
            run.kill()
        srv.stop()


def test_page_escapes_by_construction(server: Server) -> None:
    status, body, _ = http(server.url + "/")
    page = body.decode()
    assert status == 200 and "<script>" in page
    assert "innerHTML" not in page  # every value goes in through textContent
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page  # no CDN


@pytest.mark.parametrize("path", ["/api/progress/stream"])
def test_progress_stream_speaks_server_sent_events(server: Server, path: str) -> None:
    import urllib.request

    with urllib.request.urlopen(server.url + path, timeout=10) as resp:  # noqa: S310
        assert resp.headers["content-type"].startswith("text/event-stream")
        first = resp.readline().decode()
    assert first.startswith("data: ") and "state" in json.loads(first[6:])


def test_runs_and_their_reports(server: Server, web_tree: Path) -> None:
    status, body, _ = http(server.url + "/api/runs")
    runs = json.loads(body)
    assert status == 200 and runs and runs[0]["kind"] == "extract" and runs[0]["status"] in ("ok", "errors")
    run_id = runs[0]["run_id"]
    status, body, _ = http(server.url + f"/api/runs/{run_id}")
    assert status == 200 and json.loads(body)["run_id"] == run_id
    status, page, headers = http(server.url + f"/runs/{run_id}/report.html")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"<svg" in page
    assert http(server.url + "/api/runs/ffffffffffff")[0] == 404

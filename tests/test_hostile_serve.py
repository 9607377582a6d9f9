"""The web UI against hostile callers and hostile stores, through a real `quarry serve` process.

- DNS rebinding: a web page on another site that re-points its own name at 127.0.0.1 reaches the
  loopback server with its own name in the ``Host`` header; the browser then treats the answers as
  same-origin and the page reads the whole store. A loopback server answers only to loopback names.
- A request body that is JSON but not an object is a 400 with a message, not a 500 and a traceback.
- File names and messages that are HTML stay text in the page and in a run's report, in Chromium.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Server, quarry
from tests.serve.test_browser import CHROMEDRIVER, CHROMIUM, _wait, browser  # noqa: F401 (a fixture)

HOSTILE = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose repo name, file names, function names and error messages are HTML."""
    root = tmp_path_factory.mktemp("xss") / HOSTILE.replace("/", "")
    root.mkdir()
    (root / f"{HOSTILE.replace('/', '')}.py").write_text(
        f'X = "{HOSTILE}"\n\ndef f(x):\n    return X\n', encoding="utf-8"
    )
    (root / "<script>window.__pwned=2<\\script>.py").write_text(f'Y = "{HOSTILE}" (:\n', encoding="utf-8")
    store = root.parent / "store"
    quarry("extract", str(root), "--store", str(store), "--workers", "1", "-q")
    return store


@pytest.fixture(scope="module")
def server(hostile_store: Path) -> Iterator[Server]:
    srv = Server(hostile_store)
    yield srv
    srv.stop()


def _get(
    srv: Server, path: str, host: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host)
        if body is not None:
            conn.putheader("Content-Type", "text/plain")  # a "simple" request: no CORS preflight
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:{port}", "127.0.0.1.nip.io:{port}", ""]
)
@pytest.mark.parametrize("path", ["/api/tables", "/api/runs", "/", "/api/sql?q=SELECT%20path%20FROM%20files"])
def test_a_rebound_name_gets_nothing_from_a_loopback_server(server: Server, host: str, path: str) -> None:
    status, body = _get(server, path, host.format(port=server.port))
    assert status == 403, body
    assert b"onerror" not in body and b"files" not in body
    post = _get(
        server, "/api/sql", host.format(port=server.port), "POST", b'{"sql": "SELECT path FROM files"}'
    )
    assert post[0] == 403 and b"onerror" not in post[1]


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}", "127.0.0.1"]
)
def test_loopback_names_are_answered(server: Server, host: str) -> None:
    status, body = _get(server, "/api/tables", host.format(port=server.port))
    assert status == 200, body
    assert any(t["name"] == "files" for t in json.loads(body)["tables"])


@pytest.mark.parametrize(
    "body", [b"[1]", b'"SELECT 1"', b"1", b"null", b'{"sql": 1}', b'{"sql": ["SELECT 1"]}']
)
def test_json_that_is_not_an_object_is_a_message(server: Server, body: bytes) -> None:
    status, answer = _get(server, "/api/sql", f"127.0.0.1:{server.port}", "POST", body)
    assert status == 400, answer
    assert "sql" in json.loads(answer)["error"]


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_html_in_names_and_messages_stays_text_in_chromium(browser: Any, server: Server) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/#sql")
    box = browser.find_element(By.ID, "sqltext")
    box.clear()
    box.send_keys(
        "SELECT repo, path, source_line FROM errors UNION ALL SELECT repo, path, name FROM functions "
        "UNION ALL SELECT repo, path, value FROM assignments"
    )
    browser.find_element(By.ID, "run").click()
    cells = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#sqlout td"))
    texts = [c.text for c in cells]
    assert any(HOSTILE in t for t in texts), texts  # shown as the text it is
    assert any("<script>" in t for t in texts), texts
    assert browser.find_elements(By.CSS_SELECTOR, "#sqlout img, #sqlout script") == []
    browser.get(server.url + "/#runs")
    link = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#runlist a"))
    browser.get(link[0].get_attribute("href"))
    _wait(lambda: "<script>" in browser.find_element(By.TAG_NAME, "body").text or None)
    assert browser.find_elements(By.CSS_SELECTOR, "body img[src='x']") == []
    assert browser.execute_script("return window.__pwned === undefined")

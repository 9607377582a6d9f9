"""The web UI in a real browser (Debian's Chromium, headless, driven by Selenium): what a person sees."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Server, quarry

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
    ):
        opts.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    from selenium.common.exceptions import StaleElementReferenceException

    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (StaleElementReferenceException, IndexError):
            value = None  # the page re-rendered under us: look again
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the page did not get there in time")


def test_sql_console_shows_the_rows_and_downloads_the_csv(browser: Any, web_tree: Path) -> None:
    from selenium.webdriver.common.by import By

    srv = Server(web_tree / ".quarry")
    try:
        query = "SELECT name, path, line FROM functions WHERE name LIKE '%user%' ORDER BY path, line"
        browser.get(srv.url + "/#sql")
        box = browser.find_element(By.ID, "sqltext")
        box.clear()
        box.send_keys(query)
        browser.find_element(By.ID, "run").click()
        _wait(lambda: "row(s)" in browser.find_element(By.ID, "sqlinfo").text)
        cells = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#sqlout tr")[1:]
        ]
        expected = json.loads(quarry("sql", "--store", str(web_tree / ".quarry"), "-f", "json", query).stdout)
        assert expected, "the fixture has functions about users"
        assert cells == [[r["name"], r["path"], str(r["line"])] for r in expected]
        browser.save_screenshot(str(browser.downloads.parent / "sql.png"))
        browser.find_element(By.ID, "dlcsv").click()
        csv_file = _wait(lambda: next((p for p in browser.downloads.glob("*.csv")), None))
        _wait(lambda: not list(browser.downloads.glob("*.crdownload")))
        cli_csv = quarry("sql", "--store", str(web_tree / ".quarry"), "-f", "csv", query).stdout
        assert csv_file.read_text() == cli_csv
    finally:
        srv.stop()


def test_pages_render_tables_and_errors(browser: Any, web_tree: Path) -> None:
    from selenium.webdriver.common.by import By

    srv = Server(web_tree / ".quarry")
    try:
        browser.get(srv.url + "/#tables")
        items = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#tlist div"))
        assert any(i.text.startswith("functions (") for i in items)
        next(i for i in items if i.text.startswith("functions (")).click()
        _wait(lambda: "repo" in browser.find_element(By.ID, "tschema").text)
        browser.get(srv.url + "/#findings")
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#findings .out tr"))
        box = browser.find_element(By.CSS_SELECTOR, "#findings input[name=severity]")
        box.send_keys("high\n")
        browser.execute_script("arguments[0].dispatchEvent(new Event('change', {bubbles: true}))", box)
        _wait(
            lambda: all(
                tr.find_elements(By.TAG_NAME, "td")[1].text == "high"
                for tr in browser.find_elements(By.CSS_SELECTOR, "#findings .out tr")[1:]
            )
        )
        browser.get(srv.url + "/#sql")
        box = browser.find_element(By.ID, "sqltext")
        box.clear()
        box.send_keys("SELECT * FROM no_such_table")
        browser.find_element(By.ID, "run").click()
        message = _wait(lambda: browser.find_element(By.ID, "sqlerr").text)
        assert "no_such_table" in message
        png = browser.get_screenshot_as_png()
        from io import BytesIO

        from PIL import Image

        img = Image.open(BytesIO(png)).convert("L")
        assert len(set(img.getdata())) > 8  # not a blank page
    finally:
        srv.stop()

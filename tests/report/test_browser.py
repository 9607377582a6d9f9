"""The HTML report in a real browser (Debian's headless Chromium, driven by selenium): the charts render
(a screenshot that is not blank, bars in the chart colours), the expected elements are there, nothing
from the corpus runs, and the task table sorts by a click on a column header."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codequarry.report import list_runs, load_report, write_html
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.report.conftest import HOSTILE, tools_recipe

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,2200",
]
BAR_BLUE, OK_GREEN = (0x3B, 0x6F, 0xB6), (0x3F, 0x9B, 0x5A)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    try:
        yield driver
    finally:
        driver.quit()


def _not_blank(png: Path, colour: tuple[int, int, int]) -> None:
    from PIL import Image

    with Image.open(png) as img:
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, cards and charts, not one flat colour
    painted = sum(n for n, c in colours if all(abs(a - b) < 8 for a, b in zip(c, colour, strict=True)))
    assert painted > 300  # the bars were painted


def test_extract_report_renders_its_charts_and_shows_hostile_names_as_text(
    extracted: Path, tmp_path: Path, browser: Any
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    page = write_html(load_report(extracted), tmp_path / "extract.html")
    browser.get(page.as_uri())
    assert browser.find_element(By.ID, "title").text.startswith("codequarry run")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) >= 7 and all(c.size["width"] > 300 and c.size["height"] > 10 for c in charts)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#extractors svg rect")) >= 10
    assert browser.find_elements(By.CSS_SELECTOR, "#memory svg polyline")
    (link,) = browser.find_elements(By.CSS_SELECTOR, "#errors-table a")
    assert link.text == f"{HOSTILE}:1" and link.get_attribute("href").startswith("file:///")
    assert browser.find_element(By.ID, "card-errors").text.startswith("1")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the hostile name ran nothing
    shot = tmp_path / "extract.png"
    assert browser.save_screenshot(str(shot))
    _not_blank(shot, BAR_BLUE)


def test_tool_report_shows_statuses_and_sorts_the_task_table(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    recipe = tools_recipe(tmp_path, ["a", "<script>alert(1)</script>"])
    summary = run_recipe(make_tools_plan(recipe))
    store = Path(summary.store)
    assert list_runs(store)[-1].run_id == summary.run_id
    browser.get((store / "reports" / "latest.html").as_uri())  # written by the run itself
    assert len(browser.find_elements(By.CSS_SELECTOR, "#statuses svg rect")) >= 6  # 3 statuses + legend
    assert len(browser.find_elements(By.CSS_SELECTOR, "#durations svg rect")) == 4
    ids = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#tasks-table tbody td:first-child")]
    assert "ok:<script>alert(1)</script>" in ids

    def column(n: int) -> list[float]:
        cells = browser.find_elements(By.CSS_SELECTOR, f"#tasks-table tbody td:nth-child({n})")
        return [float(c.get_attribute("data-v")) for c in cells]

    header = browser.find_elements(By.CSS_SELECTOR, "#tasks-table th")[4]
    assert header.text.startswith("seconds")
    header.click()
    assert column(5) == sorted(column(5)) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column(5) == sorted(column(5), reverse=True) and column(5)[0] >= 1.0  # the timeout first
    shot = tmp_path / "tools.png"
    assert browser.save_screenshot(str(shot))
    _not_blank(shot, OK_GREEN)

"""The HTML report: self-contained (nothing fetched), every corpus string escaped, one script allowed by
its hash, links to path:line."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from html.parser import HTMLParser
from pathlib import Path

from codequarry.report import load_report, render_html, render_text
from codequarry.report.model import ErrorCount, ErrorItem, RunReport, Step, TaskReport
from tests.report.conftest import HOSTILE


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(page: str) -> Elements:
    got = Elements()
    got.feed(page)
    return got


def hostile_report() -> RunReport:
    evil = "</title><script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
    return RunReport(
        run_id="abc123",
        kind="tools",
        status="errors",
        started=0.0,
        store=evil,
        sources={"r": "/src/r"},
        message=evil,
        stages=[Step(name=evil, seconds=1.0)],
        extractors=[Step(name=evil, seconds=0.5, rows=3)],
        rows={evil: 4},
        error_counts=[ErrorCount(kind=evil, extractor=evil, count=2)],
        errors=[
            ErrorItem(repo="r", path=evil + ".py", line=3, extractor=evil, kind=evil, message=evil),
            ErrorItem(repo="r", path="../escape.py", line=1, extractor="x", kind="k", message="m"),
        ],
        tasks=[TaskReport(id=evil, tool=evil, target=evil, status=evil, seconds=2.0, message=evil)],
        notes=[evil],
    )


def test_nothing_from_the_corpus_becomes_markup_or_script() -> None:
    page = render_html(hostile_report())
    got = parse(page)
    assert [t for t, _ in got.tags].count("script") == 1 and "img" not in [t for t, _ in got.tags]
    assert not [(t, a) for t, a in got.tags for name in a if name.startswith("on")]
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    hrefs = [a["href"] for t, a in got.tags if t == "a"]
    assert (
        len(hrefs) == 1
        and hrefs[0].startswith("file:///src/r/")
        and "<" not in hrefs[0]
        and '"' not in hrefs[0]
    )
    # the only script runs under a policy that names it by hash: nothing else could run
    (csp,) = [
        a["content"] for t, a in got.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    digest = base64.b64encode(hashlib.sha256(got.scripts[0].encode()).digest()).decode()
    assert csp is not None and f"'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_the_page_is_self_contained_and_links_errors_to_their_files(extracted: Path) -> None:
    report = load_report(extracted)
    page = render_html(report)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    got = parse(page)
    ids = {a.get("id") for _, a in got.tags}
    assert {
        "stages",
        "extractors",
        "operations",
        "rows",
        "errors-chart",
        "languages",
        "memory",
        "errors",
        "errors-table",
    } <= ids
    (link,) = [a for t, a in got.tags if t == "a"]
    target = Path(report.sources["shop"], HOSTILE)
    assert link["href"] == target.as_uri() and target.exists()
    assert html.escape(f"{HOSTILE}:1") in page  # shown as text


def test_a_tamarin_run_shows_lemma_results_cache_hits_and_a_timeline(
    tmp_path: Path, fake_tamarin: Path
) -> None:
    from codequarry.tools.plan import make_tools_plan
    from codequarry.tools.runner import run_recipe
    from tests.tools.conftest import write_recipe

    (tmp_path / "cases.spthy").write_text(
        'theory Cases\nbegin\nlemma holds: "T"\nlemma broken_false: "F"\nlemma other: "T"\nend\n'
    )
    tool = {
        "preset": "tamarin",
        "theories": ["cases.spthy"],
        "executables": {"stable": str(fake_tamarin)},
        "resources": {"cores": 1, "memory": 1, "timeout": 5},
    }
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"tam": tool})))
    page = (Path(summary.store) / "reports" / f"{summary.run_id}.html").read_text()
    got = parse(page)
    ids = {a.get("id") for _, a in got.tags}
    assert {"statuses", "verdicts", "cache", "durations", "task-memory", "timeline", "tasks-table"} <= ids
    verdicts = page[page.index('id="verdicts"') : page.index("</section>", page.index('id="verdicts"'))]
    assert "verified 2" in verdicts and "falsified 1" in verdicts
    timeline = page[page.index('id="timeline"') : page.index("</section>", page.index('id="timeline"'))]
    assert timeline.count("<rect") == 3  # one bar per task that ran
    text = "\n".join(render_text(load_report(Path(summary.store))))
    assert "lemmas: 1 falsified, 2 verified" in text and "tasks: 3 (0 from the cache)" in text

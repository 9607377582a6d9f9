"""Every SQL example of README.md and docs/**/*.md runs on the fixture it names and prints the rows
it shows.

In the Markdown, an example is a marker naming its fixture, the query, and what ``quarry sql``
prints for it (piped, so never wrapped)::

    <!-- example: examples/sample select=python -->
    ```sql
    SELECT path, qualname, line FROM functions WHERE is_async ORDER BY path, line;
    ```
    ```text
    path ...
    (2 rows)
    ```

The fixture is a folder of this repository (one source), a glob of folders (each a source), or
``recipe:PATH`` (the recipe is run, with ``tests/tools/bin/fake_tamarin.py`` standing in for
``tamarin-prover``); ``select=A,B`` picks extractors as ``--select`` does. A ```sql block without a
marker fails the test. ``pytest tests/test_doc_examples.py --update-golden`` rewrites the ```text
blocks from the current output: review the diff, it is the documentation.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from codequarry import extract, make_plan
from codequarry.query import open_store, sql
from codequarry.sqlout import grid_text
from tests import paths

ROOT = paths.ROOT
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLE = re.compile(
    r"(?P<marker><!-- example: (?P<spec>[^\n]*?) -->\n)?```sql\n(?P<sql>.*?)```\n(?:\n?```text\n(?P<out>.*?)```\n)?",
    re.S,
)


@dataclass(frozen=True)
class Example:
    doc: Path
    line: int
    spec: str | None
    sql: str
    shown: str | None

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def examples(doc: Path) -> list[Example]:
    text = doc.read_text(encoding="utf-8")
    return [
        Example(doc, text.count("\n", 0, m.start("sql")), m.group("spec"), m.group("sql"), m.group("out"))
        for m in EXAMPLE.finditer(text)
    ]


ALL = [ex for doc in DOCS for ex in examples(doc)]


@contextmanager
def fake_tamarin_on_path(folder: Path) -> Iterator[None]:
    exe = folder / "tamarin-prover"
    body = (ROOT / "tests" / "tools" / "bin" / "fake_tamarin.py").read_text().split("\n", 1)[1]
    exe.write_text(f"#!{sys.executable}\n{body}")
    exe.chmod(0o755)
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{folder}{os.pathsep}{old}"
    try:
        yield
    finally:
        os.environ["PATH"] = old


def build(spec: str, where: Path) -> Path:
    """A store made from the fixture a marker names; returns its folder."""
    fixture, *options = spec.split()
    select = [s for o in options if o.startswith("select=") for s in o.removeprefix("select=").split(",")]
    if fixture.startswith("recipe:"):
        from codequarry.tools.plan import make_tools_plan
        from codequarry.tools.runner import run_recipe

        recipe = ROOT / fixture.removeprefix("recipe:")
        shutil.copytree(
            recipe.parent, where / "recipe", ignore=shutil.ignore_patterns(".quarry", "__pycache__")
        )
        (where / "bin").mkdir()
        with fake_tamarin_on_path(where / "bin"):
            summary = run_recipe(make_tools_plan(where / "recipe" / recipe.name, store=where / "store"))
        assert summary.exit_code == 0, summary.report["summary"]
        return where / "store"
    folders = sorted(p for p in ROOT.glob(fixture) if p.is_dir()) if "*" in fixture else [ROOT / fixture]
    assert folders and all(f.is_dir() for f in folders), f"no fixture folder '{fixture}'"
    sources = []
    for folder in folders:
        shutil.copytree(folder, where / folder.name, ignore=shutil.ignore_patterns(".quarry", "__pycache__"))
        sources.append(where / folder.name)
    extract(make_plan(sources, store=where / "store", workers=1, select=select))
    return where / "store"


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One store per fixture spec, made on first use."""
    return {}


def store_for(spec: str, stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    if spec not in stores:
        stores[spec] = build(spec, tmp_path_factory.mktemp("doc-example"))
    return stores[spec]


def test_every_sql_block_is_an_example() -> None:
    assert len(ALL) >= 30
    unmarked = [ex.id for ex in ALL if ex.spec is None]
    assert not unmarked, f"```sql blocks without an '<!-- example: FIXTURE -->' marker: {unmarked}"
    several = [ex.id for ex in ALL if re.sub(r"--[^\n]*", "", ex.sql).strip().rstrip(";").count(";")]
    assert not several, f"one query per example: {several}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_print_the_rows_they_show(
    doc: Path, stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, update_golden: bool
) -> None:
    found = examples(doc)
    if not found:
        pytest.skip("no SQL examples")
    actual = {}
    for ex in found:
        assert ex.spec is not None, f"{ex.id}: no example marker"
        result = sql(open_store(store_for(ex.spec, stores, tmp_path_factory)), ex.sql)
        actual[ex.line] = grid_text(result)
    if update_golden:
        text = doc.read_text(encoding="utf-8")

        def fill(m: re.Match[str]) -> str:
            out = actual[text.count("\n", 0, m.start("sql"))]
            return f"{m.group('marker') or ''}```sql\n{m.group('sql')}```\n```text\n{out}```\n"

        doc.write_text(EXAMPLE.sub(fill, text), encoding="utf-8")
        return
    for ex in found:
        assert ex.shown is not None, f"{ex.id}: no ```text block with the rows the example prints"
        assert ex.shown == actual[ex.line], f"{ex.id}: the example prints\n{actual[ex.line]}"

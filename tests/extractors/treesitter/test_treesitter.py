"""Tree-sitter languages: golden fixtures per language, syntax errors, code units, blobs, the
per-language re-run of a new query pack, language detection, and the parse cancelled by its deadline.

Golden files: ``tests/fixtures/treesitter/programs/<file>`` is a small program in one language,
``tests/fixtures/treesitter/<file>.expected.json`` its rows per table (``repo`` and ``sha256`` left
out). After an intended change, regenerate with
``pytest tests/extractors/treesitter/test_treesitter.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import json
import shutil
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan
from codequarry.language import language_of, refine, sniff_header
from codequarry.query import sql
from codequarry.source import ParseFailure, SourceFile
from codequarry.store import Store
from codequarry.testing import assert_golden
from tests import paths

FIXTURES = paths.FIXTURES / "treesitter"
PROGRAMS = FIXTURES / "programs"
TABLES = ("definitions", "source_imports", "source_calls", "errors")
CASES = sorted(p.name for p in PROGRAMS.iterdir())


def _sql(store: Path, query: str) -> list[dict[str, Any]]:
    return sql(Store(store), query).to_pylist()


@cache
def _store(tmp: str) -> Path:
    store = Path(tmp) / "store"
    extract(make_plan([PROGRAMS], store=store, workers=1, select=["core", "treesitter", "units", "blobs"]))
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(str(tmp_path_factory.mktemp("ts")))


def _rows(store: Path, table: str, path: str) -> list[dict[str, Any]]:
    rows = _sql(store, f"SELECT * FROM {table} WHERE path = '{path}'")
    for row in rows:
        row.pop("repo")
        row.pop("sha256")
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, store: Path) -> None:
    got = {table: _rows(store, table, case) for table in TABLES}
    assert_golden(got, FIXTURES / f"{case}.expected.json", sort=False)  # _rows' order


def test_every_language_has_definitions_imports_and_calls(store: Path) -> None:
    rows = _sql(store, "SELECT language, count(*) AS n FROM definitions GROUP BY language")
    assert {r["language"] for r in rows} == {
        "javascript",
        "typescript",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
        "spthy",
    }
    imported = {r["language"] for r in _sql(store, "SELECT DISTINCT language FROM source_imports")}
    called = {r["language"] for r in _sql(store, "SELECT DISTINCT language FROM source_calls")}
    assert (
        imported
        == called
        == {"javascript", "typescript", "go", "rust", "java", "c", "cpp", "csharp", "ruby", "php"}
    )


def test_qualified_names_follow_each_language(store: Path) -> None:
    names = {r["qualname"] for r in _sql(store, "SELECT qualname FROM definitions")}
    for expected in (
        "shapes.Circle.Area",
        "geometry::Point::origin",
        "com.example.shop.Shop.add",
        "Example.Shop.Shop.Add",
        "Shop::Cart::add",
        "App\\Shop\\Shop::make",
        "ui::Widget::draw",
        "Geometry.Square.area",
        "Greeter.greet",
        "Simple.secret",
    ):
        assert expected in names, expected


def test_syntax_errors_are_rows_with_positions_and_the_rest_stays(store: Path) -> None:
    errors = _sql(store, "SELECT path, extractor, kind, line, message FROM errors ORDER BY path, line")
    assert {e["path"] for e in errors} == {"broken.js", "broken.go"}
    assert all(e["kind"] == "syntax" and e["line"] >= 1 for e in errors)
    assert {e["extractor"] for e in errors} == {"treesitter.javascript", "treesitter.go"}
    assert any(e["message"].startswith("missing") for e in errors) or len(errors) >= 2
    kept = {r["name"] for r in _sql(store, "SELECT name FROM definitions WHERE path = 'broken.js'")}
    assert {"ok", "bad", "m"} <= kept  # what tree-sitter recovered around the errors


def test_code_units_give_source_text_and_leading_comments(store: Path) -> None:
    units = {(r["path"], r["qualname"]): r for r in _sql(store, "SELECT * FROM code_units")}
    area = units[("shapes.go", "shapes.Circle.Area")]
    assert (
        area["source"].startswith("func (c *Circle) Area() float64 {")
        and area["docstring"] == "// Area of the circle."
    )
    origin = units[("lib.rs", "geometry::Point::origin")]
    assert origin["docstring"] == "/// The origin." and origin["source"].endswith("Point { x: 0 } }")
    source = (PROGRAMS / "util.c").read_text()
    add = units[("util.c", "add")]
    assert add["source"] in source and add["docstring"] == "/* Adds two numbers. */"
    assert units[("app.js", "Greeter")]["docstring"] == "/** A greeter. */"


def test_python_code_units_include_decorators_and_docstrings(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text(
        'class A:\n    @staticmethod\n    def f(x):\n        """Doc."""\n        return x\n'
    )
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1, select=["units.python"]))
    rows = {r["qualname"]: r for r in _sql(store, "SELECT * FROM code_units")}
    assert rows["A.f"]["source"] == '@staticmethod\n    def f(x):\n        """Doc."""\n        return x'
    assert (rows["A.f"]["docstring"], rows["A.f"]["kind"], rows["A"]["kind"]) == ("Doc.", "method", "class")


def test_code_units_and_blobs_are_opt_in(tmp_path: Path) -> None:
    store = tmp_path / "store"
    extract(make_plan([PROGRAMS], store=store, workers=1))
    tables = set(Store(store).snapshot().tables)
    assert "definitions" in tables and "code_units" not in tables and "blobs" not in tables


def test_blobs_one_row_per_distinct_content_across_repos_and_runs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "same.c").write_text("int same(void) { return 1; }\n")
    (a / "only.bin").write_bytes(b"\xff\xfe\x00binary")
    store = tmp_path / "store"
    summary = extract(make_plan([a, b], store=store, workers=1, select=["blobs"]))
    assert summary.operations["blobs"]["stats"]["blobs read from disk"] == 2
    rows = _sql(store, "SELECT sha256, is_text, text, data FROM blobs ORDER BY is_text")
    assert len(rows) == 2
    assert rows[0]["data"] == b"\xff\xfe\x00binary" and rows[0]["text"] is None
    assert rows[1]["text"] == "int same(void) { return 1; }\n"
    (a / "new.c").write_text("int other;\n")
    (a / "only.bin").unlink()
    summary = extract(make_plan([a, b], store=store, workers=1, select=["blobs"]))
    assert summary.operations["blobs"]["stats"]["blobs read from disk"] == 1  # only the new content
    texts = sorted(r["text"] for r in _sql(store, "SELECT text FROM blobs"))
    assert texts == ["int other;\n", "int same(void) { return 1; }\n"]


def test_a_new_query_pack_reruns_only_its_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codequarry.extractors.treesitter import extractors

    src = tmp_path / "src"
    shutil.copytree(PROGRAMS, src)
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    before = _sql(
        store, "SELECT language, count(*) AS n FROM definitions GROUP BY language ORDER BY language"
    )
    bumped = extractors._definitions_extractor("go")
    monkeypatch.setattr(extractors, "go", type(bumped)(**{**bumped.__dict__, "version": bumped.version + 1}))
    summary = extract(make_plan([src], store=store, workers=1))
    assert summary.rerun == {"src": ["treesitter.go"]}
    assert summary.rows.get("definitions") == sum(r["n"] for r in before if r["language"] == "go")
    after = _sql(store, "SELECT language, count(*) AS n FROM definitions GROUP BY language ORDER BY language")
    assert after == before
    errors = _sql(store, "SELECT path FROM errors ORDER BY path")
    assert [e["path"] for e in errors].count("broken.go") >= 1 and "broken.js" in [e["path"] for e in errors]


def test_language_detection_is_by_name_then_shebang_then_sniff(tmp_path: Path) -> None:
    assert (
        language_of("a.tsx") == "typescript"
        and language_of("x.hpp") == "cpp"
        and language_of("Gemfile") == "ruby"
    )
    assert sniff_header(b"namespace ui {\nclass W {};\n}") == "cpp"
    assert sniff_header(b"#include <stdio.h>\nstruct s { int a; };\nint f(void);\n") == "c"
    assert sniff_header(b"class Widget : public Base {\n") == "cpp"
    hdr = tmp_path / "w.h"
    hdr.write_text("#pragma once\ntemplate <typename T> T id(T v);\n")
    assert refine(str(tmp_path), "w.h", "c") == "cpp"
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env node\nconsole.log(1)\n")
    assert refine(str(tmp_path), "tool", None) == "javascript"
    assert refine(str(tmp_path), "a.c", "c") == "c"  # an unambiguous name is never opened


def test_a_parse_past_its_deadline_is_cancelled_not_killed() -> None:
    from codequarry.extractors.treesitter.facts import facts_of

    data = b"function f(a) { return g(a) + h(a); }\n" * 400_000  # 15 MB
    src = SourceFile(
        repo="r",
        path="big.js",
        data=data,
        sha256="x",
        size=len(data),
        language="javascript",
        line_count=400_000,
    )
    src.deadline = time.monotonic() + 0.05
    started = time.monotonic()
    with pytest.raises(ParseFailure) as info:
        facts_of(src)
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 30  # cancelled early, far below a full parse of 15 MB twice over


def test_file_timeout_cancels_the_parse_inside_a_real_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.js").write_bytes(b"function f(a) { return g(a) + h(a); }\n" * 400_000)  # 15 MB
    (src / "small.js").write_text("function ok() { return 1; }\n")
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=2, file_timeout=1.0, max_file_size=64 * 1024 * 1024))
    errors = _sql(store, "SELECT path, extractor, kind, message FROM errors")
    assert [(e["path"], e["kind"]) for e in errors] == [("big.js", "timeout")]
    assert "cancelled" in errors[0]["message"]  # by the parse itself, not the supervisor's kill
    assert [r["name"] for r in _sql(store, "SELECT name FROM definitions")] == ["ok"]


def test_a_header_turning_cpp_is_reextracted_like_a_fresh_extract(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.h").write_text("struct s { int a; };\nint f(void);\n")
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    assert _sql(store, "SELECT language FROM files") == [{"language": "c"}]
    (src / "w.h").write_text("namespace ui { class W { public: void draw(); }; }\n")
    extract(make_plan([src], store=store, workers=1))
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1))
    query = "SELECT language, kind, qualname FROM definitions ORDER BY qualname"
    assert _sql(store, query) == _sql(fresh, query)
    assert {r["qualname"] for r in _sql(store, query)} == {"ui", "ui::W", "ui::W::draw"}


def test_skipping_one_language_drops_only_its_rows(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(PROGRAMS, src)
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    extract(make_plan([src], store=store, workers=1, deselect=["treesitter.go"]))
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1, deselect=["treesitter.go"]))
    for table in ("definitions", "source_imports", "source_calls", "errors"):
        query = f"SELECT * EXCLUDE (sha256) FROM {table} ORDER BY path, line, {'message' if table == 'errors' else 'col'}"
        assert _sql(store, query) == _sql(fresh, query), table
    assert "go" not in {r["language"] for r in _sql(store, "SELECT DISTINCT language FROM definitions")}


def test_after_a_cancelled_parse_the_next_file_parses_afresh() -> None:
    from codequarry.extractors.treesitter.facts import facts_of

    big = b"function f(a) { return g(a); }\n" * 400_000
    src = SourceFile(
        repo="r",
        path="big.js",
        data=big,
        sha256="x",
        size=len(big),
        language="javascript",
        line_count=400_000,
    )
    src.deadline = time.monotonic() + 0.01
    with pytest.raises(ParseFailure):
        facts_of(src)
    small = b"function ok() { return 1; }\n"
    facts = facts_of(
        SourceFile(
            repo="r",
            path="s.js",
            data=small,
            sha256="y",
            size=len(small),
            language="javascript",
            line_count=1,
        )
    )
    assert facts is not None and not facts.problems and [d.name for d in facts.definitions] == ["ok"]

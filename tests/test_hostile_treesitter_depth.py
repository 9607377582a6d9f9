"""A tree deeper than tree-sitter's queries can follow is refused with one row, not read wrong.

tree-sitter's query cursor keeps a match's depth in 16 bits. Past 65,535 levels it drops matches
without a word (33,000-40,000 nested JavaScript functions gave exactly 32,768 definitions) and its
search for ERROR / MISSING nodes turns quadratic (200,000 nested C++ blocks ran past the 60 s file
timeout and the worker was killed). A file nested past ``MAX_DEPTH`` is now one ``errors`` row of
kind ``limit`` naming the line, and gives no partial facts; a file well inside the bound keeps them all.
"""

from __future__ import annotations

from pathlib import Path

from codequarry import open_store, sql
from codequarry.extractors.treesitter.facts import MAX_DEPTH
from tests.hostile.conftest import quarry

#: the deep files here are one long line each, which a run leaves as minified build outputs: these
#: tests are about the parser's bounds, so they ask for them to be parsed
SELECTION = ("--select", "treesitter", "--select", "units", "--include-generated")


def _rows(store: Path, query: str) -> list[dict[str, object]]:
    return sql(open_store(store), query).to_pylist()


def test_a_tree_too_deep_for_the_queries_is_one_limit_row(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "fns.js").write_text("function f(){" * 40_000 + "g();" + "}" * 40_000 + "\n")
    (root / "blocks.cpp").write_text("int f(){" + "{" * 70_000 + "}" * 70_000 + "}\n")
    (root / "sum.js").write_text("x = " + "+".join(["f()"] * 60_000) + ";\n")  # left-nested, no brackets
    (root / "ok.js").write_text("function ok() { return g(1) }\n")
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", *SELECTION)
    errors = _rows(store, "SELECT path, extractor, kind, message, line FROM errors ORDER BY path")
    assert [(e["path"], e["kind"], e["line"]) for e in errors] == [
        ("blocks.cpp", "limit", 1),
        ("fns.js", "limit", 1),
        ("sum.js", "limit", 1),
    ], errors
    assert all(f"{MAX_DEPTH:,}" in str(e["message"]) for e in errors)
    defs = _rows(store, "SELECT path, count(*) AS n FROM definitions GROUP BY path ORDER BY path")
    assert defs == [{"path": "ok.js", "n": 1}]  # no partial facts from a refused file
    units = _rows(store, "SELECT DISTINCT path FROM code_units")
    assert units == [{"path": "ok.js"}]


def test_deep_nesting_inside_the_bound_keeps_every_definition(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    n = 40_000  # blocks, one tree level each: a function and a call 40,000 deep
    (root / "fns.js").write_text("function f(){" + "{" * n + "function g(){ h(); }" + "}" * n + "}\n")
    store = tmp_path / "store"
    quarry(
        "extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter", "--include-generated"
    )
    assert _rows(store, "SELECT count(*) AS n FROM errors") == [{"n": 0}]
    assert _rows(store, "SELECT qualname FROM definitions ORDER BY qualname") == [
        {"qualname": "f"},
        {"qualname": "f.g"},
    ]
    assert _rows(store, "SELECT count(*) AS n FROM source_calls") == [{"n": 1}]


def test_nested_definitions_whose_names_grow_quadratically_are_one_limit_row(tmp_path: Path) -> None:
    """Trust sweep 9: each nested definition repeats the names around it in its qualname (and their
    text in its code unit), so 20,000 nested functions (270 KB) held 1.6 GB of names in the worker,
    and 20,000 nested Ruby methods (240 KB) ran units.ruby past the file timeout with 2.2 GB.
    Past TEXT_RATIO times the file's size (plus TEXT_FLOOR) the file is one ``limit`` row."""
    root = tmp_path / "src"
    root.mkdir()
    n = 20_000
    (root / "fns.js").write_text("function f(){" * n + "g();" + "}" * n + "\n")
    (root / "defs.rb").write_text("def f\n" * n + "end\n" * n)
    (root / "units.js").write_text("function f(){" * 1000 + "g();" + "}" * 1000 + "\n")  # names fit
    (root / "ok.js").write_text("function ok() { function inner() {} }\n")
    store = tmp_path / "store"
    done = quarry(
        "extract", root, "--store", store, "-w", "1", "-q", *SELECTION, "--max-memory-per-worker", "1GB"
    )
    assert "Traceback" not in done.stderr
    errors = _rows(store, "SELECT path, extractor, kind FROM errors ORDER BY path")
    assert errors == [
        {"path": "defs.rb", "extractor": "parse", "kind": "limit"},
        {"path": "fns.js", "extractor": "parse", "kind": "limit"},
        {"path": "units.js", "extractor": "units.javascript", "kind": "limit"},
    ], errors
    defs = _rows(store, "SELECT path, count(*) AS n FROM definitions GROUP BY path ORDER BY path")
    assert defs == [{"path": "ok.js", "n": 2}, {"path": "units.js", "n": 1000}]
    units = _rows(store, "SELECT path, qualname FROM code_units ORDER BY qualname")
    assert units == [{"path": "ok.js", "qualname": "ok"}, {"path": "ok.js", "qualname": "ok.inner"}]


def test_a_deep_file_on_one_line_is_left_as_a_minified_output_by_default(tmp_path: Path) -> None:
    """Without ``--include-generated`` a one-line nesting bomb is not parsed at all: its ``files`` row
    says why (``generated``), and it gives no facts and no errors row."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "fns.js").write_text("function f(){" * 40_000 + "g();" + "}" * 40_000 + "\n")
    (root / "ok.js").write_text("function ok() {\n  return 1;\n}\n")
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter")
    assert _rows(store, "SELECT path, generated FROM files ORDER BY path") == [
        {"path": "fns.js", "generated": "minified"},
        {"path": "ok.js", "generated": None},
    ]
    assert _rows(store, "SELECT count(*) AS n FROM errors") == [{"n": 0}]
    assert _rows(store, "SELECT DISTINCT path FROM definitions") == [{"path": "ok.js"}]

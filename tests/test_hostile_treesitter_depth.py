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
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter", "--select", "units")
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
    n = 20_000  # two tree levels each: 40,000 deep
    (root / "fns.js").write_text("function f(){" * n + "g();" + "}" * n + "\n")
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter")
    assert _rows(store, "SELECT count(*) AS n FROM errors") == [{"n": 0}]
    assert _rows(store, "SELECT count(*) AS n FROM definitions") == [{"n": n}]
    assert _rows(store, "SELECT count(*) AS n FROM source_calls") == [{"n": 1}]

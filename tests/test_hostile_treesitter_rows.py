"""A file tree-sitter cannot parse gets one error row per problem, not one per extractor or per nested
ERROR node: the errors table counts problems, and a duplicated row reads as two.

- A parse cancelled at the file's time budget: ``treesitter.<lang>`` and ``units.<lang>`` share one
  parse; the second must not parse again and write the same ``timeout`` row again.
- NUL bytes in a ``.js`` file: tree-sitter nests an ERROR node inside an ERROR node with the same span;
  both were reported, two identical ``syntax`` rows.
"""

from __future__ import annotations

from pathlib import Path

from codequarry import open_store, sql
from tests.hostile.conftest import quarry


def _errors(store: Path) -> list[tuple[str, str, str, str, int | None, int | None]]:
    rows = sql(
        open_store(store), 'SELECT path, extractor, kind, message, line, "column" FROM errors ORDER BY path'
    ).to_pylist()
    return [(r["path"], r["extractor"], r["kind"], r["message"], r["line"], r["column"]) for r in rows]


def test_nested_error_nodes_are_one_row(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "nul.js").write_bytes(b"var x = 1;\x00\x00 function f() { return 2 }\n")
    (root / "two.js").write_bytes(b"var a = 1;\x00\nvar b = 2;\x00\n")  # two distinct problems stay two
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter", "--select", "units")
    rows = _errors(store)
    assert len(rows) == len(set(rows)), rows
    assert [r[:3] for r in rows if r[0] == "nul.js"] == [("nul.js", "treesitter.javascript", "syntax")]
    assert sorted(r[4] for r in rows if r[0] == "two.js") == [1, 2]


def test_a_cancelled_parse_is_one_row_for_every_extractor_sharing_it(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "big.js").write_text("var a = [" + ",".join(["1"] * 3_000_000) + "];\n")
    (root / "ok.js").write_text("function ok() { return 1 }\n")
    store = tmp_path / "store"
    # 6 MB: its parse takes ~10x the 0.4 s budget here (tree-sitter checks the budget as it goes)
    quarry(
        "extract", root, "--store", store, "-w", "1", "-q", "--file-timeout", "0.5",
        "--select", "treesitter", "--select", "units", "--include-generated",  # one line: not minified
    )  # fmt: skip
    rows = _errors(store)
    big = [r for r in rows if r[0] == "big.js"]
    assert len(big) == 1, big
    # the parse cancels itself at 0.8 of the budget; on a loaded machine the file's timer (the whole
    # budget) may fire first, between two of tree-sitter's progress calls: one row either way
    assert big[0][2] == "timeout"
    assert "parse cancelled" in big[0][3] or "stopped after --file-timeout 0.5 s" in big[0][3], big
    names = sql(open_store(store), "SELECT name FROM code_units").column("name").to_pylist()
    assert names == ["ok"]  # the other file of the run is whole

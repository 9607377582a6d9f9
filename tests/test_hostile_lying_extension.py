"""A file whose extension lies (binary content named ``.java``, ``.js``, ...) is said, not dropped.

A binary ``.py`` had an ``errors`` row (kind ``binary``) and a "skipped: binary" count; a binary file
named for a tree-sitter language was read, given ``lines`` null, and then nothing: no row, no count,
so its language's tables silently lacked it. It now gets the same row and count, once per file
(the definitions and code-units extractors share the verdict), and the run goes on.
"""

from __future__ import annotations

import json
from pathlib import Path

from codequarry import open_store, sql
from tests.hostile.conftest import quarry

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20


def test_binary_content_under_a_source_extension_is_one_row(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    for name in ("lie.java", "lie.js", "lie.rs", "lie.py"):
        (root / name).write_bytes(PNG)
    (root / "ok.java").write_text("class A { void f() {} }\n")
    store = tmp_path / "store"
    done = quarry(
        "extract", root, "--store", store, "-w", "1", "--json", "-q", "--select", "treesitter", "--select", "units"
    )  # fmt: skip
    rows = sql(
        open_store(store), "SELECT path, extractor, kind, message FROM errors ORDER BY path"
    ).to_pylist()
    assert [(r["path"], r["kind"]) for r in rows] == [
        ("lie.java", "binary"),
        ("lie.js", "binary"),
        ("lie.py", "binary"),
        ("lie.rs", "binary"),
    ]
    assert "java file" in rows[0]["message"]
    assert {r["extractor"] for r in rows} == {"read"}  # the same stage names every binary file's row
    summary = json.loads(done.stdout)
    assert summary["skipped"].get("binary") == 4, summary["skipped"]
    names = sql(open_store(store), "SELECT path, name FROM definitions").to_pylist()
    assert {(r["path"], r["name"]) for r in names} == {("ok.java", "A"), ("ok.java", "f")}

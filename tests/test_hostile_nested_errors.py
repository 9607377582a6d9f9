"""A file of thousands of nested syntax errors costs its file a syntax error, not minutes (sweep 8).

When ``ast`` rejects a file, the fallback parser (pyparse/fallback.py) asks tree-sitter whether it
is newer Python; pyparse/features.recognise then asked, of every ERROR node, whether it lay in a
def's type parameters (PEP 696 defaults), walking up its parents, and tree-sitter's ``Node.parent``
walks down from the root: cubic in the nesting. ``"x = [" * 2000 + "]" * 2000`` (10 KB) took 48 s of
CPU, ``* 5000`` ended as a ``timeout`` row after the default 60 s ``--file-timeout``, holding a
worker all that time. Now only an error inside some type parameter's bytes is walked.
"""

from __future__ import annotations

import json

from tests.hostile.conftest import quarry


def test_nested_syntax_errors_are_one_syntax_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "src"
    root.mkdir()
    (root / "nested.py").write_text("x = [" * 3000 + "]" * 3000 + "\n")
    (root / "generic.py").write_text("def f[T = int]():\n    return 1\n")  # a PEP 696 default: still named
    (root / "plain.py").write_text("def g():\n    return 1\n")
    quarry("extract", root, "-w", "1", "-q", "--file-timeout", "20", timeout=600)
    rows = quarry(
        "sql", "-s", root / ".quarry", "-f", "jsonl", "SELECT path, kind, message FROM errors"
    ).stdout
    found = [json.loads(r) for r in rows.splitlines()]
    assert {(r["path"], r["kind"]) for r in found} == {("nested.py", "syntax"), ("generic.py", "partial")}, (
        found
    )
    (generic,) = [r["message"] for r in found if r["path"] == "generic.py"]
    assert "PEP 696" in generic, generic
    got = quarry(
        "sql", "-s", root / ".quarry", "-f", "jsonl", "SELECT name FROM functions ORDER BY name"
    ).stdout
    assert [json.loads(r)["name"] for r in got.splitlines()] == ["f", "g"]

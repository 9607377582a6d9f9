"""A file of thousands of nested syntax errors costs its file a syntax error, not minutes (sweep 8).

When ``ast`` rejects a file, the fallback parser (pyparse/fallback.py) asks tree-sitter whether it
is newer Python; pyparse/features.recognise then asked, of every ERROR node, whether it lay in a
def's type parameters (PEP 696 defaults), walking up its parents, and tree-sitter's ``Node.parent``
walks down from the root: cubic in the nesting. ``"x = " + " + ".join(["a ?"] * 1000)`` (6 KB) took
9 s of CPU, ``* 2000`` over 90 s: a ``timeout`` row after ``--file-timeout``, holding a worker all
that time. Now only an error inside some type parameter's bytes is walked.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.conftest import quarry


def test_nested_syntax_errors_are_one_syntax_error(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "nested.py").write_text("x = " + " + ".join(["a ?"] * 2000) + "\n")  # 2,000 errors, 2,000 deep
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


def test_brackets_nested_past_every_pythons_limit_skip_the_fallback(tmp_path: Path) -> None:
    """``x = ((( ... 1 )))`` 200,000 deep (400 KB): ast says "too many nested parentheses" (a
    limit of every Python's tokenizer), and the fallback's tree-sitter query then ran for minutes in
    C, where a one-worker run's --file-timeout does not reach it until the query returns: the file
    became a timeout row, minutes late, and lost its syntax error."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "deep.py").write_text("x = " + "(" * 200_000 + "1" + ")" * 200_000 + "\n")
    (root / "plain.py").write_text("y = 2\n")
    quarry("extract", root, "-w", "1", "-q", "--file-timeout", "30", timeout=600)
    rows = quarry(
        "sql", "-s", root / ".quarry", "-f", "jsonl", "SELECT path, kind, message FROM errors"
    ).stdout
    found = [json.loads(r) for r in rows.splitlines()]
    assert [(r["path"], r["kind"], r["message"]) for r in found] == [
        ("deep.py", "syntax", "too many nested parentheses")
    ]

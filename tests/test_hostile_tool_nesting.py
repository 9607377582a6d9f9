"""A tool's JSON-lines record nested 100,000 deep is one invalid line, not the end of the run
(trust sweep 9).

orjson reads such a line, but the record checker then took ``repr`` of a declared field's value for
its message, ``extra = "json"`` wrote the undeclared fields back with ``json.dumps``, and a line
orjson refuses (a NaN) went to ``json.loads``: each recursed past Python's limit, and `quarry run`
ended in a RecursionError traceback with nothing published. Each is now an ``invalid_output`` row
of that line; the task's other lines and the run are kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codequarry import open_store, sql
from tests.hostile.conftest import quarry

DEEP = "[" * 100_000 + "]" * 100_000

EMIT = f"""
print('{{"name": "first", "tags": ["a"]}}')
print('{{"name": "a", "tags": {DEEP}}}')
print('{{"name": {DEEP}}}')
print('{{"name": "b", "x": NaN, "other": {DEEP}}}')
print('{{"name": "c", "other": {DEEP}}}')
print('{{"name": "last", "tags": ["b"]}}')
"""


@pytest.mark.parametrize("extra", ["ignore", "json"])
def test_deeply_nested_records_are_invalid_lines_and_the_rest_is_kept(tmp_path: Path, extra: str) -> None:
    (tmp_path / "emit.py").write_text(EMIT)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f"[tools.deep]\ncommand = [{sys.executable!r}, {str(tmp_path / 'emit.py')!r}]\n"
        f'targets = ["one"]\nschema = {{ name = "str", tags = "list[str]?" }}\nextra = "{extra}"\n'
    )
    done = quarry("run", recipe, "-q", check=False, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    store = open_store(tmp_path / ".quarry")
    names = [r["name"] for r in sql(store, "SELECT name FROM deep ORDER BY name").to_pylist()]
    # 'c' only nests in a field the schema lacks: ignored, or too deep to keep as JSON text
    assert names == (["c", "first", "last"] if extra == "ignore" else ["first", "last"])
    errors = sql(store, "SELECT line, kind, message FROM errors ORDER BY line").to_pylist()
    assert [e["line"] for e in errors] == ([2, 3, 4] if extra == "ignore" else [2, 3, 4, 5]), errors
    assert {e["kind"] for e in errors} == {"invalid_output"}
    assert all(len(str(e["message"])) < 200 for e in errors), errors

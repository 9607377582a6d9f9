"""Regular expressions run on corpus text stay linear: a hostile literal costs its file nothing more.

Found by trust sweep 3 (both in ``extractors/python/security``, h3's files this session, so the tests are
strict xfails with the fix proposed in the reason):

- ``sqlstrings._SQL_START`` skips leading SQL comments with ``(?:/\\*.*?\\*/\\s*)*``: the lazy ``.*?`` may
  end at any later ``*/``, so a run of k comments not followed by a keyword is tried in 2^k ways.
  ``cur.execute("/**/" * 40 + "x")`` never finishes (22 comments: 1.8 s; each 2 more: x4) and the
  file ends as a ``timeout`` row after ``--file-timeout``.
- ``secrets._REGEX`` (``\\[[^\\]]*\\][+*?{]``, searched in a value assigned to a secret-looking name)
  scans to the end of the value from every ``[``: quadratic, ``password = "[" * 300_000`` takes
  minutes.
"""

from __future__ import annotations

import json

import pytest

from tests.hostile.conftest import quarry


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("regex") / "src"
    root.mkdir()
    (root / "comments.py").write_text('def f(cur):\n    cur.execute("' + "/**/" * 40 + 'x")\n')
    (root / "brackets.py").write_text('password = "' + "[" * 300_000 + '"\n')
    (root / "plain.py").write_text('def g(cur):\n    cur.execute("/* a */ SELECT 1")\n')
    quarry("extract", root, "-w", "1", "-q", "--file-timeout", "10")
    store = root / ".quarry"
    rows = quarry("sql", "-s", store, "--format", "jsonl", "select path from sql_strings").stdout
    found: dict[str, list[str]] = {"sql_strings": [json.loads(r)["path"] for r in rows.splitlines()]}
    done = quarry("sql", "-s", store, "--format", "jsonl", "select path, kind from errors")
    for row in map(json.loads, done.stdout.splitlines()):
        found.setdefault(row["path"], []).append(row["kind"])
    return found


def test_the_plain_file_is_found_and_has_no_error(errors: dict[str, list[str]]) -> None:
    """The control: the fixture's run did extract, and an ordinary commented SQL string is SQL."""
    assert "plain.py" in errors["sql_strings"]
    assert "plain.py" not in errors


@pytest.mark.xfail(
    strict=True,
    reason="h3's sqlstrings.py: _SQL_START backtracks 2^k on k comments; fix: make the comment atomic, "
    r"'/\*(?>.*?\*/)\s*' (Python 3.11), same answers",
)
def test_a_run_of_sql_comments_in_a_sink_argument_is_not_exponential(errors: dict[str, list[str]]) -> None:
    assert "comments.py" not in errors, errors


@pytest.mark.xfail(
    strict=True,
    reason=r"h3's secrets.py: _REGEX is quadratic on a value of many '['; fix: r'\[[^\[\]]*\][+*?{]' "
    "(the last '[' before a ']' matches whenever any does)",
)
def test_a_long_bracket_run_in_a_secret_value_is_not_quadratic(errors: dict[str, list[str]]) -> None:
    assert "brackets.py" not in errors, errors

"""Work on corpus text stays linear: a hostile literal or class list costs its file nothing more.

Found by trust sweep 3 in ``extractors/python/security`` and fixed (each test failed before):

- ``sqlstrings._SQL_START`` skips leading SQL comments with ``(?:/\\*.*?\\*/\\s*)*``: the lazy ``.*?`` may
  end at any later ``*/``, so a run of k comments not followed by a keyword is tried in 2^k ways.
  ``cur.execute("/**/" * 40 + "x")`` never finishes (22 comments: 1.8 s; each 2 more: x4) and the
  file ends as a ``timeout`` row after ``--file-timeout``.
- ``secrets._REGEX`` (``\\[[^\\]]*\\][+*?{]``, searched in a value assigned to a secret-looking name)
  scans to the end of the value from every ``[``: quadratic, ``password = "[" * 300_000`` takes
  minutes.
- ``callsites.CallSites.resolve`` rebuilt the file's name resolver for every head name it had not
  been built for; ``python.env.reads`` resolves every class's bases, so a file importing pydantic with
  n classes each subclassing the previous one cost O(n^2) (2,000 classes: 29 s of one extractor).
"""

from __future__ import annotations

import json
import time

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


def test_a_run_of_sql_comments_in_a_sink_argument_is_not_exponential(errors: dict[str, list[str]]) -> None:
    assert "comments.py" not in errors, errors


def test_a_long_bracket_run_in_a_secret_value_is_not_quadratic(errors: dict[str, list[str]]) -> None:
    assert "brackets.py" not in errors, errors


def _pydantic_chain(n: int) -> bytes:
    lines = ["from pydantic import BaseModel", "class P0(BaseModel):\n    a: int = 1"]
    lines += [f"class P{i}(P{i - 1}):\n    a{i}: int = 1" for i in range(1, n)]
    return ("\n".join(lines) + "\n").encode()


def _env_reads_cpu(n: int) -> float:
    """The least CPU time of ``python.env.reads`` on a fresh n-class chain (parse not counted)."""
    from codequarry.extractors.python.security.envreads import env_reads
    from codequarry.source import SourceFile

    class _Sink:
        def add(self, **row: object) -> None:
            pass

    class _Out:
        env_reads = _Sink()

    best = float("inf")
    for _ in range(3):
        data = _pydantic_chain(n)
        src = SourceFile(repo="r", path="m.py", data=data, sha256=None, size=len(data), language="python")
        src.nodes()
        start = time.process_time()
        env_reads(src, _Out())
        best = min(best, time.process_time() - start)
    return best


def test_resolving_many_different_base_names_is_linear() -> None:
    # 4x the classes: ~4x the time when linear, ~16x when quadratic (a bound between the two)
    small, large = _env_reads_cpu(400), _env_reads_cpu(1600)
    assert large < 8 * small + 0.05, (small, large)

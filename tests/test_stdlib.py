"""The standard library of this machine as a real corpus: everything is parsed or explained, and the
top-level functions and classes agree with an oracle that shares no code with the extractors."""

from __future__ import annotations

import collections
import symtable
import sysconfig
import warnings
from pathlib import Path

import pytest

from codequarry import open_store, sql

# one extract of the whole standard library (tests/conftest.py's stdlib_store): about a minute on 2 cores
pytestmark = pytest.mark.slow

STDLIB = Path(sysconfig.get_paths()["stdlib"])
COMPREHENSIONS = {"lambda", "listcomp", "setcomp", "dictcomp", "genexpr"}


def test_every_python_file_is_parsed_or_explained(stdlib_store: Path) -> None:
    st = open_store(stdlib_store)
    unexplained = (
        sql(
            st,
            """
        SELECT f.path FROM files f
        LEFT JOIN modules m ON m.path = f.path
        LEFT JOIN errors e ON e.path = f.path
        WHERE f.language = 'python' AND m.path IS NULL AND e.path IS NULL
    """,
        )
        .column("path")
        .to_pylist()
    )
    assert unexplained == []
    n_py = sql(st, "SELECT count(*) AS n FROM files WHERE language = 'python'").column("n")[0].as_py()
    assert n_py > 1000
    # the stdlib's test suite holds deliberately broken files; they must be explained, not lost
    kinds = set(sql(st, "SELECT DISTINCT kind FROM errors").column("kind").to_pylist())
    assert kinds <= {"syntax", "decode", "too_large", "binary"}
    assert sql(st, "SELECT count(*) AS n FROM errors WHERE kind = 'extractor'").column("n")[0].as_py() == 0


def _oracle(path: Path) -> tuple[int, int] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            top = symtable.symtable(path.read_bytes().decode("utf-8"), str(path), "exec")
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return None
    kinds = collections.Counter(
        t.get_type() for t in top.get_children() if t.get_name() not in COMPREHENSIONS
    )
    return kinds["function"], kinds["class"]


def test_top_level_counts_agree_with_symtable(stdlib_store: Path) -> None:
    st = open_store(stdlib_store)
    funcs = dict(
        zip(
            *sql(st, "SELECT path, count(*) AS n FROM functions WHERE qualname = name GROUP BY path")
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    classes = dict(
        zip(
            *sql(st, "SELECT path, count(*) AS n FROM classes WHERE qualname = name GROUP BY path")
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    parsed = sql(st, "SELECT path FROM modules").column("path").to_pylist()
    checked = 0
    mismatches = []
    for rel in parsed:
        expected = _oracle(STDLIB / rel)
        if expected is None:
            continue
        got = (funcs.get(rel, 0), classes.get(rel, 0))
        if got != expected:
            mismatches.append((rel, got, expected))
        checked += 1
    assert checked > 1000
    assert mismatches == []

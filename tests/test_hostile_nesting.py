"""Deep nesting that the parser accepts (about 1,000 to 2,900 levels on Python 3.11) but that every
walker, compiler and layer after it meets: each costs only its own rows of that file (an ``errors``
row naming the layer), the other extractors keep theirs, other files are intact, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import open_store
from codequarry import sql as run_sql
from codequarry.testing import extract_rows
from tests.hostile.conftest import extract_json

DEPTH = 1100  # over the recursion limit of compile() and of Python walkers, under the parser's


def deep_files(depth: int = DEPTH) -> dict[str, str]:
    return {
        "binop.py": "x = 1" + " + 1" * depth + "\n",
        "attr.py": "x = a" + ".b" * depth + "\n",
        "calls.py": "def g():\n    return f" + "(1)" * depth + "\n",
        "subscr.py": "x = a" + "[0]" * depth + "\n",
        "nots.py": "x = " + "not " * depth + "y\n",
        "lambdas.py": "x = " + "lambda: " * depth + "1\n",
    }


def sql(store: Path, query: str) -> list[dict[str, object]]:
    """Rows of a query, read in this process (the extract itself ran as a real ``quarry``)."""
    st = open_store(store)
    try:
        return list(run_sql(st, query).to_pylist())
    finally:
        st.close()


def test_a_long_call_chain_has_a_short_callee_without_cubic_work() -> None:
    """f(1)(1)...(1): each call's callee used to be read link by link (N^3 characters in all; a
    1,500-link chain took 10 s, 3,000 links minutes); long links are now shortened unread."""
    depth = 1500
    rows = extract_rows({"chain.py": "x = f" + "(1)" * depth + "\n"}, select=["python.core.calls"])
    calls = rows["calls"]
    assert len(calls) == depth and not rows["errors"]
    callees = {c["callee"] for c in calls}
    assert "f" in callees and "f(1)" in callees  # the innermost calls, as written
    assert all(c.startswith("f") for c in callees) and max(map(len, callees)) == 120  # shortened
    assert "f(1)(1)(1)(1)(1)(1)(1)(1)(1)(1)(1)(1)(1)(...)(...)" in {c[:50] for c in callees}


@pytest.mark.parametrize("workers", ["2", pytest.param("1", marks=pytest.mark.slow)])
def test_deep_nesting_costs_each_layer_only_its_own_rows(tmp_path: Path, workers: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in deep_files().items():
        (src / name).write_text(text)
    (src / "good.py").write_text("def good():\n    return 1\n")
    store = tmp_path / "store"
    selection = [
        "python.core",
        "python.layers.ast",
        "python.layers.symtable",
        "python.layers.bytecode",
        "python.callgraph.facts",
        "python.security",
        "units",
    ]
    summary = extract_json(
        src, "--store", store, "-w", workers, *(a for s in selection for a in ("--select", s))
    )
    assert summary["files_scanned"] == 7
    errors = sql(store, "SELECT path, extractor, kind, message FROM errors")
    assert {e["path"] for e in errors} <= set(deep_files())
    assert all(e["kind"] in ("syntax", "extractor") for e in errors), errors  # no crash, no timeout
    by_layer = {(e["path"], e["extractor"]) for e in errors}
    for name in deep_files():
        assert (name, "python.layers.bytecode") in by_layer  # compile() refuses: named, not a crash
        assert (name, "parse") not in by_layer  # the parser took it: the other layers kept their rows
    parsed = sql(store, "SELECT path FROM modules ORDER BY path")
    assert [r["path"] for r in parsed] == sorted([*deep_files(), "good.py"])
    assert sql(store, "SELECT name FROM functions WHERE path = 'good.py'") == [{"name": "good"}]
    nodes = sql(store, "SELECT path, count(*) AS n FROM ast_nodes GROUP BY path ORDER BY path")
    assert {r["path"] for r in nodes} == {*deep_files(), "good.py"}
    assert all(int(str(r["n"])) > DEPTH for r in nodes if r["path"] != "good.py")


def test_libcst_layer_refuses_deep_nesting_at_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "calls.py").write_text(deep_files()["calls.py"])
    (src / "good.py").write_text("def good():\n    return 1\n")
    store = tmp_path / "store"
    extract_json(src, "--store", store, "-w", "2", "--select", "python.layers.cst", "--file-timeout", "5")
    errors = sql(store, "SELECT path, extractor, kind, message FROM errors")
    assert [(e["path"], e["extractor"]) for e in errors] == [("calls.py", "python.layers.cst")], errors
    assert "too deep" in str(errors[0]["message"]), errors
    assert sql(store, "SELECT count(*) AS n FROM cst_scopes WHERE path = 'good.py'")[0]["n"] >= 1


def test_a_long_line_with_non_ascii_text_is_not_re_encoded_per_node() -> None:
    """One 'é' on a 320 KB line of 40,000 calls: each span and segment used to re-encode the whole
    line (161 s on this machine, past --file-timeout); columns are now mapped once per line."""
    n = 40_000
    line = 'e = "é"; ' + "a[0](); " * n
    calls = extract_rows({"one.py": line + "\n"}, select=["python.core.calls"])["calls"]
    assert len(calls) == n
    last = max(calls, key=lambda c: c["col"])
    start = line.rindex("a[0]()")  # in characters: the 'é' is two bytes, one character
    assert (last["col"], last["end_col"], last["callee"]) == (start, start + 6, "a[0]")

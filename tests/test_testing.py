"""The public test helpers (codequarry.testing): rows as quarry extract stores them, the golden-file
helper and its rewrite switch, and the plugin author's example of docs/testing.md run as it stands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry.errors import UsageError
from codequarry.query import sql
from codequarry.testing import (
    EXAMPLES_ENV,
    UPDATE_ENV,
    assert_golden,
    examples,
    extract_rows,
    extract_store,
    write_tree,
)
from tests.paths import ROOT

APP = {
    "pkg/__init__.py": "",
    "pkg/mod.py": "import os\n\nclass C:\n    def m(self, x=1):\n        return os.path.join('a', x)\n",
    "pkg/bad.py": "def broken(:\n",
    "notes.txt": "not code\n",
}


def test_extract_rows_gives_the_rows_quarry_extract_stores(tmp_path: Path) -> None:
    store = extract_store(tmp_path, APP, select=["python.core"])
    got = extract_rows(tmp_path / "src", select=["python.core"])  # the same files, the same mtimes
    assert set(got) == {
        "files",
        "modules",
        "functions",
        "classes",
        "imports",
        "calls",
        "assignments",
        "errors",
    }
    for table, rows in got.items():
        stored = sql(store, f"SELECT * FROM {table}").to_pylist()
        key = lambda r: repr(sorted(r.items()))  # noqa: E731
        assert sorted(rows, key=key) == sorted(stored, key=key), table
    assert [(r["path"], r["kind"]) for r in got["errors"]] == [("pkg/bad.py", "syntax")]
    assert {r["qualname"] for r in got["functions"]} == {"C.m"}
    assert {r["module"] for r in got["modules"]} == {"pkg", "pkg.mod"}


def test_a_mapping_is_a_repo_of_its_own_and_every_declared_dataset_is_there() -> None:
    got = extract_rows({"a.py": "x = 1\n"}, select=["python.env"], repo="demo")
    assert got["env_reads"] == [] and got["errors"] == []
    assert [(r["repo"], r["path"]) for r in got["files"]] == [("demo", "a.py")]


def test_a_selection_error_is_the_cli_message() -> None:
    with pytest.raises(UsageError, match="Did you mean 'python.core'"):
        extract_rows({"a.py": ""}, select=["python.cor"])


def test_write_tree_keeps_inside_its_root(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="outside the tree"):
        write_tree(tmp_path / "t", {"../escape.py": "x = 1\n"})
    assert not (tmp_path / "escape.py").exists()


def test_assert_golden_creates_compares_and_names_the_difference(tmp_path: Path) -> None:
    golden = tmp_path / "case.expected.json"
    rows = {
        "t": [
            {"repo": "r", "sha256": "0" * 64, "path": "b.py", "line": 2, "v": "x"},
            {"repo": "r", "sha256": "1" * 64, "path": "a.py", "line": 9, "v": "y"},
        ]
    }
    with pytest.raises(AssertionError, match="missing; create it with pytest --update-golden"):
        assert_golden(rows, golden, update=False)
    assert_golden(rows, golden, update=True)
    assert golden.read_text() == (
        '{\n  "t": [\n    {"path": "a.py", "line": 9, "v": "y"},\n    {"path": "b.py", "line": 2, "v": "x"}\n  ]\n}\n'
    )
    assert_golden(rows, golden)  # provenance columns differ from run to run: they are not compared
    rows["t"][0]["v"] = "changed"
    with pytest.raises(AssertionError, match=r"dataset t differs") as failure:
        assert_golden(rows, golden, update=False)
    assert '-  {"path": "b.py", "line": 2, "v": "x"}' in str(failure.value)
    assert '+  {"path": "b.py", "line": 2, "v": "changed"}' in str(failure.value)
    with pytest.raises(AssertionError, match="dataset other differs"):
        assert_golden({**rows, "other": [{"v": 1}]}, golden, datasets=["other"], update=False)


def test_a_list_of_rows_keeps_its_order_when_asked(tmp_path: Path) -> None:
    golden = tmp_path / "list.expected.json"
    rows = [{"b": 2, "repo": "r"}, {"b": 1, "repo": "r"}]
    assert_golden(rows, golden, sort=False, update=True)
    assert golden.read_text() == '[\n  {"b": 2},\n  {"b": 1}\n]\n'
    with pytest.raises(AssertionError, match="rows differ"):
        assert_golden(rows[::-1], golden, sort=False, update=False)


def test_the_environment_variable_rewrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    golden = tmp_path / "env.expected.json"
    monkeypatch.setenv(UPDATE_ENV, "1")
    assert_golden([{"a": 1}], golden)
    monkeypatch.setenv(UPDATE_ENV, "0")
    assert_golden([{"a": 1}], golden)
    with pytest.raises(AssertionError):
        assert_golden([{"a": 2}], golden)


def _doc_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    # a paragraph that starts with a file's name, then that file's block
    return re.findall(r"^`([\w.]+\.py)`[^\n]*\n\n```python\n(.*?)```", text, flags=re.S | re.M)


def test_the_plugin_authors_example_runs_as_documented(tmp_path: Path) -> None:
    files = dict(_doc_blocks())
    assert set(files) == {"conftest.py", "test_env.py"}
    write_tree(tmp_path, files)
    env = {k: v for k, v in os.environ.items() if k != UPDATE_ENV}

    def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    created = pytest_run("--update-golden")
    assert created.returncode == 0, created.stdout
    assert '"name": "DEBUG"' in (tmp_path / "app.expected.json").read_text()
    assert pytest_run().returncode == 0
    golden = tmp_path / "app.expected.json"
    golden.write_text(golden.read_text().replace('"DEBUG"', '"NOT_DEBUG"'))
    last = pytest_run()
    assert last.returncode == 1 and "dataset env_reads differs" in last.stdout, last.stdout


def test_examples_scales_property_tests_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXAMPLES_ENV, raising=False)
    assert examples(6) == 6
    monkeypatch.setenv(EXAMPLES_ENV, "50")
    assert examples(6) == 300
    for bad in ("0", "-3", "many", "2.5"):
        monkeypatch.setenv(EXAMPLES_ENV, bad)
        with pytest.raises(ValueError, match=EXAMPLES_ENV):
            examples(6)

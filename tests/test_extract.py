"""End to end through the real `quarry` command: extract, tables, schema, sql, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest


def quarry(
    *args: str | Path, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "codequarry", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"quarry {args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def rows(store: Path, query: str) -> list[dict[str, object]]:
    return json.loads(quarry("sql", "--store", store, "-f", "json", query).stdout)


@pytest.fixture
def bad_tree(tmp_path: Path) -> Path:
    """A tree with one good file and every kind of bad input the issue names."""
    root = tmp_path / "bad"
    root.mkdir()
    (root / "good.py").write_text("def ok():\n    return 1\n")
    (root / "syntax.py").write_text("def broken(:\n    pass\n")
    (root / "undecodable.py").write_bytes(b"x = '\xff\xfe\xfa'\n")
    (root / "nul.py").write_bytes(b"x = 1\ny = '\x00'\n")
    (root / "binary.py").write_bytes(bytes(range(256)) * 8)
    (root / "huge.py").write_text("x = 1\n" * 120_000)  # 720 KB, over the limit given below
    (root / "deep.py").write_text("x = " + "-" * 200_000 + "1\n")  # MemoryError in the parser
    (root / "deep2.py").write_text("x = a" + ".b" * 200_000 + "\n")  # RecursionError in the parser
    (root / "latin1.py").write_bytes(
        "# -*- coding: latin-1 -*-\ndef caf\u00e9():\n    return '\u00e9'\n".encode("latin-1")
    )
    (root / "bom_crlf.py").write_bytes(b"\xef\xbb\xbfdef f():\r\n    return 1\r\n")
    (root / "empty.py").write_text("")
    return root


def test_bad_input_never_stops_a_run(bad_tree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = quarry(
        "extract", bad_tree, "--store", store, "--max-file-size", "500KB", "--json", "--workers", "2"
    )
    summary = json.loads(proc.stdout)
    assert "Traceback" not in proc.stderr
    assert summary["files_scanned"] == 11
    kinds = {r["path"]: r["kind"] for r in rows(store, "SELECT path, kind FROM errors")}
    assert kinds == {
        "syntax.py": "syntax",
        "undecodable.py": "decode",
        "nul.py": "syntax",
        "binary.py": "binary",
        "huge.py": "too_large",
        "deep.py": "syntax",
        "deep2.py": "syntax",
    }
    err = rows(store, "SELECT line, source_line, message FROM errors WHERE path = 'syntax.py'")[0]
    assert err["line"] == 1 and err["source_line"] == "def broken(:"
    # every scanned file is in the manifest, bad or not, with its hash
    files = {r["path"]: r for r in rows(store, "SELECT path, sha256, lines, language FROM files")}
    assert set(files) == {p.name for p in bad_tree.iterdir()}
    assert all(len(str(f["sha256"])) == 64 for f in files.values())
    assert files["binary.py"]["lines"] is None and files["huge.py"]["lines"] == 120_000
    assert summary["skipped"]["too_large"] == 1 and summary["skipped"]["binary"] == 1
    # good, latin-1, BOM+CRLF and empty files parse
    assert summary["files_parsed"] == 4


def test_strict_turns_error_rows_into_exit_1(bad_tree: Path, tmp_path: Path) -> None:
    proc = quarry("extract", bad_tree, "--store", tmp_path / "s", "--strict", "--quiet", check=False)
    assert proc.returncode == 1
    assert "error rows" in proc.stderr


def test_extract_tables_schema_and_sql_formats(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "a.py").write_text("import os\n\nasync def fetch(url):\n    return os.path.join(url)\n")
    (root / "README.md").write_text("# hi\n")
    quarry("extract", root, "--quiet")
    store = root / ".quarry"
    assert (store / "store.json").is_file()
    listing = quarry("tables", cwd=root).stdout  # the default store is found from the current folder
    assert "files" in listing and "errors" in listing
    schema = quarry("schema", "files", cwd=root / "pkg").stdout  # ...or from a parent folder
    assert "sha256" in schema and "mtime_ns" in schema
    got = rows(store, "SELECT path, language FROM files ORDER BY path")
    assert got == [
        {"path": "README.md", "language": "markdown"},
        {"path": "pkg/__init__.py", "language": "python"},
        {"path": "pkg/a.py", "language": "python"},
    ]
    csv_text = quarry("sql", "--store", store, "-f", "csv", "SELECT path FROM files ORDER BY path").stdout
    assert csv_text.splitlines() == ['"path"', '"README.md"', '"pkg/__init__.py"', '"pkg/a.py"']
    out = tmp_path / "files.parquet"
    quarry("sql", "--store", store, "-f", "parquet", "-o", out, "SELECT * FROM files")
    assert pq.read_table(out).num_rows == 3


def test_rerun_replaces_rows_instead_of_duplicating(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    quarry("extract", root, "-q")
    (root / "b.py").write_text("y = 2\n")
    quarry("extract", root, "-q")
    (root / "a.py").unlink()
    quarry("extract", root, "-q")
    assert rows(root / ".quarry", "SELECT path FROM files") == [{"path": "b.py"}]


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        ("extract", tmp_path / "missing"),
        ("sql", "--store", tmp_path, "SELECT 1"),  # a folder that is not a store
        ("tables", "--store", tmp_path / "nope"),
        ("extract", tmp_path, "--max-file-size", "lots"),
        ("extract", tmp_path, "--select", "python.cor"),
    ]
    for args in cases:
        proc = quarry(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().startswith("error:"), proc.stderr


def test_bad_sql_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    quarry("extract", tmp_path, "-q")
    proc = quarry("sql", "--store", tmp_path / ".quarry", "SELECT nope FROM files", check=False)
    assert proc.returncode == 2 and "nope" in proc.stderr and "Traceback" not in proc.stderr


def test_single_file_source(tmp_path: Path) -> None:
    f = tmp_path / "solo.py"
    f.write_text("def f():\n    pass\n")
    (tmp_path / "other.py").write_text("x = 1\n")
    quarry("extract", f, "--store", tmp_path / "s", "-q")
    assert rows(tmp_path / "s", "SELECT path FROM files") == [{"path": "solo.py"}]


def test_version_and_help() -> None:
    assert "codequarry" in quarry("--version").stdout
    assert "extract" in quarry("--help").stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its mode")
def test_unreadable_file_becomes_an_error_row(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    locked = tmp_path / "locked.py"
    locked.write_text("y = 2\n")
    locked.chmod(0)
    quarry("extract", tmp_path, "-q")
    got = rows(tmp_path / ".quarry", "SELECT path, kind FROM errors")
    assert got == [{"path": "locked.py", "kind": "unreadable"}]

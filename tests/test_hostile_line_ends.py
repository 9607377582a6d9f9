"""Lone CR line ends (old Mac files, or a hostile repository) give the lines compilers and editors give.

tree-sitter counts rows at LF only. A CR-only JavaScript file was all "line 1" (node reports its
lines 2, 3, 4...), and in C ``// note<CR>int backdoor(void) {...}`` was one comment to tree-sitter
while gcc compiled ``backdoor``: a definition hidden from the database. tree-sitter now parses the
bytes with each lone CR read as LF (same length, so every offset and column holds); the LF file is
the reference: the CR-only and CRLF copies must give the same rows. A UTF-8 BOM counted as a column
on line 1 (node, gcc and Python's rows skip it): a BOM copy gives the rows of the file without one.
"""

from __future__ import annotations

from pathlib import Path

from codequarry import open_store, sql
from tests.hostile.conftest import quarry

JS = "// note\nfunction a() {}\nfunction b() {\n  a();\n  return [1,\n    2];\n}\n"
C = '// note\nint backdoor(void) { return system("x"); }\nint shown(void) { return 0; }\n'
RUBY = "# note\nclass A\n  def f\n    g(1)\n  end\nend\n"
FILES = (
    ("a.js", JS),
    ("b.c", C),
    ("c.rb", RUBY),
    ("d.go", "func first() {}\n"),
    ("bad.js", "function f( {\n\n}\n"),
)


def _rows(store: Path, query: str) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in sql(open_store(store), query).to_pylist()]


def _in_folder(tables: tuple[list[tuple[object, ...]], ...]) -> list[list[tuple[object, ...]]]:
    """The rows with the path relative to its folder (lf/, cr/, crlf/)."""
    return [[(str(r[0]).split("/", 1)[1], *r[1:]) for r in table] for table in tables]


def test_cr_only_and_crlf_files_give_the_rows_of_the_lf_file(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for end, folder in (("\n", "lf"), ("\r", "cr"), ("\r\n", "crlf"), ("\n", "bom")):
        (root / folder).mkdir(parents=True)
        for name, text in FILES:
            bom = "\ufeff" if folder == "bom" else ""
            (root / folder / name).write_bytes((bom + text).replace("\n", end).encode())
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter")
    by_folder = {}
    for folder in ("lf", "cr", "crlf", "bom"):
        like = f"'{folder}/%'"
        by_folder[folder] = (
            _rows(store, f"SELECT path, name, line, col, end_line, end_col FROM definitions WHERE path LIKE {like} ORDER BY path, line"),
            _rows(store, f"SELECT path, callee, line, col FROM source_calls WHERE path LIKE {like} ORDER BY path, line"),
            _rows(store, f'SELECT path, line, "column" FROM errors WHERE path LIKE {like} ORDER BY path, line'),
        )  # fmt: skip
    strip = _in_folder(by_folder["lf"])
    for folder in ("cr", "crlf", "bom"):
        assert _in_folder(by_folder[folder]) == strip, folder
    assert ("b.c", "backdoor", 2, 0, 2, 42) in strip[0]
    assert ("d.go", "first", 1, 0, 1, 15) in strip[0]
    assert ("a.js", "a", 4, 2) in strip[1]


PY = "# note\ndef a():\n    return 1\n\n\nclass B:\n    x = a()\n"


def test_the_manifest_counts_the_lines_python_and_tree_sitter_read(tmp_path: Path) -> None:
    """``files.lines`` ended lines at LF only: a CR-only file was one line there while its functions
    sat on lines 2, 6, 7. Every copy now has the LF file's count, and it covers the last line a
    Python row names (a file over --max-file-size, counted in blocks, counts the same)."""
    root = tmp_path / "src"
    for end, folder in (("\n", "lf"), ("\r", "cr"), ("\r\n", "crlf")):
        (root / folder).mkdir(parents=True)
        for name, text in (*FILES, ("e.py", PY)):
            (root / folder / name).write_bytes(text.replace("\n", end).encode())
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q")
    by_folder: dict[str, set[tuple[str, object]]] = {}
    for path, lines in _rows(store, "SELECT path, lines FROM files"):
        folder, name = str(path).split("/", 1)
        by_folder.setdefault(folder, set()).add((name, lines))
    assert by_folder["cr"] == by_folder["crlf"] == by_folder["lf"]
    assert ("e.py", PY.count("\n")) in by_folder["lf"]
    last = _rows(store, "SELECT max(line) FROM classes WHERE path = 'cr/e.py'")[0][0]
    assert last == 6 and ("e.py", 7) in by_folder["cr"]
    assert _rows(store, "SELECT lines FROM modules WHERE path = 'cr/e.py'") == [(7,)]  # the parser's count


def test_a_crlf_cut_by_the_hashing_block_is_one_line_end(tmp_path: Path) -> None:
    from codequarry.engine.reading import HASH_BLOCK, line_count, read_file

    for data in (
        b"a" * (HASH_BLOCK - 1) + b"\r\n" + b"b\rc",  # CRLF across the boundary
        b"a" * (HASH_BLOCK - 1) + b"\r" + b"\rd\r",  # lone CRs on both sides
        b"a\n" * HASH_BLOCK + b"\r",
    ):
        (tmp_path / "f.txt").write_bytes(data)
        _data, _sha, _size, lines, _mtime = read_file(str(tmp_path), "f.txt", 0)  # streamed in blocks
        text = data.decode()
        assert lines == line_count(data) == len(text.replace("\r\n", "\n").replace("\r", "\n").splitlines())

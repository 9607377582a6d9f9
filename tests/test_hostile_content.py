"""Odd file content and odd file names in one tree, through the real CLI with every layer selected
(python, units, blobs, tree-sitter): lying or unusable encoding cookies, BOM and cookie conflicts,
invalid UTF-8, NUL bytes, 50 MB single-line files, brackets nested 100,000 deep for tree-sitter
(past its 50,000 bound: one `limit` row, no partial facts), names holding a newline, a tab or shell
syntax. Each odd file gets its errors row (or none, when
Python itself reads it), the others keep their facts, nothing runs, no traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codequarry import open_store
from codequarry import sql as run_sql
from tests.hostile.conftest import quarry

BIG = 50_000_000
DEEP = 100_000

#: file -> the errors kind expected for it (None: read like Python reads it, no error)
PYTHON: dict[str, tuple[bytes, str | None]] = {
    "utf7.py": (b"# coding: utf-7\nx = 1 +AAo-import os\ndef f7():\n    return 1\n", None),
    "utf16_cookie.py": (b"# coding: utf-16\ndef f16():\n    return 1\n", "decode"),
    "bogus_codec.py": (b"# coding: bogus-codec\ndef fb():\n    return 1\n", "decode"),
    "hex_codec.py": (b"# coding: hex\ndef fh():\n    return 1\n", "decode"),
    "rot13.py": (b"# coding: rot13\nqrs s():\n    erghea 1\n", "decode"),
    "bom_latin1.py": (b"\xef\xbb\xbf# coding: latin-1\ndef fbl():\n    return 1\n", "decode"),
    "ascii_lie.py": (b"# coding: ascii\nx = '\xe9'\ndef fl():\n    return 1\n", "decode"),
    "cookie_line3.py": (b"#!/usr/bin/env python\n\n# coding: latin-1\nx = '\xe9'\n", "decode"),
    "surrogate.py": (b"x = '\xed\xa0\x80'\n", "decode"),
    "overlong.py": (b"x = '\xc0\xaf'\n", "decode"),
    "nul_middle.py": (b"def before():\n    return 1\n\x00\ndef after():\n    return 2\n", "syntax"),
    "escape_nul.py": (b"# coding: unicode_escape\nx = '\\x00'\n", "syntax"),
    "cr_only.py": (b"def cr():\r    return 1\r", None),
    "u2028.py": ("x = 1\u2028def ls():\n    return 1\n".encode(), "syntax"),
    "big.py": (b"x = '" + b"a" * BIG + b"'\n", "too_large"),
}
OTHER: dict[str, tuple[bytes, str | None]] = {
    "big.js": (b"var x='" + b"a" * BIG + b"';", "too_large"),
    "big.txt": (b"a" * BIG, "too_large"),
    "bad_utf8.js": (b"function badUtf8() { return '\xff\xfe'; }\n", None),
    "bad_utf8.go": (b'package p\nfunc BadUtf8() string { return "\xc3\x28" }\n', None),
    "deep.js": (b"function deepJs() { return " + b"(" * DEEP + b"1" + b")" * DEEP + b"; }\n", "limit"),
    "deep.c": (b"int deep_c(void) { return " + b"(" * DEEP + b"1" + b")" * DEEP + b"; }\n", "limit"),
    "deep.go": (
        b"package p\nfunc DeepGo() int { return " + b"(" * DEEP + b"1" + b")" * DEEP + b" }\n",
        "limit",
    ),
    "deep.rs": (b"fn deep_rs() { let x = " + b"{" * DEEP + b"1" + b"}" * DEEP + b"; }\n", "limit"),
    "deep.rb": (b"def deep_rb\n  " + b"[" * DEEP + b"]" * DEEP + b"\nend\n", "limit"),
}
NAMES = ["new\nline.py", "tab\tname.py", "-rf.py", "$(touch PWNED).py", "; touch PWNED2 ;.js"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("content") / "src"
    src.mkdir()
    (src / "good.py").write_text("def good():\n    return 1\n")
    (src / "good.js").write_text("function goodJs() { return 1; }\n")
    for name, (data, _kind) in {**PYTHON, **OTHER}.items():
        (src / name).write_bytes(data)
    for i, name in enumerate(NAMES):
        (src / name).write_text(f"def odd_name_{i}():\n    return {i}\n" if name.endswith(".py") else "")
    out = src.parent / "store"
    # the odd JavaScript files are one long line: parsed, not left as minified build outputs
    args = ["--select", "python", "--select", "units", "--select", "blobs", "--select", "treesitter"]
    args.append("--include-generated")
    done = quarry("extract", src, "--store", out, "-q", "-w", "2", *args)
    assert "Traceback" not in done.stderr and done.stderr.strip() == "", done.stderr
    assert not list(src.parent.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    return out


def rows(store: Path, query: str) -> list[dict[str, object]]:
    st = open_store(store)
    try:
        return list(run_sql(st, query).to_pylist())
    finally:
        st.close()


def test_each_odd_file_has_its_errors_row(store: Path) -> None:
    kinds: dict[str, set[str]] = {}
    for r in rows(store, "SELECT path, kind FROM errors"):
        kinds.setdefault(str(r["path"]), set()).add(str(r["kind"]))
    expected = {name: {kind} for name, (_d, kind) in {**PYTHON, **OTHER}.items() if kind is not None}
    assert kinds == expected


def test_the_other_files_keep_their_facts(store: Path) -> None:
    functions = {r["name"] for r in rows(store, "SELECT name FROM functions")}
    assert {"good", "f7", "cr", *(f"odd_name_{i}" for i in range(4))} <= functions
    assert not functions & {"f16", "fb", "fh", "fbl", "fl", "before", "after", "ls"}
    definitions = {r["name"] for r in rows(store, "SELECT name FROM definitions")}
    assert {"goodJs", "badUtf8", "BadUtf8"} <= definitions
    assert not definitions & {"deepJs", "deep_c", "DeepGo", "deep_rs", "deep_rb"}  # all or nothing per file
    files = {r["path"] for r in rows(store, "SELECT path FROM files")}
    assert set(NAMES) <= files and len(files) == 2 + len(PYTHON) + len(OTHER) + len(NAMES)
    blobs = rows(store, "SELECT count(*) AS n, max(size_bytes) AS biggest FROM blobs")[0]
    assert int(str(blobs["biggest"])) < BIG  # files over --max-file-size are not read into blobs


def test_utf7_is_read_as_python_reads_it(store: Path) -> None:
    """A UTF-7 cookie can hide a line break in '+AAo-': the import is a fact, as the interpreter sees it."""
    assert rows(store, "SELECT module FROM imports WHERE path = 'utf7.py'") == [{"module": "os"}]


def test_no_file_was_written_outside_the_store(store: Path) -> None:
    src = store.parent / "src"
    assert sorted(os.listdir(store.parent)) == ["src", "store"]
    assert not (src / ".quarry").exists()


def test_devices_and_links_to_them_are_skipped_with_a_reason(tmp_path: Path) -> None:
    """A character device named *.py, symlinks to /dev/zero (never ends) and /etc/passwd (outside
    the root), a symlink to the parent folder: none is read, each is skipped with its reason."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.py").write_text("def good():\n    return 1\n")
    (src / "zero.py").symlink_to("/dev/zero")
    (src / "passwd.py").symlink_to("/etc/passwd")
    (src / "up").symlink_to("..")
    device = True
    try:
        os.mknod(src / "null.py", 0o666 | 0o020000, os.makedev(1, 3))
    except OSError:  # not allowed here (not root, or a nodev mount): the links are still tested
        device = False
    done = quarry("extract", src, "--store", tmp_path / "store", "--json", "-q", "-w", "1", timeout=300)
    summary = json.loads(done.stdout)
    skipped = {path: reason for _repo, path, reason in summary["skipped_files"]}
    assert skipped["zero.py"] == skipped["passwd.py"] == skipped["up"] == "symlink_outside_root"
    if device:
        assert skipped["null.py"].startswith("special_file")
    assert summary["files_parsed"] == 1 and summary["errors"] == 0

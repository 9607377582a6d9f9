"""Corpus text printed for a person cannot drive the terminal or forge lines.

A file name is the repository's choice: ``a\\x1b[31mRED\\x1b[0m.js`` recoloured the terminal in
``quarry report`` and ``quarry sql``'s table (an OSC sequence can retitle the window or write the
clipboard), ``new\\nline.js`` split one report line in two, and a bidi override reorders what is shown.
The text report and the table now print such characters escaped as Python writes them; the data
formats (csv, json, parquet) still give the exact stored value.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path

from tests.hostile.conftest import quarry

NAMES = ["a\x1b[31mRED\x1b[0m.js", "new\nline.js", "rtl\u202egnp.js", "osc\x1b]0;pwned\x07.js"]


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "src"
    root.mkdir()
    for name in NAMES:
        (root / name).write_text("function f( {\n")  # a syntax error: an errors row naming the file
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter")
    return root, store


def _no_control(text: str) -> None:
    for line in text.splitlines():
        assert all(c.isprintable() or c == "\t" for c in line), repr(line)


def test_report_and_table_escape_names_and_formats_keep_them(tmp_path: Path) -> None:
    _root, store = _corpus(tmp_path)
    report = quarry("report", "--store", store).stdout
    _no_control(report)
    error_lines = [line for line in report.splitlines() if ": syntax (treesitter.javascript)" in line]
    assert len(error_lines) == len(NAMES), report  # one line per file: no name forged a second
    assert any("a\\x1b[31mRED\\x1b[0m.js:1:" in line for line in error_lines)
    assert any("new\\nline.js:1:" in line for line in error_lines)
    assert any("rtl\\u202egnp.js:1:" in line for line in error_lines)
    table = quarry("sql", "SELECT path FROM files ORDER BY path", "--store", store).stdout
    _no_control(table)
    assert "osc\\x1b]0;pwned\\x07.js" in table
    exact = quarry("sql", "SELECT path FROM files ORDER BY path", "--store", store, "-f", "json").stdout
    assert sorted(r["path"] for r in json.loads(exact)) == sorted(NAMES)


def test_the_html_report_escapes_names_and_links_to_the_files_own_bytes(tmp_path: Path) -> None:
    """Trust sweep 9: the HTML report wrote a name's control characters raw (``cat report.html``
    recoloured the terminal; a browser hid them), and linked a non-UTF-8 name by its stored escape
    (``bad%5Cxff.js``: no such file) instead of its bytes (``bad%FF.js``)."""
    root = tmp_path / "src"
    root.mkdir()
    for name in NAMES:
        (root / name).write_text("function f( {\n")
    with open(os.path.join(os.fsencode(root), b"bad\xff.js"), "wb") as fh:
        fh.write(b"function f( {\n")
    store = tmp_path / "store"
    quarry("extract", root, "--store", store, "-w", "1", "-q", "--select", "treesitter")
    html = tmp_path / "report.html"
    quarry("report", "--store", store, "--html", html)
    text = html.read_text(encoding="utf-8")
    assert not [c for c in text if not c.isprintable() and c not in "\n\t"], "a control character"
    assert "a\\x1b[31mRED\\x1b[0m.js:1" in text and "new\\nline.js:1" in text
    links = dict(re.findall(r'<a href="(file://[^"]+)" title="[^"]*">([^<]+):1</a>', text))
    assert len(links) == len(NAMES) + 1 and "bad\\xff.js" in links.values(), links
    for uri in links:  # each link leads to its file
        assert os.path.exists(os.fsdecode(urllib.parse.unquote_to_bytes(uri.removeprefix("file://"))))


def test_quarry_run_and_check_escape_the_names_in_task_ids(tmp_path: Path) -> None:
    """Trust sweep 9: a tool's task id names its file (``fail:src/a\\x1b[31mRED.py``); `quarry run`
    printed it raw in its line per failed task (stderr) and in its summary, and `quarry check` in its
    plan, so a file name recoloured the terminal or forged a line."""
    src = tmp_path / "src"
    src.mkdir()
    for name in NAMES:
        (src / name).write_text("x\n")
    (tmp_path / "fail.py").write_text("import sys\nsys.exit(3)\n")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f'[tools.fail]\ncommand = ["{{python}}", {str(tmp_path / "fail.py")!r}, "{{file}}"]\nfiles = ["src/*.js"]\n'
    )
    done = quarry("run", recipe, check=False)
    assert done.returncode == 1, (done.stdout, done.stderr)
    for text in (done.stdout, done.stderr, quarry("check", recipe).stdout):
        _no_control(text)
        assert "fail:src/a\\x1b[31mRED\\x1b[0m.js" in text and "fail:src/new\\nline.js" in text, text


def test_skipped_files_are_named_escaped_by_extract_and_status(tmp_path: Path) -> None:
    """Trust sweep 9: a FIFO or a broken link is skipped and named in the summary of `quarry extract`
    and `quarry status`; its name was printed raw there."""
    root = tmp_path / "src"
    root.mkdir()
    os.mkfifo(root / "fifo\x1b[31mRED.py")
    (root / "broken\nline.py").symlink_to("nowhere")
    (root / "ok.py").write_text("x = 1\n")
    store = tmp_path / "store"
    extract = quarry("extract", root, "--store", store, "-w", "1").stdout
    for text in (extract, quarry("status", "--store", store).stdout):
        _no_control(text)
        assert "skipped src/fifo\\x1b[31mRED.py: special_file" in text, text
        assert "skipped src/broken\\nline.py: broken_symlink" in text, text

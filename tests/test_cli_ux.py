"""What a user meets in the first hour: output files in the format their name asks for, every help
text rendered whole, numeric options checked and explained, --strict judging the store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from codequarry import extract, make_plan
from codequarry.cli import app

APP = '''import subprocess


async def fetch(url):
    """Fetch one page."""
    return url


def run(cmd):
    subprocess.run(cmd, shell=True)
'''


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ux") / "proj"
    root.mkdir()
    (root / "app.py").write_text(APP, encoding="utf-8")
    extract(make_plan([root], workers=1, select=["python.core"]))
    return root


def quarry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codequarry", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- quarry sql -o: the format follows the name ------------------------------------------------------------------
QUERY = "SELECT name, is_async, decorators FROM functions ORDER BY name"
EXPECTED = [
    {"name": "fetch", "is_async": True, "decorators": []},
    {"name": "run", "is_async": False, "decorators": []},
]


def test_output_format_follows_the_extension(tree: Path, tmp_path: Path) -> None:
    for name in ("out.parquet", "out.csv", "out.tsv", "out.json", "out.jsonl"):
        done = quarry("sql", QUERY, "-o", str(tmp_path / name), cwd=tree)
        assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == EXPECTED
    csv = pacsv.read_csv(tmp_path / "out.csv").to_pylist()
    assert [(r["name"], r["is_async"], r["decorators"]) for r in csv] == [
        ("fetch", True, "[]"),
        ("run", False, "[]"),
    ]
    assert (tmp_path / "out.tsv").read_text().splitlines() == [
        "name\tis_async\tdecorators",
        "fetch\tTrue\t[]",
        "run\tFalse\t[]",
    ]
    assert json.loads((tmp_path / "out.json").read_text()) == EXPECTED
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()] == EXPECTED
    # an explicit -f wins over the name
    assert quarry("sql", QUERY, "-f", "json", "-o", str(tmp_path / "x.data"), cwd=tree).returncode == 0
    assert json.loads((tmp_path / "x.data").read_text()) == EXPECTED


def test_output_targets_that_cannot_be_written(tree: Path, tmp_path: Path) -> None:
    one_line_error(
        quarry("sql", QUERY, "-o", str(tmp_path / "missing" / "out.csv"), cwd=tree),
        "does not exist",
        "mkdir -p",
    )
    one_line_error(quarry("sql", QUERY, "-o", str(tmp_path), cwd=tree), "is a folder")
    one_line_error(
        quarry("sql", QUERY, "-o", str(tmp_path / "out.xyz"), cwd=tree), "cannot tell the output format"
    )
    one_line_error(quarry("sql", QUERY, "-o", ".quarry/snapshot.json", cwd=tree), "inside the store")
    # a query that fails leaves the file it would have replaced as it was
    keep = tmp_path / "keep.csv"
    keep.write_text("mine\n")
    one_line_error(quarry("sql", "SELECT nope FROM functions", "-o", str(keep), cwd=tree), "query failed")
    assert keep.read_text() == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


# -- every help text renders whole -----------------------------------------------------------------------------
def commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """The command tree (typer's own click): every command and subcommand with its path."""
    found = [(path, command)]
    if isinstance(getattr(command, "commands", None), dict):
        for name, sub in sorted(command.commands.items()):
            found += commands(sub, (*path, name))
    return found


def flat(text: str) -> str:
    return " ".join(text.split())


def test_every_help_text_renders_whole() -> None:
    """Each command's docstring and each option's help appear in its --help as written: no bracketed
    word ('[extract]') or other text is taken for markup and dropped."""
    root = typer.main.get_command(app)
    tree = commands(root)
    assert len(tree) >= 14  # quarry, its commands, and the cache subcommands
    runner = CliRunner()
    checked = brackets = 0
    for path, command in tree:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100", "TERMINAL_WIDTH": "100"})
        assert result.exit_code == 0, (path, result.output)
        shown = flat(result.output)
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            text = text.split("\f")[0]
            if not text.strip():
                continue
            assert flat(text) in shown, (path, text, result.output)
            for word in re.findall(r"\[[^\]\s]+\]", text):
                assert word in shown, (path, word)
                brackets += 1
            checked += 1
    assert checked > 60 and brackets >= 2  # the walk reached the options, and `quarry run`'s [extract]


# -- numeric options -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--workers", "0"], "--workers must be a whole number of at least 1"),
        (["--workers", "-3"], "--workers must be a whole number of at least 1"),
        (["--file-timeout", "-1"], "--file-timeout must be a number of seconds, 0 for no limit"),
        (["--file-timeout", "nan"], "--file-timeout must be a number of seconds"),
        (["--max-file-size", "0"], "use a positive number"),
        (["--max-file-size", "-5MB"], "use a positive number"),
        (["--max-file-size", "inf"], "use a positive number"),
        (["--max-file-size", "ten"], "cannot read size 'ten'"),
        (["--max-memory-per-worker", "1MB"], "at least 64MB"),
    ],
)
def test_extract_refuses_bad_numbers(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    one_line_error(quarry("extract", ".", *args, cwd=tmp_path), needle)
    assert not (tmp_path / ".quarry").exists()  # refused before anything was made


def test_workers_above_the_cores_are_capped_with_a_warning(tmp_path: Path) -> None:
    from codequarry.cores import default_workers

    cores = default_workers()
    (tmp_path / "a.py").write_text("x = 1\n")
    done = quarry(
        "extract", ".", "--workers", str(cores + 14), "--quiet", "--select", "python.core", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert f"warning: --workers {cores + 14} capped to {cores}" in done.stderr
    plan = make_plan([tmp_path], workers=cores + 14, select=["python.core"])
    assert plan.workers == cores and plan.warnings
    assert make_plan([tmp_path], workers=cores, select=["python.core"]).warnings == ()


def test_other_numbers(tree: Path, tmp_path: Path) -> None:
    one_line_error(quarry("export", str(tmp_path / "x"), "--shards", "0", cwd=tree), "--shards must be")
    one_line_error(quarry("export", str(tmp_path / "x"), "--shards", "10000000", cwd=tree), "at most 65,536")
    one_line_error(quarry("compact", "--keep", "0", cwd=tree), "--keep must be at least 1")


def test_a_store_of_another_format_says_what_to_do(tmp_path: Path) -> None:
    store = tmp_path / ".quarry"
    store.mkdir()
    (store / "store.json").write_text(json.dumps({"format": 99}))
    one_line_error(quarry("tables", cwd=tmp_path), "format 99", "upgrade")
    (store / "store.json").write_text(json.dumps({"format": 0}))
    one_line_error(quarry("tables", cwd=tmp_path), "format 0", "new store")
    for fake in ("true", "1.0"):  # equal to 1 in Python, yet not a format any codequarry writes
        (store / "store.json").write_text('{"format": ' + fake + "}")
        one_line_error(quarry("tables", cwd=tmp_path), "new store")


# -- --strict judges the store ---------------------------------------------------------------------------------
def test_strict_fails_while_an_error_row_of_the_sources_stands(tmp_path: Path) -> None:
    src = tmp_path / "proj"
    src.mkdir()
    (src / "ok.py").write_text("x = 1\n")
    (src / "bad.py").write_text("def broken(:\n")
    first = quarry("extract", ".", "--strict", "-q", "--select", "python.core", cwd=src)
    assert first.returncode == 1 and "--strict" in first.stderr
    (src / "ok.py").write_text("x = 2\n")  # a change elsewhere: this run writes no error row
    again = quarry("extract", ".", "--strict", "-q", "--select", "python.core", cwd=src)
    assert again.returncode == 1, again.stderr
    assert "1 error rows for these sources" in again.stderr and "0 written by this run" in again.stderr
    nothing = quarry("extract", ".", "--strict", "--json", "--select", "python.core", cwd=src)
    assert nothing.returncode == 1
    summary = json.loads(nothing.stdout)
    assert summary["changed"] == 0 and summary["errors"] == 0 and summary["errors_stored"] == 1
    (src / "bad.py").write_text("def fixed():\n    pass\n")
    fixed = quarry("extract", ".", "--strict", "-q", "--select", "python.core", cwd=src)
    assert fixed.returncode == 0, fixed.stderr
    # another source's error rows in the same store are not this run's business
    other = tmp_path / "other"
    other.mkdir()
    (other / "bad.py").write_text("def broken(:\n")
    store = str(src / ".quarry")
    assert (
        quarry(
            "extract", str(other), "--store", store, "-q", "--select", "python.core", cwd=tmp_path
        ).returncode
        == 0
    )
    assert (
        quarry(
            "extract", str(src), "--store", store, "--strict", "-q", "--select", "python.core", cwd=tmp_path
        ).returncode
        == 0
    )


def test_sql_output_is_plain_text_not_markup(tree: Path) -> None:
    """Cells such as an annotation 'list[str]' print as written, on a terminal or not."""
    done = quarry("sql", "SELECT 'list[str]' AS a, '[bold]x' AS \"b[c]\"", cwd=tree)
    assert done.returncode == 0, done.stderr
    assert [line.rstrip() for line in done.stdout.splitlines()[:2]] == [
        "a          b[c]",
        "list[str]  [bold]x",
    ]

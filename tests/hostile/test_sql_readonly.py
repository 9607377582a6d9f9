"""SQL from outside is read-only: no statement reaching DataFusion through quarry writes a file, a
table or the session, whatever the path (relative, absolute) and whichever door (CLI, Python API,
session). Queries still run, and an unknown table gets a suggestion."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import codequarry
from codequarry import extract, make_plan
from codequarry.errors import QueryError
from codequarry.query import ReadOnlyError, open_store, read_only_sql, session, sql

APP = '''import subprocess


async def fetch(url):
    """Fetch one page."""
    return url


def run(cmd):
    subprocess.run(cmd, shell=True)
'''

# every kind of statement that writes or changes something; {p} is the target file
WRITES = [
    "COPY (SELECT 'x') TO '{p}' STORED AS CSV",
    "COPY functions TO '{p}' STORED AS PARQUET",
    "copy (select 1 as a) to '{p}' stored as json",
    "/* a comment first */ COPY (SELECT 1) TO '{p}' STORED AS CSV",
    "EXPLAIN COPY (SELECT 1) TO '{p}' STORED AS CSV",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{p}' STORED AS CSV",
    "CREATE EXTERNAL TABLE out_t (a VARCHAR) STORED AS CSV LOCATION '{p}'",
    "CREATE EXTERNAL TABLE IF NOT EXISTS out_t STORED AS JSON LOCATION '{p}'",
    "INSERT INTO functions SELECT * FROM functions",
    "INSERT INTO files SELECT * FROM files WHERE false",
    "EXPLAIN ANALYZE INSERT INTO functions SELECT * FROM functions",
    "CREATE TABLE t AS SELECT 1 AS a",
    "CREATE OR REPLACE TABLE functions AS SELECT 1 AS a",
    "CREATE VIEW v AS SELECT 1 AS a",
    "CREATE SCHEMA s",
    "CREATE FUNCTION f() RETURNS INT RETURN 1",
    "DROP TABLE functions",
    "DROP VIEW IF EXISTS v",
    "DELETE FROM functions",
    "UPDATE functions SET name = 'x'",
    "TRUNCATE functions",
    "SET datafusion.execution.batch_size = 1",
    "SET datafusion.catalog.information_schema = false",
    "RESET datafusion.execution.batch_size",
    "PREPARE p AS SELECT 1",
    "SELECT 1; COPY (SELECT 1) TO '{p}' STORED AS CSV",
]

QUERIES = [
    "SELECT name FROM functions ORDER BY name",
    "WITH f AS (SELECT name FROM functions) SELECT count(*) AS n FROM f",
    "VALUES (1), (2)",
    "EXPLAIN SELECT name FROM functions",
    "EXPLAIN ANALYZE SELECT name FROM functions",
    "DESCRIBE functions",
    "SHOW TABLES",
    "SHOW COLUMNS FROM functions",
    "SELECT name, row_number() OVER (ORDER BY name) AS i FROM functions",
    "SELECT unnest(keywords) AS k FROM calls",
    "SELECT f.name FROM functions f JOIN calls c ON c.scope = f.qualname",
    "SELECT name FROM functions WHERE name IN (SELECT scope FROM calls)",
    "SELECT name FROM functions UNION SELECT callee FROM calls",
    "SELECT name FROM functions EXCEPT SELECT 'run'",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "SELECT DISTINCT language FROM files",
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ro") / "proj"
    root.mkdir()
    (root / "app.py").write_text(APP, encoding="utf-8")
    extract(make_plan([root], workers=1, select=["python.core"]))
    return root


def store_state(store: Path) -> dict[str, str]:
    """Every file of the store with its SHA-256: equal before and after means nothing was written."""
    out = {}
    for dirpath, _dirs, files in os.walk(store):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(store))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def targets(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A relative and an absolute target that must never appear, and an existing file that must not change."""
    monkeypatch.chdir(tree)
    victim = tmp_path / "victim.csv"
    victim.write_text("precious\n", encoding="utf-8")
    paths = {
        "relative": Path("written_rel.csv"),
        "absolute": tmp_path / "written_abs.csv",
        "existing": victim,
    }
    before = store_state(tree / ".quarry")
    yield paths
    assert not (tree / "written_rel.csv").exists()
    assert not (tmp_path / "written_abs.csv").exists()
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert store_state(tree / ".quarry") == before


@pytest.mark.parametrize("where", ["relative", "absolute", "existing"])
@pytest.mark.parametrize("statement", WRITES)
def test_python_api_refuses_every_write(
    tree: Path, targets: dict[str, Path], statement: str, where: str
) -> None:
    query = statement.format(p=targets[where])
    with pytest.raises(QueryError) as err:
        codequarry.sql(open_store(tree / ".quarry"), query)
    message = str(err.value)
    if "SELECT 1;" not in statement:  # several statements are refused as such, before any is planned
        assert isinstance(err.value, ReadOnlyError), message
        assert "read-only" in message and "SELECT" in message, message


@pytest.mark.parametrize("statement", [w for w in WRITES if "{p}" in w][:4] + ["DROP TABLE functions"])
def test_session_sql_refuses_writes(tree: Path, targets: dict[str, Path], statement: str) -> None:
    ses = session(open_store(tree / ".quarry"))
    for where in ("relative", "absolute"):
        with pytest.raises(ReadOnlyError):
            ses.sql(statement.format(p=targets[where])).collect()


def test_read_only_sql_guards_any_context(tmp_path: Path) -> None:
    """The one door works on any DataFusion context (the future web UI reuses it)."""
    from datafusion import SessionContext

    ctx = SessionContext()
    target = tmp_path / "x.csv"
    with pytest.raises(ReadOnlyError):
        read_only_sql(ctx, f"COPY (SELECT 1) TO '{target}' STORED AS CSV")
    with pytest.raises(ReadOnlyError):
        read_only_sql(ctx, "CREATE TABLE t AS SELECT 1")
    assert not target.exists()
    assert "t" not in ctx.catalog().schema().names()
    assert read_only_sql(ctx, "SELECT 1 AS a").to_pylist() == [{"a": 1}]


@pytest.mark.parametrize("query", QUERIES)
def test_queries_still_run(tree: Path, query: str) -> None:
    result = sql(open_store(tree / ".quarry"), query)
    assert result.num_rows >= 1


def quarry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codequarry", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 'x') TO '{p}' STORED AS CSV",
        "CREATE EXTERNAL TABLE e (a VARCHAR) STORED AS CSV LOCATION '{p}'",
        "INSERT INTO functions SELECT * FROM functions",
    ],
)
def test_cli_refuses_writes_with_one_line(tree: Path, targets: dict[str, Path], statement: str) -> None:
    for where in ("relative", "absolute", "existing"):
        done = quarry("sql", statement.format(p=targets[where]), cwd=tree)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "read-only" in lines[0], done.stderr


def test_cli_unknown_table_suggests_the_nearest(tree: Path) -> None:
    done = quarry("sql", "SELECT name FROM functons", cwd=tree)
    assert done.returncode == 2
    assert "no table 'functons'. Did you mean 'functions'?" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    api = pytest.raises(
        QueryError, sql, open_store(tree / ".quarry"), "SELECT * FROM calls c JOIN fles f USING (path)"
    )
    assert "Did you mean 'files'?" in str(api.value)


def test_plan_check_alone_refuses_a_write(tmp_path: Path) -> None:
    """The second check: even planned without SQLOptions, a COPY's plan is not a query's."""
    from datafusion import SessionContext

    from codequarry.query import _first_write_step

    target = tmp_path / "lazy.csv"
    ctx = SessionContext()
    assert (
        _first_write_step(ctx.sql(f"COPY (SELECT 1) TO '{target}' STORED AS CSV").logical_plan()) == "CopyTo"
    )
    assert (
        _first_write_step(ctx.sql(f"EXPLAIN COPY (SELECT 1) TO '{target}' STORED AS CSV").logical_plan())
        == "CopyTo"
    )
    assert _first_write_step(ctx.sql("SELECT 1").logical_plan()) is None
    assert not target.exists()  # planning never ran the COPY


def test_operation_sql_goes_through_the_same_door(tree: Path, targets: dict[str, Path]) -> None:
    from codequarry.operations import OperationContext, OperationError

    ctx = OperationContext.from_store(open_store(tree / ".quarry"))
    for where in ("relative", "absolute", "existing"):
        with pytest.raises(OperationError, match="read-only"):
            ctx.sql(f"COPY (SELECT 1) TO '{targets[where]}' STORED AS CSV")
    with pytest.raises(OperationError, match="Did you mean 'functions'"):
        ctx.sql("SELECT * FROM functons")
    assert ctx.sql("SELECT count(*) AS n FROM functions").to_pylist() == [{"n": 2}]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM '{p}'",
        "SELECT * FROM read_csv('{p}')",
        "SELECT * FROM read_parquet('{p}')",
        "SELECT * FROM read_json('{p}')",
    ],
)
def test_sql_reads_no_file_outside_the_store(tree: Path, tmp_path: Path, query: str) -> None:
    """No URL tables and no file-reading table functions: SQL sees the snapshot's tables, nothing else."""
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nhunter2\n")
    with pytest.raises(QueryError) as err:
        sql(open_store(tree / ".quarry"), query.format(p=secret))
    assert "hunter2" not in str(err.value)

"""`quarry sql` reads small tables through DataFusion's own Parquet scan, so that filters reach the
scan (issue 16, item 3). The judge is deltalake's table provider, which the store used before: on a
store of several repos every table and every query answers the same rows either way, the filters do
prune, and only the files the published log names are read, each whole."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from codequarry.errors import StoreError
from codequarry.query import open_store, plain_types, session, sql
from codequarry.store.store import arrow_table
from tests import paths

QUARRY = [sys.executable, "-m", "codequarry"]

QUERIES = [
    "SELECT * FROM functions WHERE repo = 'r1'",
    "SELECT repo, count(*) AS n FROM functions GROUP BY repo",
    "SELECT * FROM calls WHERE repo IN ('r0', 'flask') AND path LIKE '%m%'",
    "SELECT * FROM functions WHERE repo > 'r0' OR name = 'f1'",
    "SELECT * FROM functions WHERE repo <> 'r1' AND line >= 2",
    "SELECT * FROM imports WHERE repo = 'nosuchrepo'",
    "SELECT f.repo, f.qualname, count(*) AS n FROM calls c JOIN functions f ON c.repo = f.repo "
    "AND c.path = f.path AND c.scope = f.qualname WHERE c.repo = 'r2' AND f.repo = 'r2' "
    "GROUP BY f.repo, f.qualname",
    "SELECT c.repo, count(*) AS n FROM calls c JOIN functions f ON c.repo = f.repo "
    "AND c.path = f.path AND c.scope = f.qualname GROUP BY c.repo",
    "SELECT framework, full_path, handler, path, line FROM routes "
    "WHERE kind <> 'include' AND cardinality(auth) = 0",
    "SELECT repo, path FROM files WHERE path BETWEEN 'a' AND 'pkg/m2.py'",
]


def make_repo(root: Path, tag: int) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    for i in range(4):
        (root / "pkg" / f"m{i}.py").write_text(
            f"import os\n\ndef f{i}(x):\n    return os.path.join(x, 'r{tag}')\n\n"
            f"def g{i}(y):\n    return f{i}(y) + str(len(y))\n"
        )
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small repos and the Flask fixture, one extract each: every table has a part per repo."""
    base = tmp_path_factory.mktemp("pushdown")
    out = base / "store"
    sources = [make_repo(base / f"r{i}", i) for i in range(3)]
    flask = base / "flask"
    shutil.copytree(paths.FIXTURES / "routes" / "flask_app", flask)
    for src in [*sources, flask]:
        done = subprocess.run(
            [*QUARRY, "extract", str(src), "--store", str(out), "-q", "-w", "1"], capture_output=True
        )
        assert done.returncode == 0, done.stderr
    return out


def rows(result: Any) -> list[str]:
    return sorted(map(repr, plain_types(result).to_pylist()))


def answers(folder: Path, query: str, pushdown: bool) -> list[str]:
    ses = session(open_store(folder), pushdown=pushdown)
    return rows(ses.sql(query).to_arrow_table())


def test_every_table_reads_the_same_rows_with_and_without_pushdown(store: Path) -> None:
    snap = open_store(store).snapshot()
    assert snap is not None and len(snap.tables) > 10
    native, provider = session(open_store(store)), session(open_store(store), pushdown=False)
    for name, state in sorted(snap.tables.items()):
        got = rows(native.sql(f'SELECT * FROM "{name}"').to_arrow_table())
        assert got == rows(provider.sql(f'SELECT * FROM "{name}"').to_arrow_table()), name
        assert len(got) == state.rows, name


@pytest.mark.parametrize("query", QUERIES)
def test_queries_answer_the_same_with_and_without_pushdown(store: Path, query: str) -> None:
    got = answers(store, query, True)
    assert got == answers(store, query, False)
    if "nosuchrepo" not in query:
        assert got, query  # a query that matches nothing would prove little
    assert rows(sql(open_store(store), query)) == got  # quarry sql's own (lazy) session


def scanned_rows(folder: Path, query: str, pushdown: bool) -> int:
    """Rows out of the table scans of EXPLAIN ANALYZE ``query``."""
    ses = session(open_store(folder), pushdown=pushdown)
    plan = ses.sql("EXPLAIN ANALYZE " + query).to_arrow_table().column(1)[0].as_py()
    scans = [line for line in plan.splitlines() if "DataSourceExec" in line]
    assert scans, plan
    return sum(int(re.search(r"output_rows=(\d+)", line).group(1)) for line in scans)  # type: ignore[union-attr]


def test_a_filter_on_repo_prunes_the_scan(store: Path) -> None:
    query = "SELECT name FROM functions WHERE repo = 'r1'"
    snap = open_store(store).snapshot()
    assert snap is not None
    wanted = len(answers(store, query, True))
    assert 0 < wanted < snap.tables["functions"].rows
    assert scanned_rows(store, query, pushdown=False) == snap.tables["functions"].rows  # reads it all
    assert scanned_rows(store, query, pushdown=True) == wanted  # only r1's part


def live_parts(folder: Path, name: str) -> list[Path]:
    st = open_store(folder)
    snap = st.snapshot()
    assert snap is not None
    actions = arrow_table(st.open_delta(name, snap.tables[name].version).get_add_actions(flatten=False))
    return [st.table_path(name) / p for p in actions.column("path").to_pylist()]


def test_only_the_files_the_log_names_are_read(store: Path, tmp_path: Path) -> None:
    """A file in a table's folder that no published commit names (a run that has not published yet
    writes its parts there first) is not read."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    before = answers(copy, "SELECT * FROM functions", True)
    part = live_parts(copy, "functions")[0]
    shutil.copy(part, part.with_name("part-unpublished-0001.parquet"))
    assert answers(copy, "SELECT * FROM functions", True) == before


def test_a_part_of_another_size_than_its_log_says_is_damage(store: Path, tmp_path: Path) -> None:
    """DataFusion reads any valid Parquet file it is given: a part rewritten with other rows, or
    deleted (read as no rows), must stop the query with the damage message, not answer."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    part = live_parts(copy, "functions")[0]
    data = pq.read_table(part)
    pq.write_table(data.slice(0, max(1, data.num_rows // 2)), part)
    with pytest.raises(StoreError, match=r"table 'functions' .* damaged: its file .* bytes, its log says"):
        sql(open_store(copy), "SELECT count(*) FROM functions")
    assert sql(open_store(copy), "SELECT count(*) AS n FROM files").column("n")[0].as_py() > 0
    part.unlink()
    with pytest.raises(StoreError, match=r"table 'functions' .* damaged: its file .* is missing"):
        sql(open_store(copy), "SELECT count(*) FROM functions")

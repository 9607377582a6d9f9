"""`quarry sql`'s text outputs tell every cell and every column name apart.

Found by trust sweep 12: tab-separated output wrote a null and an empty string alike (an empty cell),
so a function with no docstring and one whose docstring is empty read the same; and column
names were not escaped at all: a name holding a tab or a line break shifted the header against the
rows (tsv), and one holding a terminal escape reached the terminal raw in the table for people.
Now a null is ``\\N`` (as PostgreSQL's text format writes it; a cell's own backslashes are doubled,
so the text ``\\N`` stays ``\\\\N``), and column names are escaped as cells are.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.hostile.conftest import quarry


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cells")
    (root / "src").mkdir()
    (root / "src" / "docs.py").write_text('def none():\n    pass\n\n\ndef empty():\n    """"""\n')
    quarry("extract", root / "src", "--store", root / "store", "-w", "1", "-q")
    return root / "store"


def test_tsv_tells_a_null_from_an_empty_string(store: Path) -> None:
    query = "SELECT name, docstring FROM functions ORDER BY name"
    lines = quarry("sql", query, "--store", store, "-f", "tsv").stdout.splitlines()
    assert lines == ["name\tdocstring", "empty\t", "none\t\\N"]
    literal = quarry("sql", "SELECT '\\N' AS a, '' AS b, NULL AS c", "--store", store, "-f", "tsv").stdout
    assert literal.splitlines()[1] == "\\\\N\t\t\\N"
    # csv already told them apart: a null is an empty field, an empty string is ""
    rows = quarry("sql", query, "--store", store, "-f", "csv").stdout.splitlines()
    assert rows[1:] == ['"empty",""', '"none",']


def test_column_names_are_escaped_like_cells(store: Path, tmp_path: Path) -> None:
    name = "a\tb\nc\x1b]0;title\x07"
    query = f'SELECT 1 AS "{name}", 2 AS plain'
    tsv = quarry("sql", query, "--store", store, "-f", "tsv").stdout.splitlines()
    assert tsv == ["a\\tb\\nc\x1b]0;title\x07\tplain", "1\t2"]  # one name per column, one header line
    out = tmp_path / "r.tsv"
    quarry("sql", query, "--store", store, "-o", out)
    assert out.read_text().splitlines() == tsv
    table = quarry("sql", query, "--store", store).stdout
    assert "\x1b" not in table and "\x07" not in table
    assert table.splitlines()[0].startswith("a       b\\nc\\x1b]0;t")  # a tab is kept, as in cells
    assert table.splitlines()[1].split() == ["1", "2"]
    # csv quotes the name whole; json keeps it as the key it is
    header = next(csv.reader(io.StringIO(quarry("sql", query, "--store", store, "-f", "csv").stdout)))
    assert header == [name, "plain"]

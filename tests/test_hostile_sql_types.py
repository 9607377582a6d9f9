"""`quarry sql` results of unusual Arrow types print or are refused in one line, never a traceback.

Found: ``SELECT now()`` (a nanosecond timestamp) was a traceback in the table, json and jsonl
formats (``to_pylist`` cannot hold nanoseconds in a datetime); a binary column and an interval were
tracebacks in csv (no UTF-8 cast); an interval was a traceback in parquet. Now nanosecond times and
durations print as text, intervals as their months/days/nanoseconds, binary as hex in csv (as the
serve UI shows it), and a type Parquet cannot hold is one line, exit 2, the earlier file intact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.conftest import one_file_store, quarry


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_file_store(tmp_path_factory, "types", "x = 1\n", "--select", "python.core")


NOW = (
    "SELECT now() AS t, arrow_cast(5, 'Duration(Nanosecond)') AS d, arrow_cast(5, 'Time64(Nanosecond)') AS tm"
)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl", "tsv"])
def test_nanosecond_times_print_in_every_text_format(store: Path, fmt: str) -> None:
    done = quarry("sql", NOW, "--store", store, "-f", fmt, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "5 ns" in done.stdout and "00:00:00.000000005" in done.stdout
    if fmt == "json":
        assert json.loads(done.stdout)[0]["t"][:2] == "20"  # the timestamp, to the nanosecond, as text


def test_binary_and_intervals_in_csv(store: Path) -> None:
    done = quarry(
        "sql", "SELECT X'00ff1b' AS b, INTERVAL '1 day' AS i", "--store", store, "-f", "csv", check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith('"00ff1b","MonthDayNano(months=0, days=1')


def test_a_type_parquet_cannot_hold_is_one_line_and_the_old_file_stays(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    quarry("sql", "SELECT 1 AS one", "--store", store, "-o", out)
    before = out.read_bytes()
    done = quarry("sql", "SELECT INTERVAL '1 day' AS i", "--store", store, "-o", out, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "CAST" in done.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]  # no temporary file left

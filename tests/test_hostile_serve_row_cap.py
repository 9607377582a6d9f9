"""`quarry serve`'s row cap stops the query, not only its answer (trust sweep 6).

Each console query ran to its end in its child and was sliced to the row cap afterwards: a query with
a few matching rows among ten billion generated ones ran until the query timeout (504), holding every
row it found meanwhile, and ``SELECT * FROM generate_series(1, 10000000000)`` asked the child for
80 GB before the slice. The query is now limited to ``row_cap + 1`` rows, so DataFusion stops there.
Checked against the old code: the first query timed out (504) instead of answering.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serve.conftest import Server, one_file_server, post_sql


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from one_file_server(tmp_path_factory, "--row-cap", "10", "--query-timeout", "60")


def _query(srv: Server, sql: str) -> tuple[int, dict[str, object]]:
    return post_sql(srv, sql, timeout=180)


def test_a_query_stops_at_the_row_cap(server: Server) -> None:
    status, body = _query(
        server, "SELECT value FROM generate_series(1, 10000000000) WHERE value % 1000000 = 0"
    )
    assert status == 200, body
    assert body["truncated"] is True
    assert body["rows"] == [[n * 1_000_000] for n in range(1, 11)]


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT path FROM files", [["app.py"]]),
        ("VALUES (1), (2)", [[1], [2]]),
        ("EXPLAIN SELECT 1", None),
        ("EXPLAIN ANALYZE SELECT 1", None),
        ("DESCRIBE files", None),
    ],
)
def test_short_answers_and_plans_are_whole(server: Server, sql: str, rows: list[list[object]] | None) -> None:
    """The control: what fits under the cap is whole and not marked truncated; a plan (which must stay
    the root: DataFusion refuses a limit above EXPLAIN) is answered too."""
    status, body = _query(server, sql)
    assert status == 200, body
    assert body["truncated"] is False
    if rows is not None:
        assert body["rows"] == rows
    else:
        assert body["rows"]

"""`quarry serve`'s query child is held to a memory bound (trust sweep 7).

A console query ran in a child process with no memory limit: ``SELECT length(repeat('x',
1000000000))`` held ~4 GB for half a minute and answered, and a larger one (or a cross join) could take
the machine's memory. The child now joins a task cgroup of ``--query-memory`` bytes (RLIMIT_AS where no
cgroup can be made, as with ``QUARRY_NO_CGROUP=1``); past it, the query is stopped with a 507 and a
one-line message, and the server keeps answering. Checked against the old code: the option did not
exist, and without it the query answered 200 after using ~4 GB.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import one_file_store
from tests.serve.conftest import Server, post_sql


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_file_store(
        tmp_path_factory, "serve_memory", "def f():\n    return 1\n", "--select", "python.core"
    )


@pytest.fixture(scope="module", params=["cgroup where possible", "rlimit_as"])
def server(request: pytest.FixtureRequest, store: Path) -> Iterator[Server]:
    env = {"QUARRY_NO_CGROUP": "1"} if request.param == "rlimit_as" else None
    srv = Server(store, "--query-memory", "256MB", "--query-timeout", "120", env=env)
    yield srv
    srv.stop()


def _query(srv: Server, sql: str) -> tuple[int, dict[str, object]]:
    return post_sql(srv, sql, timeout=300)


def test_a_query_past_its_memory_is_stopped_and_the_server_goes_on(server: Server) -> None:
    status, body = _query(server, "SELECT length(repeat('x', 1000000000)) AS n")
    assert status == 507, body
    error = str(body["error"])
    assert "memory bound of 256 MiB" in error and "--query-memory" in error
    assert "Traceback" not in error
    status, body = _query(server, "SELECT count(*) AS n FROM files")
    assert (status, body["rows"]) == (200, [[1]])


def test_a_bad_bound_is_a_usage_error(store: Path) -> None:
    from tests.hostile.conftest import quarry

    done = quarry("serve", "--store", store, "--port", "0", "--query-memory", "lots", check=False)
    assert done.returncode == 2
    assert "cannot read size 'lots'" in done.stderr and "Traceback" not in done.stderr

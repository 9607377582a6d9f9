"""Shared pytest options and fixtures: ``--update-golden`` comes from the public test helpers."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

pytest_plugins = ["codequarry.testing"]


@pytest.fixture
def update_golden() -> bool:
    """True when the run should rewrite golden files instead of only comparing against them."""
    from codequarry.testing import updating_goldens

    return updating_goldens()


@pytest.fixture(scope="session")
def stdlib_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of one ``quarry extract`` of this machine's standard library (every default extractor,
    ``site-packages`` left out), made once for the tests that only read it (tests/test_stdlib.py,
    tests/store/test_export.py): the extract is the minute or two each of them used to spend alone.
    ``HEAVY`` below keeps them on one worker under ``-n``, so that it is made once."""
    from codequarry import extract, make_plan

    store = tmp_path_factory.mktemp("stdlib") / "store"
    extract(make_plan([Path(sysconfig.get_paths()["stdlib"])], store=store, exclude=["site-packages"]))
    return store


#: Under ``pytest -n 2 --dist loadgroup`` (pytest-xdist, README's test command) a worker takes a
#: group of tests at a time. Every test file is its own group, so that its module-scoped fixtures
#: (stores of real corpora, most of them) are made once, not once per worker; the tests below, by node
#: id prefix, share the group "heavy" instead, so that they run one after another on one worker while
#: the other runs the rest: the whole-stdlib runs (test_layers_stdlib's rows alone take ~12 GB;
#: ``stdlib_store`` above is made once per worker, so its readers share one) and the tests that
#: start Ray or Prefect.
HEAVY = (
    "tests/extractors/layers/test_layers_stdlib.py",
    "tests/test_stdlib.py",
    "tests/store/test_export.py::test_the_standard_library_exports_in_every_format",
    "tests/extractors/python/test_python_core.py::test_stdlib_counts",
    "tests/extractors/python/test_security.py::test_whole_stdlib_counts_stay_reasonable",
    "tests/extractors/python/test_call_graph.py::test_stdlib_facts",
    "tests/extractors/python/test_callgraph_real.py",
    "tests/engine/test_ray.py",
    "tests/engine/test_ray_cluster.py",
    "tests/serve/test_services.py::test_ray_and_prefect_come_up_in_order_and_go_down",
    "tests/flows/",
)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test its ``xdist_group``: "heavy" or its file."""
    for item in items:
        heavy = item.nodeid.startswith(HEAVY)
        item.add_marker(pytest.mark.xdist_group("heavy" if heavy else item.nodeid.split("::")[0]))

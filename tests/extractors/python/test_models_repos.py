"""Two copies of one tree in one store, under two repo names: every derived table holds the same rows
for each copy, and the rows of an extract of one copy alone (each repo is resolved on its own).

On the old code the ORM and validation tables kept rows for one copy only (classes were keyed by
their dotted name across the whole store, and the second copy's were dropped as duplicates), with
reuse on and off."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from codequarry import extract, make_plan
from tests import paths
from tests.storedump import dump

TREES = ["models/django", "models/validation", "models/sqlalchemy", "models/testsuite", "routes/flask_app"]
DERIVED = [
    "routes",
    "orm_models",
    "orm_fields",
    "validation_models",
    "validation_fields",
    "validation_validators",
    "tests",
]


def _tree(root: Path) -> Path:
    for rel in TREES:
        shutil.copytree(paths.FIXTURES / rel, root / rel.replace("/", "_"))
    return root


def _run(sources: list[Path], store: Path, reuse: bool, repo: str | None = None) -> None:
    old = os.environ.get("QUARRY_REUSE")
    os.environ["QUARRY_REUSE"] = "1" if reuse else "0"
    try:
        extract(make_plan(sources, store=store, workers=1, repo=repo))
    finally:
        if old is None:
            del os.environ["QUARRY_REUSE"]
        else:
            os.environ["QUARRY_REUSE"] = old


def _derived(store: Path, repo: str) -> dict[str, list[str]]:
    """The derived tables' rows of ``repo``, without the repo column (sorted JSON)."""
    out = {}
    for name, rows in dump(store, repo).items():
        if name in DERIVED:
            plain = [{k: v for k, v in json.loads(r).items() if k != "repo"} for r in rows]
            out[name] = sorted(json.dumps(r, sort_keys=True) for r in plain)
    return out


@pytest.mark.parametrize("reuse", [True, False])
def test_two_folders_in_one_run(tmp_path: Path, reuse: bool) -> None:
    a = _tree(tmp_path / "corpus" / "a")
    b = tmp_path / "corpus" / "b"
    shutil.copytree(a, b)
    _run([a, b], tmp_path / "store", reuse)
    _run([a], tmp_path / "alone", reuse)
    first, second = _derived(tmp_path / "store", "a"), _derived(tmp_path / "store", "b")
    assert set(first) == set(DERIVED)  # every derived table has rows here
    assert first == second
    assert first == _derived(tmp_path / "alone", "a")


def test_one_folder_under_two_repo_names(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    store = tmp_path / "store"
    _run([src], store, True, repo="one")
    _run([src], store, True, repo="two")
    first, second = _derived(store, "one"), _derived(store, "two")
    assert set(first) == set(DERIVED)
    assert first == second


def test_routes_of_a_repo_come_from_its_own_rows(tmp_path: Path) -> None:
    """A Django project in repo ``a`` includes ``lib.urls``, which only repo ``b`` has. The routes
    operation promises ``partition="repo"`` (a repo's rows from that repo's rows alone), but looked a
    key up in any repo that had it: a fresh extract rooted b's route under a's prefix, and a run that
    changed b alone re-derived b without a's rows and gave another answer. Now no repo's routes reach
    into another's, and the incremental store equals the fresh one."""
    a, b = tmp_path / "corpus" / "a", tmp_path / "corpus" / "b"
    (a / "site").mkdir(parents=True)
    (b / "lib").mkdir(parents=True)
    (a / "site" / "__init__.py").write_text("")
    (b / "lib" / "__init__.py").write_text("")
    (a / "site" / "urls.py").write_text(
        "from django.urls import include, path\nfrom lib import views\n\n"
        'urlpatterns = [path("x/", views.index), path("auth/", include("lib.urls"))]\n'
    )
    (b / "lib" / "views.py").write_text("def index(request):\n    return None\n")
    (b / "lib" / "urls.py").write_text(
        'from django.urls import path\nfrom lib import views\n\nurlpatterns = [path("login/", views.index)]\n'
    )
    store = tmp_path / "store"
    _run([a, b], store, True)
    routes = _derived(store, "b")["routes"]
    assert [json.loads(r)["full_path"] for r in routes] == ["login/"]  # not a's "auth/login/"
    (b / "lib" / "views.py").write_text("def index(request, extra=None):\n    return 1\n")
    _run([a, b], store, True)
    _run([a, b], tmp_path / "fresh", True)
    for repo in ("a", "b"):
        assert _derived(store, repo) == _derived(tmp_path / "fresh", repo)

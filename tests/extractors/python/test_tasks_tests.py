"""Tasks (Celery, RQ, Dramatiq, Huey) and tests (pytest, unittest): fixture apps
``tests/fixtures/models/tasks`` and ``.../testsuite`` (store shared with tests/extractors/python/test_orm.py), Celery's
own source, and the walk-once rule for the whole domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from codequarry.testing import extract_rows
from tests.extractors.python.test_orm import FIXTURES, doc_sql, golden_check, one, query, real, rows

#: the extractors of this domain (the models, the task queues, the test suites)
SELECT = ["python.models.classes", "python.tasks.definitions", "python.tests.facts"]


@pytest.mark.parametrize("case", ["tasks", "testsuite"])
def test_golden(case: str) -> None:
    golden_check(case)


# -- tasks ---------------------------------------------------------------------------------------------


def test_celery_tasks() -> None:
    receipt = one("tasks", name="send_receipt")
    assert (receipt["framework"], receipt["task_name"], receipt["explicit_name"], receipt["app"]) == (
        "celery",
        "orders.tasks.send_receipt",
        False,
        None,
    )
    refund = one("tasks", name="refund")
    assert (refund["task_name"], refund["queue"]) == ("orders.refund", "payments")
    assert "max_retries=3" in refund["options"]
    resize = one("tasks", name="resize")  # @app.task with app imported from proj/celery.py
    assert (resize["app"], resize["is_bound"]) == ("proj.celery.app", True)
    assert one("tasks", name="ping")["is_async"]
    report = one("tasks", name="ReportTask")
    assert (report["kind"], report["task_name"], report["queue"]) == ("class", "orders.report", "reports")
    assert not rows("tasks", name="BaseTask")  # no run(): a base for tasks
    assert one("tasks", name="cleanup")["task_name"] == "orders.cleanup"  # under an `if`
    dynamic = one("tasks", name="dynamic")  # registered in a function on a parameter
    assert (dynamic["qualname"], dynamic["app"]) == ("register.<locals>.dynamic", "celery_app")
    assert one("tasks", name="debug_task")["module"] == "proj.celery"
    assert not rows("tasks", name="helper") and not rows("tasks", name="not_a_queue_task")


def test_rq_dramatiq_and_huey() -> None:
    job = one("tasks", name="count_words", kind="function")
    assert (job["framework"], job["queue"]) == ("rq", "low")
    enqueued = [(r["task_name"], r["line"]) for r in rows("tasks", kind="enqueued")]
    assert enqueued == [
        ("jobs.rq_jobs.fetch", 21),
        ("jobs.rq_jobs.count_words", 22),
        ("jobs.rq_jobs.fetch", 23),
        ("jobs.rq_jobs.count_words", 24),
    ]
    assert one("tasks", name="send_email")["framework"] == "dramatiq"
    thumb = one("tasks", name="make_thumbnail")
    assert (thumb["task_name"], thumb["explicit_name"], thumb["queue"]) == ("thumbnail", True, "media")
    nightly = one("tasks", name="nightly")
    assert (nightly["framework"], nightly["is_periodic"]) == ("huey", True)
    assert not one("tasks", name="add")["is_periodic"]


def test_celery_builtin_tasks_of_the_installed_celery() -> None:
    got = {r["task_name"]: r for r in real("SELECT * FROM tasks WHERE framework = 'celery'")}
    builtins = {
        "celery.backend_cleanup",
        "celery.accumulate",
        "celery.chord_unlock",
        "celery.map",
        "celery.starmap",
        "celery.chunks",
        "celery.group",
        "celery.chain",
        "celery.chord",
    }
    assert builtins <= set(got)
    assert all(got[n]["path"] == "builtins.py" and got[n]["app"] == "app" for n in builtins)
    assert got["celery.backend_cleanup"]["qualname"] == "add_backend_cleanup_task.<locals>.backend_cleanup"
    assert got["celery.accumulate"]["is_bound"] and not got["celery.backend_cleanup"]["is_bound"]
    assert "shared=False" in got["celery.map"]["options"]
    ping = got["celery.ping"]  # @shared_task(name='celery.ping') in celery/contrib/testing/tasks.py
    assert (ping["app"], ping["module"]) == (None, "celery.contrib.testing.tasks")


def test_documented_query_celery_default_names() -> None:
    got = [
        r["name"]
        for r in query(doc_sql("Celery tasks named by default (renaming the module renames the task)"))
    ]
    assert got == ["ping", "resize", "send_receipt", "debug_task"]


# -- tests ---------------------------------------------------------------------------------------------


def test_pytest_functions_classes_and_fixtures() -> None:
    pairs = one("tests", name="test_pairs")
    assert (pairs["parametrize_args"], pairs["parametrize_cases"]) == (["a", "b", "flag"], 6)
    assert pairs["fixtures"] == ["engine"] and pairs["marks"] == ["django_db", "parametrize"]
    dyn = one("tests", name="test_dynamic")
    assert (dyn["parametrize_cases"], dyn["is_async"], dyn["marks"]) == (
        None,
        True,
        ["django_db", "parametrize", "slow"],
    )
    get = one("tests", name="test_get")
    assert (get["class_name"], get["framework"], get["fixtures"]) == (
        "TestApi",
        "pytest",
        ["token", "client"],
    )
    assert one("tests", name="test_post")["marks"] == ["django_db", "usefixtures", "skip"]
    database = one("tests", kind="fixture", name="database")
    assert (database["fixture_scope"], database["autouse"]) == ("session", True)
    engine = one("tests", kind="fixture", fixture_name="engine")
    assert (engine["name"], engine["fixture_params"], engine["fixtures"]) == (
        "engine_fixture",
        2,
        ["request"],
    )
    assert one("tests", kind="fixture", name="token")["class_name"] == "TestApi"
    for absent in (
        "helper",
        "test_never_collected",
        "test_not_a_test",
        "not_a_test",
        "test_connection",
        "check_not_a_test",
    ):
        assert not rows("tests", name=absent), absent


def test_unittest_cases_across_files() -> None:
    # ArticleViewTests(BaseViewTest) in tests/test_views.py; BaseViewTest in tests/base.py derives from
    # AppCase in app/testing.py, which derives from django.test.TestCase
    lst = one("tests", name="test_list")
    assert (lst["framework"], lst["class_name"], lst["fixtures"]) == ("unittest", "ArticleViewTests", [])
    assert one("tests", name="test_detail")["marks"] == ["django_db", "skipif"]
    assert one("tests", name="test_both")["framework"] == "unittest"  # a Test* class that is a TestCase
    assert one("tests", name="test_add")["framework"] == "unittest"  # through a base of the same file
    assert one("tests", name="test_io")["is_async"]
    counts = {
        r["framework"]: r["n"]
        for r in query(
            "SELECT framework, count(*) AS n FROM tests "
            "WHERE kind = 'test' AND repo = 'testsuite' GROUP BY framework"
        )
    }
    assert counts == {"pytest": 5, "unittest": 7}


def test_documented_query_fixtures_by_scope() -> None:
    got = {r["fixture_scope"]: (r["n"], r["autouse"]) for r in query(doc_sql("fixtures by scope"))}
    assert got == {"function": (3, 0), "session": (1, 1)}


def test_documented_query_most_parametrized() -> None:
    got = [(r["qualname"], r["parametrize_cases"]) for r in query(doc_sql("the most parametrized tests"))]
    assert got == [("test_pairs", 6)]


def test_documented_query_nullable_columns_without_default() -> None:
    got = {(r["model"], r["name"]) for r in query(doc_sql("nullable columns without a default"))}
    assert ("app.classic.Order", "note") in got and ("blog.models.Article", "parent") in got
    assert ("app.models.User", "email") in got
    assert ("app.models.User", "name") not in got and ("heroes.Hero", "age") not in got  # has a default


# -- the walk-once rule --------------------------------------------------------------------------------


def test_the_domain_extractors_never_walk_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    from codequarry.source import SourceFile

    def forbidden(*_a: object, **_k: object) -> None:
        raise AssertionError("an extractor walked the tree")

    monkeypatch.setattr(ast, "walk", forbidden)
    monkeypatch.setattr(ast, "iter_child_nodes", forbidden)
    monkeypatch.setattr(ast.NodeVisitor, "generic_visit", forbidden)
    cases = ("django", "sqlalchemy", "validation", "tasks", "testsuite")
    before = SourceFile.traversals
    got = [extract_rows(FIXTURES / case, select=SELECT) for case in cases]
    files = sum(len(list((FIXTURES / case).rglob("*.py"))) for case in cases)
    assert SourceFile.traversals - before == files  # one node index per file, shared by all three
    assert not [e for tables in got for e in tables["errors"]]
    assert sum(len(tables["model_classes"]) for tables in got) > 30


def test_a_file_without_task_queue_or_test_imports_costs_no_resolution(tmp_path: Path) -> None:
    from codequarry.python import resolve

    (tmp_path / "plain.py").write_text(
        "import enum\n\nclass Color(enum.Enum):\n    RED = 1\n\n"
        "class Err(ValueError):\n    pass\n\ndef helper():\n    return 1\n"
    )
    built = []
    original = resolve.FileNames.__init__

    def spy(self: object, src: object) -> None:
        built.append(src)
        original(self, src)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(resolve.FileNames, "__init__", spy)
        got = extract_rows(tmp_path, select=SELECT)
    assert built == [] and not got["model_classes"]

"""Tests: pytest test functions, test classes and fixtures (scope, autouse, params, parametrize), and
unittest cases (Django's, DRF's and other ``*TestCase`` classes included).

Whether a method ``test_x`` of ``class ArticleTests(BaseCase)`` is a unittest test depends on whether
``BaseCase``, perhaps defined in another file, derives from ``unittest.TestCase``: the file extractor
``python.tests.facts`` records each file's tests, fixtures and test-class candidates (with bases
resolved through imports) in ``test_facts``, deciding what the file alone decides; the operation
``python.tests.cases`` settles the rest across files and writes ``tests``.

What pytest collects is followed as its defaults say: test functions and ``Test*`` classes (without
``__init__``) in files named ``test_*.py`` or ``*_test.py``; fixtures wherever they are declared.
A unittest case is a subclass (through any number of files) of a class named ``*TestCase`` from
outside the corpus, such as ``unittest.TestCase`` or ``django.test.TestCase``. See
``docs/tables/models.md`` for the columns and the limits.
"""

from __future__ import annotations

import ast
import posixpath
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.tasks.testclasses import class_facts
from codequarry.extractors.python.tasks.testmarks import (
    EMPTY,
    NO_INFO,
    LazyNames,
    decorator_info,
    product,
    pytestmark_marks,
)
from codequarry.python.scopes import body_statements, module_name
from codequarry.python.spans import span_getter
from codequarry.schema import dataset
from codequarry.source import SourceFile


class CommonColumns:
    """The columns ``test_facts`` and ``tests`` share."""

    framework: str | None
    kind: str
    name: str
    qualname: str
    module: str
    class_name: str | None
    is_async: bool
    fixture_scope: str | None
    autouse: bool
    fixture_name: str | None
    fixture_params: int | None
    parametrize_args: list[str]
    parametrize_cases: int | None
    marks: list[str]
    fixtures: list[str]
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("test_facts")
class TestFact(CommonColumns):
    """Intermediate, per file: tests, fixtures and test classes (``kind='class'``), some pending."""

    class_fqn: str | None
    pending: bool
    bases: list[str]
    is_case: bool


def _is_test_file(src: SourceFile) -> tuple[bool, bool]:
    """(pytest collects tests from this file, the file may hold tests or fixtures at all)."""
    base = posixpath.basename(src.path)
    pytest_file = (base.startswith("test_") or base.endswith("_test.py")) and base.endswith(".py")
    if pytest_file or base == "conftest.py" or base.startswith("test"):
        return pytest_file, True
    for stmt in src.nodes(ast.Import, ast.ImportFrom):
        if stmt.__class__ is ast.Import:
            if any("test" in a.name for a in stmt.names):
                return False, True
        elif stmt.module and "test" in stmt.module or any("test" in a.name.lower() for a in stmt.names):
            return False, True
    return False, False


@file_extractor("python.tests.facts", version=1, needs=["ast"], outputs=[TestFact])
def test_facts(src: SourceFile, out: Any) -> None:
    """Per-file tests, fixtures and test-class candidates (see the module docstring)."""
    pytest_file, maybe = _is_test_file(src)
    if not maybe:
        return
    names = LazyNames(src)
    modname = module_name(src)
    span = span_getter(src)
    add = out.test_facts.add
    module_marks = pytestmark_marks(src, names)
    classes = class_facts(src, names, modname, pytest_file, module_marks, add, span)
    rows = _DefRows(names, modname, span, add, pytest_file, module_marks)
    # the defs that can be tests or fixtures: at module level, and in the bodies of test classes
    # (a def nested in a function is neither, so those are never looked at)
    rows.place(src.tree.body, None, None)
    for scope, cls in classes.items():
        rows.place(scope.body, scope, cls)


class _DefRows:
    """The rows of the defs of one test file, one place (module level or a test class) at a time."""

    __slots__ = ("names", "modname", "span", "add", "pytest_file", "module_marks")

    def __init__(
        self, names: LazyNames, modname: str, span: Any, add: Any, pytest_file: bool, module_marks: list[str]
    ) -> None:
        self.names = names
        self.modname = modname
        self.span = span
        self.add = add
        self.pytest_file = pytest_file
        self.module_marks = module_marks

    def place(self, body: list[Any], scope: Any, cls: dict[str, Any] | None) -> None:
        """The rows of the defs in ``body``: module level (``scope`` None) or class ``scope``."""
        # the common case, an undecorated test method of a unittest case: every column but the
        # name, the async flag and the span is the class's
        same = (
            _unittest_columns(cls, scope, self.modname) if cls is not None and cls["status"] is True else None
        )
        prefix = f"{cls['qual']}." if same is not None and cls is not None else ""
        FunctionDef, AsyncFunctionDef = ast.FunctionDef, ast.AsyncFunctionDef
        add, span = self.add, self.span
        for fn in body_statements(body):
            kind = fn.__class__
            if kind is not FunctionDef and kind is not AsyncFunctionDef:
                continue
            is_test = fn.name.startswith("test")
            if not fn.decorator_list:
                if not is_test:
                    continue
                if same is not None:
                    line, col, end_line, end_col = span(fn)
                    add(
                        name=fn.name,
                        qualname=prefix + fn.name,
                        is_async=kind is AsyncFunctionDef,
                        line=line,
                        col=col,
                        end_line=end_line,
                        end_col=end_col,
                        **same,
                    )
                    continue
            self._def(fn, scope, cls, is_test)

    def _def(self, fn: Any, scope: Any, cls: dict[str, Any] | None, is_test: bool) -> None:
        """The row of a def that is decorated or a pytest test: a fixture, a test, or none."""
        decorators = fn.decorator_list
        info = decorator_info(decorators, self.names, scope) if decorators else NO_INFO
        fixture = info["fixture"]
        if fixture is None and (not is_test or (cls is None and not self.pytest_file)):
            return
        if cls is None:
            class_name = class_fqn = None
            qual = fn.name
        else:
            class_name, class_fqn, qual = scope.name, cls["fqn"], f"{cls['qual']}.{fn.name}"
        params = _params(fn, cls, fixture)
        where = self.span(fn)
        if fixture is not None:
            _add_fixture(
                self.add, fn, fixture, info, params, qual, self.modname, class_name, class_fqn, where
            )
            return
        settled = _test_columns(cls, info, self.module_marks)
        if settled is None:
            return
        framework, pending, marks, args, cases, usefixtures = settled
        if params or usefixtures:
            used = [p for p in params if p not in args]
            used.extend(f for f in usefixtures if f not in used)
        else:
            used = EMPTY
        line, col, end_line, end_col = where
        self.add(
            framework=framework,
            kind="test",
            name=fn.name,
            qualname=qual,
            module=self.modname,
            class_name=class_name,
            is_async=fn.__class__ is ast.AsyncFunctionDef,
            fixture_scope=None,
            autouse=False,
            fixture_name=None,
            fixture_params=None,
            parametrize_args=args or EMPTY,
            parametrize_cases=cases if args else None,
            marks=_dedupe(marks) if marks else EMPTY,
            fixtures=used,
            class_fqn=class_fqn,
            pending=pending,
            bases=EMPTY,
            is_case=False,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


def _params(fn: Any, cls: dict[str, Any] | None, fixture: dict[str, Any] | None) -> list[str]:
    """The parameters a test or fixture asks fixtures for (``self``/``cls`` of a method dropped)."""
    if cls is not None and cls["status"] is True and fixture is None:
        return EMPTY  # a unittest method takes no fixtures
    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
    if cls is not None and params and params[0] in ("self", "cls"):
        params = params[1:]
    return params


def _unittest_columns(cls: dict[str, Any], scope: Any, modname: str) -> dict[str, Any]:
    """The columns every undecorated test method of unittest case ``cls`` shares."""
    return {
        "framework": "unittest",
        "kind": "test",
        "module": modname,
        "class_name": scope.name,
        "fixture_scope": None,
        "autouse": False,
        "fixture_name": None,
        "fixture_params": None,
        "parametrize_args": cls["args"] or EMPTY,
        "parametrize_cases": cls["cases"] if cls["args"] else None,
        "marks": _dedupe(cls["all_marks"]),
        "fixtures": list(cls["usefixtures"]) or EMPTY,
        "class_fqn": cls["fqn"],
        "pending": False,
        "bases": EMPTY,
        "is_case": False,
    }


def _add_fixture(
    add: Any,
    fn: Any,
    fixture: dict[str, Any],
    info: dict[str, Any],
    params: list[str],
    qual: str,
    modname: str,
    class_name: str | None,
    class_fqn: str | None,
    span: tuple[int, int, int, int],
) -> None:
    """The row of a pytest fixture."""
    line, col, end_line, end_col = span
    add(
        framework="pytest",
        kind="fixture",
        name=fn.name,
        qualname=qual,
        module=modname,
        class_name=class_name,
        is_async=fn.__class__ is ast.AsyncFunctionDef,
        fixture_scope=fixture["scope"],
        autouse=fixture["autouse"],
        fixture_name=fixture["name"] or fn.name,
        fixture_params=fixture["params"],
        parametrize_args=EMPTY,
        parametrize_cases=None,
        marks=info["marks"] or EMPTY,
        fixtures=params or EMPTY,
        class_fqn=class_fqn,
        pending=False,
        bases=EMPTY,
        is_case=False,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
    )


def _test_columns(
    cls: dict[str, Any] | None, info: dict[str, Any], module_marks: list[str]
) -> tuple[str | None, bool, list[str], list[str], int | None, list[str]] | None:
    """(framework, pending, marks, parametrize args, cases, usefixtures) of a test, from its own
    decorators and its class's; None when it is no test (a method of a class pytest does not collect
    and that is settled as no unittest case)."""
    framework: str | None
    if cls is None:
        marks = [*module_marks, *info["marks"]] if info["marks"] else module_marks
        return "pytest", False, marks, info["args"], info["cases"], info["usefixtures"]
    status = cls["status"]
    if status is True:
        framework, pending = "unittest", False
    else:
        framework = "pytest" if cls["collectable"] else None
        pending = status is None
        if framework is None and not pending:
            return None
    if info is NO_INFO:  # the common case: an undecorated method
        return framework, pending, cls["all_marks"], cls["args"], cls["cases"], cls["usefixtures"]
    marks = [*cls["all_marks"], *info["marks"]]
    args = [*cls["args"], *info["args"]]
    cases = product(cls["cases"], info["cases"]) if (cls["args"] or info["args"]) else None
    return framework, pending, marks, args, cases, [*info["usefixtures"], *cls["usefixtures"]]


def _dedupe(items: list[str]) -> list[str]:
    if not items:
        return EMPTY
    return list(dict.fromkeys(items))

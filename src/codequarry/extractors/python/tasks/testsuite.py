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
from codequarry.python.calls import dotted_parts
from codequarry.python.imports import STDLIB, stdlib_heads
from codequarry.python.resolve import BUILTIN_NAMES, FileNames, file_names
from codequarry.python.scopes import body_statements, enclosing_def, module_name
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str
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


_CASE_SUFFIX = "TestCase"
_SKIPS = {"skip": "skip", "skipIf": "skipif", "skipUnless": "skipunless", "expectedFailure": "xfail"}
_FIXTURES = frozenset(
    {"pytest.fixture", "pytest.yield_fixture", "_pytest.fixtures.fixture", "pytest_asyncio.fixture"}
)
_EMPTY: list[str] = []
_NO_INFO: dict[str, Any] = {
    "marks": _EMPTY,
    "args": _EMPTY,
    "cases": None,
    "usefixtures": _EMPTY,
    "fixture": None,
}


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
    names = _LazyNames(src)
    modname = module_name(src)
    span = span_getter(src)
    add = out.test_facts.add
    module_marks = _module_marks(src, names)
    classes = _classes(src, names, modname, pytest_file, module_marks, add, span)
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
        self, names: _LazyNames, modname: str, span: Any, add: Any, pytest_file: bool, module_marks: list[str]
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
        info = _decorators(decorators, self.names, scope) if decorators else _NO_INFO
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
            used = _EMPTY
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
            parametrize_args=args or _EMPTY,
            parametrize_cases=cases if args else None,
            marks=_dedupe(marks) if marks else _EMPTY,
            fixtures=used,
            class_fqn=class_fqn,
            pending=pending,
            bases=_EMPTY,
            is_case=False,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


def _params(fn: Any, cls: dict[str, Any] | None, fixture: dict[str, Any] | None) -> list[str]:
    """The parameters a test or fixture asks fixtures for (``self``/``cls`` of a method dropped)."""
    if cls is not None and cls["status"] is True and fixture is None:
        return _EMPTY  # a unittest method takes no fixtures
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
        "parametrize_args": cls["args"] or _EMPTY,
        "parametrize_cases": cls["cases"] if cls["args"] else None,
        "marks": _dedupe(cls["all_marks"]),
        "fixtures": list(cls["usefixtures"]) or _EMPTY,
        "class_fqn": cls["fqn"],
        "pending": False,
        "bases": _EMPTY,
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
        parametrize_args=_EMPTY,
        parametrize_cases=None,
        marks=info["marks"] or _EMPTY,
        fixtures=params or _EMPTY,
        class_fqn=class_fqn,
        pending=False,
        bases=_EMPTY,
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
    if info is _NO_INFO:  # the common case: an undecorated method
        return framework, pending, cls["all_marks"], cls["args"], cls["cases"], cls["usefixtures"]
    marks = [*cls["all_marks"], *info["marks"]]
    args = [*cls["args"], *info["args"]]
    cases = _product(cls["cases"], info["cases"]) if (cls["args"] or info["args"]) else None
    return framework, pending, marks, args, cases, [*info["usefixtures"], *cls["usefixtures"]]


def _dedupe(items: list[str]) -> list[str]:
    if not items:
        return _EMPTY
    return list(dict.fromkeys(items))


def _product(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return a * b


class _LazyNames:
    """The file's FileNames, built on the first question (most test files need none)."""

    __slots__ = ("src", "_names")

    def __init__(self, src: SourceFile) -> None:
        self.src = src
        self._names: FileNames | None = None

    def get(self) -> FileNames:
        if self._names is None:
            self._names = file_names(self.src)
        return self._names


def _classes(
    src: SourceFile,
    names: _LazyNames,
    modname: str,
    pytest_file: bool,
    module_marks: list[str],
    add: Any,
    span: Any,
) -> dict[Any, dict[str, Any]]:
    """Test-class facts by node: unittest status (True, False, or None when another file decides),
    whether pytest collects it, and its marks. Emits a ``class`` row for every class that is or may be
    a unittest case, for the operation's walk across files."""
    out: dict[Any, dict[str, Any]] = {}
    parent = src.parents.get
    own_top = modname.partition(".")[0]
    status_by_fqn: dict[str, bool | None] = {}
    status_by_name: dict[str, bool | None] = {}  # module-level classes of this file
    std = stdlib_heads(src, own_top)
    tree = src.tree
    for cls in src.nodes(ast.ClassDef):
        up = parent(cls)
        scope = None if up is tree else enclosing_def(parent, cls)
        qual = cls.name if up is tree else src.qualname(cls)
        fqn = f"{modname}.{qual}"
        status = _class_status(cls, scope, names, status_by_fqn, status_by_name, std, own_top)
        status_by_fqn[fqn] = status
        if up is tree:
            status_by_name[cls.name] = status
        collectable = (
            pytest_file
            and cls.name.startswith("Test")
            and scope.__class__ is not ast.FunctionDef
            and not any(s.__class__ is ast.FunctionDef and s.name == "__init__" for s in cls.body)
        )
        if status is False and not collectable:
            continue
        info = _decorators(cls.decorator_list, names, scope) if cls.decorator_list else _NO_INFO
        out[cls] = {
            "fqn": fqn,
            "qual": qual,
            "status": status,
            "all_marks": [*module_marks, *info["marks"]],
            "collectable": collectable,
            "marks": info["marks"],
            "args": info["args"],
            "cases": info["cases"],
            "usefixtures": info["usefixtures"],
        }
        if status is not False:
            _add_class(add, span(cls), cls, qual, fqn, modname, status, names, scope)
    return out


def _class_status(
    cls: Any,
    scope: Any,
    names: _LazyNames,
    status_by_fqn: dict[str, bool | None],
    status_by_name: dict[str, bool | None],
    std: set[str],
    own_top: str,
) -> bool | None:
    """Whether ``cls`` is a unittest case, from its bases: True, False, or None (another file tells)."""
    nodes = [b.value if b.__class__ is ast.Subscript else b for b in cls.bases]
    quick = [_quick_status(node, status_by_name, std) for node in nodes]
    status: bool | None = False
    for node, got in zip(nodes, quick, strict=True):
        if True in quick:  # any base known to be a TestCase settles it, wherever it stands
            return True
        if got is _UNKNOWN:
            b = names.get().name(node, scope)
            if b in status_by_fqn:
                got = status_by_fqn[b]
            elif b.rsplit(".", 1)[-1].endswith(_CASE_SUFFIX):
                got = True
            elif b.partition(".")[0] in ("builtins", "typing", "abc", "enum") or (
                b.partition(".")[0] != own_top and b.partition(".")[0] in STDLIB
            ):
                got = False
            else:
                got = None  # a project or third-party class: another file may tell
        if got is True:
            return True
        if got is None:
            status = None
    return status


def _add_class(
    add: Any,
    where: tuple[int, int, int, int],
    cls: Any,
    qual: str,
    fqn: str,
    modname: str,
    status: bool | None,
    names: _LazyNames,
    scope: Any,
) -> None:
    """The ``class`` row of a class that is or may be a unittest case."""
    # the operation walks the bases of pending classes only; a case needs none
    bases = (
        [names.get().name(b.value if b.__class__ is ast.Subscript else b, scope) for b in cls.bases]
        if status is None
        else _EMPTY
    )
    line, col, end_line, end_col = where
    add(
        framework=None,
        kind="class",
        name=cls.name,
        qualname=qual,
        module=modname,
        class_name=None,
        is_async=False,
        fixture_scope=None,
        autouse=False,
        fixture_name=None,
        fixture_params=None,
        parametrize_args=_EMPTY,
        parametrize_cases=None,
        marks=_EMPTY,
        fixtures=_EMPTY,
        class_fqn=fqn,
        pending=status is None,
        bases=bases,
        is_case=status is True,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
    )


_UNKNOWN = object()


def _quick_status(node: Any, local: dict[str, bool | None], std: set[str]) -> Any:
    """A base's unittest status from how it is written, when that is enough; else _UNKNOWN. ``std``:
    names the file imports from the standard library only."""
    cls = node.__class__
    if cls is ast.Name:
        name = node.id
        if name in local:
            return local[name]
        if name.endswith(_CASE_SUFFIX):
            return True
        if name in BUILTIN_NAMES or name in std:
            return False
        return _UNKNOWN
    if cls is ast.Attribute:
        if node.attr.endswith(_CASE_SUFFIX):
            return True
        head = node.value
        while head.__class__ is ast.Attribute:
            head = head.value
        if head.__class__ is ast.Name and head.id in std:
            return False
    return _UNKNOWN


def _decorators(decorators: list[Any], names: _LazyNames, scope: Any) -> dict[str, Any]:
    """Marks, parametrize (argument names and case count), usefixtures and fixture options."""
    marks: list[str] = []
    args: list[str] = []
    cases: int | None = 1
    usefixtures: list[str] = []
    fixture = None
    for dec in decorators:
        call = dec if dec.__class__ is ast.Call else None
        func = call.func if call is not None else dec
        written = _written(func)
        # pytest.* and unittest.* are those modules in any test file; anything else is resolved
        resolved = (
            written
            if written.startswith(("pytest.", "unittest."))
            else (names.get().resolve(func, scope) or "")
        )
        if resolved in _FIXTURES or (resolved == "" and written == "fixture"):
            fixture = _fixture(call)
            continue
        if resolved.startswith("pytest.mark."):
            mark = resolved[len("pytest.mark.") :].partition(".")[0]
            marks.append(mark)
            if mark == "parametrize" and call is not None:
                names_, count = _parametrize(call)
                args.extend(names_)
                cases = _product(cases, count)
            elif mark == "usefixtures" and call is not None:
                usefixtures.extend(s for s in map(literal_str, call.args) if s)
            continue
        last = resolved.rsplit(".", 1)[-1]
        if resolved.startswith("unittest.") and last in _SKIPS:
            marks.append(_SKIPS[last])
    return {
        "marks": marks,
        "args": args,
        "cases": cases if args else None,
        "usefixtures": usefixtures,
        "fixture": fixture,
    }


def _written(node: Any) -> str:
    parts = dotted_parts(node)
    if parts is None:
        return ""
    head, rest = parts
    return f"{head}.{rest}" if rest else head


def _fixture(call: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"scope": "function", "autouse": False, "name": None, "params": None}
    if call is None:
        return out
    for kw in call.keywords:
        value = kw.value
        if kw.arg == "scope":
            out["scope"] = literal_str(value) or "<dynamic>"
        elif kw.arg == "autouse":
            out["autouse"] = value.__class__ is ast.Constant and value.value is True
        elif kw.arg == "name":
            out["name"] = literal_str(value)
        elif kw.arg == "params":
            out["params"] = len(value.elts) if value.__class__ in (ast.List, ast.Tuple) else None
    if call.args and literal_str(call.args[0]):  # pytest < 8 took scope positionally
        out["scope"] = literal_str(call.args[0])
    return out


def _parametrize(call: Any) -> tuple[list[str], int | None]:
    """(argument names, number of cases or None when the values are not a literal list)."""
    argnames = (
        call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "argnames"), None)
    )
    argvalues = (
        call.args[1]
        if len(call.args) > 1
        else next((k.value for k in call.keywords if k.arg == "argvalues"), None)
    )
    names_: list[str] = []
    if argnames is not None:
        text = literal_str(argnames)
        if text is not None:
            names_ = [n.strip() for n in text.replace(" ", ",").split(",") if n.strip()]
        elif argnames.__class__ in (ast.List, ast.Tuple):
            names_ = [s for s in map(literal_str, argnames.elts) if s]
    count = (
        len(argvalues.elts)
        if argvalues is not None and argvalues.__class__ in (ast.List, ast.Tuple)
        else None
    )
    return names_, count


def _module_marks(src: SourceFile, names: _LazyNames) -> list[str]:
    """Marks of a module-level ``pytestmark = pytest.mark.x`` (or a list of marks)."""
    for stmt in src.tree.body:
        if stmt.__class__ is ast.Assign and any(
            t.__class__ is ast.Name and t.id == "pytestmark" for t in stmt.targets
        ):
            value = stmt.value
            elts = value.elts if value.__class__ in (ast.List, ast.Tuple) else [value]
            out = []
            for e in elts:
                func = e.func if e.__class__ is ast.Call else e
                written = _written(func)
                resolved = (
                    written if written.startswith("pytest.") else (names.get().resolve(func, None) or "")
                )
                if resolved.startswith("pytest.mark."):
                    out.append(resolved[len("pytest.mark.") :].partition(".")[0])
            return out
    return _EMPTY

"""What a test's decorators say: pytest marks (``pytestmark`` included), ``parametrize`` (argument
names and case count), ``usefixtures``, fixture options, and unittest's skip decorators."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.python.calls import dotted_parts
from codequarry.python.resolve import FileNames, file_names
from codequarry.python.values import literal_str
from codequarry.source import SourceFile

_SKIPS = {"skip": "skip", "skipIf": "skipif", "skipUnless": "skipunless", "expectedFailure": "xfail"}
_FIXTURES = frozenset(
    {"pytest.fixture", "pytest.yield_fixture", "_pytest.fixtures.fixture", "pytest_asyncio.fixture"}
)
EMPTY: list[str] = []
NO_INFO: dict[str, Any] = {
    "marks": EMPTY,
    "args": EMPTY,
    "cases": None,
    "usefixtures": EMPTY,
    "fixture": None,
}


class LazyNames:
    """The file's FileNames, built on the first question (most test files need none)."""

    __slots__ = ("src", "_names")

    def __init__(self, src: SourceFile) -> None:
        self.src = src
        self._names: FileNames | None = None

    def get(self) -> FileNames:
        if self._names is None:
            self._names = file_names(self.src)
        return self._names


def product(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return a * b


def decorator_info(decorators: list[Any], names: LazyNames, scope: Any) -> dict[str, Any]:
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
                cases = product(cases, count)
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


def pytestmark_marks(src: SourceFile, names: LazyNames) -> list[str]:
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
    return EMPTY

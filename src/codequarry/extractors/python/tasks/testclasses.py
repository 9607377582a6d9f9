"""Which classes of a test file are (or may be) unittest cases, and which pytest collects: the
``class`` rows of ``test_facts`` and the facts the test rows of their methods need."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.tasks.testmarks import EMPTY, NO_INFO, LazyNames, decorator_info
from codequarry.python.imports import STDLIB, stdlib_heads
from codequarry.python.resolve import BUILTIN_NAMES
from codequarry.python.scopes import enclosing_def
from codequarry.source import SourceFile

_CASE_SUFFIX = "TestCase"


def class_facts(
    src: SourceFile,
    names: LazyNames,
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
        info = decorator_info(cls.decorator_list, names, scope) if cls.decorator_list else NO_INFO
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
    names: LazyNames,
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
    names: LazyNames,
    scope: Any,
) -> None:
    """The ``class`` row of a class that is or may be a unittest case."""
    # the operation walks the bases of pending classes only; a case needs none
    bases = (
        [names.get().name(b.value if b.__class__ is ast.Subscript else b, scope) for b in cls.bases]
        if status is None
        else EMPTY
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
        parametrize_args=EMPTY,
        parametrize_cases=None,
        marks=EMPTY,
        fixtures=EMPTY,
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

"""The ``imports`` table: every imported name, the binding it makes, and its context."""

from __future__ import annotations

from typing import Any

from codequarry.api import file_extractor
from codequarry.python.imports import import_bindings
from codequarry.python.spans import span_getter
from codequarry.schema import dataset
from codequarry.source import SourceFile


@dataset("imports")
class PyImport:
    """One row per imported name (``import a, b`` gives two rows)."""

    module: str | None
    name: str | None
    alias: str | None
    level: int
    resolved: str | None
    target: str | None
    bound_name: str | None
    scope: str
    is_type_checking: bool
    in_try: bool
    is_star: bool
    line: int
    col: int
    end_line: int
    end_col: int


@file_extractor("python.core.imports", version=1, needs=["ast"], outputs=[PyImport])
def imports(src: SourceFile, out: Any) -> None:
    """Imported names: as written, resolved to absolute modules, the binding they make, and context.

    ``resolved`` is the absolute module (``from ..x import y`` in ``pkg.sub.mod`` -> ``pkg.x``);
    ``target`` the fully qualified name the local binding refers to: ``from os import path as p`` ->
    ``os.path``, ``import a.b.c`` (binds ``a``) -> ``a``, ``import a.b.c as m`` -> ``a.b.c``.
    """
    bindings = import_bindings(src)
    if not bindings:
        return
    span = span_getter(src)
    qualname = src.qualname
    add = out.imports.add
    for b in bindings:
        line, col, end_line, end_col = span(b.alias)
        add(
            module=b.module,
            name=b.name,
            alias=b.asname,
            level=b.level,
            resolved=b.resolved,
            target=b.target,
            bound_name=b.bound_name,
            scope=qualname(b.scope),
            is_type_checking=b.is_type_checking,
            in_try=b.in_try,
            is_star=b.is_star,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

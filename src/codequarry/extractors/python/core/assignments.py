"""The ``assignments`` table: module- and class-level assignments, literal values."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.python.scopes import enclosing_def
from codequarry.python.spans import span_getter
from codequarry.python.values import LITERAL_KINDS, MAX_VALUE, assignment_targets, is_literal, value_kind
from codequarry.schema import dataset
from codequarry.source import SourceFile

_MAX_TARGET = 200  # characters of a target's source text (``x.y[...]``) kept


@dataset("assignments")
class PyAssignment:
    """One row per name assigned at module or class level (``=``, annotated, augmented)."""

    scope: str
    target: str
    annotation: str | None
    value_kind: str | None
    value: str | None
    is_augmented: bool
    line: int
    col: int
    end_line: int
    end_col: int


@file_extractor("python.core.assignments", version=1, needs=["ast"], outputs=[PyAssignment])
def assignments(src: SourceFile, out: Any) -> None:
    """Module- and class-level assignments: one row per target name, with literal values."""
    stmts = src.nodes(ast.Assign, ast.AnnAssign, ast.AugAssign)
    if not stmts:
        return
    parent = src.parents.get
    ClassDef = ast.ClassDef
    seg = src.segment
    span = span_getter(src)
    scope_names: dict[Any, str] = {None: ""}
    add = out.assignments.add
    for stmt in stmts:
        scope = enclosing_def(parent, stmt)
        if scope is not None and scope.__class__ is not ClassDef:
            continue  # inside a function
        qual = scope_names.get(scope)
        if qual is None:
            qual = scope_names[scope] = src.qualname(scope)
        cls = stmt.__class__
        value = stmt.value
        if cls is ast.Assign:
            pairs = [p for t in stmt.targets for p in assignment_targets(t, value)]
            annotation = None
        else:
            pairs = [(stmt.target, value)]
            annotation = seg(stmt.annotation) if cls is ast.AnnAssign else None
        for target, val in pairs:
            kind = text = None
            if val is not None:
                kind = value_kind(val)
                # a literal of at most MAX_VALUE characters spans at most half as many lines
                if kind in LITERAL_KINDS and val.end_lineno - val.lineno <= MAX_VALUE // 2:
                    text = seg(val)
                    if len(text) > MAX_VALUE or not is_literal(val):
                        text = None
            line, col, end_line, end_col = span(target)
            add(
                scope=qual,
                target=target.id if target.__class__ is ast.Name else seg(target, _MAX_TARGET),
                annotation=annotation,
                value_kind=kind,
                value=text,
                is_augmented=cls is ast.AugAssign,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )

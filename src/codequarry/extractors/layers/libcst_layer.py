"""The LibCST layer (opt-in: about ten times the cost of ``ast.parse``): what LibCST's metadata
providers know that ``ast`` does not. Qualified names of every name and attribute
(``QualifiedNameProvider``: ``p.join`` after ``import os.path as p`` is ``os.path.join``), each scope
with its accesses and assignments (``ScopeProvider``), all at exact positions (``PositionProvider``:
lines from 1, columns from 0 in characters).

The providers run in one ``MetadataWrapper.resolve_many`` over the shared ``cst`` parse product (no copy
of the tree). Scope ids are given in source order (the module is 0), and rows are written in source
order, so a file's rows are the same in every run (LibCST keeps accesses in sets).
"""

from __future__ import annotations

from typing import Any

from codequarry.api import file_extractor
from codequarry.schema import dataset


@dataset("cst_qualified_names")
class CstQualifiedName:
    """One row per (name or attribute, qualified name it may stand for); names LibCST cannot qualify
    have no row. ``source`` is where the name comes from: import, builtin or local."""

    node_type: str
    name: str
    qualified_name: str
    source: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("cst_scopes")
class CstScope:
    """One row per LibCST scope: global, class, function (lambdas included) or comprehension."""

    scope_id: int
    parent_id: int | None
    scope_type: str
    name: str | None
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("cst_accesses")
class CstAccess:
    """One row per read of a name, with the number of assignments it may refer to. A read inside a
    string annotation has the string's span."""

    scope_id: int
    name: str
    referents: int
    is_annotation: bool
    is_type_hint: bool
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("cst_assignments")
class CstAssignment:
    """One row per binding of a name in a scope (assignment, parameter, def, class, import), with the
    number of accesses that read it. ``node_type`` is the binding node: Name, Param, FunctionDef, ..."""

    scope_id: int
    name: str
    kind: str
    node_type: str
    references: int
    line: int
    col: int
    end_line: int
    end_col: int


def _span(positions: Any, node: Any) -> tuple[int, int, int, int]:
    rng = positions[node]
    return rng.start.line, rng.start.column, rng.end.line, rng.end.column


def _scope_ids(scopes: set[Any], positions: Any) -> dict[Any, int]:
    """Scopes numbered in source order of the node that opens them; an enclosing scope first."""

    def depth(scope: Any) -> int:
        n = 0
        while scope.parent in scopes and scope.parent is not scope:
            scope, n = scope.parent, n + 1
        return n

    def key(scope: Any) -> tuple[int, int, int]:
        node = getattr(scope, "node", None)
        line, col = _span(positions, node)[:2] if node is not None and node in positions else (0, 0)
        return line, col, depth(scope)

    return {scope: i for i, scope in enumerate(sorted(scopes, key=key))}


@file_extractor(
    "python.layers.cst",
    version=1,
    needs=["cst"],
    outputs=[CstQualifiedName, CstScope, CstAccess, CstAssignment],
    description="LibCST metadata: qualified names, scopes with accesses and assignments, exact positions",
    default=False,
)
def cst_layer(src: Any, out: Any) -> None:
    import libcst
    from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider, ScopeProvider

    wrapper = MetadataWrapper(src.cst, unsafe_skip_copy=True)
    meta = wrapper.resolve_many([PositionProvider, QualifiedNameProvider, ScopeProvider])
    positions, qualified, scope_of = meta[PositionProvider], meta[QualifiedNameProvider], meta[ScopeProvider]
    full_name = libcst.helpers.get_full_name_for_node
    add = out.cst_qualified_names.add
    for node in qualified:
        if not isinstance(node, libcst.Name | libcst.Attribute):
            continue
        names: Any = qualified[node]
        if callable(names):  # LibCST computes qualified names lazily: a LazyValue until called
            names = names()
        if not names:
            continue
        line, col, end_line, end_col = _span(positions, node)
        written = full_name(node) or ""
        for q in sorted(names, key=lambda q: (q.name, q.source.name)):
            add(
                node_type=type(node).__name__,
                name=written,
                qualified_name=q.name,
                source=q.source.name.lower(),
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
    scopes = {s for s in scope_of.values() if s is not None}
    ids = _scope_ids(scopes, positions)
    _write_scopes(out, ids, positions, wrapper.module)


def _write_scopes(out: Any, ids: dict[Any, int], positions: Any, module: Any) -> None:
    for scope, sid in sorted(ids.items(), key=lambda item: item[1]):
        node = getattr(scope, "node", None) or module
        parent = ids.get(scope.parent)
        out.cst_scopes.add(
            scope_id=sid,
            parent_id=parent,
            scope_type=type(scope).__name__,
            name=getattr(scope, "name", None),
            **_named_span(positions, node),
        )
        accesses = sorted(
            ((_span(positions, a.node), _access_name(a), a) for a in scope.accesses),
            key=lambda p: (p[0], p[1]),
        )
        for (line, col, end_line, end_col), name, access in accesses:
            out.cst_accesses.add(
                scope_id=sid,
                name=name,
                referents=len(access.referents),
                is_annotation=access.is_annotation,
                is_type_hint=access.is_type_hint,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
        bound = []
        for assignment in scope.assignments:
            node_ = getattr(assignment, "node", None)
            if node_ is None or node_ not in positions:
                continue  # builtins live in no file
            bound.append((_span(positions, node_), assignment.name, assignment))
        for (line, col, end_line, end_col), name, assignment in sorted(bound, key=lambda b: (b[0], b[1])):
            kind = "import" if type(assignment).__name__ == "ImportAssignment" else "assignment"
            out.cst_assignments.add(
                scope_id=sid,
                name=name,
                kind=kind,
                node_type=type(assignment.node).__name__,
                references=len(assignment.references),
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )


def _access_name(access: Any) -> str:
    """The name read. Its node is a Name, except in a string annotation (``x: "List[int]"``), where it
    is the string: then the name is that of what it resolves to, or the string as written."""
    import libcst

    node = access.node
    if isinstance(node, libcst.Name):
        return str(node.value)
    names = sorted({a.name for a in access.referents})
    if names:
        return str(names[0])
    return libcst.helpers.get_full_name_for_node(node) or str(getattr(node, "value", type(node).__name__))


def _named_span(positions: Any, node: Any) -> dict[str, int]:
    line, col, end_line, end_col = _span(positions, node)
    return {"line": line, "col": col, "end_line": end_line, "end_col": end_col}

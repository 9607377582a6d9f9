"""The ``ast`` layer: every node of a file's tree and every parent-child edge, the dataset ML users
build models on (node-type sequences, tree and graph models over ``ast_edges``).

This is the one extractor that walks the whole tree itself: it needs each node's field name and
position in its field, which the shared node index does not keep. Ids are the pre-order index of the
node in the file (the module is 0), children in field order as ``ast.iter_child_nodes`` gives them,
so a file's ids are stable for the same content. Context and operator nodes (``Load``, ``Add``) are
rows too, one per occurrence, as ``ast.walk`` counts them. Rows stream straight into the columns.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.layers.positions import char_columns
from codequarry.schema import dataset

#: the plain-string field that names a node, when it has one (checked in this order)
_LABEL_FIELDS = ("id", "attr", "name", "arg", "module")
_LABELS: dict[type, str | None] = {}


@dataset("ast_nodes")
class AstNode:
    """One row per AST node, in pre-order: its parent, the field of the parent holding it, its type,
    its name or literal (``label``) and its span (None for nodes without positions)."""

    node_id: int
    parent_id: int | None
    node_type: str
    field: str | None
    field_index: int | None
    depth: int
    label: str | None
    line: int | None
    col: int | None
    end_line: int | None
    end_col: int | None


@dataset("ast_edges")
class AstEdge:
    """One row per parent-child link: the edge list of the tree, typed by the field name."""

    parent_id: int
    child_id: int
    field: str
    field_index: int | None


def _label_field(cls: type) -> str | None:
    for name in _LABEL_FIELDS:
        if name in cls._fields:  # type: ignore[attr-defined]
            _LABELS[cls] = name
            return name
    _LABELS[cls] = None
    return None


@file_extractor(
    "python.layers.ast",
    version=1,
    needs=["ast"],
    outputs=[AstNode, AstEdge],
    description="every AST node (type, parent, field, label, span) and every parent-child edge",
    default=False,
)
def ast_layer(src: Any, out: Any) -> None:
    (n_id, n_parent, n_type, n_field, n_index, n_depth, n_label, n_line, n_col, n_end_line, n_end_col) = (
        c.append for c in out.ast_nodes.columns()
    )
    e_parent, e_child, e_field, e_index = (c.append for c in out.ast_edges.columns())
    convert = char_columns(src)
    labels = _LABELS
    constant = ast.Constant
    node_base = ast.AST
    # (node, parent id, field, index in field, depth)
    stack: list[tuple[Any, int | None, str | None, int | None, int]] = [(src.tree, None, None, None, 0)]
    pop = stack.pop
    next_id = 0
    while stack:
        node, parent, field, index, depth = pop()
        nid = next_id
        next_id += 1
        cls = node.__class__
        n_id(nid)
        n_parent(parent)
        n_type(cls.__name__)
        n_field(field)
        n_index(index)
        n_depth(depth)
        if cls is constant:
            n_label(repr(node.value))
        else:
            lf = labels[cls] if cls in labels else _label_field(cls)
            value = getattr(node, lf, None) if lf is not None else None
            n_label(value if value.__class__ is str else None)
        line = getattr(node, "lineno", None)
        if line is None:
            n_line(None)
            n_col(None)
            n_end_line(None)
            n_end_col(None)
        else:
            end_line, col, end_col = node.end_lineno, node.col_offset, node.end_col_offset
            if convert is not None:
                col, end_col = convert(line, col), convert(end_line, end_col)
            n_line(line)
            n_col(col)
            n_end_line(end_line)
            n_end_col(end_col)
        if parent is not None:
            e_parent(parent)
            e_child(nid)
            e_field(field)
            e_index(index)
        children: list[tuple[Any, int | None, str | None, int | None, int]] = []
        for name in cls._fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                children.extend(
                    (item, nid, name, k, depth + 1)
                    for k, item in enumerate(value)
                    if isinstance(item, node_base)
                )
            elif isinstance(value, node_base):
                children.append((value, nid, name, None, depth + 1))
        if children:
            children.reverse()
            stack.extend(children)

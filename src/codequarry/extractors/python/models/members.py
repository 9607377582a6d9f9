"""Members of candidate model classes: fields, columns, relationships, annotations, options."""

from __future__ import annotations

import ast
from typing import Any

from codequarry.python.calls import last_name
from codequarry.python.resolve import FileNames
from codequarry.python.values import MAX_TEXT, literal_str, value_text

_COLUMN_EXTRAS = frozenset(
    {
        "ForeignKey",
        "Sequence",
        "Computed",
        "Identity",
        "FetchedValue",
        "DefaultClause",
        "CheckConstraint",
        "ForeignKeyConstraint",
    }
)
_WRAPPERS = frozenset(
    {
        "Mapped",
        "Optional",
        "WriteOnlyMapped",
        "DynamicMapped",
        "Annotated",
        "Required",
        "NotRequired",
        "ReadOnly",
        "Final",
        "InstrumentedAttribute",
    }
)
_COLLECTIONS = frozenset(
    {
        "list",
        "List",
        "set",
        "Set",
        "Sequence",
        "MutableSequence",
        "Collection",
        "Iterable",
        "frozenset",
        "FrozenSet",
        "tuple",
        "Tuple",
        "dict",
        "Dict",
        "Mapping",
    }
)
_EMPTY: list[Any] = []


def _annotation(ann: Any, names: FileNames, scope: Any, seg: Any) -> tuple[str | None, str | None, bool]:
    """(type inside Mapped/Optional, the class it refers to through collections, whether optional)."""
    optional = False
    parsed: bytes | None = None  # inside a string annotation: its text (nodes have no place in the file)
    node = ann
    for _ in range(8):  # unwrap Mapped[...], Optional[...], X | None, Annotated[X, ...]
        cls = node.__class__
        if cls is ast.Constant and node.value.__class__ is str:
            if parsed is not None:
                break
            inner = node.value.strip()
            if len(inner) > MAX_TEXT:
                return inner[:MAX_TEXT], None, optional
            try:
                node = ast.parse(inner, mode="eval").body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return node.value, node.value, optional
            parsed = inner.encode()
            continue
        if cls is ast.BinOp and node.op.__class__ is ast.BitOr:
            left, right = node.left, node.right
            if _is_none(right):
                optional, node = True, left
                continue
            if _is_none(left):
                optional, node = True, right
                continue
            break
        if cls is ast.Subscript:
            wrapper = last_name(node.value)
            inner = node.slice
            if wrapper == "Union" and inner.__class__ is ast.Tuple:
                rest = [e for e in inner.elts if not _is_none(e)]
                if len(rest) < len(inner.elts):
                    optional = True
                if len(rest) == 1:
                    node = rest[0]
                    continue
                break
            if wrapper in _WRAPPERS:
                if wrapper == "Optional":
                    optional = True
                node = inner.elts[0] if inner.__class__ is ast.Tuple and inner.elts else inner
                continue
        break
    type_text = _node_text(node, parsed, seg)
    ref_node: Any = node
    for _ in range(4):  # list["Address"] -> Address
        if ref_node.__class__ is ast.Subscript and last_name(ref_node.value) in _COLLECTIONS:
            items = ref_node.slice
            ref_node = items.elts[-1] if items.__class__ is ast.Tuple and items.elts else items
        else:
            break
    if ref_node.__class__ is ast.Constant and ref_node.value.__class__ is str:
        ref: str | None = ref_node.value.strip()
    elif ref_node.__class__ in (ast.Name, ast.Attribute):
        ref = names.resolve(ref_node, scope) or _node_text(ref_node, parsed, seg)
    else:
        ref = None
    return type_text, ref, optional


def _node_text(node: Any, parsed: bytes | None, seg: Any) -> str:
    if node.__class__ is ast.Constant and node.value.__class__ is str:
        return node.value
    if parsed is not None:  # a node of a string annotation: its offsets are into that string
        if node.lineno == node.end_lineno == 1:
            return parsed[node.col_offset : node.end_col_offset].decode("utf-8", "replace")[:MAX_TEXT]
        return parsed.decode("utf-8", "replace")[:MAX_TEXT]
    return seg(node, MAX_TEXT)


def _is_none(node: Any) -> bool:
    return (node.__class__ is ast.Constant and node.value is None) or (
        node.__class__ is ast.Name and node.id == "None"
    )


def _keywords(call: Any, seg: Any) -> list[dict[str, str]]:
    return [
        {"name": kw.arg if kw.arg is not None else "**", "value": value_text(seg, kw.value)}
        for kw in call.keywords
    ]


def decorator(node: Any, names: FileNames, scope: Any, seg: Any) -> dict[str, Any]:
    if node.__class__ is ast.Call:
        return {
            "name": names.name(node.func, scope),
            "args": [value_text(seg, a) for a in node.args],
            "keywords": _keywords(node, seg),
        }
    return {"name": names.name(node, scope), "args": _EMPTY, "keywords": _EMPTY}


def options(body: list[Any], seg: Any) -> list[dict[str, str]]:
    """``name = value`` pairs of a nested ``class Meta`` / ``class Config``."""
    out = []
    for stmt in body:
        if stmt.__class__ is ast.Assign:
            for target in stmt.targets:
                if target.__class__ is ast.Name:
                    out.append({"name": target.id, "value": value_text(seg, stmt.value)})
        elif stmt.__class__ is ast.AnnAssign and stmt.target.__class__ is ast.Name and stmt.value is not None:
            out.append({"name": stmt.target.id, "value": value_text(seg, stmt.value)})
    return out


def call_options(value: Any, seg: Any) -> list[dict[str, str]]:
    """Options of ``model_config = ConfigDict(k=v)`` or ``= {"k": v}``."""
    if value.__class__ is ast.Call:
        return [kv for kv in _keywords(value, seg) if kv["name"] != "**"]
    out = []
    for key, val in zip(value.keys, value.values, strict=True):
        name = literal_str(key) if key is not None else None
        if name is not None:
            out.append({"name": name, "value": value_text(seg, val)})
    return out


def pk_from_args(value: Any) -> list[str]:
    """Primary-key column names in ``__mapper_args__ = {"primary_key": [...]}`` or
    ``__table_args__ = (PrimaryKeyConstraint("a", "b"), ...)``."""
    out: list[str] = []
    if value is None:
        return out
    if value.__class__ is ast.Dict:
        for key, val in zip(value.keys, value.values, strict=True):
            if key is not None and literal_str(key) == "primary_key":
                elts = val.elts if val.__class__ in (ast.List, ast.Tuple) else [val]
                for e in elts:
                    s = literal_str(e)
                    out.append(
                        s
                        if s is not None
                        else (
                            e.attr
                            if e.__class__ is ast.Attribute
                            else e.id
                            if e.__class__ is ast.Name
                            else "?"
                        )
                    )
    elif value.__class__ in (ast.Tuple, ast.List):
        for e in value.elts:
            if e.__class__ is ast.Call and last_name(e.func) == "PrimaryKeyConstraint":
                for a in e.args:
                    s = literal_str(a)
                    if s is not None:
                        out.append(s)
    return out


def _call_facts(call: Any, names: FileNames, scope: Any, seg: Any) -> dict[str, Any]:
    """Facts of a field constructor call common to every framework (interpreted by the operations)."""
    args = call.args
    first_ref = column_name = foreign_key = type_arg = None
    if args:
        first = args[0]
        s = literal_str(first)
        first_ref = s if s is not None else names.resolve(first, scope)
        if s is not None:
            column_name = s
    for arg in args:
        if arg.__class__ is ast.Call:
            fname = last_name(arg.func)
            if fname == "ForeignKey":
                if arg.args and foreign_key is None:
                    target = arg.args[0]
                    foreign_key = literal_str(target) or seg(target, MAX_TEXT)
                continue
            if fname in _COLUMN_EXTRAS:
                continue
        elif arg.__class__ is ast.Constant and arg.value.__class__ is str:
            continue
        if type_arg is None:
            type_arg = seg(arg, MAX_TEXT)
    return {
        "callee": names.name(call.func, scope),
        "args": [value_text(seg, a) for a in args[:6]] or _EMPTY,
        "first_ref": first_ref,
        "column_name": column_name,
        "foreign_key": foreign_key,
        "type_arg": type_arg,
        "keywords": _keywords(call, seg) or _EMPTY,
    }


def emit_member(
    name: str,
    annotation: Any,
    value: Any,
    owner: str,
    names: FileNames,
    scope: Any,
    seg: Any,
    where: tuple[int, int, int, int],
    add: Any,
) -> None:
    if annotation is not None:
        ann_text = seg(annotation, MAX_TEXT)
        ann_type, ann_ref, optional = _annotation(annotation, names, scope, seg)
    else:
        ann_text = ann_type = ann_ref = None
        optional = False
    if value is not None and value.__class__ is ast.Call:
        facts = _call_facts(value, names, scope, seg)
        text = None
    else:
        facts = NO_CALL
        text = None if value is None else value_text(seg, value)
    line, col, end_line, end_col = where
    add(
        owner=owner,
        name=name,
        kind="annotated" if annotation is not None else "assign",
        annotation=ann_text,
        ann_type=ann_type,
        ann_ref=ann_ref,
        ann_optional=optional,
        value=text,
        decorators=_EMPTY,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        **facts,
    )


NO_CALL: dict[str, Any] = {
    "callee": None,
    "args": _EMPTY,
    "first_ref": None,
    "column_name": None,
    "foreign_key": None,
    "type_arg": None,
    "keywords": _EMPTY,
}


def emit_columns(
    call: Any, owner: str, names: FileNames, scope: Any, seg: Any, span: Any, add: Any, pk_columns: list[str]
) -> None:
    """The ``Column("name", ...)`` arguments of a ``Table(...)`` call, as members of ``owner``."""
    for arg in call.args[1:]:
        if arg.__class__ is not ast.Call:
            continue
        fname = last_name(arg.func)
        if fname == "Column" and arg.args and literal_str(arg.args[0]) is not None:
            facts = _call_facts(arg, names, scope, seg)
            key = next((literal_str(kw.value) for kw in arg.keywords if kw.arg == "key"), None)
            line, col, end_line, end_col = span(arg)
            add(
                owner=owner,
                name=key or facts["column_name"],
                kind="table_column",
                annotation=None,
                ann_type=None,
                ann_ref=None,
                ann_optional=False,
                value=None,
                decorators=_EMPTY,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
                **facts,
            )
        elif fname == "PrimaryKeyConstraint":
            pk_columns.extend(s for s in map(literal_str, arg.args) if s is not None)

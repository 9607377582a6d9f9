"""Literal values: what kind of value an expression is, whether it is a literal, its text.

Each function looks at one expression (and, for displays, its elements); nothing is evaluated. The
kinds are those of the ``assignments`` dataset's ``value_kind`` column.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.python.scopes import COMPREHENSION_TYPES

_CONSTANT_KINDS: dict[type, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    bytes: "bytes",
    complex: "complex",
    type(None): "none",
    type(...): "ellipsis",
}
_VALUE_KINDS: dict[type, str] = {
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.Call: "call",
    ast.Name: "name",
    ast.Attribute: "attribute",
    ast.JoinedStr: "fstring",
    ast.BinOp: "binop",
    ast.Lambda: "lambda",
    ast.Subscript: "subscript",
    **{t: "comprehension" for t in COMPREHENSION_TYPES},
}
LITERAL_KINDS = frozenset({*_CONSTANT_KINDS.values(), "list", "tuple", "set", "dict"})
_CONTAINERS = (ast.List, ast.Tuple, ast.Set)
MAX_VALUE = 200  # characters: a longer literal's value is left out
MAX_TEXT = 200  # characters of source text :func:`value_text` keeps


def value_kind(value: Any) -> str:
    """'str', 'int', ..., 'none' for a constant (a signed number included), 'list', 'call', 'name',
    'fstring', 'comprehension', ... for other expressions, 'other' for the rest."""
    cls = value.__class__
    if cls is ast.Constant:
        return _CONSTANT_KINDS.get(value.value.__class__, "other")
    if (
        cls is ast.UnaryOp
        and value.op.__class__ in (ast.USub, ast.UAdd)
        and value.operand.__class__ is ast.Constant
        and value.operand.value.__class__ in (int, float, complex)
    ):
        return _CONSTANT_KINDS[value.operand.value.__class__]  # -1 is an int, as literal_eval sees it
    return _VALUE_KINDS.get(cls, "other")


def is_literal(value: Any) -> bool:
    """A constant, a signed number, or a list/tuple/set/dict display of those (nested)."""
    stack = [value]
    while stack:
        node = stack.pop()
        cls = node.__class__
        if cls is ast.Constant:
            continue
        if cls is ast.UnaryOp:
            if value_kind(node) in ("int", "float", "complex"):
                continue
            return False
        if cls in _CONTAINERS:
            stack.extend(node.elts)
        elif cls is ast.Dict:
            if None in node.keys:
                return False
            stack.extend(node.keys)
            stack.extend(node.values)
        else:
            return False
    return True


def assignment_targets(target: Any, value: Any) -> list[tuple[Any, Any]]:
    """(target, value) pairs of one assignment target; unpacking is split into its elements, and a
    display of the same length on the right gives each element its own value."""
    if target.__class__ not in (ast.Tuple, ast.List):
        return [(target.value if target.__class__ is ast.Starred else target, value)]
    pairs: list[tuple[Any, Any]] = []
    stack: list[tuple[Any, Any]] = [(target, value)]
    while stack:
        t, v = stack.pop()
        if t.__class__ is ast.Starred:
            t = t.value
        if t.__class__ in (ast.Tuple, ast.List):
            elts = t.elts
            if (
                v is not None
                and v.__class__ in (ast.Tuple, ast.List)
                and len(v.elts) == len(elts)
                and not any(e.__class__ is ast.Starred for e in (*elts, *v.elts))
            ):
                stack.extend(reversed(list(zip(elts, v.elts, strict=True))))
            else:
                stack.extend((e, v) for e in reversed(elts))
        else:
            pairs.append((t, v))
    return pairs


def literal_str(node: Any) -> str | None:
    """The value of a str constant (implicit concatenation included), else None."""
    if node.__class__ is ast.Constant and node.value.__class__ is str:
        return node.value  # type: ignore[no-any-return]
    return None


def literal_strs(node: Any) -> list[str] | None:
    """The values of a list/tuple/set display of str constants, else None (one element is not)."""
    if node.__class__ not in (ast.List, ast.Tuple, ast.Set):
        return None
    out = []
    for elt in node.elts:
        value = literal_str(elt)
        if value is None:
            return None
        out.append(value)
    return out


def value_text(seg: Any, node: Any) -> str:
    """A value as written (``seg`` is ``src.segment``), a str literal unquoted, at most MAX_TEXT
    characters."""
    if node.__class__ is ast.Constant and node.value.__class__ is str:
        value = node.value
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."
    return seg(node, MAX_TEXT)  # type: ignore[no-any-return]


def storable(text: str) -> str:
    """``text`` as Arrow can store it: lone surrogates (from escapes in literals) backslash-escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text

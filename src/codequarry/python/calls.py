"""Call sites and dotted names: the arguments of a call, the name a callee ends with, its text.

Each function looks at one node and at most its own children; none needs the file. A "dotted name" is
a chain of attributes on a plain name (``a.b.c``); anything else (a call, a subscript) has none.
"""

from __future__ import annotations

import ast
from typing import Any


def dotted_parts(node: Any) -> tuple[str, str] | None:
    """(head, rest) of a Name/Attribute chain: ``a.b.c`` -> ('a', 'b.c'), ``a`` -> ('a', ''); else None."""
    attrs: list[str] = []
    while node.__class__ is ast.Attribute:
        attrs.append(node.attr)
        node = node.value
    if node.__class__ is not ast.Name:
        return None
    if not attrs:
        return node.id, ""
    attrs.reverse()
    return node.id, ".".join(attrs)


def dotted_name(node: Any) -> str | None:
    """``'a.b.c'`` for a Name/Attribute chain, else None."""
    parts = dotted_parts(node)
    if parts is None:
        return None
    head, rest = parts
    return f"{head}.{rest}" if rest else head


def last_name(node: Any, *, through_calls: bool = True) -> str | None:
    """The last identifier of a callee or decorator: ``a.b.c`` -> 'c', ``a.b.c[T]`` -> None.

    With ``through_calls`` (the default) a call stands for what it calls: ``f()`` -> 'f', ``g()()``
    -> 'g', the way a decorator ``@app.route('/')`` is named 'route'; without it a call has no name.
    """
    while True:
        cls = node.__class__
        if cls is ast.Name:
            return node.id  # type: ignore[no-any-return]
        if cls is ast.Attribute:
            return node.attr  # type: ignore[no-any-return]
        if cls is ast.Call and through_calls:
            node = node.func
            continue
        return None


def call_arg(call: ast.Call, index: int, *names: str) -> ast.expr | None:
    """The argument at position ``index``, else the first keyword argument of ``names`` given.

    A positional argument written after a ``*args`` has no known position, so it is never taken for
    ``index``; ``**kwargs`` is not looked into. None when the argument is not given as written.
    """
    args = call.args
    if len(args) > index and not any(a.__class__ is ast.Starred for a in args[: index + 1]):
        return args[index]
    for kw in call.keywords:
        if kw.arg in names:
            return kw.value
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument ``name`` of ``call``, if written."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


_MAX_CALLEE = 120  # characters of a callee that is not a dotted name
_MAX_CALLEE_BASE = 40  # characters of source text kept for the start of such a callee


def _may_be_short(node: Any) -> bool:
    """Could ``node``'s text be at most _MAX_CALLEE_BASE characters on one line? (Columns count UTF-8
    bytes, at most 4 a character.)"""
    end = node.end_col_offset
    return (
        node.lineno == node.end_lineno and end is not None and end - node.col_offset <= 4 * _MAX_CALLEE_BASE
    )


def callee_text(seg: Any, func: Any) -> str:
    """A callee that is not a dotted name, as written but on one line: a call or subscript along the
    chain stays as written when short (``super(C, self).m``, ``items[0].strip``), a longer one is
    shortened (``cls(...).decode``) so that the names at the end survive."""
    parts: list[str] = []
    node = func
    while True:
        cls = node.__class__
        if cls is ast.Attribute:
            parts.append(f".{node.attr}")
            node = node.value
            continue
        if cls is ast.Name:
            parts.append(node.id)
            break
        if (cls is ast.Call or cls is ast.Subscript) and not _may_be_short(node):
            text = ""  # shortened unread: reading each link of a chain of N calls (f()()()...)
        else:  # for each of its N calls was N^3 work
            text = seg(node, _MAX_CALLEE_BASE + 1)
            if len(text) <= _MAX_CALLEE_BASE and "\n" not in text:
                parts.append(text)
                break
        if cls is ast.Call:
            parts.append("(...)" if node.args or node.keywords else "()")
            node = node.func
        elif cls is ast.Subscript:
            parts.append("[...]")
            node = node.value
        else:
            parts.append(text.partition("\n")[0][: _MAX_CALLEE_BASE - 3] + "...")
            break
    parts.reverse()
    text = "".join(parts)
    return text if len(text) <= _MAX_CALLEE else text[: _MAX_CALLEE - 3] + "..."

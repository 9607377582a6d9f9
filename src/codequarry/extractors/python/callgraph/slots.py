"""Which statements of a block may read a container's slot flow-sensitively (see ``facts._Walker.body``).

A slot is a constant path into a container a name holds: ``d["a"]``, ``d["a"]["b"]``, ``xs[0]``. After
``d["a"] = g`` (or ``d.update({"a": g})``), in a block where ``d`` was bound to a dict or list display
(``d = {...}``, ``d = [...]``) and not rebound since, a read of the same slot further down the same
block takes ``g`` only, as long as no code may have run in between that could store into it another
way: the statements between are plain (an expression, an assignment, a return) with no call, no
``await`` / ``yield``, no other store into a subscript or attribute (a setter) and no ``del``, and in the
reading statement every call is one the read happens before (an enclosing call: ``d["a"]()``,
``run(d["a"])``). Anything else (a loop, a branch, a ``with``, a call, a store through an alias)
ends every such reading: the read takes every value the slot ever held, as without it.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.callgraph.scopes import FUNCS

#: statements whose code runs where they stand, once, with nothing else in between
_PLAIN = (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return, ast.Pass)
#: expressions that let other code run (or bind a name) in the middle of a statement
_SUSPENDS = (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
_DISPLAYS = {ast.Dict: "d", ast.List: "l"}


def key(node: Any) -> Any:
    """A constant subscript key (an int or a string, not a bool), else None."""
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, str))
        and not isinstance(node.value, bool)
    ):
        return node.value
    return None


def path(node: Any) -> tuple[str, tuple[Any, ...]] | None:
    """(name, keys) of a subscript chain with constant keys on a name (``d["a"][0]``), else None."""
    keys: list[Any] = []
    while node.__class__ is ast.Subscript:
        k = key(node.slice)
        if k is None:
            return None
        keys.append(k)
        node = node.value
    if node.__class__ is not ast.Name or not keys:
        return None
    return node.id, tuple(reversed(keys))


def display(stmt: ast.stmt) -> tuple[str, str] | None:
    """(name, "d" or "l") of ``name = {...}`` / ``name = [...]``."""
    if (
        stmt.__class__ is ast.Assign
        and len(stmt.targets) == 1  # type: ignore[attr-defined]
        and stmt.targets[0].__class__ is ast.Name  # type: ignore[attr-defined]
        and stmt.value.__class__ in _DISPLAYS  # type: ignore[attr-defined]
    ):
        return stmt.targets[0].id, _DISPLAYS[stmt.value.__class__]  # type: ignore[attr-defined]
    return None


def store(stmt: ast.stmt) -> tuple[str, tuple[Any, ...]] | None:
    """The slot of ``name[k]... = value`` (one target), else None."""
    if stmt.__class__ is ast.Assign and len(stmt.targets) == 1:  # type: ignore[attr-defined]
        target = stmt.targets[0]  # type: ignore[attr-defined]
        if target.__class__ is ast.Subscript and not _has(target, (ast.Call, *_SUSPENDS)):
            return path(target)
    return None


def update(stmt: ast.stmt) -> tuple[str, ast.Dict] | None:
    """(name, the dict display) of ``name.update({"k": v, ...})`` with constant keys only."""
    if stmt.__class__ is not ast.Expr:
        return None
    call = stmt.value  # type: ignore[attr-defined]
    if (
        call.__class__ is ast.Call
        and call.func.__class__ is ast.Attribute
        and call.func.attr == "update"
        and call.func.value.__class__ is ast.Name
        and len(call.args) == 1
        and not call.keywords
        and call.args[0].__class__ is ast.Dict
        and all(k is not None and key(k) is not None for k in call.args[0].keys)
    ):
        return call.func.value.id, call.args[0]
    return None


def worth_it(stmts: list[ast.stmt]) -> bool:
    """Whether the block binds a name to a display and later stores into or updates a slot of it
    (else there is nothing to track: the common case, checked cheaply)."""
    shown: set[str] = set()
    for stmt in stmts:
        got = display(stmt)
        if got is not None:
            shown.add(got[0])
        elif shown:
            slot = store(stmt) or update(stmt)
            if slot is not None and slot[0] in shown:
                return True
    return False


def readable(stmt: ast.stmt, parent: Any) -> tuple[bool, list[ast.Subscript]]:
    """(whether ``stmt`` lets no other code run before its end: no call or store that could reach a
    slot, the subscripts of ``stmt`` that may read a slot's latest store (each read before every call
    of the statement runs)."""
    if not isinstance(stmt, _PLAIN):
        return False, []
    calls: list[Any] = []
    reads: list[ast.Subscript] = []
    quiet = True
    for node in ast.walk(stmt):
        cls = node.__class__
        if cls is ast.Call:
            calls.append(node)
        elif cls is ast.Subscript:
            if node.ctx.__class__ is ast.Load:  # type: ignore[attr-defined]
                reads.append(node)  # type: ignore[arg-type]
            else:
                quiet = False
        elif cls is ast.Attribute and node.ctx.__class__ is not ast.Load:  # type: ignore[attr-defined]
            quiet = False
        elif cls in _SUSPENDS or cls is ast.Lambda or cls in FUNCS:
            return False, []
    if not calls:
        return quiet, reads
    ok = []
    for read in reads:
        above = set()
        node = parent(read)
        while node is not None and node is not stmt:
            above.add(node)
            node = parent(node)
        if all(c in above for c in calls):
            ok.append(read)
    return False, ok


def _has(node: ast.AST, types: tuple[type, ...]) -> bool:
    return any(isinstance(n, types) for n in ast.walk(node))

"""Small questions about AST nodes that the route extractor asks again and again.

Each looks at one node and at most its own arguments (a small local descent), never the tree.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.python.calls import call_arg, last_name
from codequarry.python.scopes import FUNCTION_TYPES

EMPTY: list[str] = []  # shared by rows with nothing to list; never mutated
MAX_TEXT = 200  # characters of source text kept in *_source and decorator columns
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension)
#: nodes a URL-list entry climbs through on its way to the list's owner
LOOK_THROUGH = (
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Starred,
    ast.BinOp,
    ast.IfExp,
    ast.keyword,
    *COMPREHENSIONS,
)
_TRY_STAR = getattr(ast, "TryStar", ast.Try)


def module_level_defs(tree: ast.Module) -> list[Any]:
    """Defs and classes of the module body, including those under module-level if / try / with."""
    out = []
    stack: list[Any] = list(reversed(tree.body))
    while stack:
        stmt = stack.pop()
        cls = stmt.__class__
        if cls is ast.FunctionDef or cls is ast.AsyncFunctionDef or cls is ast.ClassDef:
            out.append(stmt)
        elif cls is ast.If or cls is ast.Try or cls is ast.With or cls is _TRY_STAR:
            for block in (stmt.body, getattr(stmt, "orelse", ()), getattr(stmt, "finalbody", ())):
                stack.extend(reversed(block))
            for handler in getattr(stmt, "handlers", ()):
                stack.extend(reversed(handler.body))
    return out


def short_name(key: str | None) -> str | None:
    """The function's own name in a key: what frameworks name a route after by default."""
    return None if key is None else key.rsplit(".", 1)[-1]


def decl_flags(parent: Any, node: Any) -> tuple[bool, bool]:
    """(is_conditional, is_dynamic) of a declaration: under an ``if`` / ``match`` / conditional
    expression, or made in a loop, a comprehension or a function body. Decorators and defaults of a
    def are evaluated outside it, so a def is no function body for its own route decorators."""
    cond = dyn = False
    child = node
    anc = parent(node)
    while anc is not None:
        cls = anc.__class__
        if cls is ast.If or cls is ast.IfExp or cls is ast.While:
            if child is not anc.test:
                if cls is ast.While:
                    dyn = True
                else:
                    cond = True
        elif cls is ast.match_case:
            cond = True
        elif cls is ast.For or cls is ast.AsyncFor:
            if child is not anc.iter:
                dyn = True
        elif cls in COMPREHENSIONS:
            dyn = True
        elif cls is ast.Lambda:
            if child is anc.body:
                return cond, True
        elif cls in FUNCTION_TYPES:
            if isinstance(child, ast.stmt):
                return cond, True
        elif cls is ast.ClassDef and isinstance(child, ast.stmt):
            return cond, dyn
        child = anc
        anc = parent(anc)
    return cond, dyn


def depends_target(seg: Any, node: Any) -> str | None:
    """The dependency of ``Depends(x)`` / ``Security(x)`` as written; '' for ``Depends()``; else None."""
    if node.__class__ is not ast.Call or last_name(node.func, through_calls=False) not in (
        "Depends",
        "Security",
    ):
        return None
    dep = call_arg(node, 0, "dependency")
    return "" if dep is None else seg(dep, MAX_TEXT)


def dependency_list(seg: Any, node: Any) -> list[str]:
    """Dependencies of a ``dependencies=[Depends(a), ...]`` argument."""
    if node is None or node.__class__ not in (ast.List, ast.Tuple):
        return EMPTY
    out = []
    for elt in node.elts:
        dep = depends_target(seg, elt)
        out.append(dep or seg(elt, MAX_TEXT))
    return out


def annotated_depends(seg: Any, ann: Any) -> list[str]:
    """Dependencies in ``Annotated[T, Depends(x)]``; ``Depends()`` depends on ``T`` itself."""
    if (
        ann is None
        or ann.__class__ is not ast.Subscript
        or last_name(ann.value, through_calls=False) != "Annotated"
    ):
        return EMPTY
    elts = ann.slice.elts if ann.slice.__class__ is ast.Tuple else [ann.slice]
    out = []
    for extra in elts[1:]:
        dep = depends_target(seg, extra)
        if dep is not None:
            out.append(dep or seg(elts[0], MAX_TEXT))
    return out

"""Rows of a ``symtable.SymbolTable`` tree, using nothing but the standard library.

Kept apart from the extractor so that it can be checked on any installed Python (3.12+ adds
type-parameter, type-alias and annotation scopes; 3.13 turns scope types into an enum): scope types
are taken as the interpreter names them, whatever they are.
"""

from __future__ import annotations

import _symtable
from collections.abc import Callable, Iterator
from typing import Any

_SCOPE_OFF = _symtable.SCOPE_OFF
_SCOPE_MASK = _symtable.SCOPE_MASK
_LOCAL, _CELL, _FREE = _symtable.LOCAL, _symtable.CELL, _symtable.FREE
_GLOBAL_EXPLICIT, _GLOBAL_IMPLICIT = _symtable.GLOBAL_EXPLICIT, _symtable.GLOBAL_IMPLICIT
_DEF_LOCAL, _DEF_PARAM = _symtable.DEF_LOCAL, _symtable.DEF_PARAM
_DEF_NONLOCAL, _USE, _DEF_IMPORT = _symtable.DEF_NONLOCAL, _symtable.USE, _symtable.DEF_IMPORT
_DEF_ANNOT, _DEF_BOUND = _symtable.DEF_ANNOT, _symtable.DEF_BOUND


def scope_type(table: Any) -> str:
    """'module', 'class', 'function', 'type parameters', ... as this interpreter names it (a str
    before 3.13, a str-valued enum after)."""
    kind = table.get_type()
    return str(getattr(kind, "value", kind))


def walk(top: Any) -> Iterator[tuple[int, int | None, Any, str]]:
    """(scope id, parent id, table, qualname) in pre-order; ids count from 0 (the module) in the file.

    The qualname joins scope names as ``__qualname__`` does ('.<locals>.' under a function); scopes
    the interpreter adds (comprehensions, 3.12+ type parameters) appear under their own names.
    """
    stack: list[tuple[Any, int | None, str, bool]] = [(top, None, "", False)]
    next_id = 0
    while stack:
        table, parent, outer, outer_is_function = stack.pop()
        sid = next_id
        next_id += 1
        name = table.get_name()
        if parent is None:
            qual = ""
        elif not outer:
            qual = name
        else:
            qual = f"{outer}.<locals>.{name}" if outer_is_function else f"{outer}.{name}"
        yield sid, parent, table, qual
        is_function = scope_type(table) == "function"
        for child in reversed(table.get_children()):
            stack.append((child, sid, qual, is_function))


def symbol_rows(table: Any, emit: Callable[..., None], sid: int) -> int:
    """Emit one row per symbol of ``table`` (flags decoded from the compiler's own bit fields, which
    also give ``cell``, absent from the public API before 3.14). Returns the number of symbols.

    As in the ``symtable`` module, a name bound at module level is both local and global."""
    raw = table._table  # the _symtable entry: a dict of name -> flags, in first-seen order
    namespaces = {child.name for child in raw.children}
    module = scope_type(table) == "module"
    n = 0
    for name, flags in raw.symbols.items():
        scope = (flags >> _SCOPE_OFF) & _SCOPE_MASK
        bound_here = module and bool(flags & _DEF_BOUND)
        emit(
            sid,
            name,
            scope in (_LOCAL, _CELL) or bound_here,
            scope in (_GLOBAL_EXPLICIT, _GLOBAL_IMPLICIT) or bound_here,
            scope == _GLOBAL_EXPLICIT,
            bool(flags & _DEF_NONLOCAL),
            scope == _FREE,
            scope == _CELL,
            bool(flags & _DEF_PARAM),
            bool(flags & _DEF_IMPORT),
            bool(flags & _DEF_LOCAL),
            bool(flags & _USE),
            bool(flags & _DEF_ANNOT),
            name in namespaces,
            flags,
        )
        n += 1
    return n

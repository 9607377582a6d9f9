"""The ``symtable`` layer: every scope the compiler builds, and every symbol in it with its flags.

Scopes come from ``symtable.symtable`` over the file's decoded text (the ``symtable`` parse product:
CPython builds symbol tables from its internal AST only, so this is the compiler's own C parse, without
the Python objects that make ``ast.parse`` costly). The symbol table has line numbers for scopes and
none for symbols; ``line`` is where the scope's definition starts (0 for the module).
"""

from __future__ import annotations

from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.layers.symtable_walk import scope_type, symbol_rows, walk
from codequarry.schema import dataset


@dataset("symtable_scopes")
class SymtableScope:
    """One row per symbol-table scope: module, class, function, lambda, comprehension (before 3.12),
    and on 3.12+ the type-parameter, type-alias and annotation scopes, as the interpreter names them."""

    scope_id: int
    parent_id: int | None
    scope_type: str
    name: str
    qualname: str
    line: int
    is_nested: bool
    is_optimized: bool
    symbols: int
    children: int


@dataset("symtable_symbols")
class SymtableSymbol:
    """One row per (scope, name) the compiler binds or uses, with the scope it resolves to and how
    (flags as the ``symtable`` module defines them: a module-level binding is local and global)."""

    scope_id: int
    name: str
    is_local: bool
    is_global: bool
    is_declared_global: bool
    is_nonlocal: bool
    is_free: bool
    is_cell: bool
    is_parameter: bool
    is_imported: bool
    is_assigned: bool
    is_referenced: bool
    is_annotated: bool
    is_namespace: bool
    flags: int


@file_extractor(
    "python.layers.symtable",
    version=1,
    needs=["symtable"],
    outputs=[SymtableScope, SymtableSymbol],
    description="symbol tables: every scope and every symbol with its flags (local, free, cell, ...)",
    default=False,
)
def symtables(src: Any, out: Any) -> None:
    top = src.symtable
    scope = out.symtable_scopes.add
    appends = tuple(col.append for col in out.symtable_symbols.columns())

    def emit(*row: Any) -> None:
        for append, value in zip(appends, row, strict=True):
            append(value)

    for sid, parent, table, qual in walk(top):
        n = symbol_rows(table, emit, sid)
        scope(
            scope_id=sid,
            parent_id=parent,
            scope_type=scope_type(table),
            name=table.get_name(),
            qualname=qual,
            line=table.get_lineno(),
            is_nested=table.is_nested(),
            is_optimized=table.is_optimized(),
            symbols=n,
            children=len(table._table.children),
        )

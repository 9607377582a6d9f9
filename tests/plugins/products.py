"""Two extractors that need symtable and one that needs libcst: each product is computed once a file."""

from __future__ import annotations

from codequarry import dataset, file_extractor


@dataset("scopes")
class Scope:
    name: str
    kind: str


@dataset("scope_counts")
class ScopeCount:
    n: int


@dataset("cst_lines")
class CstLine:
    n_statements: int


@file_extractor("prod.scopes", version=1, needs=["symtable"], outputs=[Scope])
def scopes(src, out) -> None:  # type: ignore[no-untyped-def]
    for child in src.symtable.get_children():
        out.scopes.add(name=child.get_name(), kind=child.get_type())


@file_extractor("prod.scope_counts", version=1, needs=["symtable"], outputs=[ScopeCount])
def scope_counts(src, out) -> None:  # type: ignore[no-untyped-def]
    out.scope_counts.add(n=len(src.symtable.get_children()))


@file_extractor("prod.cst", version=1, needs=["cst"], outputs=[CstLine])
def cst_lines(src, out) -> None:  # type: ignore[no-untyped-def]
    out.cst_lines.add(n_statements=len(src.cst.body))

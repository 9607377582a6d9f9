"""Deliberate type errors mypy must report (tests/typecheck/test_declarations.py): the check is real.

Each line marked ``# error: <code>`` must be reported with that code, and nothing else.
"""

from __future__ import annotations

from codequarry import Outputs, SourceFile, dataset, file_extractor


@dataset("acme_bad_rows")
class BadRow:
    name: str


class NotADataset:
    name: str


@file_extractor("acme.bad.one", version=1, outputs=[NotADataset])  # error: list-item
def one(src: SourceFile, out: Outputs) -> None:
    out.acme_bad_rows.add(name="x")


@file_extractor("acme.bad.two", version="2", outputs=[BadRow])  # error: arg-type
def two(src: SourceFile, out: Outputs) -> None:
    columns: int = BadRow.field_names  # error: assignment
    assert columns


@file_extractor("acme.bad.three", version=1, outputs=[BadRow])  # error: arg-type
def three(src: int, out: Outputs) -> None:
    pass

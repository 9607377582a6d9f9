"""Extractors that quote the corpus back: string constants into a column, and into an exception."""

from __future__ import annotations

import ast

from codequarry import dataset, file_extractor


@dataset("hostile_strings")
class HostileString:
    value: str
    line: int


@file_extractor("test.hostile.strings", version=1, needs=["ast"], outputs=[HostileString])
def strings(src, out) -> None:  # type: ignore[no-untyped-def]
    for node in src.nodes(ast.Constant):
        if isinstance(node.value, str):
            out.hostile_strings.add(value=node.value, line=node.lineno)


@dataset("hostile_echo")
class HostileEcho:
    value: str


@file_extractor("test.hostile.echo", version=1, needs=["ast"], outputs=[HostileEcho])
def echo(src, out) -> None:  # type: ignore[no-untyped-def]
    for node in src.nodes(ast.Constant):
        if isinstance(node.value, str) and node.value.startswith("raise"):
            raise ValueError(f"cannot take {node.value}")

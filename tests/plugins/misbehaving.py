"""Plugins that misbehave on purpose: wrong types, exceptions, undeclared outputs."""

from __future__ import annotations

import ast

from codequarry import dataset, file_extractor


@dataset("names")
class Name:
    name: str
    line: int


@file_extractor("test.names", version=1, needs=["ast"], outputs=[Name])
def names(src, out) -> None:  # type: ignore[no-untyped-def]
    for node in src.nodes(ast.Name):
        # a file called wrong_type.py gets a str where an int is declared
        line = str(node.lineno) if src.path.endswith("wrong_type.py") else node.lineno
        out.names.add(name=node.id, line=line)


@dataset("boom")
class Boom:
    value: int


@file_extractor("test.boom", version=1, needs=["ast"], outputs=[Boom])
def boom(src, out) -> None:  # type: ignore[no-untyped-def]
    for node in src.nodes(ast.Constant):
        out.boom.add(value=1)
        if node.value == "explode":
            raise RuntimeError("the plugin exploded")

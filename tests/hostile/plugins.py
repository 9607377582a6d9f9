"""Extractors that quote the corpus back: string constants into a column, and into an exception."""

from __future__ import annotations

import ast
import os
import time

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


@dataset("hostile_hang")
class HostileHang:
    value: int


@file_extractor("test.hostile.hang", version=1, outputs=[HostileHang])
def hang(src, out) -> None:  # type: ignore[no-untyped-def]
    """On a file named hang_*.py under $HOSTILE_ROOT: swap the file for a FIFO, then hang, so that the
    run's re-read of a timed-out file meets the FIFO."""
    root = os.environ.get("HOSTILE_ROOT")
    if not root or not src.path.rsplit("/", 1)[-1].startswith("hang_"):
        return
    full = os.path.join(root, src.path)
    fifo = full + ".fifo"
    os.mkfifo(fifo)
    os.replace(fifo, full)
    while True:
        time.sleep(0.05)


class _Poison(list):  # type: ignore[type-arg]
    """A list that pyarrow's converter cannot survive (it crashes the process building the rows)."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("poison")

    def __len__(self) -> int:
        raise RuntimeError("poison")


@dataset("hostile_lists")
class HostileList:
    items: list[int]


@file_extractor("test.hostile.lists", version=1, outputs=[HostileList])
def lists(src, out) -> None:  # type: ignore[no-untyped-def]
    """A file named poison_*.py gets a row that kills the worker when the chunk's rows are built."""
    poison = src.path.rsplit("/", 1)[-1].startswith("poison_")
    out.hostile_lists.add(items=_Poison([1]) if poison else [1, 2])

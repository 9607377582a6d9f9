"""Plugins that misbehave the way real native parsers and plugins do, each on one file only."""

from __future__ import annotations

import ast
import os
import signal
import time

from codequarry import dataset, file_extractor


@dataset("hostile_names")
class HostileName:
    name: str
    line: int


@file_extractor("hostile.names", version=1, needs=["ast"], outputs=[HostileName])
def names(src, out) -> None:  # type: ignore[no-untyped-def]
    stem = src.path.rsplit("/", 1)[-1]
    if stem == "hang.py":
        while True:  # an infinite loop in pure Python
            time.sleep(0.01)
    if stem == "spin.py":
        n = 0
        while True:  # a busy loop
            n += 1
    if stem == "exit.py":
        os._exit(1)
    if stem == "segv.py":
        os.kill(os.getpid(), signal.SIGSEGV)
    if stem == "hog.py":
        hoard = []
        while True:  # allocate without bound
            hoard.append(bytearray(50 * 1024 * 1024))
    for node in src.nodes(ast.Name):
        out.hostile_names.add(name=node.id, line=node.lineno)

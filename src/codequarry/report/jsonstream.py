"""JSON written a piece at a time: a document whose long lists come from iterators (and whose
nested documents may be copied from a file) is written without ever being whole in memory.

The text is the one ``json.dump(doc, fh, indent=N, default=str)`` gives for the same values (the
report of a run of 10^5 tasks must not cost the run hundreds of MB of dicts and strings).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass
class Items:
    """A list written item by item from ``items`` (iterated once)."""

    items: Iterable[Any]


@dataclass
class CopyOf:
    """A JSON document embedded as the text of file ``path`` (whitespace aside, the same value)."""

    path: Path


def dump(doc: Any, fh: IO[str], *, indent: int, ensure_ascii: bool = True) -> None:
    """Write ``doc`` (dicts, lists and plain values, with Items and CopyOf anywhere) to ``fh``."""
    _write(doc, fh, indent, 0, ensure_ascii)


def _write(value: Any, fh: IO[str], indent: int, level: int, ascii_: bool) -> None:
    if isinstance(value, Items):
        _write_items(value.items, fh, indent, level, ascii_)
    elif isinstance(value, CopyOf):
        with open(value.path, encoding="utf-8") as src:
            while chunk := src.read(1 << 20):  # its trailing newline is whitespace inside the document
                fh.write(chunk)
    elif isinstance(value, dict) and value and _streams(value):
        pad = "\n" + " " * indent * (level + 1)
        fh.write("{")
        for i, (key, item) in enumerate(value.items()):
            fh.write(("," if i else "") + pad + json.dumps(str(key), ensure_ascii=ascii_) + ": ")
            _write(item, fh, indent, level + 1, ascii_)
        fh.write("\n" + " " * indent * level + "}")
    else:
        text = json.dumps(value, indent=indent, default=str, ensure_ascii=ascii_)
        fh.write(text.replace("\n", "\n" + " " * indent * level) if level else text)


def _write_items(items: Iterable[Any], fh: IO[str], indent: int, level: int, ascii_: bool) -> None:
    pad = "\n" + " " * indent * (level + 1)
    n = 0
    for item in items:
        fh.write(("," if n else "[") + pad)
        _write(item, fh, indent, level + 1, ascii_)
        n += 1
    fh.write("\n" + " " * indent * level + "]" if n else "[]")


def _streams(value: Any) -> bool:
    """Whether a value holds an Items or a CopyOf (then it is written key by key)."""
    if isinstance(value, Items | CopyOf):
        return True
    if isinstance(value, dict):
        return any(_streams(v) for v in value.values())
    return False

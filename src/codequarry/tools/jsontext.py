"""Indented JSON text, fast: what ``json.dumps(value, indent=2, default=str)`` gives, byte for byte.

With ``indent`` set, the standard library encodes in pure Python (a generator per container),
~50-100 us for one task's entry of report.json, and a run of 10^5 tasks writes two entries a task.
orjson writes the same layout in ~1 us; its text is kept only where it is provably the standard
one: plain types only (``str``, ``int``, ``float``, ``bool``, None, ``dict`` with ``str`` keys,
``list``, ``tuple``; no subclass, no type ``default=str`` would convert), floats that ``repr``
writes without an exponent (the two spell the others differently: ``1e+16`` / ``1e16``,
``5e-05`` / ``0.00005``; orjson writes NaN as null), and ASCII output (the standard encoder
escapes the rest). Anything else is handed to ``json.dumps`` itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

import orjson

_INDENT = "  "


def _float_ok(value: float) -> bool:
    """Does orjson write the float as ``repr`` does? In this range both write the shortest digits
    without an exponent (checked on 3 x 10^5 random values); outside it they differ, and orjson
    writes a NaN or an infinity as null."""
    return value == 0.0 or 1e-4 <= abs(value) < 1e16


def _plain(value: Any) -> bool:
    """Is the value made of plain JSON types only (no subclass), ``str`` keys, floats as above?"""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            tp = type(item)
            if tp is str or item is None or tp is int or tp is bool:
                continue
            if not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    if kind is str or value is None or kind is int or kind is bool:
        return True
    return kind is float and _float_ok(value)


def _standard(value: Any, level: int) -> str:
    """The standard encoder's text, indented for ``level`` (as jsonstream writes a nested value)."""
    text = json.dumps(value, indent=len(_INDENT), default=str)
    return text.replace("\n", "\n" + _INDENT * level) if level else text


def dumps(value: Any, level: int = 0) -> str:
    """``json.dumps(value, indent=2, default=str)``, its lines after the first indented by ``level``
    steps (the text of a value nested ``level`` deep in an indented document)."""
    if not _plain(value):
        return _standard(value, level)
    try:
        raw = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except TypeError:  # an integer past 64 bits, a lone surrogate
        return _standard(value, level)
    if not raw.isascii():
        return _standard(value, level)
    text = raw.decode("ascii")
    return text.replace("\n", "\n" + _INDENT * level) if level else text


def dump_items(items: Iterable[Any], fh: IO[str], level: int) -> None:
    """A list written item by item (as ``report.jsonstream`` writes ``Items``) at ``level``."""
    pad = "\n" + _INDENT * (level + 1)
    n = 0
    for item in items:
        fh.write(("," if n else "[") + pad + dumps(item, level + 1))
        n += 1
    fh.write("\n" + _INDENT * level + "]" if n else "[]")

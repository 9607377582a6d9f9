"""How the call graph's per-file facts and the solver's answers are stored: compact JSON text.

orjson writes and reads it several times faster than the standard library (the facts of the standard
library are ~145 MB of it); the standard library's json stays the fallback for what orjson refuses (a
lone surrogate from a source string, an integer wider than 64 bits), and reads either form. orjson is
imported on the first use (~1 ms with the zoneinfo it imports), not by every catalog load.
"""

from __future__ import annotations

import json
from typing import Any

#: the tags of the facts' expressions (facts.py) that are literals: strings, lists / tuples / sets and
#: comprehensions, dicts. Never callable, never an instance of the corpus
LITERALS = ("q", "t", "d")


def encode(value: Any) -> str:
    import orjson

    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def decode(text: str | bytes) -> Any:
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)

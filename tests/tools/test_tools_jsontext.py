"""The fast indented JSON of report.json is the standard encoder's text, byte for byte."""

from __future__ import annotations

import enum
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from codequarry.report import jsonstream
from codequarry.report.jsonstream import Items
from codequarry.tools import jsontext
from codequarry.tools.report import _dump


class Level(enum.IntEnum):
    LOW = 1


VALUES: list[Any] = [
    {},
    [],
    (),
    "",
    'é \u2028 \ud800 " \\ \n \x00 ☃',
    0,
    -1,
    2**80,
    True,
    False,
    None,
    0.1,
    1e16,
    1e15,
    123456789.123,
    1e-4,
    0.0001,
    1.0,
    100.0,
    2.5e-7,
    1.7976931348623157e308,
    5e-324,
    -(2**63),
    2**64,
    {"wall_seconds": 1e-05, "rows": 2**63 - 1, "x": [1.5e300, -0.5]},
    {"inf": [math.inf]},
    {"s": "no exponent: 1e5 inside a string", "t": "\u00e9"},
    Level,
    5e-05,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    Level.LOW,
    Path("/tmp/x"),
    {1: "int key", "b": [1, {"c": None}]},
    {"task_id": "t:1", "argv": ["/bin/true", "1"], "env": {}, "stderr_tail": [], "nested": {"a": [[], {}]}},
    [{"a": (1, 2.5, "x")}, [[[]]], {"deep": {"deeper": {"deepest": [None, True]}}}],
    {"tricky": {2.5: 1, None: 2}},
]


@pytest.mark.parametrize("index", range(len(VALUES)))
@pytest.mark.parametrize("level", [0, 1, 3])
def test_text_is_what_json_dumps_writes_at_any_level(index: int, level: int) -> None:
    value = VALUES[index]
    want = json.dumps(value, indent=2, default=str)
    if level:
        want = want.replace("\n", "\n" + "  " * level)
    assert jsontext.dumps(value, level) == want


def test_a_report_is_written_as_jsonstream_writes_it() -> None:
    def report() -> dict[str, Any]:
        return {
            "recipe": {"path": "r.toml", "content": {"tools": {"t": {"command": ["a", "{target}"]}}}},
            "tasks": Items(iter(VALUES)),
            "empty": Items(iter([])),
            "summary": {"ok": 3, "ratio": 0.25},
            "results": Items({"status": "ok", "wall_seconds": i / 7, "argv": [str(i)]} for i in range(5)),
            "notes": [],
        }

    fast, slow = io.StringIO(), io.StringIO()
    _dump(report(), fast)
    jsonstream.dump(report(), slow, indent=2)
    assert fast.getvalue() == slow.getvalue()
    assert json.loads(fast.getvalue())["results"][4]["argv"] == ["4"]


def test_floats_of_every_magnitude_and_entries_like_a_runs() -> None:
    rng = random.Random(7)
    floats = [rng.choice([-1, 1]) * 10 ** rng.uniform(-9, 21) for _ in range(3000)]
    floats += [round(f, rng.randint(0, 6)) for f in floats[:500]] + [float(i) for i in range(-50, 50)]
    entries = [{"wall_seconds": f, "argv": ["/bin/true", str(i)], "rows": i} for i, f in enumerate(floats)]
    for value in [*floats, *entries]:
        assert jsontext.dumps(value, 2) == json.dumps(value, indent=2, default=str).replace("\n", "\n    ")

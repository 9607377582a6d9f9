"""JSON written piece by piece (report.json, the run record) reads as the same document, with the
same text json.dump gives, whatever is streamed or copied in."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from codequarry.report import jsonstream
from codequarry.report.jsonstream import CopyOf, Items

PLAIN: dict[str, Any] = {
    "a": 1,
    "b": {"x": [1, {"y": "é\ud800"}], "z": {}, "w": []},
    "tasks": [{"k": [1, 2], "e": [], "n": None}, {"q": 1.5}],
    "empty": [],
    "nested": {"s": [True, "t"]},
}


def streamed() -> dict[str, Any]:
    return {
        **PLAIN,
        "tasks": Items(iter(PLAIN["tasks"])),
        "empty": Items(iter([])),
        "nested": {"s": Items(x for x in PLAIN["nested"]["s"])},
    }


@pytest.mark.parametrize("indent", [1, 2])
def test_streamed_text_is_what_json_dump_writes(indent: int) -> None:
    out = io.StringIO()
    jsonstream.dump(streamed(), out, indent=indent)
    assert out.getvalue() == json.dumps(PLAIN, indent=indent)


def test_a_copied_document_is_embedded_as_its_value(tmp_path: Path) -> None:
    inner = tmp_path / "inner.json"
    inner.write_text(json.dumps(PLAIN, indent=2) + "\n")
    out = io.StringIO()
    jsonstream.dump({"run": "r1", "tools": CopyOf(inner), "tasks": Items(iter([1]))}, out, indent=1)
    assert json.loads(out.getvalue()) == {"run": "r1", "tools": PLAIN, "tasks": [1]}

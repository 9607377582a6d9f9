"""A coding cookie naming a codec that fails with a plain UnicodeError (trust sweep 8).

``# coding: undefined`` names a real codec whose every decode raises ``UnicodeError`` (not
``UnicodeDecodeError``). ``source.decode_python`` caught only the latter and ``LookupError``, so the
error escaped into each extractor of the file: thirteen ``errors`` rows with a Python exception
message instead of the one ``decode`` row every other undecodable file gets.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.conftest import quarry


def test_a_codec_that_always_fails_is_one_decode_error(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "undefined.py").write_bytes(b"# -*- coding: undefined -*-\nx = 1\n")
    (root / "rot13.py").write_bytes(b"# -*- coding: rot13 -*-\nk = 1\n")  # a text-to-text codec
    (root / "plain.py").write_text("y = 2\n")
    quarry("extract", root, "-w", "1", "-q", timeout=600)
    rows = quarry(
        "sql", "-s", root / ".quarry", "-f", "jsonl", "SELECT path, kind, message FROM errors"
    ).stdout
    found = sorted((r["path"], r["kind"]) for r in map(json.loads, rows.splitlines()))
    assert found == [("rot13.py", "decode"), ("undefined.py", "decode")], rows
    got = quarry("sql", "-s", root / ".quarry", "-f", "jsonl", "SELECT target FROM assignments").stdout
    assert [json.loads(r)["target"] for r in got.splitlines()] == ["y"]

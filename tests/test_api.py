"""The extractor API: declarations are checked before any file is read, and the how-to runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import codequarry.api
from codequarry import dataset, extract, file_extractor, make_plan, open_store, sql
from codequarry.errors import DeclarationError


def test_an_unknown_parse_product_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        DeclarationError, match=r"'acme\.x' needs unknown parse product 'symtabel'.*'symtable'"
    ):
        file_extractor("acme.x", version=1, needs=["symtabel"], outputs=[])


def test_a_type_arrow_cannot_hold_is_refused_at_declaration() -> None:
    with pytest.raises(DeclarationError, match=r"dataset 'bad'.*\.when.*cannot be stored in Arrow"):

        @dataset("bad")
        class Bad:
            when: complex

    with pytest.raises(DeclarationError, match=r"unions other than 'X \| None'"):

        @dataset("bad2")
        class Bad2:
            value: int | str


class Param:
    name: str
    default: str | None


def test_nested_types_map_to_arrow() -> None:
    @dataset("nested")
    class Nested:
        params: list[Param]
        tags: list[str]
        score: float | None

    types = {f.name: str(f.type) for f in Nested.fields}
    assert types == {
        "params": "list<item: struct<name: string not null, default: string>>",
        "tags": "list<item: string>",
        "score": "double",
    }
    assert Nested.schema.names[:3] == ["repo", "path", "sha256"]


def test_bad_names_and_versions_are_refused() -> None:
    with pytest.raises(DeclarationError, match="dotted name"):
        file_extractor("acme env", version=1, outputs=[])
    with pytest.raises(DeclarationError, match="version must be"):
        file_extractor("acme.env", version="1", outputs=[])  # type: ignore[arg-type]


def test_the_how_to_in_the_api_docstring_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = codequarry.api.__doc__ or ""
    code = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert code is not None
    module = "\n".join(line[4:] for line in code.group(1).splitlines())
    (tmp_path / "howto_plugin.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("howto_plugin", None)
    src = tmp_path / "src"
    src.mkdir()
    (src / "settings.py").write_text(
        "import os\nHOME = os.getenv('HOME')\nX = os.environ.get('DEBUG_LEVEL', '1')\n"
    )
    extract(make_plan([src], store=tmp_path / "s", workers=1, plugins=["howto_plugin"], select=["acme"]))
    got = sql(open_store(tmp_path / "s"), "SELECT name, line FROM acme_env_reads ORDER BY line").to_pylist()
    assert got == [{"name": "HOME", "line": 2}, {"name": "DEBUG_LEVEL", "line": 3}]

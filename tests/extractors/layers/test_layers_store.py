"""The layer tables as users read them back from a store, on a real corpus sample.

The bytecode layer builds its arrays outside pyarrow's default memory pool, decodes many files at
once into shared arrays and hands the row buffer slices of them (see ``schema.build_pool`` and
``bytecode_columns.joined_arrays``). None of that may show: every layer table read back through SQL
and through the raw Parquet parts has exactly its declared schema (plain strings for the provenance,
nothing dictionary-encoded), and the instruction rows read back are the rows ``dis`` gives for the
same files.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.layers.bytecode import code_units
from codequarry.extractors.layers.bytecode_decode import decode_with_dis
from codequarry.extractors.layers.positions import char_columns
from codequarry.registry import load_catalog
from codequarry.source import SourceFile
from tests.extractors.layers.test_layers import LAYERS
from tests.extractors.layers.test_layers_stdlib import STDLIB, stdlib_files

STEP = 41  # about 45 files of the standard library, non-ASCII ones among them
CHOSEN = ("symtable", "bytecode", "ast", "parse_manifest")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("corpus") / "stdlib"
    for path in stdlib_files(STEP):
        target = src / path.relative_to(STDLIB)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    where = tmp_path_factory.mktemp("store") / "store"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extract(make_plan([src], store=where, select=[LAYERS[name][0] for name in CHOSEN], workers=2))
    return where


def _specs() -> dict[str, Any]:
    catalog = load_catalog(entry_points_enabled=False)
    return {spec.name: spec for name in CHOSEN for spec in catalog.extractors[LAYERS[name][0]].outputs}


def test_every_layer_table_reads_back_with_its_declared_schema(store: Path) -> None:
    st = open_store(store)
    for name, spec in _specs().items():
        got = sql(st, f"SELECT * FROM {name}")
        assert got.num_rows > 0, name
        assert got.schema.names == spec.schema.names, name
        assert [f.type for f in got.schema] == [f.type for f in spec.schema], name
        parts = sorted((store / "tables" / name).glob("*.parquet"))
        assert parts, name
        for part in parts:  # what the raw Parquet readers (partcache, reports, health) see
            schema = pq.read_schema(part)
            assert [f.type for f in schema] == [f.type for f in spec.schema], (name, part.name)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the column decoder runs on CPython 3.11 only")
def test_instruction_rows_read_back_are_what_dis_gives(store: Path) -> None:
    st = open_store(store)
    cols = 'unit_id, "offset", opname, arg, argrepr, is_jump_target, line, end_line, col, end_col'
    rows = sql(st, f'SELECT path, {cols} FROM bytecode_instructions ORDER BY path, unit_id, "offset"')
    got: dict[str, list[tuple[Any, ...]]] = {}
    for row in zip(*(rows.column(i).to_pylist() for i in range(rows.num_columns)), strict=True):
        got.setdefault(row[0], []).append(row[1:])
    want: dict[str, list[tuple[Any, ...]]] = {}
    for path in stdlib_files(STEP):
        rel = path.relative_to(STDLIB).as_posix()
        data = path.read_bytes()
        src = SourceFile(repo="r", path=rel, data=data, sha256="-", size=len(data), language="python")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = src.bytecode
        except Exception:  # noqa: BLE001 - a file the compiler refuses has no rows
            continue
        columns: tuple[list[Any], ...] = tuple([] for _ in range(10))
        convert = char_columns(src)
        for uid, _parent, code in code_units(module):
            decode_with_dis(code, columns, uid, convert)
        want[rel] = sorted(zip(*columns, strict=True), key=lambda r: (r[0], r[1]))
    assert want and sorted(got) == sorted(want)
    assert any(not path.read_bytes().isascii() for path in stdlib_files(STEP)), "no file that is not ASCII"
    for rel, rows_of_file in want.items():
        assert got[rel] == rows_of_file, rel

"""The columnar ingest path (pyarrow's JSON reader over a whole batch) gives exactly the rows,
error rows and messages of the line-by-line path (json/orjson + the record checker), on clean
output and on every kind of line the two parsers could judge differently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codequarry.schema import DatasetSpec
from codequarry.tools import jsonl
from codequarry.tools.jsonl import ERRORS, LineReader, TableSink
from codequarry.tools.pipes import Cut
from codequarry.tools.schema import RecordChecker, fields_from_table

SCHEMA = {"name": "str", "n": "int", "x": "float?", "ok": "bool?", "tags": "list[str]?"}

GOOD = [
    json.dumps({"name": f"d{i}", "n": i, "x": i / 3, "ok": i % 2 == 0, "tags": ["a", None]}).encode()
    for i in range(50)
]
TRICKY = [
    b'{"name": "a", "n": 1}{"name": "b", "n": 2}',  # two objects on one line
    b"   ",  # a blank line (skipped, counted)
    b'{"name": "a", "n": 1.0}',  # a float in an int column
    b'{"name": "a", "n": 99999999999999999999}',  # past int64
    b'{"name": 1, "n": 1}',  # a number in a string column
    b'{"name": "a", "n": 1, "x": NaN}',  # json reads NaN, orjson does not
    b'{"name": "a", "n": 1, "x": Inf}',  # pyarrow reads Inf, json does not
    b'{"name": "a", "n": 1, "x": -Infinity}',
    b'{"name": "a", "n": 1, "junk": "\xff"}',  # invalid UTF-8 in a field nobody declared
    b'{"name": "a", "name": "b", "n": 1}',  # a duplicate key
    b'{"n": 1}',  # a required field missing
    b'{"name": null, "n": 1}',
    b"[1, 2]",
    b"3",
    b"not json",
    b'{"name": "a", "n": 1} trailing',
    b'{"name": "a", "n": 1, "x": 2}',  # an int in a float column
    b'{"name": "a", "n": 1, "tags": [1]}',
    b'{"name": "a", "n": 1, "tags": "t"}',
    b'{"name": "a", "n": 1, "other": {"deep": [1, {"x": null}]}}',
    b'{"name": "a", "n": 1, "extra_field": 2}',
    b'\xef\xbb\xbf{"name": "bom", "n": 1}',
    b'{"name": "a\\u00e9\\n", "n": -0}',
    b'{"name": "a", "n": 1, "other": Inf}',  # pyarrow ignores a field json refuses
    b'{"name": "a", "n": 1, "other": [1, -Inf]}',
    b'{"name": "a", "n": 1, "other": NaN}',  # json reads it, the undeclared field is ignored
    b'{"name": "Inf NaN", "n": 1, "tags": ["NaN"]}',  # the words inside strings only
    b'{"name": "a", "n": 1, "x": 1e999}',  # an infinity json reads too
]


def run_reader(
    tmp: Path, lines: list[bytes | Cut], *, arrow: bool, extra: str = "ignore", blocks: int = 0
) -> dict[str, Any]:
    """Feed the lines to a reader (columnar path on or off; given ``blocks``, whole lines come in
    blocks of that many, as the pipe hands them out) and read back what it wrote."""
    fields = fields_from_table(SCHEMA)
    checker = RecordChecker(fields, extra)
    spec = DatasetSpec(name="t", fields=tuple(checker.schema))
    for name in ("t", "errors"):
        (tmp / name).mkdir(parents=True)
    sink, errors = TableSink(str(tmp), "r", spec), TableSink(str(tmp), "r", ERRORS)
    reader = LineReader(
        tool="x", path="p", sha256=None, checker=checker, sink=sink, errors=errors, strict=False, fail=print
    )
    if not arrow:
        reader.arrow = None
    if blocks:
        assert reader.takes_blocks
    run: list[bytes] = []
    for line in [*lines, None]:
        if blocks and isinstance(line, bytes):
            run.append(line + b"\n")
            continue
        for i in range(0, len(run), blocks or 1):
            reader.block(b"".join(run[i : i + blocks]))
        run = []
        if isinstance(line, Cut):
            reader.cut(line)
        elif line is not None:
            reader.extend([line + b"\n"])
    reader.close()

    def rows(s: TableSink) -> list[dict[str, Any]]:
        parts = s.finish()
        tables = [pq.read_table(tmp / s.spec.name / p.file) for p in parts]
        return pa.concat_tables(tables).to_pylist() if tables else []

    return {
        "rows": rows(sink),
        "errors": rows(errors),
        "counts": (reader.rows, reader.invalid, reader.first_problem),
    }


def same(tmp_path: Path, lines: list[bytes | Cut], extra: str = "ignore") -> dict[str, Any]:
    fast = run_reader(tmp_path / "fast", lines, arrow=True, extra=extra)
    slow = run_reader(tmp_path / "slow", lines, arrow=False, extra=extra)
    assert repr(fast) == repr(slow)  # repr: a NaN equals itself there
    if extra != "json":  # the extra column needs the line-by-line path: no blocks then
        for size in (1, 3, 1000):
            got = run_reader(tmp_path / f"blocks{size}", lines, arrow=True, extra=extra, blocks=size)
            assert repr(got) == repr(slow)
    return fast


def test_clean_output_takes_the_columnar_path_with_the_same_rows(tmp_path: Path) -> None:
    checker = RecordChecker(fields_from_table(SCHEMA))
    schema = jsonl.arrow_schema(checker)
    assert schema is not None
    batch = jsonl.arrow_batch([line + b"\n" for line in GOOD], schema, checker)
    assert batch is not None and batch.num_rows == len(GOOD)
    got = same(tmp_path, GOOD)
    assert len(got["rows"]) == 50 and got["errors"] == []
    assert got["rows"][7] == {
        "repo": "x",
        "path": "p",
        "sha256": None,
        "name": "d7",
        "n": 7,
        "x": 7 / 3,
        "ok": False,
        "tags": ["a", None],
    }


@pytest.mark.parametrize("index", range(len(TRICKY)))
def test_each_tricky_line_among_good_ones_is_judged_as_line_by_line(tmp_path: Path, index: int) -> None:
    got = same(tmp_path, [*GOOD[:3], TRICKY[index], *GOOD[3:6]])
    assert len(got["rows"]) >= 6


def test_all_tricky_lines_at_once_and_a_cut_line(tmp_path: Path) -> None:
    got = same(tmp_path, [*TRICKY, Cut(b'{"name": "long', 9_000_000), *GOOD])
    assert got["counts"][1] > 10 and got["errors"]


@pytest.mark.parametrize("extra", ["forbid", "json"])
def test_other_extra_modes_give_the_same_rows(tmp_path: Path, extra: str) -> None:
    got = same(tmp_path, [*GOOD, TRICKY[-3], TRICKY[-2]], extra=extra)
    assert len(got["rows"]) >= 50


def test_a_lone_surrogate_escape_is_left_to_the_line_by_line_path() -> None:
    checker = RecordChecker(fields_from_table(SCHEMA))
    schema = jsonl.arrow_schema(checker)
    assert schema is not None
    lines = [GOOD[0] + b"\n", b'{"name": "\\ud800", "n": 1}\n']
    assert jsonl.arrow_batch(lines, schema, checker) is None
    assert jsonl.arrow_batch(lines[:1], schema, checker) is not None


def test_schemas_the_reader_cannot_check_stay_line_by_line() -> None:
    nested = fields_from_table({"loc": {"row": "int"}, "name": "str"})
    dotted = fields_from_table({"loc.row": "int"})
    flat = fields_from_table({"name": "str", "deps": "list[list[int]]?"})
    assert jsonl.arrow_schema(RecordChecker(nested)) is None
    assert jsonl.arrow_schema(RecordChecker(dotted)) is None
    assert jsonl.arrow_schema(RecordChecker(flat, "json")) is None
    assert jsonl.arrow_schema(RecordChecker(flat)) is not None


def test_batches_past_the_batch_size_with_a_bad_line_inside(tmp_path: Path) -> None:
    lines: list[bytes | Cut] = [*GOOD * 180]  # 9,000 lines: more than one batch either way
    lines[5000] = b'{"name": "a", "n": 1.5}'
    got = same(tmp_path, lines)
    assert len(got["rows"]) == 8999 and got["counts"][1] == 1
    assert got["errors"][0]["line"] == 5001


@pytest.mark.parametrize("late", [-9, -8, -7, -6, -5, -4])
@pytest.mark.parametrize("extra", ["ignore", "forbid"])
def test_a_later_batch_with_what_only_the_text_shows(tmp_path: Path, late: int, extra: str) -> None:
    """A first batch of declared fields only (read refusing undeclared ones, no text search), then a
    batch holding an undeclared field or a non-finite float spelled as json refuses or reads it."""
    lines: list[bytes | Cut] = [*GOOD * 180]
    lines[8500] = TRICKY[late]
    got = same(tmp_path, lines, extra=extra)
    assert len(got["rows"]) >= 8999 - (extra == "forbid")


@pytest.mark.parametrize("extra", ["ignore", "json"])
def test_a_lone_surrogate_is_stored_escaped_not_a_crash(tmp_path: Path, extra: str) -> None:
    """JSON may escape a lone surrogate; UTF-8 cannot hold one. The record is kept with the escape as
    text (what extractors do with such strings), on both paths, and the run goes on."""
    odd = b'{"name": "\\ud800x", "n": 1, "tags": ["\\udfff"], "other": "\\ud801"}'
    got = same(tmp_path, [GOOD[0], odd, GOOD[1]], extra=extra)
    assert got["counts"] == (3, 0, None) and got["errors"] == []
    row = got["rows"][1]
    assert (row["name"], row["tags"]) == ("\\ud800x", ["\\udfff"])


def test_the_pipe_hands_out_whole_lines_as_blocks_in_order() -> None:
    """Lines split across reads come out whole: blocks of whole lines, the last partial line at EOF
    as a line, and a line past MAX_LINE still cut (the block path never holds one)."""
    import os
    import threading

    from codequarry.tools import pipes

    data = b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 5000)) for i in range(3000))
    data += b"y" * (pipes.MAX_LINE + 10) + b"\n" + b'{"last": 1}'
    got: list[bytes | Cut] = []
    r, w = os.pipe()
    writer = threading.Thread(target=_write_all, args=(w, data))
    writer.start()
    with open(r, "rb") as stream:

        def block(view: bytes | memoryview, lines: int, head: bytes) -> None:
            whole = head + bytes(view)
            assert whole.count(b"\n") == lines
            got.append(whole)

        pipe = pipes.Pipe(stream, got.extend, got.append, print, on_block=block)
        while pipe.open:
            pipe.read()
    writer.join()
    cuts = [g for g in got if isinstance(g, Cut)]
    assert len(cuts) == 1 and cuts[0].length == pipes.MAX_LINE + 11
    text = b"".join(g for g in got if isinstance(g, bytes))
    assert text == data.replace(b"y" * (pipes.MAX_LINE + 10) + b"\n", b"")
    assert got[-1] == b'{"last": 1}'
    assert all(g.endswith(b"\n") for g in got[:-1] if isinstance(g, bytes))


def _write_all(fd: int, data: bytes) -> None:
    import os

    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def test_provenance_columns_made_once_a_task_fit_batches_of_every_size(tmp_path: Path) -> None:
    """The repo/path/sha256 columns are made for the largest batch so far and sliced for smaller ones:
    batches of varying sizes (a big one, then small ones, then a bigger one) keep every row's."""
    fields = fields_from_table(SCHEMA)
    checker = RecordChecker(fields, "ignore")
    spec = DatasetSpec(name="t", fields=tuple(checker.schema))
    for name in ("t", "errors"):
        (tmp_path / name).mkdir(parents=True)
    sink, errors = TableSink(str(tmp_path), "r", spec), TableSink(str(tmp_path), "r", ERRORS)
    reader = LineReader(
        tool="x",
        path="p",
        sha256="ab" * 32,
        checker=checker,
        sink=sink,
        errors=errors,
        strict=False,
        fail=print,
    )
    lines = [line + b"\n" for line in GOOD] * 4  # 200 lines
    at = 0
    for size in (40, 3, 1, 10, 90, 56):
        reader.batch = size  # flush after each block: batches of exactly these sizes
        reader.block(b"".join(lines[at : at + size]))
        at += size
    reader.close()
    tables = [pq.read_table(tmp_path / "t" / p.file) for p in sink.finish()]
    got = pa.concat_tables(tables).to_pylist()
    assert len(got) == 200 and reader.rows == 200
    assert {(r["repo"], r["path"], r["sha256"]) for r in got} == {("x", "p", "ab" * 32)}
    assert [r["name"] for r in got] == [f"d{i % 50}" for i in range(200)]


def test_the_words_nan_and_inf_inside_strings_keep_the_columnar_path(tmp_path: Path) -> None:
    """A batch whose text holds "NaN"/"Inf" only inside strings (titles, names), with a field the schema
    lacks, is read whole by pyarrow (it once went line by line: a cliff); a real ``Inf`` token among
    them still sends it line by line, and both give the line-by-line path's rows."""
    checker = RecordChecker(fields_from_table(SCHEMA))
    schema = jsonl.arrow_schema(checker)
    assert schema is not None
    worded = [
        json.dumps(
            {"name": f"Infinity War {i}", "n": i, "x": 1.5, "note": "NaN-free", "tags": ["Inf"]}
        ).encode()
        for i in range(300)
    ]
    buf = b"".join(line + b"\n" for line in worded)
    assert not jsonl._unsure(buf)
    batch, undeclared = jsonl.read_block(buf, len(worded), schema, checker, declared_only=True)
    assert batch is not None and batch.num_rows == 300 and undeclared
    real = b'{"name": "Infinity", "n": 1, "other": Inf}'
    assert jsonl._unsure(buf + real + b"\n")
    assert jsonl.read_block(buf + real + b"\n", 301, schema, checker, declared_only=False)[0] is None
    got = same(tmp_path, [*worded[:150], real, *worded[150:]])
    assert got["counts"][:2] == (300, 1)
    assert same(tmp_path / "clean", worded)["rows"][299]["name"] == "Infinity War 299"

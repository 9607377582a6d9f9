"""The JSON-lines protocol: records on a tool's stdout streamed into the store, in bounded memory.

Each task's reader decodes its lines and checks them in batches of ``BATCH`` records (a batch
whose lines are all one object fitting a flat schema is read whole by pyarrow's JSON reader, in
C++, with no Python object per row: :func:`arrow_batch`; any other goes line by line, so both give
the same rows and error rows); the batches go to one shared :class:`TableSink` per table, which
every task of that table writes into and which writes a Parquet part (invisible until the run
commits it) every ``part_rows`` rows, on a writer thread of its own. A
line that is not JSON, or a record that does not fit the schema, becomes a row of ``errors``
(kind ``invalid_output``), or, under ``--strict``, stops the task as ``invalid_output``. Rows of a
task that does not end ``ok`` are taken out of the parts before the commit, so a killed,
timed-out or failed task leaves no partial output behind.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from codequarry.datasets import Error
from codequarry.parts import Part, write_part
from codequarry.schema import DatasetSpec
from codequarry.tools.pipes import MAX_LINE, Cut
from codequarry.tools.schema import RecordChecker


def _json_loads(raw: bytes) -> Any:
    """``json.loads``, a line nested past Python's recursion limit being not JSON (a ValueError) as
    any other: a RecursionError there ended the whole run in a traceback."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested deeper than Python's JSON reader follows") from None


try:  # orjson decodes several times faster than json; json stays the reference (NaN, huge integers)
    import orjson

    _ORJSON_ERROR: type[Exception] = orjson.JSONDecodeError

    def _loads(raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except _ORJSON_ERROR:
            return _json_loads(raw)

    def _dumps(value: Any) -> str:
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            return json.dumps(value)

    _ORJSON_LOADS: Callable[[Any], Any] | None = orjson.loads  # Any: handed a Cut, it raises TypeError
except ImportError:  # pragma: no cover - orjson is a dependency
    _ORJSON_LOADS = None
    _loads = _json_loads  # type: ignore[assignment]
    _dumps = json.dumps  # type: ignore[assignment]

ERRORS = cast(DatasetSpec, Error)  # the errors dataset (a DatasetSpec made by @dataset)

Key = tuple[str, str]  # (repo, path): the rows of one task
BATCH = 1024  # records a task decodes before checking them and handing them to its table's sink
ARROW_BATCH = 8192  # ... when pyarrow's reader takes them (a call costs ~0.1 ms: fewer, bigger ones)
BATCH_BYTES = 4 << 20  # ... or fewer, when their lines hold this many bytes
PART_ROWS = 65536  # rows per Parquet part
PART_BYTES = 64 << 20  # ... or fewer, when the rows held in memory reach this many bytes
MAX_ERROR_ROWS = 100  # error rows recorded per task; the rest are counted


class TableSink:
    """The shared writer of one table: batches from every task in, Parquet parts out."""

    def __init__(self, tables_dir: str, run_id: str, spec: DatasetSpec, part_rows: int = PART_ROWS) -> None:
        self.tables_dir, self.run_id, self.spec, self.part_rows = tables_dir, run_id, spec, part_rows
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None  # writes parts off the tasks' threads (made at need)
        self._writing: Future[None] | None = None  # the part being written
        self._pending: list[tuple[pa.RecordBatch, Key]] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self.parts: list[tuple[Part, frozenset[Key]]] = []  # each part and the (repo, path) it holds rows of
        self.rows = 0

    def add(self, batch: pa.RecordBatch, key: Key) -> None:
        """Add rows (with their provenance columns) of the task whose rows are ``key`` = (repo, path)."""
        with self._lock:
            self._pending.append((batch, key))
            self._pending_rows += batch.num_rows
            self._pending_bytes += batch.nbytes
            self.rows += batch.num_rows
            if self._pending_rows < self.part_rows and self._pending_bytes < PART_BYTES:
                return
            taken, self._pending, self._pending_rows, self._pending_bytes = self._pending, [], 0, 0
        self._submit(taken)  # outside the lock: other tasks keep adding meanwhile

    def _submit(self, taken: list[tuple[pa.RecordBatch, Key]]) -> None:
        """Write a part on the sink's writer thread (Parquet encoding releases the GIL, so the task
        reads and parses on while it is written); a second part waits for the first, so at most two
        parts' rows are held besides the ones pending."""
        with self._write_lock:
            self._wait()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"parts {self.spec.name}")
            self._writing = self._pool.submit(self._write, taken)

    def _wait(self) -> None:
        """Wait for the part being written (and raise what writing it raised)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _write(self, taken: list[tuple[pa.RecordBatch, Key]]) -> None:
        if not taken:
            return
        batch = pa.concat_batches([b for b, _ in taken]) if len(taken) > 1 else taken[0][0]
        part = write_part(self.tables_dir, self.run_id, self.spec.name, batch)
        self.parts.append((part, frozenset(p for _, p in taken)))

    def finish(self, drop: set[Key] | frozenset[Key] = frozenset()) -> list[Part]:
        """Write what is left; rewrite the parts holding rows of ``drop`` ((repo, path) of tasks not ok)
        without them."""
        with self._lock:
            taken, self._pending, self._pending_rows, self._pending_bytes = self._pending, [], 0, 0
        with self._write_lock:
            try:
                self._wait()
            finally:
                if self._pool is not None:
                    self._pool.shutdown()
                    self._pool = None
        self._write([(b, p) for b, p in taken if p not in drop])
        out = []
        for part, paths in self.parts:
            if not paths & drop:
                out.append(part)
                continue
            full = os.path.join(self.tables_dir, self.spec.name, part.file)
            data = pq.read_table(full)
            keys = pc.binary_join_element_wise(data.column("repo"), data.column("path"), "\x00")
            doomed = pa.array(sorted(f"{repo}\x00{path}" for repo, path in drop), pa.string())
            keep = pc.invert(pc.is_in(keys, doomed))
            kept = data.filter(keep)
            self.rows -= data.num_rows - kept.num_rows
            if kept.num_rows:
                out.append(
                    write_part(
                        self.tables_dir, self.run_id, self.spec.name, kept.combine_chunks().to_batches()[0]
                    )
                )
            os.unlink(full)
        self.parts = []
        return out


def _split(data: bytes) -> list[bytes]:
    """Whole lines (each ends with a newline) as a list of lines, their newlines kept."""
    pieces = data.split(b"\n")
    pieces.pop()  # the empty piece after the last newline
    return [p + b"\n" for p in pieces]


def with_provenance(
    spec: DatasetSpec,
    batch: pa.RecordBatch,
    repo: str,
    path: str,
    sha256: str | None,
    lead: list[pa.Array] | None = None,
) -> pa.RecordBatch:
    """The batch with its repo, path and sha256 columns first; ``lead``, when given, holds those
    three columns for at least as many rows (made by :func:`provenance`), sliced instead of made."""
    n = batch.num_rows
    if lead is None or len(lead[0]) < n:
        lead = provenance(repo, path, sha256, n)
    elif len(lead[0]) > n:
        lead = [a.slice(0, n) for a in lead]
    return pa.RecordBatch.from_arrays([*lead, *batch.columns], schema=spec.schema)


def provenance(repo: str, path: str, sha256: str | None, n: int) -> list[pa.Array]:
    """The repo, path and sha256 columns of n rows of one task."""
    return [
        pa.array([repo] * n, pa.string()),
        pa.array([path] * n, pa.string()),
        pa.array([sha256] * n, pa.string()),
    ]


def _fast_records(
    raw_lines: list[bytes | Cut], names: frozenset[str] | set[str] | None
) -> list[dict[str, Any]] | None:
    """The records of lines that all decode (orjson, in one C loop) to objects whose keys fit
    ``names`` (None: any keys); None when any line does not, so the caller goes line by line."""
    if _ORJSON_LOADS is None:
        return None
    try:
        records = list(map(_ORJSON_LOADS, cast(list[bytes], raw_lines)))  # a Cut is not bytes: TypeError
    except (ValueError, TypeError):
        return None
    for record in records:
        if type(record) is not dict or (names is not None and not record.keys() <= names):
            return None
    return records


def arrow_schema(checker: RecordChecker) -> pa.Schema | None:
    """The schema pyarrow's JSON reader can read a batch into directly, or None when the checker
    needs more than it gives: columns taken from inside objects, struct columns (whose required
    children it cannot check), or the ``extra`` column of leftover fields."""
    if not checker.fields or checker.extra == "json" or any(p is not None for p in checker.paths):
        return None

    def plain(tp: pa.DataType) -> bool:
        return plain(tp.value_type) if pa.types.is_list(tp) else not pa.types.is_struct(tp)

    return checker.schema if all(plain(f.type) for f in checker.fields) else None


_UNSURE = (b"NaN", b"Inf")  # words pyarrow reads as numbers in more spellings than json does


def _unsure(buf: bytes) -> bool:
    """Might the buffer hold a NaN or Infinity spelling outside a string? Only lines holding one
    of the words are judged: each by orjson, which takes no such spelling outside a string, so a
    line it accepts holds the words in strings only ("Infinity War"), where pyarrow and json agree.
    A line orjson refuses (a real ``NaN``, or any other reason) makes the batch unsure. (Two scans
    of the whole buffer, ~0.2 us a row, plus one parse per such line: done only when the parsed
    columns cannot rule it out.) Before, any such word sent the whole batch line by line."""
    checked = -1  # the end of the last line judged: a line holding both words is judged once
    for word in _UNSURE:
        at = buf.find(word)
        while at >= 0:
            start = buf.rfind(b"\n", 0, at) + 1
            end = buf.find(b"\n", at)
            end = len(buf) if end < 0 else end
            if end != checked and not _strict_json(buf[start:end]):
                return True
            checked = end
            at = buf.find(word, end)
    return False


def _strict_json(line: bytes) -> bool:
    """Does orjson (strict JSON: no NaN, Infinity or Inf outside a string) read the line?"""
    if _ORJSON_LOADS is None:  # pragma: no cover - orjson is a dependency
        return False
    try:
        _ORJSON_LOADS(line)
    except ValueError:
        return False
    return True


def _utf8_ok(buf: bytes) -> bool:
    """Is the buffer valid UTF-8? pyarrow's reader does not check the fields it ignores, and
    json.loads refuses such a line whole. (CPython's decoder: ~30x Arrow's full validation.)"""
    if buf.isascii():
        return True
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _floaty(tp: pa.DataType) -> bool:
    return _floaty(tp.value_type) if pa.types.is_list(tp) else pa.types.is_floating(tp)


def _non_finite(table: pa.Table) -> bool:
    """Does a float column (or list of floats) hold a NaN or an infinity? The only columns where
    pyarrow takes a NaN/Inf spelling: in a string, int, bool or list-of-those column it refuses it."""
    for column, field in zip(table.columns, table.schema, strict=True):
        if not _floaty(field.type):
            continue
        values = column
        while pa.types.is_list(values.type):
            values = pc.list_flatten(values)
        if pc.any(pc.invert(pc.is_finite(values))).as_py():
            return True
    return False


def arrow_batch(
    raw_lines: list[bytes | Cut], schema: pa.Schema, checker: RecordChecker
) -> pa.RecordBatch | None:
    """:func:`arrow_block` over lines (None when one is a cut line)."""
    try:
        buf = b"".join(cast(list[bytes], raw_lines))  # a Cut: TypeError
    except TypeError:
        return None
    return arrow_block(buf, len(raw_lines), schema, checker)


_BLANK = re.compile(rb"\n[ \t\r\x0b\x0c]*\n")  # a line after the first that bytes.strip() leaves empty


def _has_blank(buf: bytes) -> bool:
    """Has the buffer a line (its first, one between newlines, or a last one without a newline)
    that bytes.strip() leaves empty? (One regex pass: ~10x a multi-line ``^...$`` search.)"""
    first = buf.find(b"\n")
    if not buf[: first if first >= 0 else len(buf)].strip() or _BLANK.search(buf):
        return True
    last = buf.rfind(b"\n")
    return last + 1 < len(buf) and not buf[last + 1 :].strip()


def arrow_block(buf: bytes, lines: int, schema: pa.Schema, checker: RecordChecker) -> pa.RecordBatch | None:
    """:func:`read_block` trying undeclared fields first (its batch only)."""
    return read_block(buf, lines, schema, checker, declared_only=False)[0]


def _read(buf: bytes, schema: pa.Schema, unexpected: str) -> pa.Table | None:
    try:
        return pj.read_json(
            pa.BufferReader(buf),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(buf) + 1),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected),
        )
    except (pa.ArrowException, UnicodeDecodeError):
        return None


def read_block(
    buf: bytes, lines: int, schema: pa.Schema, checker: RecordChecker, declared_only: bool
) -> tuple[pa.RecordBatch | None, bool]:
    """``lines`` lines (``buf``: each ends with a newline, but maybe the last) parsed and typed by
    pyarrow's JSON reader (C++, columnar, no Python object per row), or None when the batch needs
    the line-by-line path to be judged as json + the checker would: any line that is not one JSON
    object fitting the schema, a blank line, invalid UTF-8, a NaN/Infinity spelling, a required
    column with a null. That path then gives the same rows, error rows and messages as before;
    this one only takes the batches it would accept whole, with the same values.

    A NaN/Infinity spelling json refuses can hide from the parsed columns only in a float column
    or in a field the schema lacks: with ``declared_only`` (the task's records so far held no
    such field) the batch is first read refusing undeclared fields, and the text is searched for
    those words only when that fails or a float column holds a non-finite value. The second item
    says whether the batch held undeclared fields (the reader then stops trying without them)."""
    if not lines or _has_blank(buf) or not _utf8_ok(buf):
        return None, False
    forbid = checker.extra == "forbid"
    table = _read(buf, schema, "error") if forbid or declared_only else None
    undeclared = table is None and not forbid
    if table is None:
        if forbid or _unsure(buf):
            return None, undeclared
        table = _read(buf, schema, "ignore")
    elif _non_finite(table) and _unsure(buf):
        return None, False
    if table is None or table.num_rows != lines:  # two objects on a line: json.loads refuses that line
        return None, undeclared
    table = table.select(schema.names)
    if any(table.column(f.name).null_count for f in schema if not f.nullable):
        return None, undeclared
    batches = table.combine_chunks().to_batches()
    batch = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
    return pa.RecordBatch.from_arrays(batch.columns, schema=schema), undeclared


class LineReader:
    """One task's stdout: lines -> checked records -> its table's sink (and errors to the errors sink)."""

    def __init__(
        self,
        *,
        tool: str,
        path: str,
        sha256: str | None,
        checker: RecordChecker,
        sink: TableSink,
        errors: TableSink,
        strict: bool,
        fail: Callable[[str, str], None],
    ) -> None:
        self.tool, self.path, self.sha256 = tool, path, sha256
        self.checker, self.sink, self.errors, self.strict, self.fail = checker, sink, errors, strict, fail
        self.names = checker.names
        self.arrow = arrow_schema(checker)  # the batches pyarrow can read straight into the table
        # --strict keeps the smaller batches: the rows a stopped task counts stay what they were
        self.batch = ARROW_BATCH if self.arrow is not None and not strict else BATCH
        self.pending: list[bytes | Cut] = []  # raw lines not yet decoded (a Cut: a line too long to keep)
        self._pending_bytes = 0
        # blocks of whole lines, straight from the pipe (no object per line) while no line is pending
        self.takes_blocks = self.arrow is not None and not strict
        self._blocks: list[bytes | memoryview] = []
        self._block_lines = 0
        self.lineno = 0  # lines decoded so far
        self.rows = 0
        self.invalid = 0
        self.stopped = False
        self.reason: str | None = None  # why --strict stopped the task
        self.first_problem: str | None = None  # the first invalid line (said when every line was invalid)
        self._error_rows: list[dict[str, Any]] = []
        self._lead: list[pa.Array] | None = None  # the provenance columns of the largest batch so far
        self._declared_only = checker.extra == "ignore"  # read batches refusing undeclared fields first

    def block(self, data: bytes | memoryview, lines: int | None = None, head: bytes = b"") -> None:
        """Whole lines in one block (``head`` + ``data``: each line ends with a newline; ``lines`` of
        them, counted here when not given): kept as they are (a view of the pipe's chunk, not a
        copy), so a batch that pyarrow reads whole never becomes a Python object per line."""
        if self.pending:  # lines came first (after a cut line): keep the order, as lines
            self.extend(_split(head + bytes(data)))
            return
        if head:
            self._blocks.append(head)
        self._blocks.append(data)
        self._block_lines += lines if lines is not None else (head + bytes(data)).count(b"\n")
        self._pending_bytes += len(head) + len(data)
        if self._block_lines >= self.batch or self._pending_bytes >= BATCH_BYTES:
            self._flush()

    def _blocks_to_lines(self) -> None:
        """The pending blocks as pending lines (a line or a cut line comes after them)."""
        if self._blocks:
            blocks, self._blocks, self._block_lines = self._blocks, [], 0
            self.pending.extend(_split(b"".join(blocks)))

    def __call__(self, raw: bytes) -> None:
        self._blocks_to_lines()
        self.pending.append(raw)
        self._pending_bytes += len(raw)
        if len(self.pending) >= self.batch or self._pending_bytes >= BATCH_BYTES:
            self._flush()

    def extend(self, raws: list[bytes]) -> None:
        """Several lines at once (what one read of the pipe held)."""
        self._blocks_to_lines()
        self.pending.extend(raws)
        self._pending_bytes += sum(map(len, raws))
        if len(self.pending) >= self.batch or self._pending_bytes >= BATCH_BYTES:
            self._flush()

    def cut(self, cut: Cut) -> None:
        """A line longer than MAX_LINE: an invalid line (its head is kept in the errors row)."""
        self._blocks_to_lines()
        self.pending.append(cut)

    def _take(self) -> tuple[list[bytes | Cut], int]:
        """The pending lines, and the line number of the first."""
        raw_lines, self.pending, self._pending_bytes = self.pending, [], 0
        first = self.lineno + 1
        self.lineno += len(raw_lines)
        return raw_lines, first

    def _flush(self) -> None:
        """Decode, check and hand over the pending lines (one Arrow batch per ``BATCH`` lines)."""
        if self._blocks:
            buf, lines = b"".join(self._blocks), self._block_lines
            self._blocks, self._block_lines, self._pending_bytes = [], 0, 0
            if self.stopped:
                self.lineno += lines
                return
            fast = self._arrow(buf, lines) if self.arrow is not None else None
            if fast is not None:
                self.lineno += lines
                self._add(fast)
                return
            self.pending = list(_split(buf))  # judged line by line, as lines that came one by one
        raw_lines, first = self._take()
        if self.stopped or not raw_lines:
            return
        if self.arrow is not None:
            try:
                joined = b"".join(cast(list[bytes], raw_lines))  # a Cut: TypeError
            except TypeError:
                joined = None
            fast = self._arrow(joined, len(raw_lines)) if joined is not None else None
            if fast is not None:  # every line one object that fits: no Python object per row
                self._add(fast)
                return
        names = self.names
        forbid = self.checker.extra == "forbid"
        kept = _fast_records(raw_lines, names if forbid else None)
        where: Sequence[int]
        if kept is not None:  # every line an object that fits: no per-line bookkeeping
            where = range(len(kept))
        else:
            kept, where = self._decode(raw_lines, first, names, forbid)
        if not kept:
            return
        batch, bad = self.checker.build(kept, _dumps)
        for index, reason in bad:
            self._invalid(first + where[index], raw_lines[where[index]], reason)  # type: ignore[arg-type]
        if self.stopped or batch is None:
            return
        self._add(batch)

    def _arrow(self, buf: bytes, lines: int) -> pa.RecordBatch | None:
        """The lines read whole by pyarrow (:func:`read_block`), or None."""
        assert self.arrow is not None
        batch, undeclared = read_block(buf, lines, self.arrow, self.checker, self._declared_only)
        if undeclared:  # this tool prints fields the schema lacks: do not try without them again
            self._declared_only = False
        return batch

    def _add(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        if self._lead is None or len(self._lead[0]) < n:  # made once a task, sliced for each batch
            self._lead = provenance(self.tool, self.path, self.sha256, n)
        rows = with_provenance(self.sink.spec, batch, self.tool, self.path, self.sha256, self._lead)
        self.sink.add(rows, (self.tool, self.path))
        self.rows += batch.num_rows

    def _decode(
        self, raw_lines: list[bytes | Cut], first: int, names: frozenset[str] | set[str], forbid: bool
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """Line by line: the records that are objects fitting the schema's keys, and their indexes;
        every other line becomes an invalid line."""
        kept: list[dict[str, Any]] = []
        where: list[int] = []
        loads = _loads
        for i, raw in enumerate(raw_lines):
            if isinstance(raw, Cut):
                self._invalid(
                    first + i,
                    raw.head,
                    f"a line of {raw.length:,} bytes, longer than the {MAX_LINE:,}-byte limit: not read",
                )
                continue
            try:
                record = loads(raw)
            except ValueError as exc:
                if raw.strip():
                    self._invalid(first + i, raw, f"not JSON: {exc}")
                continue
            if type(record) is not dict or (forbid and not record.keys() <= names):
                self._invalid(first + i, raw, self.checker.problem(record) or "does not fit the schema")
                continue
            kept.append(record)
            where.append(i)
        return kept, where

    def _invalid(self, lineno: int, raw: bytes, reason: str) -> None:
        self.invalid += 1
        if self.first_problem is None:
            self.first_problem = f"stdout line {lineno}: {reason}"
        if len(self._error_rows) < MAX_ERROR_ROWS:
            source = raw[:2000].decode("utf-8", "replace").rstrip("\r\n")
            self._error_rows.append(
                {
                    "message": f"stdout line {lineno}: {reason}",
                    "line": lineno,
                    "source_line": source[:497] + "..." if len(source) > 500 else source,
                }
            )
        if self.strict and not self.stopped:
            self.stopped = True
            self.reason = f"stdout line {lineno}: {reason}"
            self.fail("invalid_output", self.reason)

    def close(self) -> None:
        """Check the last records and write this task's error rows."""
        if not self.stopped:
            self._flush()
        rows = list(self._error_rows)
        if self.invalid > len(rows):
            rows.append(
                {
                    "message": f"{self.invalid - len(rows)} more invalid lines were not recorded",
                    "line": None,
                    "source_line": None,
                }
            )
        if not rows:
            return
        cols = {
            "extractor": [f"tool:{self.tool}"] * len(rows),
            "kind": ["invalid_output"] * len(rows),
            "message": [r["message"] for r in rows],
            "line": [r["line"] for r in rows],
            "column": [None] * len(rows),
            "source_line": [r["source_line"] for r in rows],
        }
        batch = pa.RecordBatch.from_arrays(
            [pa.array(cols[f.name], f.type) for f in ERRORS.fields], names=list(ERRORS.field_names)
        )
        rows = with_provenance(ERRORS, batch, self.tool, self.path, self.sha256)
        self.errors.add(rows, (self.tool, self.path))

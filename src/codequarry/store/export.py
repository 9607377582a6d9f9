"""Export a store's published snapshot as sharded Parquet, JSON lines, or one SQLite database.

For tools that do not read Delta Lake: Hugging Face ``datasets``, jq, sqlite3, spreadsheets. Every
table is read at the version the last published snapshot names, batch by batch, so a run writing
meanwhile is invisible and memory stays bounded by a few batches, whatever the table's size.

Layouts (``OUT`` is the path the user names)::

    parquet   OUT/<table>/part-00000.parquet ... part-{N-1}   zstd; always N files, empty ones too
    jsonl     OUT/<table>.jsonl                                 one JSON object per line, UTF-8
    sqlite    OUT                                               one database, a table per dataset
    (parquet and jsonl also write OUT/_quarry_export.json: the snapshot, tables, rows and files)

Sharding (parquet): a row goes to ``shard_of(key) = int.from_bytes(sha256(k)[:8], "big") % shards``,
where ``k`` is the key's UTF-8 bytes (strings), raw bytes (binary) or decimal digits (integers), and a
null key goes to shard 0. It is the same on every run, process and machine, and easy to recompute
elsewhere (``sha256`` exists in every language and SQL engine).

JSON: nested values are arrays and objects, binary is base64 (standard alphabet, padded), dates and
times are ISO 8601 strings, non-finite floats are null. SQLite: INTEGER (integers, booleans as 0/1),
REAL, TEXT, BLOB; nested columns are JSON text, as in JSON lines; tables with ``path`` get an index on
``path`` and, with ``repo``, one on ``(repo, path)``.

Each table is written under a temporary name and renamed into place when complete (the SQLite
database as a whole), so a killed export never leaves a file that looks finished. A folder that
holds a previous export (it has the marker file) may be exported into again: the tables this export
writes are replaced, every other table is left as it was (the marker records, per table, the
snapshot, format and files it came from). An export touches only what an export wrote: a table's
folder or ``.jsonl`` file that the marker does not name, or a table folder holding anything but
``part-NNNNN.parquet`` files, is refused before anything is written. A SQLite export into an
earlier one works the same way: the database is copied, the tables written are replaced in the copy,
the others kept, and a table its metadata does not name is refused.

A table with no rows is one Parquet file per shard with the table's schema and no row group. (The
``datasets`` library builds no empty split: ``load_dataset("parquet", data_dir=...)`` of such a
table raises "corresponds to no data"; ``streaming=True``, pyarrow, pandas or polars read it.)
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from codequarry.errors import StoreError, UsageError, did_you_mean
from codequarry.query import plain_types
from codequarry.store.store import Store, dataset_of

Format = Literal["parquet", "jsonl", "sqlite"]
#: (table, rows exported so far, rows in the table); called after every batch
Progress = Callable[[str, int, int], None]

FORMATS: tuple[Format, ...] = ("parquet", "jsonl", "sqlite")
MARKER = "_quarry_export.json"
SQLITE_META_TABLE = "_quarry_export"
HASH = "shard = int.from_bytes(sha256(key bytes)[:8], 'big') % shards; null -> 0"
_TMP = ".quarry-tmp-"
_OLD = ".quarry-old-"
ROW_GROUP_ROWS = 100_000
BUFFER_BYTES = 64 * 1024 * 1024  # rows buffered across all shard writers; beyond, the largest flush
MAX_SHARDS = 65_536  # files per table; beyond, a typo more likely than a wish
MAX_OPEN_SHARDS = 256  # more shards are written in several passes over the table (file descriptors)


@dataclass(frozen=True)
class TableExport:
    """One exported table. ``bytes`` is None for SQLite, where all tables share one file."""

    name: str
    rows: int
    files: tuple[Path, ...]
    bytes: int | None


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    format: Format
    snapshot: int
    tables: dict[str, TableExport] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    @property
    def files(self) -> list[Path]:
        return sorted({f for t in self.tables.values() for f in t.files})

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "format": self.format,
            "snapshot": self.snapshot,
            "rows": self.rows,
            "files": len(self.files),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "tables": {
                n: {"rows": t.rows, "files": [str(f) for f in t.files], "bytes": t.bytes}
                for n, t in self.tables.items()
            },
        }


@dataclass(frozen=True)
class _Source:
    """A table as the snapshot publishes it."""

    name: str
    table: DeltaTable
    version: int
    rows: int
    schema: pa.Schema
    key: str

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in dataset_of(self.table).to_batches():
                if batch.num_rows:
                    yield batch if batch.schema == self.schema else batch.cast(self.schema)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"table '{self.name}' (version {self.version}) could not be read: {exc}; if the store was "
                "compacted meanwhile, run the export again"
            ) from None


# -- the shard function ---------------------------------------------------------------------------
def _key_bytes(value: str | bytes | int) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(int(value))).encode("utf-8")


def shard_of(value: str | bytes | int | None, shards: int) -> int:
    """The shard of one key value: the reference definition that ``shard_ids`` vectorizes."""
    if value is None:
        return 0
    return int.from_bytes(hashlib.sha256(_key_bytes(value)).digest()[:8], "big") % shards


def _hashable(tp: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(tp)
        or pa.types.is_large_string(tp)
        or pa.types.is_binary(tp)
        or pa.types.is_large_binary(tp)
        or pa.types.is_integer(tp)
    )


def shard_ids(values: pa.Array | pa.ChunkedArray, shards: int) -> pa.Array:
    """``shard_of`` for a whole column: each distinct value is hashed once, then spread by index."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if shards == 1:
        return pa.array([0] * len(values), pa.int64())
    encoded = pc.dictionary_encode(values)
    digest = hashlib.sha256
    per_value = pa.array(
        [
            int.from_bytes(digest(_key_bytes(v)).digest()[:8], "big") % shards
            for v in encoded.dictionary.to_pylist()
        ],
        pa.int64(),
    )
    return pc.fill_null(pc.take(per_value, encoded.indices), 0)


# -- the entry point ------------------------------------------------------------------------------
def export(
    store: Store,
    out: str | Path,
    *,
    format: Format,
    tables: Sequence[str] | None = None,
    shards: int = 1,
    key: str | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export tables (all by default) of the store's published snapshot to ``out``.

    ``shards`` and ``key`` apply to Parquet only: ``shards`` files per table, rows routed by
    ``shard_of`` of the ``key`` column (default: ``path`` when the table has it, else its first column).
    Raises UsageError for bad options or an ``out`` that is not safe to write, before writing anything.
    """
    started = time.perf_counter()
    if format not in FORMATS:
        raise UsageError(
            f"unknown export format '{format}': use one of {', '.join(FORMATS)}."
            f"{did_you_mean(str(format), FORMATS)}"
        )
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise UsageError(f"--shards must be a whole number of at least 1, not {shards!r}")
    if shards > MAX_SHARDS:
        raise UsageError(
            f"--shards {shards} would write {shards:,} files per table; use at most {MAX_SHARDS:,} "
            "(a shard per few hundred MB of data is plenty)"
        )
    if format != "parquet" and (shards != 1 or key is not None):
        raise UsageError(f"--shards and --key apply to --format parquet only, not {format}")
    snap = store.snapshot()
    if snap is None:
        raise StoreError(f"store '{store.path}' has no published snapshot yet: run 'quarry extract' first")
    names = _select(store, list(snap.tables), tables)
    sources = [_open(store, n, snap.tables[n].version, snap.tables[n].rows, key) for n in names]
    out = Path(out).expanduser()
    _check_out(store, out, format)
    meta = {
        "codequarry_export": 1,
        "format": format,
        "store": str(store.path),
        "snapshot": snap.id,
        "created": time.time(),
        "hash": HASH if format == "parquet" else None,
    }
    if format == "sqlite":
        done = _export_sqlite(sources, out, meta, progress)
    else:
        done = _export_folder(sources, out, format, shards, meta, progress)
    total = sum(t.bytes or 0 for t in done.values()) if format != "sqlite" else out.stat().st_size
    return ExportSummary(
        out=out,
        format=format,
        snapshot=snap.id,
        tables=done,
        bytes=total,
        seconds=time.perf_counter() - started,
    )


def _select(store: Store, available: list[str], wanted: Sequence[str] | None) -> list[str]:
    if wanted is None:
        return sorted(available)
    if isinstance(wanted, str):
        wanted = [wanted]
    if not wanted:
        raise UsageError("no tables to export: name at least one, or none for all of them")
    for name in wanted:
        if name not in available:
            hint = did_you_mean(name, available) or f" Tables: {', '.join(sorted(available))}."
            raise UsageError(f"no table '{name}' in store '{store.path}'.{hint}")
    return list(dict.fromkeys(wanted))


def _open(store: Store, name: str, version: int, rows: int, key: str | None) -> _Source:
    try:
        table = DeltaTable(str(store.table_path(name)), version=version)
        schema = plain_types(dataset_of(table).schema.empty_table()).schema
    except Exception as exc:  # deltalake raises its own exception types for a damaged table
        raise StoreError(f"table '{name}' of store '{store.path}' cannot be opened: {exc}") from None
    columns = schema.names
    column = key if key is not None else ("path" if "path" in columns else columns[0])
    if column not in columns:
        raise UsageError(
            f"table '{name}' has no key column '{column}'.{did_you_mean(column, columns)} "
            f"Its columns: {', '.join(columns)}"
        )
    if not _hashable(schema.field(column).type):
        raise UsageError(
            f"key column '{column}' of table '{name}' has type {schema.field(column).type}; "
            "choose a string or integer column"
        )
    return _Source(name=name, table=table, version=version, rows=rows, schema=schema, key=column)


def _check_out(store: Store, out: Path, format: Format) -> None:
    """Refuse an ``out`` we might destroy: anything that is neither new, empty, nor our own export."""
    resolved = out.resolve()
    if resolved == store.path or store.path in resolved.parents:
        raise UsageError(f"'{out}' is inside the store '{store.path}'; export somewhere else")
    if format == "sqlite":
        if out.is_dir():
            raise UsageError(
                f"'{out}' is a folder; --format sqlite writes one database file, e.g. '{out}/quarry.db'"
            )
        if out.exists() and not _is_sqlite_export(out):
            raise UsageError(f"'{out}' exists and is not a codequarry SQLite export; choose a new file name")
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"'{out}' is a file; --format {format} writes a folder")
    if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()):
        raise UsageError(
            f"'{out}' is a non-empty folder that is not a codequarry export; choose an empty or new folder"
        )


def _is_sqlite_export(path: Path) -> bool:
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = con.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SQLITE_META_TABLE,)
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return found is not None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_marker(out: Path, meta: dict[str, Any]) -> None:
    tmp = out / f"{_TMP}{os.getpid()}-{MARKER}"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / MARKER)


# -- parquet and JSON lines: a folder -------------------------------------------------------------
def _previous_tables(out: Path) -> dict[str, dict[str, Any]]:
    """The tables an earlier export recorded in ``out``'s marker (name -> what it wrote)."""
    try:
        loaded = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tables = loaded.get("tables") if isinstance(loaded, dict) else None
    if not isinstance(tables, dict):
        return {}
    return {k: (v if isinstance(v, dict) else {}) for k, v in tables.items() if _safe_name(k)}


def _safe_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and name not in (MARKER,)
    )


def _forms(out: Path, name: str) -> tuple[Path, Path]:
    """Where a table may be in an export folder: its Parquet folder and its JSON-lines file."""
    return out / name, out / f"{name}.jsonl"


def _foreign(out: Path, name: str, previous: dict[str, dict[str, Any]]) -> Path | None:
    """The first file at a table's places in ``out`` that no codequarry export wrote, or None.

    Ours: the places of a table the marker names, holding only what an export writes there
    (``part-NNNNN.parquet`` files in the table's folder, or the ``.jsonl`` file).
    """
    folder, lines = _forms(out, name)
    for place in (folder, lines):
        if not (place.exists() or place.is_symlink()):
            continue
        if name not in previous or place.is_symlink():
            return place
        if place == folder:
            if not place.is_dir():
                return place
            for child in place.iterdir():
                if not _PART.fullmatch(child.name) or child.is_symlink() or not child.is_file():
                    return child
        elif not place.is_file():
            return place
    return None


def _export_folder(
    sources: list[_Source],
    out: Path,
    format: Format,
    shards: int,
    meta: dict[str, Any],
    progress: Progress | None,
) -> dict[str, TableExport]:
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_tables(out) if (out / MARKER).exists() else {}
    for src in sources:  # every refusal before the first byte is written
        foreign = _foreign(out, src.name, previous)
        if foreign is not None:
            raise UsageError(
                f"'{foreign}' was not written by a codequarry export (or was changed since); "
                f"exporting table '{src.name}' would replace it: move it away, or export elsewhere"
            )
    for leftover in [*out.glob(f"{_TMP}*"), *out.glob(f"{_OLD}*")]:
        if _abandoned(leftover.name.removeprefix(_TMP).removeprefix(_OLD)):
            _remove(leftover)
    # the marker names every table before it is written, so that a killed export leaves a folder whose
    # every table the next export knows as its own; it is updated after each table
    tables = {**previous, **{s.name: {**previous.get(s.name, {}), "pending": True} for s in sources}}
    _write_marker(out, {**meta, "complete": False, "tables": tables})
    done: dict[str, TableExport] = {}
    for src in sources:
        folder, lines = _forms(out, src.name)
        if format == "parquet":
            done[src.name] = _parquet_table(src, out, shards, progress)
            _remove(lines)  # the same table as JSON lines, from an earlier export: replaced
        else:
            done[src.name] = _jsonl_table(src, out, progress)
            _remove(folder)
        tables[src.name] = {
            "format": format,
            "rows": done[src.name].rows,
            "version": src.version,
            "snapshot": meta["snapshot"],
            "files": [str(f.relative_to(out)) for f in done[src.name].files],
            **({"key": src.key, "shards": shards} if format == "parquet" else {}),
        }
        _write_marker(out, {**meta, "complete": False, "tables": tables})
    _write_marker(out, {**meta, "complete": True, "tables": tables})
    _fsync_dir(out)
    return done


def _abandoned(pid_and_rest: str) -> bool:
    """Is a temporary file named after this pid a leftover of a killed export (not one running now)?"""
    pid = pid_and_rest.split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, and someone else's
        return False
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _parquet_table(src: _Source, out: Path, shards: int, progress: Progress | None) -> TableExport:
    tmp = out / f"{_TMP}{os.getpid()}-{src.name}"
    final = out / src.name
    _remove(tmp)
    tmp.mkdir()
    try:
        done = 0
        for lo in range(0, shards, MAX_OPEN_SHARDS):
            with _ShardWriters(tmp, src.schema, range(lo, min(shards, lo + MAX_OPEN_SHARDS))) as writers:
                for batch in src.batches():
                    done += writers.route(batch, src.key, shards)
                    if progress is not None:
                        progress(src.name, done, src.rows)
        _swap_in(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    files = tuple(final / _part_name(i) for i in range(shards))
    return TableExport(name=src.name, rows=done, files=files, bytes=sum(f.stat().st_size for f in files))


_PART = re.compile(r"part-\d{5,}\.parquet")


def _part_name(shard: int) -> str:
    return f"part-{shard:05d}.parquet"


def _swap_in(tmp: Path, final: Path) -> None:
    """Put a finished table in place of the previous one, never leaving a half-written one there."""
    old = final.with_name(f"{_OLD}{os.getpid()}-{final.name}")
    if final.exists() or final.is_symlink():
        os.replace(final, old)
    os.replace(tmp, final)
    _remove(old)


class _ShardWriters:
    """One ParquetWriter per shard of a range; rows are buffered per shard into full row groups."""

    def __init__(self, folder: Path, schema: pa.Schema, shards: range) -> None:
        self.schema = schema
        self.shards = shards
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.buffers: dict[int, list[pa.RecordBatch]] = {s: [] for s in shards}
        self.buffered_rows = dict.fromkeys(shards, 0)
        self.buffered_bytes = dict.fromkeys(shards, 0)
        self.total_bytes = 0
        for s in shards:  # opened up front, so that a shard no row reaches still gets its file
            self.writers[s] = pq.ParquetWriter(str(folder / _part_name(s)), schema, compression="zstd")

    def route(self, batch: pa.RecordBatch, key: str, shards: int) -> int:
        """Add a batch's rows of this writer's shards; returns how many that was."""
        if shards == 1:
            self._add(0, batch)
            return int(batch.num_rows)
        ids = shard_ids(batch.column(key), shards)
        order = pc.sort_indices(ids)  # a stable sort: rows keep their order within a shard
        batch, ids = batch.take(order), ids.take(order)
        counts = pc.value_counts(ids)
        added = offset = 0
        for shard, n in sorted(
            zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        ):
            if shard in self.buffers:
                self._add(shard, batch.slice(offset, n))
                added += n
            offset += n
        return added

    def _add(self, shard: int, batch: pa.RecordBatch) -> None:
        self.buffers[shard].append(batch)
        self.buffered_rows[shard] += batch.num_rows
        self.buffered_bytes[shard] += batch.nbytes
        self.total_bytes += batch.nbytes
        if self.buffered_rows[shard] >= ROW_GROUP_ROWS:
            self._flush(shard)
        if self.total_bytes >= BUFFER_BYTES:
            # over the budget: write the largest buffers (the largest row groups) until half is free
            while self.total_bytes > BUFFER_BYTES // 2:
                largest = max(self.buffered_bytes, key=self.buffered_bytes.__getitem__)
                if not self.buffered_bytes[largest]:
                    break
                self._flush(largest)

    def _flush(self, shard: int) -> None:
        batches = self.buffers[shard]
        if not batches:
            return
        self.writers[shard].write_table(
            pa.Table.from_batches(batches, self.schema), row_group_size=ROW_GROUP_ROWS
        )
        self.total_bytes -= self.buffered_bytes[shard]
        self.buffered_bytes[shard] = 0
        self.buffers[shard] = []
        self.buffered_rows[shard] = 0

    def __enter__(self) -> _ShardWriters:
        return self

    def __exit__(self, et: type[BaseException] | None, *_: object) -> None:
        try:
            if et is None:
                for s in self.shards:
                    self._flush(s)
        finally:
            for w in self.writers.values():
                w.close()


def _jsonl_table(src: _Source, out: Path, progress: Progress | None) -> TableExport:
    final = out / f"{src.name}.jsonl"
    tmp = out / f"{_TMP}{os.getpid()}-{src.name}.jsonl"
    encode = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
    ).encode
    done = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for batch in src.batches():
                names = batch.schema.names
                lines = []
                for values in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    row = dict(zip(names, values, strict=True))
                    try:
                        lines.append(encode(row))
                    except ValueError:  # a NaN or an infinity somewhere: JSON has no such number
                        lines.append(encode(_finite(row)))
                fh.write("\n".join(lines))
                fh.write("\n")
                done += batch.num_rows
                if progress is not None:
                    progress(src.name, done, src.rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return TableExport(name=src.name, rows=done, files=(final,), bytes=final.stat().st_size)


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"cannot export a value of type {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# -- sqlite: one database file --------------------------------------------------------------------
def _sqlite_type(tp: pa.DataType) -> str:
    if pa.types.is_integer(tp) or pa.types.is_boolean(tp):
        return "INTEGER"
    if pa.types.is_floating(tp):
        return "REAL"
    if pa.types.is_binary(tp) or pa.types.is_large_binary(tp) or pa.types.is_fixed_size_binary(tp):
        return "BLOB"
    return "TEXT"  # strings, and nested, temporal and decimal values as JSON or ISO text


def _sqlite_column(column: pa.Array, encode: Callable[[Any], str]) -> list[Any]:
    tp = column.type
    values: list[Any] = column.to_pylist()
    if pa.types.is_nested(tp):
        return [None if v is None else encode(v) for v in values]
    if pa.types.is_temporal(tp) or pa.types.is_decimal(tp):
        return [None if v is None else _json_default(v) for v in values]
    return values


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _export_sqlite(
    sources: list[_Source], out: Path, meta: dict[str, Any], progress: Progress | None
) -> dict[str, TableExport]:
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in out.parent.glob(f".{out.name}{_TMP}*"):
        if _abandoned(leftover.name.removeprefix(f".{out.name}{_TMP}")):
            leftover.unlink(missing_ok=True)
    tmp = out.with_name(f".{out.name}{_TMP}{os.getpid()}")
    tmp.unlink(missing_ok=True)
    if out.exists():  # an earlier export (checked): start from it, so that its other tables stay
        shutil.copyfile(out, tmp)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode
    done: dict[str, TableExport] = {}
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        # no journal and no syncs while writing: the file is private until the rename below
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        tables = _sqlite_previous(con, out, [s.name for s in sources])
        for src in sources:
            con.execute(f"DROP TABLE IF EXISTS {_quote(src.name)}")  # ours: _sqlite_previous checked
            done[src.name] = _sqlite_table(con, src, out, encode, progress)
            tables[src.name] = {
                "rows": done[src.name].rows,
                "version": src.version,
                "snapshot": meta["snapshot"],
            }
        con.execute(f"DROP TABLE IF EXISTS {SQLITE_META_TABLE}")
        con.execute(f"CREATE TABLE {SQLITE_META_TABLE} (meta TEXT NOT NULL)")
        con.execute(
            f"INSERT INTO {SQLITE_META_TABLE} VALUES (?)",
            (json.dumps({**meta, "complete": True, "tables": tables}, sort_keys=True),),
        )
        con.execute("COMMIT")
        con.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    return done


def _sqlite_previous(con: sqlite3.Connection, out: Path, names: list[str]) -> dict[str, Any]:
    """The tables an earlier export recorded in the database; refuses to replace a table it did not write."""
    existing = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    previous: dict[str, Any] = {}
    if SQLITE_META_TABLE in existing:
        row = con.execute(f"SELECT meta FROM {SQLITE_META_TABLE}").fetchone()
        try:
            loaded = json.loads(row[0]) if row else {}
        except ValueError:
            loaded = {}
        found = loaded.get("tables") if isinstance(loaded, dict) else None
        previous = dict(found) if isinstance(found, dict) else {}
    for name in names:
        if name in existing and name not in previous:
            raise UsageError(
                f"table '{name}' of '{out}' was not written by a codequarry export; exporting it "
                "would replace it: drop or rename it, or export to another file"
            )
    return previous


def _sqlite_table(
    con: sqlite3.Connection, src: _Source, out: Path, encode: Callable[[Any], str], progress: Progress | None
) -> TableExport:
    fields = list(src.schema)
    columns = ", ".join(
        f"{_quote(f.name)} {_sqlite_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in fields
    )
    con.execute(f"CREATE TABLE {_quote(src.name)} ({columns})")
    insert = f"INSERT INTO {_quote(src.name)} VALUES ({', '.join('?' * len(fields))})"
    done = 0
    for batch in src.batches():
        con.executemany(insert, zip(*(_sqlite_column(c, encode) for c in batch.columns), strict=True))
        done += batch.num_rows
        if progress is not None:
            progress(src.name, done, src.rows)
    names = src.schema.names
    if "path" in names:
        con.execute(f"CREATE INDEX {_quote(f'{src.name}_path')} ON {_quote(src.name)} (path)")
        if "repo" in names:
            con.execute(f"CREATE INDEX {_quote(f'{src.name}_repo_path')} ON {_quote(src.name)} (repo, path)")
    return TableExport(name=src.name, rows=done, files=(out,), bytes=None)

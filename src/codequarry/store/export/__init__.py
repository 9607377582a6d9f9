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

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from codequarry.errors import StoreError, UsageError, did_you_mean
from codequarry.query import plain_types
from codequarry.store.export.common import (
    FORMATS,
    HASH,
    MARKER,
    ExportSummary,
    Format,
    Progress,
    Source,
    TableExport,
)
from codequarry.store.export.folder import export_folder
from codequarry.store.export.parquet import MAX_SHARDS, hashable, shard_ids, shard_of
from codequarry.store.export.sqlite import export_sqlite, is_sqlite_export
from codequarry.store.store import Store, TableState, damaged, dataset_of, first_line

__all__ = [
    "FORMATS",
    "MARKER",
    "ExportSummary",
    "Format",
    "Progress",
    "TableExport",
    "export",
    "shard_ids",
    "shard_of",
]


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
    try:
        if format == "sqlite":
            done = export_sqlite(sources, out, meta, progress)
        else:
            done = export_folder(sources, out, format, shards, meta, progress)
    except (OSError, sqlite3.OperationalError) as exc:
        where = getattr(exc, "filename", None)
        if isinstance(exc, OSError) and where is not None and not _below(Path(where), out.parent):
            raise  # not the export's side: a store file
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot write the export to '{out}': {why}") from None
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


def _open(store: Store, name: str, version: int, rows: int, key: str | None) -> Source:
    from codequarry.store.damage import open_live

    table = open_live(store, name, TableState(version, rows))  # damage: one line naming it and the fix
    try:
        schema = plain_types(dataset_of(table).schema.empty_table()).schema
    except StoreError:
        raise
    except Exception as exc:  # deltalake raises its own exception types for a damaged table
        raise damaged(store, name, f"it cannot be opened ({first_line(exc)})") from None
    columns = schema.names
    column = key if key is not None else ("path" if "path" in columns else columns[0])
    if column not in columns:
        raise UsageError(
            f"table '{name}' has no key column '{column}'.{did_you_mean(column, columns)} "
            f"Its columns: {', '.join(columns)}"
        )
    if not hashable(schema.field(column).type):
        raise UsageError(
            f"key column '{column}' of table '{name}' has type {schema.field(column).type}; "
            "choose a string or integer column"
        )
    return Source(name=name, table=table, version=version, rows=rows, schema=schema, key=column)


def _below(path: Path, folder: Path) -> bool:
    """Is ``path`` (as an error names it) ``folder`` or below it, lexically or resolved?"""
    for p, f in ((path.absolute(), folder.absolute()), (path.resolve(), folder.resolve())):
        if p == f or f in p.parents:
            return True
    return False


def _check_out(store: Store, out: Path, format: Format) -> None:
    """Refuse an ``out`` we might destroy: anything that is neither new, empty, nor our own export."""
    resolved = out.resolve()
    if resolved == store.path or store.path in resolved.parents:
        raise UsageError(f"'{out}' is inside the store '{store.path}'; export somewhere else")
    if os.path.lexists(out) and not (out.is_dir() or out.is_file()):
        raise UsageError(f"'{out}' exists and is neither a folder nor a regular file; export somewhere else")
    if format == "sqlite":
        if out.is_dir():
            raise UsageError(
                f"'{out}' is a folder; --format sqlite writes one database file, e.g. '{out}/quarry.db'"
            )
        if out.exists() and not is_sqlite_export(out):
            raise UsageError(f"'{out}' exists and is not a codequarry SQLite export; choose a new file name")
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"'{out}' is a file; --format {format} writes a folder")
    if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()):
        raise UsageError(
            f"'{out}' is a non-empty folder that is not a codequarry export; choose an empty or new folder"
        )

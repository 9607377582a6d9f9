"""SQLite export: one database file, a table per dataset, replaced as a whole when complete."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from codequarry.errors import UsageError
from codequarry.store.export.common import (
    SQLITE_META_TABLE,
    TMP,
    Progress,
    Source,
    TableExport,
    abandoned,
    fsync_dir,
)
from codequarry.store.export.jsonl import json_default


def is_sqlite_export(path: Path) -> bool:
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
        return [None if v is None else json_default(v) for v in values]
    return values


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def export_sqlite(
    sources: list[Source], out: Path, meta: dict[str, Any], progress: Progress | None
) -> dict[str, TableExport]:
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in out.parent.glob(f".{out.name}{TMP}*"):
        if abandoned(leftover.name.removeprefix(f".{out.name}{TMP}")):
            leftover.unlink(missing_ok=True)
    tmp = out.with_name(f".{out.name}{TMP}{os.getpid()}")
    tmp.unlink(missing_ok=True)
    if out.exists():  # an earlier export (checked): start from it, so that its other tables stay
        shutil.copyfile(out, tmp)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default).encode
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
        fsync_dir(out.parent)
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
    con: sqlite3.Connection, src: Source, out: Path, encode: Callable[[Any], str], progress: Progress | None
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

"""JSON-lines export: one ``<table>.jsonl`` file per table, and the JSON form of Arrow values (shared
with the SQLite export's nested and temporal columns)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import os
from pathlib import Path
from typing import Any

from codequarry.store.export.common import TMP, Progress, Source, TableExport


def jsonl_table(src: Source, out: Path, progress: Progress | None) -> TableExport:
    final = out / f"{src.name}.jsonl"
    tmp = out / f"{TMP}{os.getpid()}-{src.name}.jsonl"
    encode = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=json_default
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
                        lines.append(encode(finite(row)))
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


def json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"cannot export a value of type {type(value).__name__} as JSON")


def finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value

"""What every export format shares: the summary types, a table as the snapshot publishes it, and the
file names and removals that keep a killed export from leaving anything that looks finished."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from deltalake import DeltaTable

from codequarry.errors import StoreError
from codequarry.store.store import dataset_of

Format = Literal["parquet", "jsonl", "sqlite"]
#: (table, rows exported so far, rows in the table); called after every batch
Progress = Callable[[str, int, int], None]

FORMATS: tuple[Format, ...] = ("parquet", "jsonl", "sqlite")
MARKER = "_quarry_export.json"
SQLITE_META_TABLE = "_quarry_export"
HASH = "shard = int.from_bytes(sha256(key bytes)[:8], 'big') % shards; null -> 0"
TMP = ".quarry-tmp-"
OLD = ".quarry-old-"


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
class Source:
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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def abandoned(pid_and_rest: str) -> bool:
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


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()

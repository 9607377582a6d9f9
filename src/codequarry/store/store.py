"""The store: a folder of Delta Lake tables plus the snapshot that says which version of each is live.

Layout::

    .quarry/
      store.json            marks the folder as a store (format version)
      snapshot.json         the last published snapshot: every table's Delta version (atomic rename)
      snapshots/NNNNNN.json every snapshot ever published (status, history)
      tables/<dataset>/     one Delta table per dataset
      staging/<run>/        a run's spooled batches; removed after the run
      lock                  the writer lock (flock, holding the owner's pid)

A run commits each table it changed and then publishes a snapshot by renaming one file; readers
read ``snapshot.json`` and open each table at its version, so a run killed before publishing is
invisible to them, and the next run rolls the unpublished commits back before it writes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codequarry.errors import StoreError

FORMAT = 1
MARKER = "store.json"


@dataclass(frozen=True)
class TableState:
    version: int
    rows: int


@dataclass(frozen=True)
class Snapshot:
    id: int
    created: float
    tables: dict[str, TableState]
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "tables": {k: {"version": v.version, "rows": v.rows} for k, v in sorted(self.tables.items())},
            "run": self.run,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        tables = {k: TableState(int(v["version"]), int(v.get("rows", 0))) for k, v in data["tables"].items()}
        return cls(id=int(data["id"]), created=float(data["created"]), tables=tables, run=data.get("run", {}))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Store:
    """A store on disk. ``Store.open`` for readers, ``Store.create`` for writers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Store:
        p = Path(path).expanduser()
        if not p.exists():
            raise StoreError(f"no store at '{path}': run 'quarry extract SOURCE' first, or pass --store")
        if not (p / MARKER).is_file():
            raise StoreError(f"'{path}' is not a codequarry store (it has no {MARKER})")
        try:
            meta = json.loads((p / MARKER).read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"'{path}' has an unreadable {MARKER}: {exc}") from None
        if meta.get("format") != FORMAT:
            raise StoreError(_format_mismatch(path, meta.get("format")))
        return cls(p.resolve())

    @classmethod
    def create(cls, path: str | Path) -> Store:
        """Open the store at ``path``, creating it when the folder is missing or empty."""
        p = Path(path).expanduser()
        if p.exists() and not p.is_dir():
            raise StoreError(f"store path '{path}' exists and is not a folder")
        if p.is_dir() and not (p / MARKER).exists() and any(p.iterdir()):
            raise StoreError(
                f"'{path}' is a non-empty folder that is not a codequarry store; choose another --store"
            )
        if not (p / MARKER).exists():
            try:
                p.mkdir(parents=True, exist_ok=True)
                (p / "tables").mkdir(exist_ok=True)
                (p / "snapshots").mkdir(exist_ok=True)
                # keep the store out of the enclosing repository's `git status`
                (p / ".gitignore").write_text("*\n")
                from codequarry import __version__

                _write_atomic(p / MARKER, json.dumps({"format": FORMAT, "created_by": f"codequarry {__version__}",
                                                      "created": time.time()}, indent=2))
            except OSError as exc:
                raise StoreError(f"cannot create a store at '{path}': {exc.strerror or exc}") from None
        return cls.open(p)

    # -- paths --------------------------------------------------------------------------------------
    @property
    def tables_dir(self) -> Path:
        return self.path / "tables"

    def table_path(self, name: str) -> Path:
        return self.tables_dir / name

    def staging_dir(self, run_id: str) -> Path:
        return self.path / "staging" / run_id

    # -- snapshots ----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot | None:
        """The last published snapshot, or None for a store no run has completed in."""
        path = self.path / "snapshot.json"
        if not path.exists():
            return None
        try:
            return Snapshot.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"store '{self.path}' has an unreadable snapshot.json: {exc}") from None

    def history(self) -> list[Snapshot]:
        out = []
        for p in sorted((self.path / "snapshots").glob("*.json")):
            try:
                out.append(Snapshot.from_json(json.loads(p.read_text())))
            except (OSError, ValueError, KeyError):
                continue
        return out

    def publish(self, tables: dict[str, TableState], run: dict[str, Any]) -> Snapshot:
        """Make a set of table versions the live snapshot, atomically."""
        prev = self.snapshot()
        snap = Snapshot(id=(prev.id + 1) if prev else 1, created=time.time(), tables=dict(tables), run=run)
        text = json.dumps(snap.to_json(), indent=2, sort_keys=True)
        _write_atomic(self.path / "snapshots" / f"{snap.id:06d}.json", text)
        _write_atomic(self.path / "snapshot.json", text)
        return snap

    def clear_staging(self) -> None:
        shutil.rmtree(self.path / "staging", ignore_errors=True)


def _format_mismatch(path: str | Path, found: Any) -> str:
    """What to do about a store written in another format: upgrade codequarry, or extract anew."""
    from codequarry import __version__

    if isinstance(found, int) and not isinstance(found, bool) and found > FORMAT:
        fix = ("a newer codequarry wrote it: upgrade (python3 -m pip install -U codequarry), or extract into "
               "a new store with --store")
    else:
        fix = (f"extract into a new store (quarry extract SOURCE --store NEW), or move '{path}' aside and "
               "extract again: the store is made from the sources")
    return (f"store '{path}' has format {found!r}; this codequarry ({__version__}) reads format {FORMAT}: {fix}")


def live_dataset(store: Store, name: str, version: int) -> Any:
    """A pyarrow dataset over the Parquet files of one table version (see dataset_of)."""
    from deltalake import DeltaTable

    return dataset_of(DeltaTable(str(store.table_path(name)), version=version))


def dataset_of(table: Any) -> Any:
    """A pyarrow dataset over a DeltaTable's live Parquet files, read with Arrow's own filesystem.

    deltalake's to_pyarrow_dataset routes reads through a Python filesystem handler whose I/O threads
    can abort the interpreter at exit ("terminate called without an active exception"). The store
    never uses deletion vectors or column mapping, so the files are the table.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    paths = [u.removeprefix("file://") for u in table.file_uris()]
    return ds.dataset(paths, format="parquet", schema=pa.schema(table.schema().to_arrow()))

"""Checking a store: is every table of the live snapshot whole? (``quarry doctor``)

For each table of the snapshot: its Delta log is readable, the snapshot's version is in it, and
every file that version reads lies inside the table, exists, and reads to the end with the table's
columns and the row count the snapshot recorded; commits after that version (a run that died before
publishing, rolled back by the next writer) can be read. A damaged ``snapshot.json`` is reported with the
last good snapshot of the history, whose tables are then the ones checked (they are what
``quarry doctor --repair`` would make live).
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from codequarry.errors import StoreError
from codequarry.store.damage import unpublished_tail_problem
from codequarry.store.store import (
    Snapshot,
    Store,
    TableState,
    arrow_table,
    files_outside,
    first_line,
    odd_log_entry,
)


@dataclass(frozen=True)
class TableVerdict:
    name: str
    version: int
    files: int = 0
    rows: int = 0
    problem: str | None = None  # None: the table is whole

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class Health:
    store: str
    snapshot: int | None  # the snapshot checked (the last good one when snapshot.json is damaged)
    snapshot_problem: str | None = None
    tables: list[TableVerdict] = field(default_factory=list)
    #: the store's own small files that are not regular files: (path in the store, what it is)
    odd_files: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.snapshot_problem is None and all(t.ok for t in self.tables) and not self.odd_files

    @property
    def damaged(self) -> list[str]:
        return [t.name for t in self.tables if not t.ok]

    def to_json(self) -> dict[str, object]:
        return {
            "store": self.store,
            "ok": self.ok,
            "snapshot": self.snapshot,
            "snapshot_problem": self.snapshot_problem,
            "odd_files": {name: what for name, what in self.odd_files},
            "tables": {
                t.name: {
                    "ok": t.ok,
                    "version": t.version,
                    "files": t.files,
                    "rows": t.rows,
                    "problem": t.problem,
                }
                for t in self.tables
            },
        }


def check(store: Store) -> Health:
    """Verify the live snapshot and every table it names (reads every file once, in batches)."""
    problem = None
    try:
        snap: Snapshot | None = store.snapshot()
    except StoreError as exc:
        problem, snap = str(exc), store.last_good()
    health = Health(store=str(store.path), snapshot=snap.id if snap else None, snapshot_problem=problem)
    for name, state in sorted((snap.tables if snap else {}).items()):
        health.tables.append(check_table(store, name, state))
    health.odd_files = odd_files(store.path)
    return health


#: the store's own files that are re-made when removed (a writer's pid, the reader lease, progress)
REMADE = ("lock", "readers", "progress.json")


def odd_files(path: Path) -> list[tuple[str, str]]:
    """The store's own small files (``lock``, ``readers``, ``progress.json``, ``keys/*.json``,
    ``snapshots/*.json``) that are symlinks, FIFOs or devices: the store never makes one, and its
    readers refuse them (store/metafile.py); ``quarry doctor --repair`` removes them."""
    found = [path / n for n in REMADE]
    for folder in ("keys", "snapshots"):
        with contextlib.suppress(OSError):
            found += sorted((path / folder).glob("*.json"))
    out = []
    for p in found:
        try:
            mode = os.lstat(p).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            out.append(
                (str(p.relative_to(path)), "a symlink" if stat.S_ISLNK(mode) else "not a regular file")
            )
    return out


def check_table(store: Store, name: str, state: TableState) -> TableVerdict:
    path = store.table_path(name)
    if not (path / "_delta_log").is_dir():
        return TableVerdict(name, state.version, problem="its _delta_log folder is missing")
    odd = odd_log_entry(path)
    if odd:
        return TableVerdict(name, state.version, problem=odd)
    try:
        from deltalake import DeltaTable

        table = DeltaTable(str(path), version=state.version)
        schema = pa.schema(table.schema().to_arrow())
        uris = table.file_uris()
    except BaseException as exc:  # deltalake may panic on a damaged log
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return TableVerdict(
            name,
            state.version,
            problem=f"version {state.version} cannot be read from its log ({first_line(exc)})",
        )
    tail = unpublished_tail_problem(store, name, state)
    if tail is not None:  # the next writer would fail rolling it back: rebuild the table
        return TableVerdict(name, state.version, len(uris), 0, tail)
    outside = files_outside(table)
    if outside:
        return TableVerdict(
            name, state.version, len(uris), 0, f"its log names a file outside the table ({outside[0]})"
        )
    rows = 0
    sizes = _logged_sizes(table, path)
    for uri in uris:
        file = uri.removeprefix("file://")
        short = os.path.basename(file)
        if not os.path.isfile(file):
            return TableVerdict(name, state.version, len(uris), rows, f"its file {short} is missing")
        found, logged = os.stat(file).st_size, sizes.get(os.path.normpath(file))
        if logged is not None and found != logged:  # what `quarry sql` refuses, doctor must name
            return TableVerdict(
                name,
                state.version,
                len(uris),
                rows,
                f"its file {short} holds {found} bytes, its log says {logged}",
            )
        try:
            rows += _read_whole(file, schema)
        except (OSError, ValueError, pa.ArrowException) as exc:
            return TableVerdict(
                name, state.version, len(uris), rows, f"its file {short} cannot be read ({first_line(exc)})"
            )
    if rows != state.rows:
        return TableVerdict(
            name,
            state.version,
            len(uris),
            rows,
            f"the snapshot records {state.rows} rows but its files hold {rows}",
        )
    return TableVerdict(name, state.version, len(uris), rows)


def _logged_sizes(table: Any, folder: Path) -> dict[str, int]:
    """The size the log records for each live file, by its path on disk."""
    from urllib.parse import unquote

    actions = arrow_table(table.get_add_actions(flatten=False))
    if not actions.num_rows:
        return {}
    paths, sizes = actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()
    return {os.path.normpath(folder / unquote(p)): int(n) for p, n in zip(paths, sizes, strict=True)}


def _read_whole(file: str, schema: pa.Schema) -> int:
    """Read every page of a Parquet file, checking the pages' checksums where the file has them, and
    check it has the table's columns. Returns its rows."""
    pf = pq.ParquetFile(file, page_checksum_verification=True)
    have = pf.schema_arrow
    for f in schema:
        i = have.get_field_index(f.name)
        if i < 0:
            raise ValueError(f"column '{f.name}' is missing")
        if _plain(have.field(i).type) != _plain(f.type):
            raise ValueError(f"column '{f.name}' is {have.field(i).type}, the table says {f.type}")
    rows = 0
    for batch in pf.iter_batches(batch_size=65536):
        rows += batch.num_rows
    return rows


def _plain(tp: pa.DataType) -> str:
    """A type with the large/view variants folded, so that equal columns compare equal."""
    text = str(tp)
    for a, b in (
        ("large_string", "string"),
        ("string_view", "string"),
        ("large_binary", "binary"),
        ("binary_view", "binary"),
        ("large_list", "list"),
    ):
        text = text.replace(a, b)
    return text

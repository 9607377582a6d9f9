"""A run's writes: workers put Parquet parts into each table's folder, and the driver commits them.

A part is invisible until the commit that adds it; each table gets one Delta transaction per run
(add the new parts, remove the parts holding the replaced repos' rows), and the snapshot that
publishes all tables is written last. The driver never touches the rows themselves, so its memory
and time do not grow with the corpus.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction

from codequarry.errors import StoreError
from codequarry.parts import Part, Replacement, write_part
from codequarry.schema import DatasetSpec
from codequarry.store.store import (
    FIX,
    Snapshot,
    Store,
    TableState,
    arrow_table,
    damaged,
    first_line,
    part_inside,
)


class RunWriter:
    def __init__(self, store: Store, run_id: str, specs: dict[str, DatasetSpec]) -> None:
        self.store = store
        self.run_id = run_id
        self.specs = specs
        self.parts: dict[str, list[Part]] = defaultdict(list)
        self.rows: dict[str, int] = dict.fromkeys(specs, 0)
        self.notes: list[str] = []
        #: live Parquet files of each table this run committed, after its commit (compaction reads it)
        self.live_files: dict[str, int] = {}

    def prepare(
        self, known: dict[str, str] | None = None, *, live: Collection[str] = (), fresh: Collection[str] = ()
    ) -> set[str]:
        """Create missing tables. A table whose declared schema changed is emptied and returned, so
        that its producer runs again on every file (its old rows cannot live in the new schema).
        ``known`` maps tables to the schema fingerprints the last snapshot recorded: a table whose
        fingerprint is unchanged is not opened at all (a no-change run stays cheap). ``live`` are
        the tables of the last snapshot (one of them without a log is damage, never a new table);
        ``fresh`` are damaged tables to rebuild: moved aside and recreated empty (quarry doctor)."""
        rebuilt = set()
        known = known or {}
        for name in sorted(fresh):  # an operation's output is moved aside too, and derived again
            self.notes.append(
                f"'{name}' was rebuilt: the damaged table was moved to {move_aside(self.store, name)}"
            )
            if name in self.specs:
                DeltaTable.create(str(self.store.table_path(name)), self.specs[name].schema, mode="overwrite")
                rebuilt.add(name)
        for name, spec in self.specs.items():
            if name in rebuilt or known.get(name) == schema_fingerprint(spec.schema):
                continue
            path = self.store.table_path(name)
            table = open_table(path)
            if table is None and name in live:
                raise damaged(self.store, name, "its Delta log is missing or unreadable")
            if table is not None and not same_schema(table, spec.schema):
                self.notes.append(f"the schema of '{name}' changed: its rows are extracted again")
                DeltaTable.create(str(path), spec.schema, mode="overwrite")
                rebuilt.add(name)
            elif table is None:
                DeltaTable.create(str(path), spec.schema, mode="overwrite")
        return rebuilt

    def add(self, part: Part) -> None:
        self.parts[part.dataset].append(part)
        self.rows[part.dataset] = self.rows.get(part.dataset, 0) + part.rows

    def commit(
        self,
        replace: dict[str, Replacement],
        previous: Snapshot | None,
        pause: Callable[[str], None] = lambda _: None,
    ) -> dict[str, TableState]:
        """Drop the rows ``replace`` names, add this run's parts: one Delta transaction per table.

        Parts that hold no dropped row are kept as they are; parts that hold only dropped rows are
        removed; the few that hold both are rewritten without the dropped rows. Tables nothing
        touched keep their version, so an incremental run costs what it changed.
        """
        states: dict[str, TableState] = dict(previous.tables) if previous else {}
        now = int(time.time() * 1000)
        for name in sorted(set(self.specs) | set(replace)):
            parts = self.parts.get(name, [])
            rep = replace.get(name)
            if not parts and not rep and name in states:
                continue  # untouched: not even opened
            path = self.store.table_path(name)
            table = open_table(path)
            if table is None:
                if name in states:  # in the snapshot, but its log is gone: never drop rows silently
                    raise damaged(self.store, name, "its Delta log is missing or unreadable")
                continue
            if name in states and table.version() < states[name].version:
                raise damaged(
                    self.store,
                    name,
                    f"the snapshot names version {states[name].version} but its log "
                    f"ends at version {table.version()}",
                )
            actions: list[AddAction | RemoveAction] = []
            if rep:
                actions += self._drop(table, name, rep, now)
            actions += [
                AddAction(
                    path=p.file,
                    size=p.size,
                    partition_values={},
                    modification_time=now,
                    data_change=True,
                    stats=p.stats,
                )
                for p in parts
            ]
            pause(f"table:{name}")
            if actions:
                schema = self.specs[name].schema if name in self.specs else table.schema()
                table.create_write_transaction(
                    actions,
                    mode="append",
                    schema=schema if isinstance(schema, DeltaSchema) else DeltaSchema.from_arrow(schema),
                )
                table.update_incremental()  # reads the one new commit (opening it anew reads the log)
            states[name] = TableState(version=table.version(), rows=count_rows(table))
            self.live_files[name] = len(table.file_uris())
        return states

    def _drop(
        self, table: DeltaTable, name: str, rep: Replacement, now: int
    ) -> list[AddAction | RemoveAction]:
        """The Delta actions that drop ``rep``'s rows from ``table``: a part wholly of a replaced repo
        is removed unread; a part whose stats say it may hold dropped rows is read and rewritten."""
        actions: list[AddAction | RemoveAction] = []
        live = _actions(table)
        if not live.num_rows:
            return actions
        sorted_keys = {repo: sorted(paths) for repo, paths in rep.keys.items() if paths}
        for f, size, lo_r, hi_r, lo_p, hi_p in _part_ranges(live):
            single = lo_r is not None and lo_r == hi_r
            if single and lo_r in rep.repos:
                actions.append(RemoveAction(path=f, data_change=True, deletion_timestamp=now, size=size))
                continue
            if single and not _may_hold(sorted_keys.get(lo_r), lo_p, hi_p) and not rep.extractors.get(lo_r):
                continue
            actions += self._rewrite(name, f, size, rep, now)
        return actions

    def _rewrite(
        self, name: str, f: str, size: int, rep: Replacement, now: int
    ) -> list[AddAction | RemoveAction]:
        """Remove part ``f`` if it holds rows ``rep`` drops, adding a part of the rows it keeps."""
        if not part_inside(f):
            raise damaged(self.store, name, f"its log names a file outside the table ({f})")
        try:
            part_file = pq.ParquetFile(str(self.store.table_path(name) / f))
            # the key columns first (a few KB): most parts whose path range spans a changed file hold
            # none of its rows, and are then never read whole
            key_cols = [c for c in ("repo", "path", "extractor") if c in part_file.schema_arrow.names]
            keep = pc.invert(_dropped_mask(part_file.read(columns=key_cols), rep))
            kept = int(pc.sum(keep.cast("int64")).as_py() or 0)
            if kept == part_file.metadata.num_rows:
                return []
            data = part_file.read()
        except PermissionError:  # not damage: store_errors says "permission denied"
            raise
        except (OSError, pa.ArrowException) as exc:
            raise damaged(self.store, name, f"its file {f} cannot be read ({first_line(exc)})") from None
        actions: list[AddAction | RemoveAction] = [
            RemoveAction(path=f, data_change=True, deletion_timestamp=now, size=size)
        ]
        if kept:
            batch = data.filter(keep).combine_chunks().to_batches()[0]
            part = write_part(str(self.store.tables_dir), self.run_id, name, batch)
            actions.append(
                AddAction(
                    path=part.file,
                    size=part.size,
                    partition_values={},
                    modification_time=now,
                    data_change=True,
                    stats=part.stats,
                )
            )
        return actions


def _part_ranges(live: pa.Table) -> Iterator[tuple[Any, ...]]:
    """Per live part: its file, size and the min/max of its repo and path columns (None if unknown)."""
    cols, n = live.column_names, live.num_rows

    def col(c: str) -> list[Any]:
        return live.column(c).to_pylist() if c in cols else [None] * n

    names = ("path", "size_bytes", "min.repo", "max.repo", "min.path", "max.path")
    return zip(*(col(c) for c in names), strict=True)


def _may_hold(paths: list[str] | None, lo: str | None, hi: str | None) -> bool:
    """Could a part whose path column spans [lo, hi] hold any of the sorted ``paths``?"""
    if not paths:
        return False
    if lo is None or hi is None:
        return True
    i = bisect.bisect_left(paths, lo)
    return i < len(paths) and paths[i] <= hi


def _dropped_mask(data: pa.Table, rep: Replacement) -> pa.ChunkedArray:
    mask = pc.is_in(data.column("repo"), pa.array(sorted(rep.repos), pa.string()))
    for repo, paths in rep.keys.items():
        if paths:
            hit = pc.and_(
                pc.equal(data.column("repo"), repo),
                pc.is_in(data.column("path"), pa.array(sorted(paths), pa.string())),
            )
            mask = pc.or_(mask, hit)
    if "extractor" in data.column_names:
        for repo, names in rep.extractors.items():
            if names:
                hit = pc.and_(
                    pc.equal(data.column("repo"), repo),
                    pc.is_in(data.column("extractor"), pa.array(sorted(names), pa.string())),
                )
                mask = pc.or_(mask, hit)
    return mask


def schema_fingerprint(schema: pa.Schema) -> str:
    """A short stable digest of a schema, recorded in the snapshot to skip unchanged tables."""
    import hashlib

    return hashlib.sha256(DeltaSchema.from_arrow(schema).to_json().encode()).hexdigest()[:16]


def open_table(path: Path) -> DeltaTable | None:
    """The latest version of the table at ``path``; None if there is none; a StoreError naming the
    table if its log cannot be read (deltalake may even panic on a damaged log)."""
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise StoreError(
            f"table '{path.name}' of store '{path.parent.parent}' is damaged: its log cannot be "
            f"read ({first_line(exc)}); {FIX}"
        ) from None


def move_aside(store: Store, name: str) -> Path:
    """Move a damaged table's folder to ``damaged/`` (kept for inspection; delete it at will)."""
    src = store.table_path(name)
    dest = store.path / "damaged" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    dest.parent.mkdir(exist_ok=True)
    if src.exists():
        os.replace(src, dest)
    return dest


def same_schema(table: DeltaTable, schema: pa.Schema) -> bool:
    return bool(table.schema().to_json() == DeltaSchema.from_arrow(schema).to_json())


def _actions(table: DeltaTable) -> pa.Table:
    return arrow_table(table.get_add_actions(flatten=True))


def count_rows(table: DeltaTable) -> int:
    actions = _actions(table)
    if not actions.num_rows or "num_records" not in actions.column_names:
        return 0
    return int(pc.sum(actions.column("num_records")).as_py() or 0)


#: Delta operations that never change a table's rows: commits of these after the published version
#: are the store's own maintenance (compaction's vacuum), not the work of a run that died
MAINTENANCE = frozenset({"VACUUM START", "VACUUM END"})


def rollback_unpublished(store: Store, snapshot: Snapshot | None, skip: Collection[str] = ()) -> list[str]:
    """Restore tables that were committed by a run that died before publishing. Returns their names.

    Commits after the published version that are all maintenance (``MAINTENANCE``) are kept: the
    snapshot's version still reads exactly the rows of the latest one."""
    restored = []
    live = snapshot.tables if snapshot else {}
    for name, state in sorted(live.items()):
        if name in skip:  # being rebuilt (quarry doctor --repair): its log may be what is damaged
            continue
        path = store.table_path(name)
        if not os.path.lexists(path / "_delta_log" / f"{state.version + 1:020d}.json"):
            continue  # nothing committed after the published version: not even opened
        table = open_table(path)
        if table is None or table.version() <= state.version:
            continue
        if _settled(table.history(limit=table.version() - state.version), state.version):
            continue
        table.restore(state.version)
        restored.append(name)
    return restored


def _settled(history: list[dict[str, Any]], version: int) -> bool:
    """Do the commits after the published ``version`` (newest first) leave it readable as it was:
    maintenance only, or a rollback already made (a restore to ``version``, then maintenance)? A
    second rollback would only add another restore commit, and a note, to every later run."""
    for commit in history:
        op = str(commit.get("operation"))
        if op in MAINTENANCE:
            continue
        params = commit.get("operationParameters") or {}
        return op == "RESTORE" and str(params.get("version")) == str(version)
    return True

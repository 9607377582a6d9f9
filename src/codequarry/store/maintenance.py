"""Keeping a store fast over many small runs: compaction, cleanup, and a status report.

Every incremental run adds small Parquet parts; ``compact`` rewrites a table's parts into files of
~32 MB sorted by (repo, path) (:mod:`codequarry.store.layout`), which keeps queries fast and makes the next incremental run's
lookups precise. It then publishes the compacted versions as a new snapshot (same rows), and removes
files no retained snapshot needs: parts replaced by earlier runs, and parts orphaned by killed runs.

Readers never lose a file under them. Every reader holds a shared lease on the store's ``readers``
file (Store.snapshot takes it before reading snapshot.json). Compaction deletes files at once only
while it holds that lock exclusively, that is while no reader is active, and new readers wait the
few moments the deletion takes; when a reader holds a lease, it deletes only files that no kept
snapshot reads AND that were removed (or, for orphans, written) more than ``RETENTION_HOURS`` ago.
The vacuum's own Delta commits are recognised as maintenance by the next run (writer.MAINTENANCE).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from codequarry import parts
from codequarry.errors import StoreError
from codequarry.store.damage import store_errors
from codequarry.store.layout import rewrite_sorted, sorted_layout
from codequarry.store.lock import WriterLock
from codequarry.store.store import Snapshot, Store, TableState, odd_log_entry, small_live_parts
from codequarry.store.writer import count_rows, open_table, rollback_unpublished

#: while a reader is active, files removed less than this long ago are kept (Delta counts in hours)
RETENTION_HOURS = 1

#: a table with more small live parts than this (under parts.SMALL_PART_BYTES) is compacted
#: automatically at the end of a run: its small parts merged into parts of about that size
AUTO_COMPACT_FILES = 48
#: automatic compaction keeps this many snapshots readable
AUTO_KEEP_SNAPSHOTS = 10


@dataclass
class CompactSummary:
    snapshot: int
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (files before, after)
    removed_files: int = 0
    removed_bytes: int = 0
    pruned_snapshots: int = 0
    readers_active: bool = False  # files removed within RETENTION_HOURS were kept for them


def _dir_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            try:
                size += os.lstat(os.path.join(dirpath, n)).st_size
                files += 1
            except OSError:
                continue
    return files, size


def live_file_count(table: DeltaTable) -> int:
    return len(table.file_uris())


def compact(
    store: Store,
    *,
    tables: list[str] | None = None,
    keep_snapshots: int = 1,
    min_files: int = 2,
    sort: bool = True,
    target_size: int | None = None,
) -> CompactSummary:
    """Compact tables (all by default) and publish the result, under the writer lock (taken here;
    a run that holds it already may call this too).

    ``sort`` rewrites the whole table sorted by (repo, path) into files of about
    ``layout.TARGET_FILE_SIZE`` (``quarry compact``; see :mod:`codequarry.store.layout`); without it
    only small files are merged, bin by bin, which reads little and holds little in memory (the
    automatic compaction after a run): files under ``target_size`` bytes, into files of about that
    size (parts.SMALL_PART_BYTES when not given: a part it merges is a part later edits rewrite)."""
    store.close()  # this process's own reader lease must not count as an active reader
    writer = Store(store.path)  # reads without taking a lease
    with WriterLock(writer.path):
        snap = writer.snapshot()
        with store_errors(writer, "compacting", live=snap.id if snap else None):
            target = target_size if target_size is not None else parts.SMALL_PART_BYTES
            return _compact(writer, snap, tables, keep_snapshots, min_files, sort, target)


def _remap_operations(snap: Snapshot, states: dict[str, TableState]) -> Any:
    """The operations' recorded input/output versions, moved to the compacted versions (same rows),
    so that compaction alone never makes an operation run again."""
    ops = snap.run.get("operations", {})
    if not isinstance(ops, dict):
        return ops
    moved = {n: (snap.tables[n].version, states[n].version) for n in states if n in snap.tables}

    def remap(versions: Any) -> Any:
        if not isinstance(versions, dict):
            return versions
        return {t: moved[t][1] if t in moved and moved[t][0] == v else v for t, v in versions.items()}

    return {
        name: {**info, "inputs": remap(info.get("inputs")), "outputs": remap(info.get("outputs"))}
        if isinstance(info, dict) and "outputs" in info
        else info
        for name, info in ops.items()
    }


def _compact(
    store: Store,
    snap: Snapshot | None,
    tables: list[str] | None,
    keep_snapshots: int,
    min_files: int,
    sort: bool,
    target_size: int,
) -> CompactSummary:
    rollback_unpublished(store, snap)
    summary = CompactSummary(snapshot=snap.id if snap else 0)
    if snap is None:
        return summary
    states = dict(snap.tables)
    for name in sorted(tables if tables is not None else snap.tables):
        table = open_table(store.table_path(name))
        if table is None or name not in states:
            continue
        before = live_file_count(table)
        if sort and before >= min_files and not sorted_layout(table):
            rewrite_sorted(store, name, table)
            table = DeltaTable(str(store.table_path(name)))
        elif not sort and before >= min_files:
            table.optimize.compact(target_size=target_size, max_concurrent_tasks=1)
            table = DeltaTable(str(store.table_path(name)))
        table.create_checkpoint()
        states[name] = TableState(version=table.version(), rows=count_rows(table))
        summary.tables[name] = (before, live_file_count(table))
    if any(states[n] != snap.tables[n] for n in states):
        run = {**snap.run, "compacted": time.time(), "operations": _remap_operations(snap, states)}
        snap = store.publish(states, run=run)
        summary.snapshot = snap.id
    summary.pruned_snapshots = _prune_history(store, keep_snapshots)
    kept = store.history()
    with _no_readers(store) as alone:
        summary.readers_active = not alone
        for name in snap.tables:
            files, size = _vacuum(store, name, kept, retention_hours=0 if alone else RETENTION_HOURS)
            summary.removed_files += files
            summary.removed_bytes += size
    return summary


@contextlib.contextmanager
def _no_readers(store: Store) -> Iterator[bool]:
    """Hold the readers lock exclusively if no reader holds a lease; yields whether it could."""
    try:
        fd = os.open(store.path / "readers", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing drops the lock


def _prune_history(store: Store, keep: int) -> int:
    history = sorted((store.path / "snapshots").glob("*.json"))
    doomed = history[: max(0, len(history) - max(1, keep))]
    for p in doomed:
        p.unlink(missing_ok=True)
    return len(doomed)


def _vacuum(store: Store, name: str, kept: list[Snapshot], retention_hours: int) -> tuple[int, int]:
    """Remove every file of the table that no retained snapshot reads (untracked orphans included)
    and that was removed (or, untracked, written) more than ``retention_hours`` ago."""
    path = store.table_path(name)
    table = open_table(path)
    if table is None:
        return 0, 0
    versions = sorted({s.tables[name].version for s in kept if name in s.tables})
    before_files, before_size = _dir_size(path)
    table.vacuum(
        retention_hours=retention_hours,
        enforce_retention_duration=False,
        dry_run=False,
        full=True,
        keep_versions=versions or None,
    )
    table.cleanup_metadata()
    after_files, after_size = _dir_size(path)
    return max(0, before_files - after_files), max(0, before_size - after_size)


def needs_compaction(store: Store, written: dict[str, int], known: dict[str, int] | None = None) -> list[str]:
    """Tables crowded by many runs: more than AUTO_COMPACT_FILES small live parts (under
    parts.SMALL_PART_BYTES), most of them written by earlier runs (a single big run's parts are
    chunk-sized and left alone; merging them would cost the run time and memory for little gain).
    Parts of that size or more never count: merging them would make later edits rewrite more, and a
    big table would be compacted after every run. ``written`` is parts written by this run, per
    table; ``known`` the small live parts of tables the caller has just counted (not opened again)."""
    out = []
    known = known or {}
    for name, ran in written.items():
        if name in known:
            small = known[name]
        else:
            table = open_table(store.table_path(name))
            if table is None:
                continue
            small = small_live_parts(table)
        if small > AUTO_COMPACT_FILES and ran * 2 < small:
            out.append(name)
    return out


def status(store: Store) -> dict[str, Any]:
    """What is in the store: the live snapshot, its tables, sizes, history, and the last run."""
    snap = store.snapshot()
    history = store.history()
    files, size = _dir_size(store.path)
    out: dict[str, Any] = {
        "store": str(store.path),
        "snapshot": snap.id if snap else None,
        "published": snap.created if snap else None,
        "snapshots_kept": len(history),
        "disk_files": files,
        "disk_bytes": size,
        "tables": {},
        "last_run": {},
    }
    if snap is None:
        return out
    for name, state in sorted(snap.tables.items()):
        path = store.table_path(name)
        odd = odd_log_entry(path)  # a FIFO there would hold the report forever (deaf to SIGTERM)
        try:
            if odd:
                raise StoreError(odd)
            dt = DeltaTable(str(path), version=state.version)
            live = dt.get_add_actions(flatten=True)
            from codequarry.store.store import arrow_table

            actions = arrow_table(live)
            live_bytes = int(sum(actions.column("size_bytes").to_pylist())) if actions.num_rows else 0
            n_files = actions.num_rows
        except Exception:  # a damaged table is reported, not fatal to the report
            live_bytes, n_files = 0, 0
        disk_files, disk_bytes = _dir_size(path)
        out["tables"][name] = {
            "version": state.version,
            "rows": state.rows,
            "files": n_files,
            "bytes": live_bytes,
            "disk_bytes": disk_bytes,
            **({"damaged": odd} if odd else {}),
        }
    run = dict(snap.run)
    run.pop("state", None)
    out["last_run"] = {
        k: run.get(k)
        for k in (
            "seconds",
            "files_scanned",
            "changed",
            "added",
            "modified",
            "deleted",
            "errors",
            "workers",
            "sources",
            "skipped",
            "skipped_files",
        )
        if k in run
    }
    out["extractors"] = snap.run.get("state", {})
    return out

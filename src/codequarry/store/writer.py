"""A run's writes: workers put Parquet parts into each table's folder, and the driver commits them.

A part is invisible until the commit that adds it; each table gets one Delta transaction per run
(add the new parts, remove the parts holding the replaced repos' rows), and the snapshot that
publishes all tables is written last. The driver never touches the rows themselves, so its memory
and time do not grow with the corpus.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction

from codequarry.parts import Part, Replacement, RepoKeys, read_checked, small_parts, write_part
from codequarry.schema import DatasetSpec
from codequarry.store import keyindex, warm
from codequarry.store.damage import recorded_rows
from codequarry.store.indexed import Drops, IndexedCommits, _actions, add_action, count_rows
from codequarry.store.store import (
    Snapshot,
    Store,
    TableState,
    damaged,
    first_line,
    part_inside,
    small_live_parts,
    unreadable_part,
)
from codequarry.store.warm import open_table

#: threads making the tables' commit actions in a long-lived process (rewrites cut and written)
COMMIT_THREADS = 2
#: threads making a run's drop actions while it extracts (``RunWriter.start_drops``): the core the
#: workers leave free; once they are done, the commit's threads make the drops not started yet too
DROP_THREADS = 1

__all__ = ["RunWriter", "count_rows", "open_table", "rollback_unpublished", "schema_fingerprint"]


class RunWriter(IndexedCommits):
    def __init__(self, store: Store, run_id: str, specs: dict[str, DatasetSpec]) -> None:
        self.store = store
        self.run_id = run_id
        self.specs = specs
        self.parts: dict[str, list[Part]] = defaultdict(list)
        self.rows: dict[str, int] = dict.fromkeys(specs, 0)
        self.notes: list[str] = []
        #: live Parquet files of each table this run committed, after its commit (compaction reads it)
        #: per table committed by this run, its live parts under parts.SMALL_PART_BYTES (whether the
        #: automatic compaction merges them: maintenance.needs_compaction)
        self.live_small: dict[str, int] = {}
        self._drops: _DropMaker | None = None  # the drop actions being made (``start_drops``)
        #: one (repo, path) tuple per file, shared by the keys of every part added (``add``)
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}

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
        """Keep ``part`` for the commit, its keys made of one shared tuple per file (and one string
        per repo): a worker's parts come pickled apart, each key a tuple and two strings of its own
        (~230 bytes a key), and the keys of a run's parts are kept to the commit (the key records):
        at 20x the standard library 358k keys, ~80 MB of the parent's memory, for 67k files. Keys
        already made of the run's shared tuples (:class:`RepoKeys`: the reuse copies') are kept as
        they are."""
        if part.keys is not None and not isinstance(part.keys, RepoKeys):
            canon = self._keys
            keys = []
            shared = True  # every key already the run's own tuple (the reuse copies' parts)
            for key in part.keys:
                got = canon.get(key)
                if got is None:
                    repo = sys.intern(key[0])
                    got = canon[key] = key if repo is key[0] else (repo, key[1])
                shared = shared and got is key
                keys.append(got)
            if not shared:
                part = dataclasses.replace(part, keys=frozenset(keys))
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
        if warm.enabled():
            self._commit_all_warm(replace, states, now, pause)
            return states
        keyindex.forget_kept()
        if self._drops is not None and not self._drops.made_for(replace, previous):
            self.stop_drops(discard=True)  # (made for another commit: made again, here)
        try:
            self._commit_all(replace, states, now, pause)
        finally:
            self.stop_drops()
        return states

    def _commit_all(
        self,
        replace: dict[str, Replacement],
        states: dict[str, TableState],
        now: int,
        pause: Callable[[str], None],
    ) -> None:
        """Commit every table the run touched (see ``commit``); each table's drop actions are taken
        from the threads making them (``start_drops``) as soon as they are made. Without those, in
        name order, one table at a time; with them, by ``COMMIT_THREADS`` threads taking the tables
        in name order (a Delta commit waits mostly outside the GIL, on its writes and Delta Lake's
        own threads), and the first failure in name order is raised once the tables being committed
        are (a failed run publishes nothing: the next writer rolls back what it committed)."""
        names = [
            n
            for n in sorted(set(self.specs) | set(replace))
            if self.parts.get(n) or replace.get(n) or n not in states  # untouched: not even opened
        ]
        if self._drops is None or len(names) < 2:
            for name in names:
                self._commit_table(name, replace.get(name), states, now, pause)
            return
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=COMMIT_THREADS, thread_name_prefix="quarry-commit")
        try:
            done = [pool.submit(self._commit_table, n, replace.get(n), states, now, pause) for n in names]
            for future in done:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _commit_table(
        self,
        name: str,
        rep: Replacement | None,
        states: dict[str, TableState],
        now: int,
        pause: Callable[[str], None],
    ) -> None:
        """Commit table ``name``: drop ``rep``'s rows, add this run's parts (``_commit_all``)."""
        maker = self._drops
        parts = self.parts.get(name, [])
        path = self.store.table_path(name)
        state = states.get(name)
        idx, drops = (maker.take(name) if maker is not None else None) or (
            keyindex.load(self.store.path, path, name, state.version, state.rows) if state else None,
            None,
        )
        if idx is not None:
            if not parts and drops is None and idx.untouched_by(rep):  # no dropped row: not opened
                pause(f"table:{name}")
                self.live_small[name] = small_parts(p.size for p in idx.parts.values())
                return
            if self._commit_indexed(name, idx, parts, rep, states, now, pause, drops):
                return
        table = open_table(path)
        if table is None:
            if name in states:  # in the snapshot, but its log is gone: never drop rows silently
                raise damaged(self.store, name, "its Delta log is missing or unreadable")
            return
        self._check_version(name, table.version(), states)
        self._check_rows(name, table.version(), recorded_rows(table), states)
        actions: list[AddAction | RemoveAction] = []
        if rep:
            actions += self._drop(table, name, rep, now)
        actions += [add_action(p.file, p.size, p.stats, now) for p in parts]
        pause(f"table:{name}")
        if actions:
            table.create_write_transaction(actions, mode="append", schema=self._schema(name, table))
            table.update_incremental()  # reads the one new commit (opening it anew reads the log)
        states[name] = TableState(version=table.version(), rows=count_rows(table))
        self.live_small[name] = small_live_parts(table)
        self._index(name, table, parts)

    def start_drops(self, replace: dict[str, Replacement], previous: Snapshot | None) -> None:
        """Start making the actions that drop ``replace``'s rows from the tables of ``previous``
        whose key record is true (the parts holding them rewritten without them), in a thread: they
        depend on the rows stored, not on the run's new ones, so they are made while the run
        extracts by other processes. ``commit`` takes each table's as soon as they are made (and makes
        those the thread has not started itself); ``stop_drops`` stops the thread. Without it,
        ``commit`` makes them itself, in its own thread. Not in a long-lived process
        (``_commit_all_warm``)."""
        if warm.enabled() or self._drops is not None:
            return
        states = previous.tables if previous else {}
        names = [n for n in sorted(replace) if replace[n] and n in states]
        if names:
            self._drops = _DropMaker(self, names, replace, states, int(time.time() * 1000))
            self._drops.start()

    def stop_drops(self, *, discard: bool = False) -> None:
        """Stop making drop actions (the run failed): returns once the thread is done; ``discard``:
        the files written for them are deleted too."""
        if self._drops is not None:
            self._drops.stop()
            if discard:
                for name, got in self._drops.made.items():
                    if got is not None and isinstance(got[1], Drops):
                        got[1].discard(self.store.table_path(name))
            self._drops = None

    def _make_drops(
        self, name: str, rep: Replacement, state: TableState, now: int
    ) -> tuple[keyindex.KeyIndex | None, Drops | BaseException | None]:
        """Table ``name``'s key record, if true, and the actions dropping ``rep``'s rows made from it
        (None: it holds none; an exception: making them failed, raised by the commit if the table is
        the record's)."""
        path = self.store.table_path(name)
        idx = keyindex.load(self.store.path, path, name, state.version, state.rows)
        if idx is None or idx.untouched_by(rep):
            return idx, None
        try:
            drops = self._drops_indexed(name, idx, rep, now)
        except Exception as exc:  # noqa: BLE001 - raised in the commit's order (see _commit_indexed)
            return idx, exc
        # opened for the commit, which opens it itself if this fails (and says why)
        with contextlib.suppress(Exception):
            drops.opened = self._open_indexed(name, idx)
        return idx, drops

    def _check_version(self, name: str, version: int, states: dict[str, TableState]) -> None:
        if name in states and version < states[name].version:
            raise damaged(
                self.store,
                name,
                f"the snapshot names version {states[name].version} but its log ends at version {version}",
            )

    def _check_rows(self, name: str, version: int, rows: int | None, states: dict[str, TableState]) -> None:
        """A published commit replaced by ``{}`` or emptied replays as a valid, emptier table: never
        commit on top of it (the rows it lost would be lost for good); name it as damage instead."""
        state = states.get(name)
        if state is not None and version == state.version and rows is not None and rows != state.rows:
            raise damaged(
                self.store,
                name,
                f"the snapshot records {state.rows} rows at version {state.version} but its log "
                f"names files holding {rows}",
            )

    def _schema(self, name: str, table: DeltaTable) -> DeltaSchema:
        schema = self.specs[name].schema if name in self.specs else table.schema()
        return schema if isinstance(schema, DeltaSchema) else DeltaSchema.from_arrow(schema)

    def _commit_all_warm(
        self,
        replace: dict[str, Replacement],
        states: dict[str, TableState],
        now: int,
        pause: Callable[[str], None],
    ) -> None:
        """The commits of a long-lived process (store/warm.py), in two steps: each touched table's
        actions are made (its rewritten parts cut and written) in threads, one table per task, as
        Arrow's filter and Parquet writer run without the GIL; then the tables are committed one by
        one, in name order, as the cold way does. Nothing is committed before every table's actions
        are made, so a damaged table stops the run before any commit."""
        from concurrent.futures import ThreadPoolExecutor

        names = [
            n
            for n in sorted(set(self.specs) | set(replace))
            if self.parts.get(n) or replace.get(n) or n not in states
        ]
        if len(names) > 1:
            with ThreadPoolExecutor(max_workers=COMMIT_THREADS, thread_name_prefix="quarry-commit") as pool:
                made = list(pool.map(lambda n: self._actions_warm(n, replace.get(n), states, now), names))
        else:
            made = [self._actions_warm(n, replace.get(n), states, now) for n in names]
        for name, got in zip(names, made, strict=True):
            if got is not None:
                self._commit_warm(name, *got, states, pause)

    def _actions_warm(
        self, name: str, rep: Replacement | None, states: dict[str, TableState], now: int
    ) -> tuple[warm.WarmTable, list[AddAction | RemoveAction], set[tuple[str, str]] | None] | None:
        """One table's commit actions in a long-lived process: the handle is kept between runs, and
        only the parts whose keys hold a dropped file are read (from memory when they are there) and
        rewritten. Also the keys they change (None: not known); None for a table with no log."""
        path = self.store.table_path(name)
        table = warm.table(path)
        if table is None:
            if name in states:  # in the snapshot, but its log is gone: never drop rows silently
                raise damaged(self.store, name, "its Delta log is missing or unreadable")
            return None
        self._check_version(name, table.version, states)
        if not table.stale and not table.checked:  # the handle stands at the version it read
            self._check_rows(name, table.version, recorded_rows(table.handle), states)
            table.checked = True
        actions: list[AddAction | RemoveAction] = []
        changed: set[tuple[str, str]] | None = set()
        if rep:
            actions, changed = self._drop_warm(table, name, rep, now)
        for p in self.parts.get(name, []):
            actions.append(add_action(p.file, p.size, p.stats, now))
            try:
                keys = warm.part_keys(table.full(p.file))
            except (OSError, pa.ArrowException) as exc:
                raise damaged(
                    self.store, name, f"its file {p.file} cannot be read ({first_line(exc)})"
                ) from None
            changed = None if keys is None or changed is None else changed | keys.keys
        return table, actions, changed

    def _commit_warm(
        self,
        name: str,
        table: warm.WarmTable,
        actions: list[AddAction | RemoveAction],
        changed: set[tuple[str, str]] | None,
        states: dict[str, TableState],
        pause: Callable[[str], None],
    ) -> None:
        """Commit one table's actions (none: the table is left as it is); the keys the commit changed
        are recorded for the operations (partitions.changed_files)."""
        path = self.store.table_path(name)
        pause(f"table:{name}")
        if actions:
            table.commit(actions, self._schema(name, table.handle))
            if changed is not None:
                warm.record(path, table.version, frozenset(changed))
        states[name] = TableState(version=table.version, rows=table.rows)
        self.live_small[name] = small_parts(p.size for p in table.parts.values())

    def _drop_warm(
        self, table: warm.WarmTable, name: str, rep: Replacement, now: int
    ) -> tuple[list[AddAction | RemoveAction], set[tuple[str, str]] | None]:
        """The actions dropping ``rep``'s rows, found from each part's keys; and the keys whose rows
        they drop (None when a part's keys cannot be told)."""
        actions: list[AddAction | RemoveAction] = []
        changed: set[tuple[str, str]] | None = set()
        dropped = {(repo, p) for repo, paths in rep.keys.items() for p in paths}
        for rel, live in list(table.parts.items()):
            if not part_inside(rel):
                raise damaged(self.store, name, f"its log names a file outside the table ({rel})")
            with unreadable_part(self.store, name, f"its file {rel}"):
                got = warm.part_keys(table.full(rel))
            if got is None:  # no key columns: the cold way, which says what is wrong
                actions += self._rewrite(name, rel, live.size, rep, now)
                changed = None
                continue
            hit: set[tuple[str, str]] | frozenset[tuple[str, str]] = got.keys
            if got.repos and got.repos <= rep.repos:
                actions.append(
                    RemoveAction(path=rel, data_change=True, deletion_timestamp=now, size=live.size)
                )
            elif any(rep.extractors.get(r) for r in got.repos):  # rows by extractor: read the column
                actions += self._rewrite(name, rel, live.size, rep, now)
            else:
                hit = got.keys & dropped
                if rep.repos:
                    hit |= {k for k in got.keys if k[0] in rep.repos}
                if not hit:
                    continue
                actions += self._rewrite_warm(table, name, rel, live.size, got, set(hit), rep, now)
            if changed is not None:  # the carried-over rows of a rewrite are the same rows
                changed |= hit
        return actions, changed

    def _rewrite_warm(
        self,
        table: warm.WarmTable,
        name: str,
        rel: str,
        size: int,
        got: warm.PartKeys,
        hit: set[tuple[str, str]],
        rep: Replacement,
        now: int,
    ) -> list[AddAction | RemoveAction]:
        """Remove part ``rel``, adding a part of the rows it keeps (cut from memory when the part's
        rows are there); the new part's keys and rows are kept warm."""
        full = table.full(rel)
        with unreadable_part(self.store, name, f"its file {rel}"):
            data = warm.cached_rows(full)  # read by an operation: cast to the table's schema
            cached = data is not None
            if data is None:
                data = read_checked(full)
        actions: list[AddAction | RemoveAction] = [
            RemoveAction(path=rel, data_change=True, deletion_timestamp=now, size=size)
        ]
        kept = data.filter(pc.invert(_dropped_mask(data, rep)))
        if kept.num_rows:
            batch = kept.combine_chunks().to_batches()[0]
            part = write_part(str(self.store.tables_dir), self.run_id, name, batch)
            actions.append(add_action(part.file, part.size, part.stats, now))
            new = table.full(part.file)
            rest = got.keys - hit
            warm.remember_keys(new, warm.PartKeys(keys=frozenset(rest), repos=frozenset(r for r, _ in rest)))
            if cached:  # the same schema as the operations' reads of it would give
                warm.keep_rows(new, pa.Table.from_batches([batch]))
        return actions

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
        self,
        name: str,
        f: str,
        size: int,
        rep: Replacement,
        now: int,
        left: frozenset[tuple[str, str]] | None = None,
    ) -> list[AddAction | RemoveAction]:
        """Remove part ``f`` if it holds rows ``rep`` drops, adding a part of the rows it keeps.
        ``left``: the keys of the rows it keeps, when its key record says so (it holds dropped rows
        and others): it is then read once, whole."""
        if not part_inside(f):
            raise damaged(self.store, name, f"its log names a file outside the table ({f})")
        with unreadable_part(self.store, name, f"its file {f}"):
            part_file = pq.ParquetFile(str(self.store.table_path(name) / f), page_checksum_verification=True)
            if left is None:
                # the key columns first (a few KB): most parts whose path range spans a changed file
                # hold none of its rows, and are then never read whole
                key_cols = [c for c in ("repo", "path", "extractor") if c in part_file.schema_arrow.names]
                keep = pc.invert(_dropped_mask(part_file.read(columns=key_cols), rep))
                kept = int(pc.sum(keep.cast("int64")).as_py() or 0)
                if kept == part_file.metadata.num_rows:
                    return []
                data = part_file.read()
            else:
                data = part_file.read()
                keep = pc.invert(_dropped_mask(data, rep))
                kept = int(pc.sum(keep.cast("int64")).as_py() or 0)
        actions: list[AddAction | RemoveAction] = [
            RemoveAction(path=f, data_change=True, deletion_timestamp=now, size=size)
        ]
        if kept:
            batch = data.filter(keep).combine_chunks().to_batches()[0]
            part = write_part(str(self.store.tables_dir), self.run_id, name, batch, keys=left)
            actions.append(add_action(part.file, part.size, part.stats, now))
        return actions


class _DropMaker:
    """Makes the tables' drop actions (``RunWriter._make_drops``), one table at a time, in name order,
    in ``DROP_THREADS`` threads while the workers extract; ``take`` gives one table's to the commit
    as soon as they are made, and makes them in the calling thread when no thread has started them.
    A commit thread waiting for a table another thread is making helps instead: it makes the last
    table not started yet (Arrow's filter and the Parquet reader and writer run without the GIL, so
    the rewrites of several tables overlap once the workers are done)."""

    def __init__(
        self,
        writer: RunWriter,
        names: list[str],
        replace: dict[str, Replacement],
        states: Mapping[str, TableState],
        now: int,
    ) -> None:
        self.writer, self.replace, self.states, self.now = writer, replace, states, now
        self.todo = deque(names)
        self.busy: set[str] = set()
        self.made: dict[str, tuple[keyindex.KeyIndex | None, Drops | BaseException | None] | None] = {}
        self.cond = threading.Condition()
        self.threads = [
            threading.Thread(target=self._work, name="quarry-drops", daemon=True)
            for _ in range(min(DROP_THREADS, len(names)))
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def made_for(self, replace: Mapping[str, Replacement], previous: Snapshot | None) -> bool:
        """Were these made for this ``replace`` and ``previous`` (the same objects)?"""
        return (previous is not None and previous.tables is self.states) and all(
            replace.get(n) is rep for n, rep in self.replace.items() if rep
        )

    def _make(self, name: str) -> tuple[keyindex.KeyIndex | None, Drops | BaseException | None]:
        return self.writer._make_drops(name, self.replace[name], self.states[name], self.now)

    def _make_one(self, name: str, *, here: bool = False) -> None:
        """Make table ``name``'s actions (it is in ``busy``) and hand them to ``made``; ``here``: in
        the commit's thread, where an interruption is raised (after it is handed on)."""
        got = None
        try:
            got = self._make(name)
        except Exception:  # noqa: BLE001 - None: the commit loads the record itself
            got = None
        except BaseException:
            if here:
                raise
            got = None
        finally:
            with self.cond:
                self.made[name] = got
                self.busy.discard(name)
                self.cond.notify_all()

    def _work(self) -> None:
        while True:
            with self.cond:
                if not self.todo:
                    return
                name = self.todo.popleft()
                self.busy.add(name)
            self._make_one(name)

    def take(self, name: str) -> tuple[keyindex.KeyIndex | None, Drops | BaseException | None] | None:
        """Table ``name``'s record and drop actions (None: none were asked for, or making them
        failed unexpectedly), made here if no thread has started them."""
        while True:
            with self.cond:
                if name in self.made:
                    return self.made.pop(name)
                if name in self.todo:
                    self.todo.remove(name)
                    break
                if name not in self.busy:
                    return None
                if not self.todo:
                    self.cond.wait()
                    continue
                other = self.todo.pop()  # another thread makes ``name``: help with the last one
                self.busy.add(other)
            self._make_one(other, here=True)
        return self._make(name)

    def stop(self) -> None:
        with self.cond:
            self.todo.clear()
        self.join()

    def join(self) -> None:
        """Return once every thread is done."""
        for thread in self.threads:
            if thread.ident is not None:  # (started)
                thread.join()


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

"""A table's commit from the record of its parts' keys (store/keyindex.py), and the record written
after a commit that took the full path: the part of RunWriter (store/writer.py) for tables whose
parts' keys are known, so that a one-file run opens only the tables holding the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction

from codequarry.parts import Part, Replacement, small_parts
from codequarry.schema import DatasetSpec
from codequarry.store import keyindex, warm
from codequarry.store.keyfile import is_current
from codequarry.store.store import (
    CHECKPOINT_EVERY,
    Store,
    TableState,
    arrow_table,
    part_inside,
    small_live_parts,
)
from codequarry.store.warm import open_table

#: a part the next record names: carried over as the last record named it, or (rows, keys) of a
#: part this run wrote
Kept = tuple[int, frozenset[tuple[str, str]]] | keyindex.IndexedPart


def _rows(part: Kept) -> int:
    return part.rows if isinstance(part, keyindex.IndexedPart) else part[0]


def _known(part: Kept) -> bool:
    """Are the part's keys known (a part of rows without keys is not recorded)?"""
    if isinstance(part, keyindex.IndexedPart):
        return bool(len(part)) or not part.rows
    return bool(part[1]) or not part[0]


@dataclass
class Drops:
    """The actions dropping a run's replaced rows from one table, from its key record: parts
    removed, and parts rewritten without those rows (their new files written, not committed); the
    parts the next record names, and the keys whose rows change (None: not known)."""

    idx: keyindex.KeyIndex
    actions: list[AddAction | RemoveAction]
    kept: dict[str, Kept]
    changed: set[tuple[str, str]] | None
    #: the table opened at the record's version and its rows (``_open_indexed``) made with them;
    #: False: it is not the record's; None: not opened yet
    opened: tuple[DeltaTable, int | None] | Literal[False] | None = None

    def discard(self, table_path: Path) -> None:
        """Delete the files written for these actions (they will not be committed)."""
        for action in self.actions:
            if isinstance(action, AddAction):
                with contextlib.suppress(OSError):
                    os.unlink(table_path / action.path)


def _sizes(
    idx: keyindex.KeyIndex, actions: list[AddAction | RemoveAction], kept: dict[str, Kept]
) -> Iterator[int]:
    """The sizes of the parts ``kept`` after ``actions`` (the record's, or the ones the actions add)."""
    sizes = {rel: part.size for rel, part in idx.parts.items()}
    sizes.update((a.path, a.size) for a in actions if isinstance(a, AddAction))
    return (sizes.get(rel, 0) for rel in kept)


class IndexedCommits:
    """Mixed into RunWriter, which defines the steps shared with the full path (declared here)."""

    store: Store
    specs: dict[str, DatasetSpec]
    live_small: dict[str, int]

    def _check_rows(self, name: str, version: int, rows: int | None, states: dict[str, TableState]) -> None:
        raise NotImplementedError

    def _schema(self, name: str, table: DeltaTable) -> DeltaSchema:
        raise NotImplementedError

    def _rewrite(
        self,
        name: str,
        f: str,
        size: int,
        rep: Replacement,
        now: int,
        left: frozenset[tuple[str, str]] | None = None,
    ) -> list[AddAction | RemoveAction]:
        raise NotImplementedError

    def _drops_indexed(self, name: str, idx: keyindex.KeyIndex, rep: Replacement | None, now: int) -> Drops:
        """The actions dropping ``rep``'s rows from the version ``idx`` records: the parts holding
        dropped keys are known without reading any; those that keep some rows are rewritten (the
        new files are written now, committed by ``_commit_indexed``)."""
        path = self.store.table_path(name)
        kept: dict[str, Kept] = dict(idx.parts)
        actions: list[AddAction | RemoveAction] = []
        changed: set[tuple[str, str]] | None = set()  # a superset of the keys whose rows differ
        for rel, part in idx.parts.items():
            what, gone = idx.hit(rel, rep) if rep else ("keep", frozenset())
            if what == "keep":
                continue
            del kept[rel]
            if changed is not None:  # rows dropped by extractor: any key of the part may lose some
                changed |= part.keys if what == "read" else gone
            if what == "remove":
                actions.append(
                    RemoveAction(path=rel, data_change=True, deletion_timestamp=now, size=part.size)
                )
                continue
            left = part.keys - gone if what == "rewrite" else None  # the keys of the rows it keeps
            new = self._rewrite(name, rel, part.size, rep, now, left) if rep else []
            if not new:  # no row of the part goes after all (rows by extractor)
                kept[rel] = part
                continue
            actions += new
            for add in new:
                if isinstance(add, AddAction):
                    keys = (
                        left if left is not None else keyindex.keys_of_part(f"{path}/{add.path}", add.stats)
                    )
                    kept[add.path] = (warm.records_in(add.stats), keys or frozenset())
        return Drops(idx, actions, kept, changed)

    def _open_indexed(
        self, name: str, idx: keyindex.KeyIndex
    ) -> tuple[DeltaTable, int | None] | Literal[False]:
        """The table, opened at its latest version, and the rows its log records (None: not
        known); False when that is not the version ``idx`` records, or its live parts are not the
        record's."""
        table = open_table(self.store.table_path(name))
        if table is None or table.version() != idx.version:
            return False
        live = _actions(table)
        if set(live.column("path").to_pylist() if live.num_rows else []) != set(idx.parts):
            return False
        counts = live.column("num_records") if "num_records" in live.column_names else None
        if not live.num_rows:
            return table, 0
        return table, None if counts is None or counts.null_count else sum(int(n) for n in counts.to_pylist())

    def _commit_indexed(
        self,
        name: str,
        idx: keyindex.KeyIndex,
        parts: list[Part],
        rep: Replacement | None,
        states: dict[str, TableState],
        now: int,
        pause: Callable[[str], None],
        drops: Drops | BaseException | None = None,
    ) -> bool:
        """One table's commit from its key record (store/keyindex.py), with ``drops`` (its dropped
        rows, made before: ``_drops_indexed``; made here when None; an exception: making them
        failed, raised here once the table is known to be the record's); the table is opened only
        to commit. False when the table's live parts are not the record's (the caller takes the
        full path; the files ``drops`` wrote are deleted)."""
        path = self.store.table_path(name)
        opened = drops.opened if isinstance(drops, Drops) else None
        if not opened or not is_current(path, idx.version, idx.log):  # (no commit since it was opened)
            opened = self._open_indexed(name, idx)
        if not opened:
            if isinstance(drops, Drops):
                drops.discard(path)
            return False
        table, rows = opened
        self._check_rows(name, table.version(), rows, states)
        if isinstance(drops, BaseException):
            raise drops
        if drops is None:
            drops = self._drops_indexed(name, idx, rep, now)
        actions, kept, changed = list(drops.actions), dict(drops.kept), drops.changed
        changed = None if changed is None else set(changed)
        for p in parts:
            actions.append(add_action(p.file, p.size, p.stats, now))
            keys = p.keys if p.keys is not None else keyindex.keys_of_part(f"{path}/{p.file}", p.stats)
            changed = None if keys is None or changed is None else changed | keys
            kept[p.file] = (p.rows, keys or frozenset())
        pause(f"table:{name}")
        if not actions:
            self.live_small[name] = small_parts(p.size for p in idx.parts.values())
            return True
        keyindex.forget(self.store.path, name)
        schema = self._schema(name, table)
        before = pa.schema(table.schema().to_arrow())
        table.create_write_transaction(actions, mode="append", schema=schema)
        nxt = idx.version + 1
        if not os.path.lexists(warm.log_entry(path, nxt)) or os.path.lexists(warm.log_entry(path, nxt + 1)):
            table.update_incremental()  # not the one commit expected under the lock: count it
            states[name] = TableState(version=table.version(), rows=count_rows(table))
            self.live_small[name] = small_live_parts(table)
            return True
        states[name] = TableState(version=nxt, rows=sum(_rows(k) for k in kept.values()))
        self.live_small[name] = small_parts(_sizes(idx, actions, kept))
        if changed is not None:  # the operations of this run read it instead of diffing the parts
            warm.record(path, nxt, frozenset(changed), always=True)
        if all(_known(k) for k in kept.values()):
            # the schema readers of version nxt see: the log's, unchanged by this commit (else none)
            after = pa.schema(schema.to_arrow())
            same = before if after.equals(before) else None
            keyindex.keep(path, idx, before)  # for the operations' reads of both versions
            keyindex.keep(path, keyindex.save(self.store.path, path, name, nxt, kept, same), same)
        if nxt % CHECKPOINT_EVERY == 0:
            _checkpoint(table, nxt)
        return True

    def _index(self, name: str, table: DeltaTable, parts: list[Part]) -> None:
        """Record the keys of each live part of ``table`` (just committed by the full path) for the
        next run; parts this run wrote give the keys their writer found (none read back).
        Not for a table without key columns, nor one of more than MAX_INDEXED parts."""
        spec = self.specs.get(name)
        if spec is None or not {"repo", "path"} <= set(spec.schema.names):
            keyindex.forget(self.store.path, name)
            return
        record_keys(self.store, name, table, parts)


def record_keys(store: Store, name: str, table: DeltaTable, parts: list[Part] | None = None) -> None:
    """Record the ``(repo, path)`` keys of each live part of ``table`` (version just written under
    the lock; ``parts``: those this run wrote, whose keys their writer found) for the next run.
    Nothing is recorded for a part without both key columns or with a null in one, nor for a table
    of more than MAX_INDEXED parts."""
    path = store.table_path(name)
    keyindex.forget(store.path, name)
    live = _actions(table)
    if live.num_rows > keyindex.MAX_INDEXED:
        return
    stats = {p.file: p.stats for p in parts or ()}
    known = {p.file: p.keys for p in parts or () if p.keys is not None}  # the writer's, not read back
    rows = live.column("num_records").to_pylist() if live.num_rows else []
    got: dict[str, tuple[int, frozenset[tuple[str, str]]]] = {}
    for rel, n in zip(live.column("path").to_pylist() if live.num_rows else [], rows, strict=True):
        if n is None or not part_inside(rel) or "/" in rel:
            return
        try:
            keys = known.get(rel) or keyindex.keys_of_part(f"{path}/{rel}", stats.get(rel))
        except (OSError, pa.ArrowException):
            return
        if keys is None:
            return
        got[rel] = (int(n), keys)
    keyindex.save(store.path, path, name, table.version(), got, pa.schema(table.schema().to_arrow()))


def _checkpoint(table: DeltaTable, version: int) -> None:
    """Write the Delta checkpoint of ``version``, just committed (see CHECKPOINT_EVERY). A checkpoint
    is the log's state at a version, read instead of replaying the entries before it: it changes no
    row, and stays true if a killed run's commit is rolled back later (that is a RESTORE commit)."""
    try:
        table.update_incremental()
        if table.version() == version:
            table.create_checkpoint()
    except Exception:  # noqa: BLE001 - it only makes later opens cheaper; the commit is done
        return


def add_action(file: str, size: int, stats: str, now: int) -> AddAction:
    """The Delta action adding a part file just written (``stats``: its Delta statistics, JSON)."""
    return AddAction(
        path=file, size=size, partition_values={}, modification_time=now, data_change=True, stats=stats
    )


def _actions(table: DeltaTable) -> pa.Table:
    return arrow_table(table.get_add_actions(flatten=True))


def count_rows(table: DeltaTable) -> int:
    actions = _actions(table)
    if not actions.num_rows or "num_records" not in actions.column_names:
        return 0
    return int(pc.sum(actions.column("num_records")).as_py() or 0)

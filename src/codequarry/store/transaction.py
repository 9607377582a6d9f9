"""One run's writes to a store as one transaction: ``with begin_run(store, "extract") as txn``.

Every writer of a store (extract and watch, operations, tools, repos remove) goes through the same
sequence, written here once:

1. take the writer lock: one writer per store, a second one is refused with a message naming the
   first (``StoreLockedError``); the run's recorder, if any, is entered once the lock is held;
2. roll back the commits of runs that died before publishing (no reader ever saw them);
3. the caller prepares tables, adds Parquet parts and commits tables (``txn.prepare``, ``txn.add``,
   ``txn.commit``): Delta commits that no reader sees until the snapshot names them;
4. ``txn.publish`` makes them live as exactly one snapshot, then compacts the tables the run
   crowded (keeping ``AUTO_KEEP_SNAPSHOTS`` readable); a run with nothing new publishes nothing;
5. on an exception or Ctrl-C before publishing, nothing is published: the live snapshot stays as
   it was and the Parquet parts the run wrote are deleted (on a full disk they are what filled it);
   its commits, if any, are rolled back by the next writer (step 2), under the lock.

Failures met inside the block (a damaged table, a full disk, a read-only mount) leave it as one-line
StoreErrors saying what is still live (``store_errors``), before the recorder sees them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol

from codequarry.errors import StoreError
from codequarry.parts import Part, Replacement
from codequarry.schema import DatasetSpec
from codequarry.store.damage import store_errors
from codequarry.store.lock import WriterLock
from codequarry.store.maintenance import AUTO_COMPACT_FILES, AUTO_KEEP_SNAPSHOTS, compact, needs_compaction
from codequarry.store.store import Snapshot, Store, TableState
from codequarry.store.writer import RunWriter, rollback_unpublished

#: what the one-line errors say the run was doing, by kind of run
DOING = {
    "extract": "extracting",
    "watch": "extracting",
    "operations": "running operations",
    "tools": "running tools",
    "repos remove": "removing a repo",
}


class Recorder(Protocol):
    """What a transaction needs of the run's recorder (report.collect.RunRecorder): its run id, stage
    timing, and a context to enter under the lock and leave with the run's outcome."""

    run_id: str

    def stage(self, name: str) -> contextlib.AbstractContextManager[Any]: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> Any: ...


class RunTransaction:
    """The writes of one run, under the writer lock (made by :func:`begin_run`, never directly).

    ``previous`` is the snapshot live when the run began (its dead commits rolled back); ``notes``
    say which commits were rolled back, ``compaction_notes`` what the automatic compaction after the
    publish did; ``snapshot`` is the snapshot the run made live (after compaction), None until it
    publishes."""

    def __init__(
        self,
        store: Store,
        kind: str,
        run_id: str,
        previous: Snapshot | None,
        specs: Mapping[str, DatasetSpec],
        stage: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.store = store
        self.kind = kind
        self.run_id = run_id
        self.previous = previous
        self.writer = RunWriter(store, run_id, dict(specs))
        self.notes: list[str] = []
        self.compaction_notes: list[str] = []
        self.snapshot: Snapshot | None = None
        #: what the caller keeps with the run for whoever looks at it after (the scan, its time)
        self.extras: dict[str, Any] = {}
        self._stage = stage or (lambda _name: contextlib.nullcontext())
        self._replaced: set[str] = set()
        self._published = False
        #: leave the compaction of the tables this run crowds to the caller, who names them in
        #: ``crowded``: a batch of ``quarry watch`` leaves it to the watch's idle time (watch.py),
        #: so that no batch waits for it
        self.defer_compaction = kind == "watch"
        self.crowded: list[str] = []

    @property
    def doing(self) -> str:
        return DOING.get(self.kind, f"running {self.kind}")

    # -- the caller's work --------------------------------------------------------------------------
    def prepare(
        self, known: dict[str, str] | None = None, *, live: Collection[str] = (), fresh: Collection[str] = ()
    ) -> set[str]:
        """Create the run's tables (see RunWriter.prepare); returns those emptied for a new schema."""
        return self.writer.prepare(known, live=live, fresh=fresh)

    def add(self, part: Part) -> None:
        """A Parquet part written into a table's folder, to be committed with the table."""
        self.writer.add(part)

    def start_drops(self, replace: Mapping[str, Replacement], *, base: Snapshot | None = None) -> None:
        """Start making what ``commit`` will drop of ``replace``'s rows from ``base`` (default:
        ``previous``) while the caller does other work (RunWriter.start_drops): the same ``replace``
        and ``base`` must then be given to ``commit``."""
        self.writer.start_drops(dict(replace), base if base is not None else self.previous)

    def commit(
        self,
        replace: Mapping[str, Replacement] | None = None,
        *,
        base: Snapshot | None = None,
        pause: Callable[[str], None] = lambda _: None,
    ) -> dict[str, TableState]:
        """Drop the rows ``replace`` names and add the run's parts, one Delta commit per table; returns
        every table's state for :meth:`publish`. Readers see none of it until then. ``base`` is the
        snapshot to start from (default: ``previous``)."""
        replace = dict(replace or {})
        self._replaced |= set(replace)
        return self.writer.commit(replace, base if base is not None else self.previous, pause=pause)

    def publish(self, tables: dict[str, TableState], *, run: dict[str, Any]) -> Snapshot:
        """Make ``tables`` live as one snapshot recording ``run``, then compact the tables this run
        crowded. Returns the live snapshot (the compacted one, when compaction published one)."""
        if self._published:
            raise StoreError(f"run {self.run_id} of store '{self.store.path}' has published already")
        with self._stage("publish"):
            snap = self.store.publish(tables, run=run)
            self._published = True
            self.store.clear_staging()
        self.snapshot = self._compact(snap)
        return self.snapshot

    # -- the transaction's own steps ------------------------------------------------------------------
    def _compact(self, snap: Snapshot) -> Snapshot:
        """Compact the tables crowded by many small runs; a compaction that cannot finish (a full disk)
        is a note: the run is published, and the next run tries again."""
        written = self.writer.parts
        touched = {name: len(written.get(name, ())) for name in sorted(self._replaced | written.keys())}
        crowded = needs_compaction(self.store, touched, self.writer.live_small)
        if not crowded:
            return snap
        if self.defer_compaction:
            self.crowded = crowded
            return snap
        try:
            with self._stage("compact"):
                compact(self.store, tables=crowded, keep_snapshots=AUTO_KEEP_SNAPSHOTS, sort=False)
        except StoreError as exc:
            self.compaction_notes.append(f"automatic compaction skipped: {exc}")
            return snap
        self.compaction_notes.append(
            f"compacted {', '.join(crowded)} (more than {AUTO_COMPACT_FILES} files each)"
        )
        return self.store.snapshot() or snap

    def _discard(self) -> None:
        """After a run that published nothing: delete its parts, unless its snapshot is live after all
        (a publish that failed after its rename, e.g. syncing the folder)."""
        self.writer.stop_drops()  # no file of this run is written after the ones deleted here
        if self._published or _published_since(self.store, self.previous):
            return
        drop_run_parts(self.store, self.run_id)


@contextlib.contextmanager
def begin_run(
    store: Store,
    kind: str,
    *,
    specs: Mapping[str, DatasetSpec] | None = None,
    recorder: Recorder | None = None,
    run_id: str | None = None,
    rebuilding: Collection[str] = (),
) -> Iterator[RunTransaction]:
    """The run's transaction (see the module docstring).

    ``kind`` names the run in messages ("extract", "watch", "operations", "tools", ...); ``specs``
    are the datasets the run writes (tables it may create); ``recorder`` (a RunRecorder) is entered
    under the lock, gives the run its id and times the publish and the compaction; without one,
    ``run_id`` or a new id names the run's parts. ``rebuilding`` are damaged tables being rebuilt
    (quarry doctor --repair): their unpublished commits are not rolled back (the log may be what is
    damaged)."""
    with WriterLock(store.path), recorder if recorder is not None else contextlib.nullcontext():
        previous = store.snapshot()
        txn = RunTransaction(
            store,
            kind,
            recorder.run_id if recorder is not None else run_id or uuid.uuid4().hex[:12],
            previous,
            specs or {},
            stage=recorder.stage if recorder is not None else None,
        )
        try:
            with store_errors(store, txn.doing, live=previous.id if previous else None):
                txn.notes += [
                    f"rolled back unpublished commits of '{t}'"
                    for t in rollback_unpublished(store, previous, skip=rebuilding)
                ]
                store.clear_staging()
                yield txn
        finally:
            txn._discard()


def _published_since(store: Store, previous: Snapshot | None) -> bool:
    try:
        now = store.snapshot()
    except Exception:  # the snapshot is unreadable: keep every file
        return True
    return (now.id if now else 0) != (previous.id if previous else 0)


def drop_run_parts(store: Store, run_id: str) -> None:
    """Delete the Parquet parts a run that published nothing wrote (no snapshot reads them)."""
    for part in store.tables_dir.glob(f"*/part-{run_id}-*"):
        with contextlib.suppress(OSError):
            part.unlink()
    store.clear_staging()

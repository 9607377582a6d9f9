"""`quarry watch SOURCE...`: one warm process that turns saved changes into small incremental runs.

The process plans once (catalog, selection, repo names), catches up with one run, then waits on the
file system (watchfiles: inotify/FSEvents, in Rust). A burst of changes (a save of many files, a
branch switch rewriting a thousand) is coalesced: changes are gathered until ``step`` ms pass without
a new one, up to ``debounce`` ms, and changes made while a run works are gathered for the next run.
Each batch is one ordinary incremental run into the same store, under the same writer lock, published
as one atomic snapshot, so readers (`quarry sql`, `quarry serve`) keep working meanwhile. A published
run logs one line: files, tables touched, milliseconds. Ctrl-C or SIGTERM stops the process between
runs or inside one; a run stopped inside publishes nothing (as `quarry extract` interrupted).

A batch does not list the tree again: watchfiles names the paths that changed, so the last listing is
patched (:class:`ListingCache`): a listed file that changed is stat'ed again, one that is gone is
dropped. Anything the patch cannot settle exactly as a full listing would (a path not listed before:
a new file, a folder, an ignored or skipped file; a ``.gitignore``; a snapshot published by another
writer since) makes that batch list the tree whole, as `quarry extract` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from codequarry.errors import QuarryError, printable
from codequarry.parts import SMALL_PART_BYTES
from codequarry.plan import Plan
from codequarry.store import Snapshot, Store
from codequarry.store.store import CHECKPOINT_EVERY

DEBOUNCE_MS = 1600  # the longest a burst is gathered before a run starts
#: a quiet gap this long ends a burst. watchfiles checks every STEP_MS whether the changes it holds
#: grew since the last check, so a single save waits 1 to 2 steps before its run starts (30 ms
#: cost 45 ms of latency on average); changes saved while a run works are gathered for the next
#: run, so a burst split by a longer pause costs one more run, never a lost change
STEP_MS = 10
#: a store whose live parts hold at most this many bytes on disk is read whole into memory once the
#: watch has caught up (Arrow takes about 8 times as much; partcache bounds it anyway)
PRIME_BYTES = 32 * 1024 * 1024
IDLE_MS = 250  # no change for this long: the work batches left for idle time is done (Idle)
#: the watch's compaction merges only parts under this size, into parts of about this size, as a
#: command's automatic compaction does (parts.SMALL_PART_BYTES says why)
COMPACT_TARGET_BYTES = SMALL_PART_BYTES


def _filter(store: Path) -> Any:
    """watchfiles' default filter (VCS folders, __pycache__, editor swap files) plus the store."""
    from watchfiles import DefaultFilter

    class QuarryFilter(DefaultFilter):  # type: ignore[misc]
        def __call__(self, change: Any, path: str) -> bool:
            return (
                not path.startswith(str(store) + "/")
                and path != str(store)
                and super().__call__(change, path)
            )

    return QuarryFilter()


class RootGone(QuarryError):
    """A watched source folder was deleted, renamed or replaced: the watch stops (exit 2)."""


def root_ids(roots: list[str]) -> dict[str, tuple[int, int] | None]:
    """Each watched root's (device, inode), not following a link; None when it is gone."""
    import os

    out: dict[str, tuple[int, int] | None] = {}
    for root in roots:
        try:
            st = os.lstat(root)
        except OSError:
            out[root] = None
            continue
        out[root] = (st.st_dev, st.st_ino)
    return out


def check_roots(start: dict[str, tuple[int, int] | None]) -> None:
    """Stop the watch when a root is no longer the folder it started on: a batch would list a tree
    that is gone (every file deleted from the store), or whatever was put in its place."""
    now = root_ids(list(start))
    for root, ident in start.items():
        if now[root] != ident:
            what = "is gone (deleted or renamed)" if now[root] is None else "was replaced by another file"
            raise RootGone(
                f"the watched source '{root}' {what}: stopped; every change applied before is published"
            )


def _not_applied(
    exc: QuarryError | OSError,
    started: dict[str, tuple[int, int] | None],
    listing: ListingCache,
    log: Callable[[str], None],
) -> None:
    """A batch that failed (a held lock, a file that vanished mid-run): stop if a root itself went
    while the batch listed it, else say why and wait for the next change, which lists the tree whole."""
    check_roots(started)
    listing.listing = None
    why = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else str(exc)
    log(f"{time.strftime('%H:%M:%S')} not applied: {printable(why)}")  # it may quote a file's name


def touched_tables(store: Store, before: dict[str, int]) -> list[str]:
    """Tables whose version differs from ``before`` in the live snapshot (or that appeared or left)."""
    snap = store.snapshot()
    now = {k: v.version for k, v in snap.tables.items()} if snap else {}
    return sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))


def versions(store: Store) -> dict[str, int]:
    snap = store.snapshot()
    return {k: v.version for k, v in snap.tables.items()} if snap else {}


class ListingCache:
    """The last run's listing (sources, repo registry, manifest), patched with the changed paths
    instead of listing the tree again; a full listing whenever the patch could differ from one."""

    def __init__(self) -> None:
        self.snapshot: int | None = None  # the snapshot the listing belongs to
        self.listing: tuple[Any, Any, Any] | None = None
        self.changed: set[str] | None = None  # absolute paths changed since; None: list whole
        self.full = 0  # listings done whole (for tests and the log)
        #: the tasks of the last listing, the files they were made from, and their module names;
        #: a patched listing that only re-stat'ed files makes only those tasks again
        self._tasks: tuple[list[Any], list[Any], dict[Any, Any]] | None = None
        self._restated: tuple[list[Any], set[int]] | None = None  # (files patched, indexes re-stat'ed)
        #: (the listing's files list, (root, path) -> its index), kept while no file leaves the list
        self._where: tuple[list[Any], dict[tuple[str, str], int]] | None = None

    def scan(
        self, store: Store | None, snap: Snapshot | None, sources: Any, *, exclude: Any, never: Any
    ) -> tuple[Any, Any, Any]:
        from codequarry.repos import scan_sources

        patched = None
        self._restated = None
        if (
            self.listing is not None
            and self.changed is not None
            and snap is not None
            and snap.id == self.snapshot
        ):
            files = self.listing[2].files
            where = self._where[1] if self._where is not None and self._where[0] is files else None
            if where is None:
                where = {(f.root, f.path): i for i, f in enumerate(files)}
            got = _patch(self.listing, self.changed, where)
            if got is not None:
                patched, restated, gone = got
                if not gone:  # the same files at the same places: the index holds
                    self._restated = (files, restated)
                    self._where = (patched[2].files, where)
        if patched is None:
            self.full += 1
            patched = scan_sources(store, snap, sources, exclude=exclude, never=never)
        self.listing = patched
        self.changed = None
        return patched

    def tasks(self, sources: list[Any], manifest: Any) -> tuple[list[Any], set[str]]:
        """The run's file tasks (worklist.TasksFn): those of the last listing, with the files the
        patch re-stat'ed made again, when the patch kept every file (a gone file may change other
        files' module names) and no source is a single file; else all of them, as a run makes them."""
        from codequarry.scan import module_names
        from codequarry.worklist import file_task, source_tasks

        last, restated = self._tasks, self._restated
        self._tasks = self._restated = None
        if any(s.scope is not None for s in sources):
            return source_tasks(sources, manifest)
        if last is not None and restated is not None and restated[0] is last[1]:
            tasks, _files, modules = last
            tasks = list(tasks)
            for i in restated[1]:
                tasks[i] = file_task(i, manifest.files[i], modules)
        else:
            modules = module_names(manifest.files)
            tasks = [file_task(i, f, modules) for i, f in enumerate(manifest.files)]
        self._tasks = (tasks, manifest.files, modules)
        return list(tasks), set()

    def done(self, snapshot: int) -> None:
        """The run published (or kept) ``snapshot``: the listing is that snapshot's."""
        self.snapshot = snapshot


def _patch(
    listing: tuple[Any, Any, Any], changed: set[str], where: dict[tuple[str, str], int]
) -> tuple[tuple[Any, Any, Any], set[int], bool] | None:
    """The listing with each changed path stat'ed again (gone: dropped), the indexes of the files
    re-stat'ed, and whether any is gone; None when some path is not a file the listing holds, or
    could change what is listed (a .gitignore). ``where``: (root, path) -> index of the listing's
    files."""
    import dataclasses
    import os

    from codequarry.corpus_io import escape_name, mtime_ns
    from codequarry.scan import Manifest

    sources, reg, manifest = listing
    files = list(manifest.files)
    gone: set[int] = set()
    restated: set[int] = set()
    for path in changed:
        if os.path.basename(path) == ".gitignore":
            return None
        hit = None
        for src in sources:
            root = src.root.rstrip("/") + "/"
            if path.startswith(root):
                hit = where.get((src.root, escape_name(path[len(root) :])))
                break
        if hit is None:
            return None
        try:
            st = os.stat(path)
        except FileNotFoundError:
            gone.add(hit)
            continue
        except OSError:
            return None
        if not _plain_file(path, st):
            return None
        files[hit] = dataclasses.replace(files[hit], size=st.st_size, mtime_ns=mtime_ns(st))
        restated.add(hit)
    out = Manifest(
        files=[f for i, f in enumerate(files) if i not in gone],
        skipped=list(manifest.skipped),
        listing=dict(manifest.listing),
        notes=list(manifest.notes),
    )
    return (sources, reg, out), restated - gone, bool(gone)


def _plain_file(path: str, st: Any) -> bool:
    """A regular file that is not a symlink (a listed symlink is checked again by a full listing)."""
    import os
    import stat

    return stat.S_ISREG(st.st_mode) and not os.path.islink(path)


class Idle:
    """What batches leave for the watch's quiet moments: the warm handles read their own commits
    (store/warm.py), logs grown long get a checkpoint, tables crowded with small parts are
    compacted. Done one unit per quiet moment (``step``), so that a change made meanwhile waits for
    one unit at most, never for all of it."""

    def __init__(self) -> None:
        self.stale = False  # handles to bring forward
        self.tables: set[str] = set()  # touched since: their logs may be due a checkpoint
        self.crowded: set[str] = set()  # to compact

    @property
    def due(self) -> bool:
        return bool(self.stale or self.tables or self.crowded)

    def run(self, plan: Plan, log: Callable[[str], None], listing: ListingCache | None = None) -> None:
        """Do it all now."""
        while self.due:
            self.step(plan, log, listing)

    def step(self, plan: Plan, log: Callable[[str], None], listing: ListingCache | None = None) -> None:
        """One unit: the handles' catch-up, one table's checkpoint, or the compaction (which
        publishes a snapshot of the same rows: the listing still holds)."""
        from codequarry.errors import StoreError
        from codequarry.store import warm
        from codequarry.store.maintenance import AUTO_KEEP_SNAPSHOTS, compact

        if self.stale:
            self.stale = False
            warm.catch_up()
            return
        store = Store.create(plan.store)
        while self.tables:
            name = min(self.tables)
            self.tables.discard(name)
            if checkpoint_logs(store, [name]):
                return
        crowded, self.crowded = sorted(self.crowded), set()
        if not crowded:
            return
        snap = store.snapshot()
        try:
            done = compact(
                store,
                tables=crowded,
                keep_snapshots=AUTO_KEEP_SNAPSHOTS,
                sort=False,
                target_size=COMPACT_TARGET_BYTES,
            )
            if listing is not None and snap is not None and listing.snapshot == snap.id:
                listing.done(done.snapshot)
        except StoreError as exc:  # a held lock, a full disk: a later batch crowds them again
            log(f"{time.strftime('%H:%M:%S')} compaction skipped: {exc}")
            return
        log(f"{time.strftime('%H:%M:%S')} compacted {', '.join(crowded)}")


def apply(
    plan: Plan,
    log: Callable[[str], None],
    changed: int | None,
    listing: ListingCache | None = None,
    idle: Idle | None = None,
) -> Any:
    """One incremental run; logs one line when it published. Returns the summary. With ``idle``,
    the checkpoints and compaction the run calls for are left to it; else they are done now."""
    from codequarry.run import extract

    store = Store.create(plan.store)
    before = versions(store)
    started = time.perf_counter()
    crowded: list[str] = []
    summary = extract(
        plan,
        kind="watch",
        scan=listing.scan if listing is not None else None,
        tasks=listing.tasks if listing is not None else None,
        after=lambda _summary, txn, _recorder: crowded.extend(txn.crowded),
    )
    if listing is not None:
        listing.done(summary.snapshot)
    ms = (time.perf_counter() - started) * 1000
    if summary.published:
        tables = touched_tables(store, before)
        later = idle if idle is not None else Idle()  # no idle time: everything now
        later.stale = True
        later.tables |= set(tables)
        later.crowded |= set(crowded)
        if idle is None:
            later.run(plan, log, listing)
        seen = f"{changed} change(s) seen; " if changed is not None else ""
        log(
            f"{time.strftime('%H:%M:%S')} applied {summary.changed} file(s) ({summary.added} added, "
            f"{summary.modified} modified, {summary.deleted} deleted); {seen}tables: "
            f"{', '.join(tables) or '-'}; {ms:.0f} ms; snapshot {summary.snapshot}"
        )
    return summary


def prime(plan: Plan) -> None:
    """Read what the first batch would otherwise read, once the store is up to date: every table's
    log and the keys of its parts (store/warm.py), the rows of the operations' inputs (they
    read them whole: partcache), and build the states operations keep between runs (ctx.kept)."""
    from codequarry import partcache
    from codequarry.store import warm

    store = Store.create(plan.store)
    snap = store.snapshot()
    if snap is None:
        return
    inputs = {i for op in plan.graph.operations for i in op.inputs}
    sizes = {}
    for name in sorted(snap.tables):
        try:
            got = warm.prime(store.table_path(name))
        except QuarryError:  # a damaged table: the batch that needs it says so
            continue
        sizes[name] = got
    # a small store is kept whole (a batch then rewrites parts from memory), else what operations read
    whole = sum(sizes.values()) <= PRIME_BYTES
    for name, state in sorted(snap.tables.items()):
        try:
            if name in sizes and (whole or name in inputs):
                partcache.table_at(store, name, state.version)
        except QuarryError:  # a damaged table: the batch that needs it says so
            continue
    from codequarry.operations import prime_kept

    prime_kept(store, plan.graph, snap.tables, snap.run.get("operations", {}))  # their kept states


def checkpoint_logs(store: Store, tables: list[str], every: int = CHECKPOINT_EVERY) -> list[str]:
    """Write a Delta checkpoint for each of ``tables`` whose log holds ``every`` commits or more past
    its last one, under the writer lock (skipped when another writer holds it: the next batch
    tries again). A checkpoint adds a summary of the log; no row and no version changes. Returns
    the tables checkpointed."""
    import json

    from codequarry.errors import StoreLockedError
    from codequarry.store import metafile
    from codequarry.store.lock import WriterLock

    snap = store.snapshot()
    if snap is None:
        return []
    due = []
    for name in tables:
        state = snap.tables.get(name)
        if state is None:
            continue
        try:
            # as the store's own files: a FIFO or a link to /dev/zero there is no checkpoint
            last = json.loads(metafile.read_text(store.table_path(name) / "_delta_log" / "_last_checkpoint"))
            since = state.version - int(last["version"])
        except (OSError, ValueError, KeyError, TypeError):
            since = state.version + 1
        if since >= every:
            due.append(name)
    if not due:
        return []
    lock = WriterLock(store.path)
    try:
        lock.acquire()
    except StoreLockedError:
        return []
    try:
        now = store.snapshot()
        if now is None or now.id != snap.id:  # another writer published meanwhile: next time
            return []
        for name in due:
            store.open_delta(name).create_checkpoint()
    except (
        Exception
    ):  # deltalake's own errors too: a checkpoint is an optimisation, its failure costs speed only
        return []
    finally:
        lock.release()
    return due


def watch(
    plan: Plan,
    *,
    log: Callable[[str], None],
    debounce_ms: int = DEBOUNCE_MS,
    step_ms: int = STEP_MS,
    stop: Any = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Catch up once, then apply each burst of changes under the plan's sources until ``stop`` (a
    threading.Event) is set or KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it by the CLI).
    The plan is resolved once (extractors loaded, DAG built) and executed by every run."""
    from watchfiles import watch as fs_watch

    from codequarry import partcache

    roots = sorted({s.root for s in plan.sources})
    started = root_ids(roots)
    partcache.enable()  # the operations' inputs: each batch reads only the parts added since the last
    listing = ListingCache()
    idle = Idle()
    apply(plan, log, None, listing, idle)
    idle.run(plan, log, listing)
    prime(plan)
    watching = False
    for changes in fs_watch(
        *roots,
        watch_filter=_filter(Path(plan.store)),
        debounce=debounce_ms,
        step=step_ms,
        stop_event=stop,
        raise_interrupt=True,
        rust_timeout=IDLE_MS,
        yield_on_timeout=True,
    ):
        if not watching:
            # the watcher is registered once it yields: a change saved between the catch-up and
            # now raised no event, so one run lists the tree whole (it publishes only if something
            # changed); only then is the watch announced
            watching = True
            listing.changed = None
            check_roots(started)
            try:
                apply(plan, log, None, listing, idle)
            except (QuarryError, OSError) as exc:
                _not_applied(exc, started, listing, log)
            log(f"{time.strftime('%H:%M:%S')} watching {', '.join(roots)} -> {plan.store} (Ctrl-C to stop)")
            if ready is not None:
                ready()
            continue
        if not changes:  # IDLE_MS without a change
            if idle.due:
                try:
                    idle.step(plan, log, listing)
                except QuarryError as exc:
                    log(f"{time.strftime('%H:%M:%S')} maintenance skipped: {exc}")
            continue
        check_roots(started)
        listing.changed = {path for _change, path in changes}
        try:
            apply(plan, log, len(changes), listing, idle)
        except (QuarryError, OSError) as exc:
            _not_applied(exc, started, listing, log)


def register(app: Any) -> None:
    app.command("watch")(watch_cmd)


def watch_cmd(
    sources: Annotated[list[Path], typer.Argument(help="Folders or files to watch.")],
    store: Annotated[
        Path | None, typer.Option("--store", "-s", help="Store folder (default: SOURCE/.quarry).")
    ] = None,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Run only these extractors or groups.")
    ] = None,
    deselect: Annotated[
        list[str] | None, typer.Option("--skip", help="Leave out these extractors or groups.")
    ] = None,
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="Import extractors from this module.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Glob of paths to skip.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Worker processes (1: in this warm process).")
    ] = 1,
    repo: Annotated[str | None, typer.Option("--repo", help="Store the (one) source as this repo.")] = None,
    debounce: Annotated[
        int, typer.Option("--debounce", help="Longest burst gathered into one run (ms).")
    ] = DEBOUNCE_MS,
) -> None:
    """Apply saved changes under SOURCES to the store as incremental runs until Ctrl-C / SIGTERM."""
    from codequarry.cli_common import err, interrupt_code, out
    from codequarry.plan import make_plan

    plan = make_plan(
        sources,
        store=store,
        workers=workers,
        exclude=exclude or (),
        plugins=plugin or (),
        select=select or (),
        deselect=deselect or (),
        repo=repo,
    )
    try:
        watch(plan, log=lambda line: out.print(line, markup=False), debounce_ms=debounce)
    except KeyboardInterrupt:
        err.print("stopped: every applied change is published; a run cut short published nothing")
        raise typer.Exit(interrupt_code()) from None

"""One extract run: scan -> plan the work -> execute on an engine -> write -> publish a snapshot."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from codequarry.corpus_io import escape_name
from codequarry.datasets import Error
from codequarry.engine.base import Engine, make_chunks
from codequarry.engine.limits import Limits
from codequarry.engine.local import LocalEngine
from codequarry.engine.worker import WorkerConfig
from codequarry.errors import StoreError, UsageError
from codequarry.graph import Graph
from codequarry.incremental import WorkPlan, previous_outputs, previous_state
from codequarry.operations import drop_unselected, run_operations
from codequarry.optwins import Known
from codequarry.plan import ExtractPlan, Plan, as_plan, format_size, worker_memory
from codequarry.progress import ProgressFile
from codequarry.registry import Catalog
from codequarry.report.collect import RunRecorder
from codequarry.repos import scan_sources
from codequarry.reuse import ReusePlan, WriteClock, copy_rows, plan_reuse
from codequarry.scan import Manifest
from codequarry.schema import DatasetSpec
from codequarry.store import Snapshot, Store, TableState
from codequarry.store.transaction import RunTransaction, begin_run
from codequarry.store.writer import RunWriter, schema_fingerprint
from codequarry.worklist import TasksFn, worklist

SKIPPED_LISTED = 100  # scan skips named one by one in the summary (all are counted)
ProgressFn = Callable[[int, int, int, int], None]  # files done, bytes done, total files, total bytes
#: what lists a run's files: ``repos.scan_sources`` by default; `quarry watch` passes one that
#: patches its last listing with the paths watchfiles reported (see watch.ListingCache)
ScanFn = Callable[..., Any]


@dataclass
class RunSummary:
    store: str
    snapshot: int
    sources: dict[str, str]  # repo -> root
    files_scanned: int
    files_parsed: int
    skipped: dict[str, int]
    rows: dict[str, int]  # rows this run wrote, per table
    errors: int  # error rows this run wrote
    seconds: float
    workers: int
    changed: int = 0  # added + modified + deleted files
    added: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    touched: int = 0  # unchanged files whose mtime moved (hashed, not extracted)
    rerun: dict[str, list[str]] = field(default_factory=dict)  # repo -> extractors re-run on every file
    dropped: dict[str, list[str]] = field(default_factory=dict)  # repo -> extractors no longer selected
    published: bool = True
    operations: dict[str, Any] = field(default_factory=dict)  # name -> ran, rows, seconds, stats
    listing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: error rows of this run's sources in the live snapshot after the run: this run's, and those of
    #: unchanged files that earlier runs wrote and that still stand (what --strict judges)
    errors_stored: int = 0
    skipped_files: list[list[str]] = field(
        default_factory=list
    )  # [repo, path, reason] of the first scan skips
    run_id: str = ""  # the run's id in the store's `runs` table and report (`quarry report RUN`)
    reused: int = 0  # new or changed files whose rows were copied from identical content (reuse.py)
    #: files only the manifest reads: their ``files`` rows were made by the driver's hashing pass, no
    #: worker saw them (manifest_rows.py)
    manifest_only: int = 0
    #: each worker's memory limit, why, and what held it ("6.0 GB a worker (default: ...), held by
    #: cgroup-v1"), or "none (...)"
    worker_memory: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def make_engine(plan: Plan | ExtractPlan) -> Engine:
    """The engine the plan names, with its per-file limits (not started)."""
    plan = plan.request if isinstance(plan, Plan) else plan
    memory = worker_memory(plan)
    limits = Limits(file_timeout=plan.file_timeout, max_memory=memory.limit, memory_default=memory.default)
    if plan.engine == "ray":
        from codequarry.engine.ray import RayEngine

        return RayEngine(workers=plan.workers, limits=limits, address=plan.address)
    return LocalEngine(plan.workers, limits)


def extract(
    plan: Plan | ExtractPlan,
    *,
    engine: Engine | None = None,
    progress: ProgressFn | None = None,
    rebuild: frozenset[str] = frozenset(),
    catalog: Catalog | None = None,
    kind: str = "extract",
    after: Callable[[RunSummary, RunTransaction, RunRecorder], None] | None = None,
    scan: ScanFn | None = None,
    tasks: TasksFn | None = None,
) -> RunSummary:
    """Run the plan to completion and publish one snapshot; on any exception nothing is published.

    ``kind`` names the run in the store's `runs` table and progress file ("watch" for a batch of
    `quarry watch`).

    ``plan`` is resolved (``make_plan``) and executed as it is: neither the catalog nor the graph is
    built again. A bare request (an ``ExtractPlan``, such as a tools recipe holds) is resolved first,
    from ``catalog`` when given.

    ``rebuild`` names damaged tables to rebuild from scratch (``quarry doctor --repair``): each is
    moved aside and recreated empty, and every extractor that writes it runs again on every file.

    ``after`` is called with the summary, the transaction and the recorder once the run is done,
    still under the writer lock (the CLI writes its no-op fast-path stamp there, see fastpath.py).

    The objects the calling process holds before the run are left out of the run's garbage
    collections (``_heap_frozen``)."""
    with _heap_frozen():
        return _extract(plan, engine, progress, rebuild, catalog, kind, after, scan, tasks)


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """``gc.freeze`` for the run, ``gc.unfreeze`` after it: a collection of the oldest generation
    during the run then walks only the objects made since it began, not the caller's (a process that
    ran a cold extract, or `quarry watch` with its warm state, holds some 600,000: one such
    collection cost 55-85 ms of CPU of a one-file run on the standard library). Nothing is kept
    longer than until the run ends: the caller's objects go back to the collector then. Left as it
    is when the collector is off or something is frozen already (the CLI freezes its start-up,
    cli_lean.py)."""
    import gc

    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _extract(
    plan: Plan | ExtractPlan,
    engine: Engine | None,
    progress: ProgressFn | None,
    rebuild: frozenset[str],
    catalog: Catalog | None,
    kind: str,
    after: Callable[[RunSummary, RunTransaction, RunRecorder], None] | None,
    scan: ScanFn | None,
    tasks: TasksFn | None,
) -> RunSummary:
    started = time.perf_counter()
    resolved = as_plan(plan, catalog)
    plan = resolved.request
    specs: dict[str, DatasetSpec] = {**resolved.file_specs, "errors": Error}
    _check_store_path(str(plan.store))
    store = Store.create(plan.store)
    engine = engine or make_engine(plan)
    try:
        # workers are forked before the lock is taken, so that none inherits it: a lock must die
        # with the run that took it
        getattr(engine, "start", lambda: None)()
        # the parent reads whole tables in threads (reuse copies, operations), and mimalloc keeps what
        # they free (a 20x run peaked at ~2x the Arrow bytes alive); the system allocator gives large
        # buffers back at once. This sets pyarrow's Python-level default only (API callers); the C++
        # default that Parquet readers and kernels use is set by cli.main before pyarrow is imported
        # (docs/scale.md)
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
        return_freed_memory()
        recorder = RunRecorder(kind, store.path, engine=plan.engine, workers=plan.workers)
        # an extract's row waits with the fast path's pending rows, which every reader of `runs`
        # reads with the table, and is appended with them (report/runs.py save): a Delta open and
        # commit of the `runs` table less for most runs, API callers' as the command's
        recorder.defer_row = kind == "extract"
        with begin_run(store, kind, specs=specs, recorder=recorder, rebuilding=rebuild) as txn:
            tracker = ProgressFile(store.path, kind=kind, run_id=txn.run_id)
            try:
                summary = _execute(
                    plan,
                    txn,
                    engine,
                    resolved.graph,
                    specs,
                    _tracking(tracker, progress),
                    started,
                    rebuild,
                    recorder,
                    resolved.catalog.extractors,
                    scan,
                    tasks,
                )
            except BaseException as exc:
                tracker.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
                raise
            tracker.finish("published" if summary.published else "up-to-date", snapshot=summary.snapshot)
            recorder.finish_extract(summary)
            if after is not None:
                after(summary, txn, recorder)
        if recorder.save_error:
            summary.notes.append(recorder.save_error)
        return summary
    finally:
        getattr(engine, "close", lambda: None)()


#: glibc's mallopt parameters (malloc.h) and the threshold the run's parent fixes for both
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
PARENT_MMAP_BYTES = 128 << 10


def return_freed_memory() -> None:
    """Make glibc give the process's big freed blocks back to the system at once (called by the run's
    parent once its workers are forked; they keep the default).

    By default glibc serves a block over 128 KB from its own mapping, but once such a block is freed
    it raises that threshold to the block's size (up to 32 MB) and keeps up to twice as much free at
    the top of each arena. The parent's big blocks are short-lived: file contents read by the
    hashing threads (each thread its own arena), Arrow buffers of the reuse copy on the system
    allocator. After a 10 MB file the threshold is 10 MB, and each arena kept its freed blocks: at
    20x the standard library the plan stage ended 27 MB higher with the moving threshold than with
    this fixed one (docs/scale.md). No effect where the C library has no ``mallopt``."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, PARENT_MMAP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, PARENT_MMAP_BYTES)


def _tracking(tracker: ProgressFile, progress: ProgressFn | None) -> ProgressFn:
    """The caller's progress callback, plus the store's progress file that `quarry serve` follows."""

    def report(files: int, nbytes: int, total_files: int, total_bytes: int) -> None:
        tracker.update(files, total_files, nbytes, total_bytes, stage="extract")
        if progress is not None:
            progress(files, nbytes, total_files, total_bytes)

    return report


def _check_store_path(path: str) -> None:
    """Delta Lake addresses tables by UTF-8 URIs: a store under a name that is not UTF-8 cannot work."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"the store path '{escape_name(path)}' is not valid UTF-8, which Delta Lake needs; "
            "give another with --store DIR"
        ) from None


@dataclass
class _Scanned:
    """The run's scan and worklist: the plan with its sources renamed, the repo registry after the
    run, the manifest, the work and the snapshot it is compared with."""

    plan: ExtractPlan
    registry: dict[str, dict[str, Any]]
    manifest: Manifest
    work: WorkPlan
    previous: Snapshot | None
    reuse: ReusePlan = field(default_factory=ReusePlan)


def _execute(
    plan: ExtractPlan,
    txn: RunTransaction,
    engine: Engine,
    graph: Graph,
    specs: dict[str, DatasetSpec],
    progress: ProgressFn | None,
    started: float,
    rebuild: frozenset[str],
    recorder: RunRecorder,
    catalog: dict[str, Any] | None = None,
    scan: ScanFn | None = None,
    tasks: TasksFn | None = None,
) -> RunSummary:
    """Scan, plan, extract, commit, run the operations and publish, inside the run's transaction."""
    scanned = _scan(plan, txn, graph, rebuild, recorder, catalog, scan, tasks)
    plan, work, previous = scanned.plan, scanned.work, scanned.previous
    pause("execute")  # tests change the corpus here, between the scan and the reads
    if plan.workers > 1:  # the stored rows that go, made while worker processes extract the files
        txn.start_drops(work.replace, base=previous)
    counts = _extract_files(plan, txn, engine, graph, work, progress, recorder)
    counts.update(_reuse_rows(scanned, txn, engine, graph, progress, recorder))
    summary = _summary(scanned, txn, counts)
    summary.worker_memory = describe_memory(plan, engine)
    with recorder.stage("commit"):
        states = txn.commit(work.replace, base=previous, pause=pause)
    prev_ops = previous.run.get("operations", {}) if previous else {}
    if rebuild:  # an operation whose output is rebuilt derives it again
        redo = {op.name for op in graph.operations for o in op.outputs if getattr(o, "name", o) in rebuild}
        prev_ops = {k: v for k, v in prev_ops.items() if k not in redo}
    with recorder.stage("operations"):
        op_state, summary.operations = run_operations(
            txn.store,
            graph,
            states,
            prev_ops,
            workers=plan.workers,
            sources={src.repo: src.root for src in plan.sources},
            offload=getattr(engine, "offload", lambda: None)(),  # idle workers (oplanes.py)
            twins=_known_twins(scanned, txn, counts),
        )
    getattr(engine, "release", lambda: None)()  # no worker is needed after the operations
    # the errors rows the operations wrote are this run's too (--strict, the report's status and counts)
    summary.errors += sum(int(info.get("errors", 0)) for info in summary.operations.values())
    gone = drop_unselected(states, prev_ops, graph)
    if gone:
        summary.notes.append(f"dropped {', '.join(gone)}: the operations that derive them are not selected")
    summary.notes += [
        f"{k}: {v}" for info in summary.operations.values() for k, v in info.get("stats", {}).items()
    ]
    unchanged = (
        previous is not None
        and states == previous.tables
        and work.state == previous_state(previous)
        and op_state == prev_ops
        and work.outputs == previous_outputs(previous)
        and scanned.registry == previous.run.get("repos")
    )
    summary.seconds = round(time.perf_counter() - started, 3)
    if unchanged:
        summary.published = False
    else:
        _publish(scanned, txn, summary, states, op_state, specs)
    summary.errors_stored = stored_errors(txn.store, plan.repos)
    return summary


def _scan(
    plan: ExtractPlan,
    txn: RunTransaction,
    graph: Graph,
    rebuild: frozenset[str],
    recorder: RunRecorder,
    catalog: dict[str, Any] | None,
    scan: ScanFn | None = None,
    tasks: TasksFn | None = None,
) -> _Scanned:
    """Scan the sources, prepare the run's tables and decide the work against the last snapshot."""
    store, previous = txn.store, txn.previous
    pause("scan")
    txn.extras["scan_ns"] = time.time_ns()  # for the fast path's racy-file rule (fastpath.py)
    with recorder.stage("scan"):
        sources, reg, manifest = (scan or scan_sources)(
            store, previous, plan.sources, exclude=plan.exclude, never=[store.path]
        )
    recorder.add_languages(manifest)
    txn.extras.update(manifest=manifest, sources=sources)
    plan = plan.model_copy(update={"sources": tuple(sources)})
    forced, previous = _prepare(txn.writer, previous, graph.extractors, rebuild)
    with recorder.stage("plan"):
        work = worklist(
            store, previous, sources, manifest, graph.extractors, forced=forced, known=catalog, tasks=tasks
        )
        reuse = plan_reuse(store, previous, work, graph.extractors, max_file_size=plan.max_file_size)
    return _Scanned(plan=plan, registry=reg, manifest=manifest, work=work, previous=previous, reuse=reuse)


def _reuse_rows(
    scanned: _Scanned,
    txn: RunTransaction,
    engine: Engine,
    graph: Graph,
    progress: ProgressFn | None,
    recorder: RunRecorder,
) -> Counter[str]:
    """Copy the rows of files whose content was extracted already (reuse.py); the few whose
    leader changed under the run are extracted after all."""
    if not scanned.reuse:
        return Counter()
    clock = WriteClock()
    with recorder.stage("reuse"):
        tables = txn.writer.specs
        redo = copy_rows(
            txn.store, scanned.previous, scanned.reuse, tables, txn.writer.parts, txn.run_id, txn.add, clock
        )
    # the copied rows' write, within "reuse": what the pay-once target allows on top (bench/reuse.py)
    recorder.stages["reuse_write"] = clock.wall
    recorder.stages["reuse_write_cpu"] = clock.cpu
    counts = Counter({"reused": len(scanned.reuse.followers) - len(redo)})
    big, again = scanned.plan.max_file_size, {id(t) for t in redo}
    if big:  # a copy of a file over --max-file-size is skipped as its source was (its errors row copied)
        too_large = sum(f.task.size > big and id(f.task) not in again for f in scanned.reuse.followers)
        if too_large:
            counts["skipped:too_large"] = too_large
    if scanned.reuse.manifest is not None:
        counts["manifest_only"] = scanned.reuse.manifest.num_rows
    if scanned.reuse.followers:  # (a run may only have the manifest rows of files no extractor parses)
        txn.notes.append(
            f"{counts['reused']} file(s) with content already extracted: rows copied, not parsed"
        )
    if redo:
        work = dataclasses.replace(scanned.work, tasks=redo)
        counts.update(_extract_files(scanned.plan, txn, engine, graph, work, progress, recorder))
    return counts


def _known_twins(scanned: _Scanned, txn: RunTransaction, counts: Counter[str]) -> Known | None:
    """The repos of a first run known to be twins in its file tables (ReusePlan.twins), unless a
    follower was extracted after all (its leader changed: its rows are not its key's)."""
    groups = scanned.reuse.twins
    if groups is None or counts.get("reused", 0) != len(scanned.reuse.followers):
        return None
    return Known(groups, frozenset(txn.writer.specs) - {"files", "errors"})


def _extract_files(
    plan: ExtractPlan,
    txn: RunTransaction,
    engine: Engine,
    graph: Graph,
    work: WorkPlan,
    progress: ProgressFn | None,
    recorder: RunRecorder,
) -> Counter[str]:
    """Run the file extractors on the worklist in chunks, adding each part to the transaction;
    returns the workers' counts (parsed, skipped:REASON, ...)."""
    store = txn.store
    config = WorkerConfig(
        extractors=tuple((ex.module, ex.attribute) for ex in graph.extractors),
        max_file_size=plan.max_file_size,
        tables_dir=str(store.tables_dir),
        run_id=txn.run_id,
        file_timeout=plan.file_timeout,
        include_generated=plan.include_generated,
    )
    counts: Counter[str] = Counter()
    total_bytes = sum(t.size for t in work.tasks)
    done_files = done_bytes = 0
    if progress is not None:
        progress(0, 0, len(work.tasks), total_bytes)
    with recorder.stage("extract"):
        for result in engine.map(config, make_chunks(work.tasks, workers=plan.workers)):
            for part in result.parts:
                txn.add(part)
            counts.update(result.counts)
            recorder.add_chunk(result)
            done_files += result.files
            done_bytes += result.bytes
            if progress is not None:
                progress(done_files, done_bytes, len(work.tasks), total_bytes)
    recorder.add_error_parts(store.table_path("errors"), txn.writer.parts.get("errors", []))
    return counts


def describe_memory(plan: ExtractPlan, engine: Engine) -> str:
    """The run's worker memory limit for its summary: how much, why, and held by what (the
    mechanism the engine used: cgroup-v1, cgroup-v2, rlimit_as or sampling, see supervisor.py)."""
    memory = worker_memory(plan)
    limits = getattr(engine, "limits", None)
    limit = limits.max_memory if isinstance(limits, Limits) else memory.limit
    if not limit or (plan.engine == "local" and plan.workers <= 1):
        return f"none ({memory.origin})"
    mechanism = getattr(engine, "memory_mechanism", lambda: "")()
    return f"{format_size(limit)} a worker ({memory.origin})" + (
        f", held by {mechanism}" if mechanism else ""
    )


def _summary(scanned: _Scanned, txn: RunTransaction, counts: Counter[str]) -> RunSummary:
    """The run's summary after extraction (operations, timing and snapshot are filled in later)."""
    plan, manifest, work, writer = scanned.plan, scanned.manifest, scanned.work, txn.writer
    skipped: Counter[str] = Counter()
    for k, v in counts.items():
        if k.startswith("skipped:"):
            skipped[k.split(":", 1)[1]] += v
    for _repo, _path, reason in manifest.skipped:
        skipped[reason.split(":")[0]] += 1
    touched = (
        [f"{work.touched} file(s) touched without a change of content: not extracted, their mtime updated"]
        if work.touched
        else []
    )
    return RunSummary(
        store=str(txn.store.path),
        snapshot=scanned.previous.id if scanned.previous else 0,
        sources={s.repo: escape_name(s.root) for s in plan.sources},  # printable, reversible
        files_scanned=len(manifest.files),
        files_parsed=counts.get("parsed", 0),
        skipped=dict(sorted(skipped.items())),
        rows=dict(sorted(writer.rows.items())),
        errors=writer.rows.get("errors", 0),
        seconds=0.0,
        workers=plan.workers,
        changed=work.changed + work.added + work.deleted,
        added=work.added,
        modified=work.changed,
        deleted=work.deleted,
        unchanged=work.unchanged,
        touched=work.touched,
        rerun=work.rerun,
        dropped=work.dropped,
        listing=manifest.listing,
        notes=list(plan.warnings) + list(plan.notes) + txn.notes + manifest.notes + writer.notes + touched,
        skipped_files=[list(s) for s in manifest.skipped[:SKIPPED_LISTED]],
        run_id=txn.run_id,
        reused=counts.get("reused", 0),
        manifest_only=counts.get("manifest_only", 0),
    )


def _publish(
    scanned: _Scanned,
    txn: RunTransaction,
    summary: RunSummary,
    states: dict[str, TableState],
    op_state: dict[str, Any],
    specs: dict[str, DatasetSpec],
) -> None:
    """Publish the run's snapshot, recording what the next run compares with."""
    pause("publish")
    run_info = {k: v for k, v in summary.to_json().items() if k not in ("snapshot", "published")}
    schemas = {name: schema_fingerprint(spec.schema) for name, spec in specs.items()}
    snap = txn.publish(
        states,
        run={
            **run_info,
            "state": scanned.work.state,
            "outputs": scanned.work.outputs,
            "repos": scanned.registry,
            "operations": op_state,
            "schemas": schemas,
            "plan": _recipe(scanned.plan),
            "scan_ns": txn.extras.get("scan_ns"),  # racy files are hashed by the next run (incremental)
        },
    )
    summary.snapshot = snap.id
    summary.notes += txn.compaction_notes


def stored_errors(store: Store, repos: list[str]) -> int:
    """Rows of the live snapshot's ``errors`` table that belong to the sources ``repos``."""
    snap = store.snapshot()
    state = snap.tables.get("errors") if snap is not None else None
    if state is None or not state.rows or not repos:
        return 0
    from codequarry.store.store import read_columns

    data = read_columns(store, "errors", state.version, ["repo"], list(repos))
    return 0 if data is None else data.num_rows


def _prepare(
    writer: RunWriter, previous: Snapshot | None, extractors: list[Any], rebuild: frozenset[str]
) -> tuple[set[str], Snapshot | None]:
    """Create or rebuild the run's tables; returns the extractors that must run on every file, and
    the previous snapshot without the tables being rebuilt (nothing may be read from those)."""
    known = previous.run.get("schemas", {}) if previous is not None else {}
    # a fingerprint counts only if the table is still in the snapshot
    rebuilt = writer.prepare(
        {k: v for k, v in known.items() if previous is not None and k in previous.tables},
        live=previous.tables if previous else (),
        fresh=rebuild,
    )
    forced = {ex.name for ex in extractors if set(ex.output_names) & rebuilt}
    if rebuilt & {"errors", "files", "modules"}:
        forced = {ex.name for ex in extractors}  # every extractor writes errors; files drive the diff
    if previous is not None and rebuild:
        previous = dataclasses.replace(
            previous, tables={k: v for k, v in previous.tables.items() if k not in rebuild}
        )
    return forced, previous


def _recipe(plan: ExtractPlan) -> dict[str, Any]:
    """What 'quarry doctor --repair' needs to extract a damaged table again the same way."""
    return {
        "sources": [{"repo": r.repo, "root": r.root, "only": r.only} for r in plan.sources],
        "exclude": list(plan.exclude),
        "plugins": list(plan.plugins),
        "max_file_size": plan.max_file_size,
    }


def pause(point: str) -> None:
    """Test hook: with QUARRY_PAUSE_AT=point (or table:NAME), stop here until the file
    QUARRY_PAUSE_FILE disappears, after writing it; tests SIGKILL the run at that moment."""
    wanted = os.environ.get("QUARRY_PAUSE_AT")
    if not wanted or wanted != point:
        return
    flag = os.environ.get("QUARRY_PAUSE_FILE", "")
    if not flag:
        return
    with open(flag, "w") as fh:
        fh.write(str(os.getpid()))
    while os.path.exists(flag):
        time.sleep(0.02)


def run_operations_step(plan: Plan | ExtractPlan, names: list[str]) -> dict[str, Any]:
    """Run some of the plan's operations over the store's published snapshot and publish the result
    as one new snapshot (the other tables and the file state are kept as they are)."""
    plan = as_plan(plan)
    store = Store.open(plan.store)
    recorder = RunRecorder("operations", store.path, workers=plan.workers)
    with begin_run(store, "operations", recorder=recorder) as txn:
        previous = txn.previous
        if previous is None:
            raise StoreError(f"store '{store.path}' has no snapshot: extract the files first")
        states = dict(previous.tables)
        prev_ops = previous.run.get("operations", {})
        op_state, info = run_operations(
            store,
            plan.graph,
            states,
            prev_ops,
            only=names,
            workers=plan.workers,
            sources={src.repo: src.root for src in plan.sources},
        )
        merged = {**prev_ops, **op_state}
        if states == previous.tables and merged == prev_ops:
            recorder.finish_operations(previous.id, False, info)
            return {"snapshot": previous.id, "published": False, "operations": info, "run_id": txn.run_id}
        snap = txn.publish(states, run={**previous.run, "kind": "operations", "operations": merged})
        recorder.finish_operations(snap.id, True, info)
        return {"snapshot": snap.id, "published": True, "operations": info, "run_id": txn.run_id}

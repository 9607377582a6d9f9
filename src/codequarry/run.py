"""One extract run: scan -> plan the work -> execute on an engine -> write -> publish a snapshot."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codequarry.engine.base import Engine, make_chunks
from codequarry.engine.local import LocalEngine
from codequarry.engine.supervisor import Limits
from codequarry.engine.worker import FileTask, WorkerConfig
from codequarry.extractors.core import Error
from codequarry.graph import Graph, build_graph
from codequarry.incremental import plan_work, previous_state
from codequarry.language import is_ambiguous, refine
from codequarry.operations import run_operations
from codequarry.plan import ExtractPlan, check_outputs
from codequarry.registry import load_catalog
from codequarry.scan import Manifest, module_names, scan
from codequarry.schema import DatasetSpec
from codequarry.store import Store, WriterLock
from codequarry.store.maintenance import AUTO_COMPACT_FILES, compact, needs_compaction
from codequarry.store.writer import RunWriter, rollback_unpublished, schema_fingerprint

AUTO_KEEP_SNAPSHOTS = 10  # automatic compaction keeps this many snapshots readable
ProgressFn = Callable[[int, int, int, int], None]  # files done, bytes done, total files, total bytes


@dataclass
class RunSummary:
    store: str
    snapshot: int
    sources: dict[str, str]  # repo -> root
    files_scanned: int
    files_parsed: int
    skipped: dict[str, int]
    rows: dict[str, int]  # rows this run wrote, per table
    errors: int
    seconds: float
    workers: int
    changed: int = 0  # added + modified + deleted files
    added: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    rerun: dict[str, list[str]] = field(default_factory=dict)  # repo -> extractors re-run on every file
    dropped: dict[str, list[str]] = field(default_factory=dict)  # repo -> extractors no longer selected
    published: bool = True
    operations: dict[str, Any] = field(default_factory=dict)  # name -> ran, rows, seconds, stats
    listing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _tasks(manifest: Manifest) -> list[FileTask]:
    modules = module_names(manifest.files)
    tasks = []
    for key, f in enumerate(manifest.files):
        language = f.language
        if (language is None and f.size > 0) or is_ambiguous(f.path):
            language = refine(os.path.join(f.root, f.path), language)
        mod, is_pkg = modules.get((f.repo, f.path), (None, False))
        if language == "python" and mod is None:
            # not importable by this name (a script, 'audit-tests.py'): the file's stem stands in
            mod = f.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] if f.language else f.path.rsplit("/", 1)[-1]
        tasks.append(FileTask(key=key, repo=f.repo, root=f.root, path=f.path, size=f.size, mtime_ns=f.mtime_ns,
                              language=language, module=mod, is_package=is_pkg))
    return tasks


def make_engine(plan: ExtractPlan) -> Engine:
    limits = Limits(file_timeout=plan.file_timeout, max_memory=plan.max_memory_per_worker)
    if plan.engine == "ray":
        from codequarry.engine.ray import RayEngine

        return RayEngine(workers=plan.workers, limits=limits, address=plan.address)
    return LocalEngine(plan.workers, limits)


def extract(plan: ExtractPlan, *, engine: Engine | None = None, progress: ProgressFn | None = None) -> RunSummary:
    """Run the plan to completion and publish one snapshot; on any exception nothing is published."""
    started = time.perf_counter()
    catalog = load_catalog(plan.plugins)
    extractors = [catalog.extractors[n] for n in plan.extractors]
    graph = build_graph(extractors, [catalog.operations[n] for n in plan.operations])
    specs = check_outputs(extractors)
    specs["errors"] = Error
    store = Store.create(plan.store)
    engine = engine or make_engine(plan)
    try:
        # workers are forked before the lock is taken, so that none inherits it: a lock must die
        # with the run that took it
        getattr(engine, "start", lambda: None)()
        with WriterLock(store.path):
            return _execute(plan, store, engine, graph, specs, progress, started, catalog=catalog.extractors)
    finally:
        getattr(engine, "close", lambda: None)()


def _execute(plan: ExtractPlan, store: Store, engine: Engine, graph: Graph,
             specs: dict[str, DatasetSpec], progress: ProgressFn | None, started: float,
             catalog: dict[str, Any] | None = None) -> RunSummary:
    extractors = graph.extractors
    previous = store.snapshot()
    notes = [f"rolled back unpublished commits of '{t}'" for t in rollback_unpublished(store, previous)]
    store.clear_staging()
    pause("scan")
    manifest = scan(list(plan.sources), exclude=plan.exclude, never=[store.path])
    run_id = uuid.uuid4().hex[:12]
    writer = RunWriter(store, run_id, specs)
    known = previous.run.get("schemas", {}) if previous is not None else {}
    # a fingerprint counts only if the table is still in the snapshot
    rebuilt = writer.prepare({k: v for k, v in known.items() if previous is not None and k in previous.tables})
    forced = {ex.name for ex in extractors if set(ex.output_names) & rebuilt}
    work = plan_work(store, previous, _tasks(manifest), plan.repos, extractors, forced=forced, known=catalog)
    config = WorkerConfig(extractors=tuple((ex.module, ex.attribute) for ex in extractors),
                          max_file_size=plan.max_file_size, tables_dir=str(store.tables_dir), run_id=run_id,
                          file_timeout=plan.file_timeout)
    counts: Counter[str] = Counter()
    total_bytes = sum(t.size for t in work.tasks)
    done_files = done_bytes = 0
    for result in engine.map(config, make_chunks(work.tasks, workers=plan.workers)):
        for part in result.parts:
            writer.add(part)
        counts.update(result.counts)
        done_files += result.files
        done_bytes += result.bytes
        if progress is not None:
            progress(done_files, done_bytes, len(work.tasks), total_bytes)
    skipped: Counter[str] = Counter()
    for k, v in counts.items():
        if k.startswith("skipped:"):
            skipped[k.split(":", 1)[1]] += v
    for _repo, _path, reason in manifest.skipped:
        skipped[reason.split(":")[0]] += 1
    summary = RunSummary(
        store=str(store.path),
        snapshot=previous.id if previous else 0,
        sources={s.repo: s.root for s in plan.sources},
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
        rerun=work.rerun,
        dropped=work.dropped,
        listing=manifest.listing,
        notes=notes + writer.notes,
    )
    state = work.state
    states = writer.commit(work.replace, previous, pause=pause)
    prev_ops = previous.run.get("operations", {}) if previous else {}
    op_state, summary.operations = run_operations(store, graph.operations, graph.layers, graph.specs, states,
                                                  prev_ops, workers=plan.workers,
                                                  sources={src.repo: src.root for src in plan.sources})
    summary.notes += [f"{k}: {v}" for info in summary.operations.values() for k, v in info.get("stats", {}).items()]
    unchanged = previous is not None and states == previous.tables and state == previous_state(previous) \
        and op_state == prev_ops
    summary.seconds = round(time.perf_counter() - started, 3)
    if unchanged:
        summary.published = False
        return summary
    pause("publish")
    run_info = {k: v for k, v in summary.to_json().items() if k not in ("snapshot", "published")}
    schemas = {name: schema_fingerprint(spec.schema) for name, spec in specs.items()}
    snap = store.publish(states, run={**run_info, "state": state, "operations": op_state, "schemas": schemas})
    store.clear_staging()
    summary.snapshot = snap.id
    touched = {name: len(writer.parts.get(name, ())) for name in sorted(work.replace.keys() | writer.parts.keys())}
    crowded = needs_compaction(store, touched)
    if crowded:
        done = compact(store, tables=crowded, keep_snapshots=AUTO_KEEP_SNAPSHOTS, sort=False)
        summary.snapshot = done.snapshot
        summary.notes.append(f"compacted {', '.join(crowded)} (more than {AUTO_COMPACT_FILES} files each)")
    return summary


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

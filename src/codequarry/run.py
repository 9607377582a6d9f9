"""One extract run: scan -> plan the work -> execute on an engine -> write -> publish a snapshot."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codequarry.api import FileExtractor
from codequarry.engine.base import Engine, make_chunks
from codequarry.engine.local import LocalEngine
from codequarry.engine.worker import FileTask, WorkerConfig
from codequarry.extractors.core import Error
from codequarry.plan import ExtractPlan, check_outputs
from codequarry.registry import load_catalog
from codequarry.scan import Manifest, language_of_shebang, module_names, scan
from codequarry.schema import DatasetSpec
from codequarry.store import Store, WriterLock
from codequarry.store.writer import RunWriter, rollback_unpublished

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
    listing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _tasks(manifest: Manifest) -> list[FileTask]:
    modules = module_names(manifest.files)
    tasks = []
    for key, f in enumerate(manifest.files):
        language = f.language
        if language is None and f.size > 0:
            language = _sniff(os.path.join(f.root, f.path))
        mod, is_pkg = modules.get((f.repo, f.path), (None, False))
        if language == "python" and mod is None and f.language is None:
            stem = f.path.rsplit("/", 1)[-1]
            mod = stem if stem.isidentifier() else None
        tasks.append(FileTask(key=key, repo=f.repo, root=f.root, path=f.path, size=f.size, mtime_ns=f.mtime_ns,
                              language=language, module=mod, is_package=is_pkg))
    return tasks


def _sniff(path: str) -> str | None:
    """Language of an extension-less file from its '#!' line (reads 128 bytes, nothing more)."""
    try:
        with open(path, "rb") as fh:
            return language_of_shebang(fh.read(128))
    except OSError:
        return None


def extract(plan: ExtractPlan, *, engine: Engine | None = None, progress: ProgressFn | None = None) -> RunSummary:
    """Run the plan to completion and publish one snapshot; on any exception nothing is published."""
    started = time.perf_counter()
    catalog = load_catalog(plan.plugins)
    extractors = [catalog.extractors[n] for n in plan.extractors]
    specs = check_outputs(extractors)
    specs["errors"] = Error
    store = Store.create(plan.store)
    engine = engine or LocalEngine(plan.workers)
    try:
        with WriterLock(store.path):
            getattr(engine, "start", lambda: None)()
            return _execute(plan, store, engine, extractors, specs, progress, started)
    finally:
        getattr(engine, "close", lambda: None)()


def _execute(plan: ExtractPlan, store: Store, engine: Engine, extractors: list[FileExtractor],
             specs: dict[str, DatasetSpec], progress: ProgressFn | None, started: float) -> RunSummary:
    previous = store.snapshot()
    notes = [f"rolled back unpublished commits of '{t}'" for t in rollback_unpublished(store, previous)]
    store.clear_staging()
    manifest = scan(list(plan.sources), exclude=plan.exclude, never=[store.path])
    tasks = _tasks(manifest)
    run_id = uuid.uuid4().hex[:12]
    config = WorkerConfig(extractors=tuple((ex.module, ex.attribute) for ex in extractors),
                          max_file_size=plan.max_file_size, tables_dir=str(store.tables_dir), run_id=run_id)
    writer = RunWriter(store, run_id, specs)
    writer.prepare()
    counts: Counter[str] = Counter()
    total_bytes = sum(t.size for t in tasks)
    done_files = done_bytes = 0
    for result in engine.map(config, make_chunks(tasks, workers=plan.workers)):
        for part in result.parts:
            writer.add(part)
        counts.update(result.counts)
        done_files += result.files
        done_bytes += result.bytes
        if progress is not None:
            progress(done_files, done_bytes, len(tasks), total_bytes)
    states = writer.commit(plan.repos)
    skipped: Counter[str] = Counter()
    for k, v in counts.items():
        if k.startswith("skipped:"):
            skipped[k.split(":", 1)[1]] += v
    for _repo, _path, reason in manifest.skipped:
        skipped[reason.split(":")[0]] += 1
    summary = RunSummary(
        store=str(store.path),
        snapshot=0,
        sources={s.repo: s.root for s in plan.sources},
        files_scanned=len(manifest.files),
        files_parsed=counts.get("parsed", 0),
        skipped=dict(sorted(skipped.items())),
        rows=dict(sorted(writer.rows.items())),
        errors=writer.rows.get("errors", 0),
        seconds=0.0,
        workers=plan.workers,
        listing=manifest.listing,
        notes=notes + writer.notes,
    )
    summary.seconds = round(time.perf_counter() - started, 3)
    snap = store.publish(states, run={k: v for k, v in summary.to_json().items() if k != "snapshot"})
    store.clear_staging()
    summary.snapshot = snap.id
    return summary

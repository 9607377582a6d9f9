"""Measuring a run as it goes, and recording its report when it ends, however it ends.

``RunRecorder`` is entered under the store's writer lock; the run feeds it stage times, chunk
results and its summary; on leaving it saves the :class:`RunReport` (a failed or interrupted run is
recorded too, then the exception goes on). Measuring costs a background thread waking a few times a
second and a few counters per chunk: the workers do their own sums.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from codequarry.report.memory import MemorySampler
from codequarry.report.model import (
    ErrorCount,
    ErrorItem,
    Files,
    Kind,
    Language,
    RunReport,
    Status,
    Step,
    TaskReport,
    WorkerUse,
)
from codequarry.report.runs import save

if TYPE_CHECKING:
    from codequarry.engine.worker import ChunkResult
    from codequarry.parts import Part
    from codequarry.run import RunSummary
    from codequarry.scan import Manifest
    from codequarry.tools.summary import TaskResult, ToolsSummary

ERROR_CAP = 1000  # error rows kept in a report (the errors table has them all)


def platform_name() -> str:
    """What ``platform.platform()`` says on Linux (``Linux-6.1.0-x86_64-with-glibc2.36``) without the
    ``uname -p`` process it starts on every call: one fork and exec per run, for a report field."""
    u = os.uname()
    lib, version = platform.libc_ver()
    return f"{u.sysname}-{u.release}-{u.machine}" + (f"-with-{lib}{version}" if lib else "")


def host_info() -> dict[str, Any]:
    from codequarry.version import __version__

    return {
        "host": socket.gethostname(),
        "platform": platform_name(),
        "python": sys.version.split()[0],
        "codequarry": __version__,
        "cpu_count": os.cpu_count(),
    }


class RunRecorder:
    """The measurements of one run; see the module docstring."""

    def __init__(
        self,
        kind: str,
        store: str | Path,
        *,
        engine: str = "local",
        workers: int = 1,
        sample_interval: float = 0.25,
    ) -> None:
        self.kind = kind
        self.store = str(store)
        #: the run's ``runs`` row may wait with the pending ones (report/runs.py ``save``)
        self.defer_row = False
        self.run_id = uuid.uuid4().hex[:12]
        self.engine = engine
        self.workers = workers
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.sampler = MemorySampler(sample_interval)
        self.stages: dict[str, float] = {}
        self.seconds: Counter[str] = Counter()
        self.ex_rows: Counter[str] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        self.pool: dict[int, list[float]] = {}  # pid -> chunks, files, busy seconds, peak rss
        self.error_items: list[ErrorItem] = []
        self.languages: list[Language] = []
        self.report: RunReport | None = None
        self.saved: Path | None = None
        self.save_error: str | None = None

    # -- the run feeds these ------------------------------------------------------------------------
    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started

    def add_chunk(self, result: ChunkResult) -> None:
        self.seconds.update(result.seconds)
        self.ex_rows.update(result.ex_rows)
        for key, n in result.errors.items():
            kind, _, extractor = key.partition("\t")
            self.errors[(kind, extractor)] += n
        if result.pid:
            use = self.pool.setdefault(result.pid, [0, 0, 0.0, 0])
            use[0] += 1
            use[1] += result.files
            use[2] += result.busy
            use[3] = max(use[3], result.peak_rss)

    def add_languages(self, manifest: Manifest) -> None:
        files: Counter[str] = Counter()
        size: Counter[str] = Counter()
        for f in manifest.files:
            lang = f.language or "other"
            files[lang] += 1
            size[lang] += f.size
        self.languages = [Language(language=k, files=n, bytes=size[k]) for k, n in files.most_common()]

    def add_error_parts(self, folder: Path, parts: list[Part]) -> None:
        """Keep the first ERROR_CAP error rows this run wrote (read back from its own Parquet parts)."""
        import pyarrow.parquet as pq

        cols = ["repo", "path", "line", "column", "extractor", "kind", "message"]
        for part in parts:
            room = ERROR_CAP - len(self.error_items)
            if room <= 0:
                return
            try:
                rows = pq.read_table(folder / part.file, columns=cols).slice(0, room).to_pylist()
            except OSError:
                continue
            self.error_items += [ErrorItem(**{k: v for k, v in r.items() if v is not None}) for r in rows]

    # -- recording ----------------------------------------------------------------------------------
    def __enter__(self) -> RunRecorder:
        self.sampler.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        if exc is None and self.report is None:
            self.sampler.__exit__(None, None, None)
            return
        report = self.report or self._finish(
            self.base(
                status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                message=_one_line(exc),
            )
        )
        try:
            self.saved = save(self.store, report, defer=self.defer_row and report.status in ("ok", "errors"))
        except Exception as error:  # a report that cannot be written must not hide the run's own outcome
            self.save_error = f"the run report could not be saved: {error}"

    def base(self, *, status: str, message: str | None = None) -> RunReport:
        return RunReport(
            run_id=self.run_id,
            kind=cast(Kind, self.kind),
            status=cast(Status, status),
            message=message,
            started=self.started,
            store=self.store,
            host=host_info(),
            engine=self.engine,
            workers=self.workers,
        )

    def _finish(self, report: RunReport) -> RunReport:
        """Stop the sampler and fill in every measurement (a report is finished once)."""
        self.sampler.__exit__(None, None, None)
        report.seconds = round(time.perf_counter() - self._t0, 3)
        report.stages = [Step(name=k, seconds=round(v, 6)) for k, v in self.stages.items()]
        report.extractors = sorted(
            (Step(name=k, seconds=round(v, 6), rows=self.ex_rows.get(k, 0)) for k, v in self.seconds.items()),
            key=lambda s: -s.seconds,
        )
        report.error_counts = [
            ErrorCount(kind=k, extractor=e, count=n) for (k, e), n in self.errors.most_common()
        ]
        report.errors = self.error_items
        report.languages = report.languages or self.languages
        report.worker_use = [
            WorkerUse(
                pid=pid, chunks=int(u[0]), files=int(u[1]), busy_seconds=round(u[2], 4), peak_rss=int(u[3])
            )
            for pid, u in sorted(self.pool.items())
        ]
        parallel = self.stages.get("extract", 0.0)
        if self.pool and parallel > 0:
            busy = sum(u[2] for u in self.pool.values())
            report.utilisation = round(min(1.0, busy / (max(1, self.workers) * parallel)), 4)
        me = os.getpid()
        worker_peak = max((int(u[3]) for pid, u in self.pool.items() if pid != me), default=0)
        report.memory = self.sampler.memory(worker_peak)
        return report

    def finish_extract(self, summary: RunSummary) -> RunReport:
        """The report of a finished extract run; it is saved when the recorder is left."""
        report = self.base(status="errors" if summary.errors else "ok")
        report.snapshot = summary.snapshot
        report.published = summary.published
        report.sources = dict(summary.sources)
        report.files = Files(
            scanned=summary.files_scanned,
            parsed=summary.files_parsed,
            changed=summary.changed,
            added=summary.added,
            modified=summary.modified,
            deleted=summary.deleted,
            unchanged=summary.unchanged,
            manifest_only=summary.manifest_only,
        )
        report.skipped = dict(summary.skipped)
        report.rows = {k: v for k, v in summary.rows.items() if v}
        for name, info in summary.operations.items():
            rows = info.get("rows", {})
            for table, n in rows.items():
                report.rows[table] = n
            report.operations.append(
                Step(
                    name=name,
                    seconds=float(info.get("seconds", 0.0)),
                    rows=sum(rows.values()),
                    ran=bool(info.get("ran")),
                    stats=dict(info.get("stats", {})),
                )
            )
        report.notes = list(summary.notes)
        self._operation_errors(summary.operations)
        self.report = self._finish(report)
        self.report.memory.worker_limit = summary.worker_memory
        return report

    def _operation_errors(self, operations: dict[str, Any]) -> int:
        """Count the errors rows each operation wrote (``ctx.error``) by kind, under its name."""
        total = 0
        for name, info in operations.items():
            for kind, n in dict(info.get("error_kinds", {})).items():
                self.errors[(str(kind), name)] += int(n)
                total += int(n)
        return total

    def finish_operations(self, snapshot: int, published: bool, operations: dict[str, Any]) -> RunReport:
        """The report of a run of operations alone (a Prefect flow's operation task)."""
        errors = self._operation_errors(operations)
        report = self.base(status="errors" if errors else "ok")
        report.snapshot = snapshot
        report.published = published
        for name, info in operations.items():
            rows = info.get("rows", {})
            report.rows.update(rows)
            report.operations.append(
                Step(
                    name=name,
                    seconds=float(info.get("seconds", 0.0)),
                    rows=sum(rows.values()),
                    ran=bool(info.get("ran")),
                    stats=dict(info.get("stats", {})),
                )
            )
        self.report = self._finish(report)
        return report

    def finish_tools(
        self,
        summary: ToolsSummary,
        tool_report: dict[str, Any],
        tool_report_file: Path,
        results: Callable[[], Iterable[TaskResult]],
        tool_results: Callable[[], Iterable[dict[str, Any]]],
    ) -> RunReport:
        """The report of a finished ``quarry run``: per-task outcomes, and report.json kept whole.
        Both are streamed (``results()`` and ``tool_results()`` give the results again on each call,
        ``tool_report_file`` is report.json), so a run of 10^5 tasks holds neither."""
        status = "interrupted" if summary.interrupted else "errors" if summary.exit_code else "ok"
        report = self.base(status=status)
        report.snapshot = summary.snapshot
        report.published = summary.published
        report.rows = {k: v for k, v in summary.rows.items() if v}

        def tasks() -> Iterator[TaskReport]:
            for r in results():
                yield _task_report(r)
            for t in summary.not_started:
                yield TaskReport(id=t.id, tool=t.tool, target=t.target, lemma=t.lemma, status="not_started")

        total = sum(summary.counts.values())
        not_ok = total - summary.counts.get("ok", 0) + len(summary.not_started)
        report.stream(tasks, (total + len(summary.not_started), not_ok), tool_report_file, tool_results)
        report.extract_run = (summary.extract or {}).get("run_id") or None
        report.notes = list(tool_report.get("notes", []))
        self.report = self._finish(report)
        return report


def _task_report(r: TaskResult) -> TaskReport:
    o = r.outcome
    return TaskReport(
        id=r.task.id,
        tool=r.task.tool,
        target=r.task.target,
        lemma=r.task.lemma,
        status=r.status,
        seconds=float(o.get("wall_seconds") or 0.0),
        cpu_seconds=float(o.get("cpu_seconds") or 0.0),
        peak_memory=int(o.get("peak_memory") or 0),
        cached=r.cached,
        exit_code=o.get("exit_code"),
        message=o.get("message"),
        started=o.get("started"),
    )


def _one_line(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted: nothing was published"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

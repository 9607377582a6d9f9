"""The run report: one :class:`RunReport` per run (extract, tools, watch batch), saved as JSON in the store.

A report is plain data (dataclasses with a pydantic model's JSON methods, plaindata.py: JSON
round-trip), so that every rendering (text, HTML, the web UI) and every reader in another process
sees the same thing. :meth:`RunReport.record` is its one-row summary in the ``runs`` table. They
were pydantic models; every run builds one, and pydantic cost a run ~0.1 s of CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from codequarry.plaindata import Plain

FORMAT = 1
#: stages recorded inside another one (the copied rows' write within ``reuse``, in wall and CPU
#: seconds, for bench/reuse.py): kept in the JSON, not drawn beside the stages they are part of
INNER_STAGES = frozenset({"reuse_write", "reuse_write_cpu"})
Kind = Literal["extract", "tools", "watch", "operations"]
#: ok: finished, nothing went wrong; errors: finished, with error rows or tasks not ok;
#: failed: stopped by an error, nothing published; interrupted: Ctrl-C or SIGTERM, nothing published
Status = Literal["ok", "errors", "failed", "interrupted"]
_KINDS: tuple[str, ...] = get_args(Kind)
_STATUSES: tuple[str, ...] = get_args(Status)


@dataclass(kw_only=True)
class Step(Plain):
    """Where time went: an extractor (its own time, parsing excluded), an operation, or a stage."""

    name: str
    seconds: float
    rows: int = 0
    ran: bool = True  # operations: False when its inputs had not changed (skipped)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class ErrorCount(Plain):
    kind: str
    extractor: str
    count: int


@dataclass(kw_only=True)
class ErrorItem(Plain):
    """One error row of this run (the first ones, up to a cap): enough to open the file at the line."""

    repo: str
    path: str
    line: int | None = None
    column: int | None = None
    extractor: str = ""
    kind: str = ""
    message: str = ""


@dataclass(kw_only=True)
class Language(Plain):
    language: str  # "other" for files of no known language
    files: int
    bytes: int


@dataclass(kw_only=True)
class WorkerUse(Plain):
    pid: int
    chunks: int
    files: int
    busy_seconds: float
    peak_rss: int


@dataclass(kw_only=True)
class MemorySample(Plain):
    t: float  # seconds since the run started
    parent: int  # resident bytes of the driver process
    workers: int  # resident bytes of its child processes (worker pool, tool tasks), summed


@dataclass(kw_only=True)
class Memory(Plain):
    parent_peak: int = 0
    worker_peak: int = 0  # the largest peak of one worker process
    interval: float = 0.0  # seconds between samples
    samples: list[MemorySample] = field(default_factory=list)
    worker_limit: str = ""  # each worker's limit, why, and what held it (run.describe_memory)


@dataclass(kw_only=True)
class Files(Plain):
    scanned: int = 0
    parsed: int = 0
    changed: int = 0
    added: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    manifest_only: int = 0  # files whose ``files`` row the driver made itself (no worker saw them)


@dataclass(kw_only=True)
class TaskReport(Plain):
    """One external-tool task as the run saw it (ran, or restored from the cache)."""

    id: str
    tool: str
    target: str
    lemma: str | None = None
    status: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory: int = 0
    cached: bool = False
    exit_code: int | None = None
    message: str | None = None
    started: float | None = None  # epoch seconds


@dataclass(kw_only=True)
class RunRecord(Plain):
    """One row of the ``runs`` table."""

    run_id: str
    kind: str
    started: float  # epoch seconds
    seconds: float
    status: str
    snapshot: int | None
    published: bool
    files: int
    changed: int
    rows: int
    errors: int
    tasks: int
    tasks_not_ok: int
    message: str | None


@dataclass(kw_only=True)
class RunReport(Plain):
    """Everything one run measured. Sections a kind does not have stay empty."""

    format: int = FORMAT
    run_id: str
    kind: Kind
    status: Status
    message: str | None = None  # why a failed run failed
    started: float  # epoch seconds
    seconds: float = 0.0
    store: str
    snapshot: int | None = None
    published: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # repo -> root folder
    host: dict[str, Any] = field(default_factory=dict)  # host, platform, python, codequarry, cpu_count
    engine: str = "local"
    workers: int = 1
    files: Files = field(default_factory=Files)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written by this run
    stages: list[Step] = field(default_factory=list)  # those in INNER_STAGES are part of another
    extractors: list[Step] = field(default_factory=list)
    operations: list[Step] = field(default_factory=list)
    error_counts: list[ErrorCount] = field(default_factory=list)
    errors: list[ErrorItem] = field(default_factory=list)  # the first ERROR_CAP error rows of the run
    languages: list[Language] = field(default_factory=list)
    worker_use: list[WorkerUse] = field(default_factory=list)
    utilisation: float | None = None  # busy worker time / (workers x time of the parallel phase)
    memory: Memory = field(default_factory=Memory)
    tasks: list[TaskReport] = field(default_factory=list)
    tools: dict[str, Any] | None = None  # tool runs: the whole report.json of `quarry run`
    extract_run: str | None = None  # tool runs: the run id of the recipe's [extract] section
    notes: list[str] = field(default_factory=list)
    # a tools run of many tasks streams ``tasks`` and ``tools`` instead of holding them (see stream())
    _task_source: Callable[[], Iterable[TaskReport]] | None = field(default=None, init=False, compare=False)
    _tool_results: Callable[[], Iterable[dict[str, Any]]] | None = field(
        default=None, init=False, compare=False
    )
    _tools_file: Path | None = field(default=None, init=False, compare=False)
    _task_counts: tuple[int, int] = field(default=(0, 0), init=False, compare=False)  # tasks, not ok

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in _KINDS:  # a Literal, checked as pydantic checked it
            raise ValueError(f"kind: expected one of {', '.join(_KINDS)}, got {self.kind!r}")
        if self.status not in _STATUSES:
            raise ValueError(f"status: expected one of {', '.join(_STATUSES)}, got {self.status!r}")

    def stream(
        self,
        tasks: Callable[[], Iterable[TaskReport]],
        counts: tuple[int, int],
        tools_file: Path,
        tool_results: Callable[[], Iterable[dict[str, Any]]],
    ) -> None:
        """Leave ``tasks`` and ``tools`` empty and read them when needed: ``tasks()`` gives the tasks
        again on each call (``counts``: how many, how many not ok), ``tools_file`` is report.json
        and ``tool_results()`` its results. Saving writes them whole; readers see no difference."""
        self._task_source, self._task_counts = tasks, counts
        self._tools_file, self._tool_results = tools_file, tool_results

    @property
    def streamed(self) -> bool:
        return self._task_source is not None

    @property
    def tools_file(self) -> Path | None:
        return self._tools_file

    def iter_tasks(self) -> Iterable[TaskReport]:
        return self._task_source() if self._task_source is not None else self.tasks

    def tool_results(self) -> Iterable[Any]:
        if self._tool_results is not None:
            return self._tool_results()
        return list((self.tools or {}).get("results", []))

    @property
    def errors_total(self) -> int:
        return sum(c.count for c in self.error_counts)

    def errors_by(self, what: Literal["kind", "extractor"]) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.error_counts:
            key = c.kind if what == "kind" else c.extractor
            out[key] = out.get(key, 0) + c.count
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def tasks_not_ok(self) -> int:
        if self._task_source is not None:
            return self._task_counts[1]
        return sum(1 for t in self.tasks if t.status != "ok")

    @property
    def task_count(self) -> int:
        return self._task_counts[0] if self._task_source is not None else len(self.tasks)

    def record(self) -> RunRecord:
        return RunRecord(
            run_id=self.run_id,
            kind=self.kind,
            started=self.started,
            seconds=self.seconds,
            status=self.status,
            snapshot=self.snapshot,
            published=self.published,
            files=self.files.scanned,
            changed=self.files.changed,
            rows=sum(self.rows.values()),
            errors=self.errors_total,
            tasks=self.task_count,
            tasks_not_ok=self.tasks_not_ok,
            message=self.message,
        )

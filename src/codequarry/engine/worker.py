"""What one worker does with a chunk of files: read each once, run every extractor, return Arrow.

Engines (local process pool, Ray) only decide where :func:`process_chunk` runs; it knows nothing of
them. Its inputs and outputs are small picklable values: file tasks in, Arrow IPC bytes and counters
out.
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from codequarry.api import FileExtractor, Outputs
from codequarry.datasets import Error, File, error_fields
from codequarry.engine.limits import MEMORY_MESSAGE
from codequarry.engine.reading import Read, read_file, text_lines, unreadable
from codequarry.parts import Part, write_part
from codequarry.schema import RowBuffer
from codequarry.source import FILE_PRODUCTS, ParseFailure, SourceFile

#: a native parse that supports cancellation stops at this fraction of --file-timeout, before the
#: supervisor would kill the worker from outside
CANCEL_AT = 0.8
#: write a chunk's Parquet parts in a thread while its next buffers are built (see _finish); False
#: writes them inline (bench/extract.py --profile does, to time each stage on one thread)
PARTS_IN_THREAD = True
#: read (and hash) the chunk's next file in a thread while this one is extracted (see _ReadAhead)
READ_AHEAD = True


@dataclass(frozen=True)
class FileTask:
    """One file to process. ``path`` is relative to ``root`` and POSIX."""

    key: int
    repo: str
    root: str
    path: str
    size: int
    mtime_ns: int
    language: str | None
    module: str | None = None
    is_package: bool = False
    # an incremental re-run of some extractors on an unchanged file: run only these, and record the
    # file's parse errors only if no earlier run could have (read errors are recorded already)
    only: tuple[str, ...] | None = None
    file_errors: bool = True

    def source(
        self, data: bytes | None, sha256: str | None, size: int, mtime_ns: int, line_count: int | None
    ) -> SourceFile:
        """The file as extractors see it, from what reading it gave (``data`` None: not kept)."""
        return SourceFile(
            repo=self.repo,
            path=self.path,
            data=data,
            sha256=sha256,
            size=size,
            language=self.language,
            mtime_ns=mtime_ns,
            module=self.module,
            is_package=self.is_package,
            line_count=line_count,
        )


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs besides the files: extractor references and limits."""

    extractors: tuple[tuple[str, str], ...]  # (module, attribute) of each selected FileExtractor
    max_file_size: int = 10 * 1024 * 1024
    tables_dir: str | None = None  # write Parquet parts here (tables_dir/<dataset>/...); else return IPC
    run_id: str = "run"
    file_timeout: float | None = None  # --file-timeout: native parsers cancel themselves before it
    #: --include-generated: the extractors of a language parse its minified build outputs too
    include_generated: bool = False


@dataclass
class ChunkResult:
    tables: dict[str, bytes] = field(default_factory=dict)  # dataset -> Arrow IPC stream
    parts: list[Part] = field(default_factory=list)  # or, with WorkerConfig.tables_dir, Parquet parts
    counts: dict[str, int] = field(default_factory=dict)  # parsed, skipped:<reason>, ...
    files: int = 0
    bytes: int = 0
    # for the run report: where the chunk's time went, what it wrote, what failed, on which worker
    seconds: dict[str, float] = field(default_factory=dict)  # extractor -> own seconds; "parse" shared
    ex_rows: dict[str, int] = field(default_factory=dict)  # extractor -> rows it added
    errors: dict[str, int] = field(default_factory=dict)  # "kind\textractor" -> error rows
    busy: float = 0.0  # wall seconds the worker spent on the chunk
    pid: int = 0
    peak_rss: int = 0  # the worker process's peak resident memory so far, bytes


_loaded: dict[tuple[tuple[str, str], ...], tuple[list[Any], list[FileExtractor]]] = {}


def load_extractors(refs: tuple[tuple[str, str], ...]) -> list[FileExtractor]:
    """Import the selected extractors by reference (cached per process while the modules stay the same)."""
    cached = _loaded.get(refs)
    if cached is not None and all(
        sys.modules.get(m) is mod for (m, _), mod in zip(refs, cached[0], strict=True)
    ):
        return cached[1]
    modules, got = [], []
    for module, attribute in refs:
        mod = importlib.import_module(module)
        obj = getattr(mod, attribute)
        if not isinstance(obj, FileExtractor):
            raise TypeError(f"{module}.{attribute} is not a file extractor")
        modules.append(mod)
        got.append(obj)
    _loaded[refs] = (modules, got)
    return got


def _line_of_exception(exc: BaseException) -> int | None:
    """The source line an extractor was looking at when it raised: the innermost AST node in scope."""
    import ast

    tb = exc.__traceback__
    line = None
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, ast.AST) and hasattr(value, "lineno"):
                line = value.lineno
                break
        tb = tb.tb_next
    return line


class _Run:
    """Per-chunk state: buffers for every output dataset plus the errors buffer."""

    def __init__(self, extractors: list[FileExtractor]) -> None:
        self.extractors = extractors
        self.buffers: dict[str, RowBuffer] = {}
        self.producer: dict[str, str] = {}
        self.views: list[tuple[FileExtractor, Outputs, list[RowBuffer]]] = []
        self.errors = RowBuffer(Error)
        for ex in extractors:
            bufs = []
            for spec in ex.outputs:
                buf = self.buffers.get(spec.name)
                if buf is None:
                    buf = self.buffers[spec.name] = RowBuffer(spec)
                    self.producer[spec.name] = ex.name
                bufs.append(buf)
            # bound to the errors buffer, not to the run: no cycle keeps the run's buffers alive for
            # the cyclic collector (see process_chunk)
            report = functools.partial(_error_row, self.errors, ex.name)
            self.views.append((ex, Outputs({b.spec.name: b for b in bufs}, report), bufs))
        #: the extractor that writes the file manifest (found by its declared output), whose row a
        #: file that failed as a whole still gets; None when the selection leaves it out
        self.manifest = next((v for v in self.views if File.name in v[0].output_names), None)
        self.provenance: dict[int, tuple[str, str, str | None]] = {}
        self.counts: dict[str, int] = {}
        self.progress: Any = None
        self.current = -1  # index in views of the extractor running now
        self.seconds = [0.0] * len(self.views)
        self.rows = [0] * len(self.views)
        self.shared = 0.0  # parse and node-index seconds, not charged to the extractor that asked first
        self.ahead: _ReadAhead | None = None
        #: language -> (index in views, extractor, view, buffers) of the extractors that apply to it,
        #: worked out once per language rather than asked of every extractor for every file
        self._applicable: dict[str | None, list[tuple[int, FileExtractor, Outputs, list[RowBuffer]]]] = {}

    def applicable(self, language: str | None) -> list[tuple[int, FileExtractor, Outputs, list[RowBuffer]]]:
        """The views of the extractors that apply to files of ``language``, in selection order."""
        got = self._applicable.get(language)
        if got is None:
            got = self._applicable[language] = [
                (i, ex, view, bufs)
                for i, (ex, view, bufs) in enumerate(self.views)
                if ex.applies_to(language)
            ]
        return got

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def error(
        self,
        extractor: str,
        kind: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
    ) -> None:
        _error_row(self.errors, extractor, kind, message, line, column, source_line)


def _error_row(
    errors: RowBuffer,
    extractor: str,
    kind: str,
    message: str,
    line: int | None = None,
    column: int | None = None,
    source_line: str | None = None,
) -> None:
    """Add one row to the errors buffer of a chunk."""
    errors.add(**error_fields(extractor, kind, message, line, column, source_line))


def _read(task: FileTask, max_size: int, run: _Run) -> Read | None:
    """Read a file once (see ``reading.read_file``); None if it could not be read (then an errors row
    says why)."""
    try:
        if run.ahead is not None:
            got = run.ahead.take(task)
            if got is not None:
                return got.result()
        return read_file(task.root, task.path, max_size)
    except OSError as exc:
        message = unreadable(exc)
    run.errors.begin_file(task.key, (task.repo, task.path, None))
    run.error("read", "unreadable", message)
    run.count("skipped:unreadable")
    return None


def _process_file(task: FileTask, config: WorkerConfig, run: _Run) -> None:
    """Read one file and run every extractor that applies to it, each in its own failure boundary."""
    started = time.monotonic()  # the supervisor's clock for this file starts about now
    opened = _open_source(task, config, run, started)
    if opened is None:
        return
    src, skip_reason = opened
    partial = task.only is not None
    failure: ParseFailure | None = None
    progress = run.progress
    # a minified build output: its language's extractors leave it alone (generated.py)
    generated = not config.include_generated and src.generated is not None
    left_out = False
    for index, ex, view, bufs in run.applicable(task.language):
        if partial and ex.name not in task.only:  # type: ignore[operator]
            continue
        if generated and ex.skips_generated:  # the extractors as loaded here: the option is config's
            left_out = True
            continue
        run.current = index
        if progress is not None:
            progress[1] = index
        if ex.needs and (skip_reason or failure):
            continue
        failed = _run_extractor(index, ex, view, bufs, src, task, run)
        if failed is not None:
            failure = failed
    if src.newer is not None and (not partial or task.file_errors):  # syntax newer than this Python
        for line, column, message in src.newer.partial_rows():
            run.error("parse", "partial", message, line, column, _safe_line(src, line))
    if left_out and not partial:
        run.count("skipped:generated")
    if failure is not None:
        run.count(f"skipped:{failure.kind}")
    elif src.parsed:
        run.count("parsed")


def _open_source(
    task: FileTask, config: WorkerConfig, run: _Run, started: float
) -> tuple[SourceFile, str | None] | None:
    """Read the file and start its rows in every buffer; returns the source and why it is skipped
    (too_large, binary), or None when it cannot be read (the error row is written)."""
    got = _read(task, config.max_file_size, run)
    if got is None:
        return None
    data, sha, size, lines, mtime_ns = got
    skip_reason: str | None = None
    if data is None:
        skip_reason = "too_large"
    else:
        lines = text_lines(data)
        if lines is None and task.language == "python":
            skip_reason = "binary"
    prov = (task.repo, task.path, sha)
    run.provenance[task.key] = prov
    for buf in run.buffers.values():
        buf.begin_file(task.key, prov)
    run.errors.begin_file(task.key, prov)
    src = task.source(data, sha, size, mtime_ns, lines)
    if config.file_timeout:
        src.deadline = started + CANCEL_AT * config.file_timeout
    if skip_reason and task.only is None:  # a partial re-run's file was read before: its errors are stored
        run.count(f"skipped:{skip_reason}")
        if skip_reason == "too_large":
            run.error("read", "too_large", f"{size} bytes is over --max-file-size {config.max_file_size}")
        else:
            run.error("read", "binary", "binary content (NUL and control bytes) in a Python file")
    return src, skip_reason


def _run_extractor(
    index: int,
    ex: FileExtractor,
    view: Outputs,
    bufs: list[RowBuffer],
    src: SourceFile,
    task: FileTask,
    run: _Run,
) -> ParseFailure | None:
    """Run one extractor on the file; on an exception its rows of this file are dropped and an error
    row says why. Returns the parse failure of a file product (ast, tokens, ...), which later
    extractors that need a parse skip on."""
    marks = [b.n for b in bufs]
    started, shared = time.perf_counter(), src.shared_seconds
    failure: ParseFailure | None = None
    try:
        ex.func(src, view)
    except ParseFailure as exc:
        for b, m in zip(bufs, marks, strict=True):
            b.truncate(m)
        if exc.product not in FILE_PRODUCTS:  # e.g. symtable or compile refuses what ast accepted
            run.error(ex.name, exc.kind, exc.message, exc.line, exc.column, _safe_line(src, exc.line))
            return None  # as always: not timed
        failure = exc
        if task.only is None or task.file_errors:
            line = exc.line
            source_line = exc.source_line if exc.source_line is not None else _safe_line(src, line)
            stage = "read" if exc.kind == "binary" else "parse"  # as a binary Python file's row says
            run.error(stage, exc.kind, exc.message, line, exc.column, source_line)
    except MemoryError:
        for b, m in zip(bufs, marks, strict=True):
            b.truncate(m)
        run.error(ex.name, "memory_limit", MEMORY_MESSAGE)
    except Exception as exc:  # an extractor's bug costs its rows for this file only
        for b, m in zip(bufs, marks, strict=True):
            b.truncate(m)
        line = _line_of_exception(exc)
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
        run.error(
            ex.name, "extractor", f"{type(exc).__name__}: {exc}{where}", line, None, _safe_line(src, line)
        )
    shared = src.shared_seconds - shared
    run.shared += shared
    run.seconds[index] += time.perf_counter() - started - shared
    run.rows[index] += sum(b.n for b in bufs) - sum(marks)
    return failure


def _safe_line(src: SourceFile, line: int | None) -> str | None:
    try:
        return src.source_line(line)
    except ParseFailure:
        return None


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    data: bytes = sink.getvalue().to_pybytes()
    return data


class _ReadAhead:
    """Reads the chunk's next file in a thread while the current one is extracted: the read and its
    sha256 run without the GIL, off the worker's critical path. The file is read exactly as inline
    (``read_file``; an OSError comes out of ``result()`` where the inline read would raise it), only
    earlier; a file read again later (a failure's manifest row) is read inline."""

    def __init__(self, tasks: list[FileTask], max_size: int) -> None:
        self.tasks = tasks
        self.max_size = max_size
        self.pool = ThreadPoolExecutor(1, "quarry-read")
        self.pending: dict[int, Future[Read]] = {}

    def advance(self, index: int) -> None:
        """File ``index`` is next: start reading the one after it."""
        if index + 1 < len(self.tasks):
            t = self.tasks[index + 1]
            self.pending[t.key] = self.pool.submit(read_file, t.root, t.path, self.max_size)

    def take(self, task: FileTask) -> Future[Read] | None:
        return self.pending.pop(task.key, None)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()


class FileTimeout(BaseException):
    """Raised by the in-process timer in the middle of a file (a BaseException, so that extractors'
    own ``except Exception`` cannot swallow it)."""


def _on_alarm(_sig: int, _frame: Any) -> None:
    raise FileTimeout()


def process_chunk(
    config: WorkerConfig, tasks: list[FileTask], progress: Any = None, timeout: float | None = None
) -> ChunkResult:
    """Read, parse and extract every file of ``tasks``; return one Arrow batch per dataset.

    ``progress``, when given, is a shared int64 array a supervisor watches: [file key, extractor
    index, start time in ns]; it tells the supervisor which file a hung or dead worker was on.
    ``timeout`` arms a timer per file (for in-process runs, where no supervisor can kill a worker);
    it stops hangs in Python code, not in native code.
    """
    run = _Run(load_extractors(config.extractors))
    began = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ASTs are acyclic; collecting during parsing costs ~25% for nothing
    result = ChunkResult()
    quiet = warnings.catch_warnings()
    quiet.__enter__()
    warnings.simplefilter("ignore")  # the corpus's SyntaxWarnings are not ours to print
    run.progress = progress
    timer = timeout is not None and timeout > 0 and hasattr(signal, "setitimer")
    previous = signal.signal(signal.SIGALRM, _on_alarm) if timer else None
    if READ_AHEAD and len(tasks) > 1 and _threads_allowed():
        run.ahead = _ReadAhead(tasks, config.max_file_size)
    try:
        try:
            for index, task in enumerate(tasks):
                if run.ahead is not None:
                    run.ahead.advance(index)
                if progress is not None:
                    progress[0] = task.key
                    progress[1] = -1
                    progress[2] = time.monotonic_ns()
                if timer:
                    _timed_file(task, config, run, timeout)  # type: ignore[arg-type]
                else:
                    _guarded_file(task, config, run)
                result.files += 1
                result.bytes += task.size
            if progress is not None:
                progress[0] = -1
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            quiet.__exit__(None, None, None)
            if run.ahead is not None:
                run.ahead.close()
                run.ahead = None
        # the buffers hold millions of row values: a collection while they are built into Arrow
        # and written (and freed) would traverse them all, for no cycle
        result = _finish(config, run, result)
        del run
    finally:
        if gc_was_enabled:
            gc.enable()
    result.busy = time.perf_counter() - began
    return result


def _guarded_file(task: FileTask, config: WorkerConfig, run: _Run) -> None:
    """Process one file; anything it raises outside an extractor (a bug of ours, a name or value no
    one foresaw) costs this file only: its rows go and an error row of kind ``internal`` says why."""
    marks = {name: buf.n for name, buf in run.buffers.items()}
    err_mark = run.errors.n
    try:
        _process_file(task, config, run)
    except Exception as exc:
        for name, buf in run.buffers.items():
            buf.truncate(marks[name])
        run.errors.truncate(err_mark)
        run.errors.begin_file(task.key, (task.repo, task.path, None))
        run.error("worker", "internal", f"{type(exc).__name__}: {exc}")
        run.count("skipped:internal")


def _timed_file(task: FileTask, config: WorkerConfig, run: _Run, timeout: float) -> None:
    marks = {name: buf.n for name, buf in run.buffers.items()}
    err_mark = run.errors.n
    run.current = -1
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            _guarded_file(task, config, run)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except FileTimeout:  # also when the timer fired just as the file finished: it is stopped all the same
        for name, buf in run.buffers.items():
            buf.truncate(marks[name])
        run.errors.truncate(err_mark)
        index = run.current
        extractor = run.views[index][0].name if 0 <= index < len(run.views) else "worker"
        _record_failure(
            task,
            config,
            run,
            "timeout",
            f"stopped after --file-timeout {timeout:g} s while running {extractor}",
            extractor,
        )  # the same text as engine.supervisor's


def _record_failure(
    task: FileTask, config: WorkerConfig, run: _Run, kind: str, message: str, extractor: str
) -> None:
    """Rows for a file that failed as a whole: its manifest row (so that the next run does not retry
    an unchanged file) and one error row. A file over --max-file-size is not read again for its
    manifest row: hashing it is all a run does with it, so that is what failed (a sparse file of a
    terabyte costs a repository nothing; read again here, in the supervisor or after the timer was
    cleared, it held the run for as long as hashing it took, whatever --file-timeout said)."""
    manifest = run.manifest
    if manifest is not None and task.only is None and task.size <= config.max_file_size:
        got = _read(task, config.max_file_size, run)
        if got is not None:
            data, sha, size, lines, mtime_ns = got
            if data is not None:
                lines = text_lines(data)
            prov = (task.repo, task.path, sha)
            run.provenance[task.key] = prov
            for buf in manifest[2]:
                buf.begin_file(task.key, prov)
            manifest[0].func(task.source(None, sha, size, mtime_ns, lines), manifest[1])
    prov = run.provenance.get(task.key, (task.repo, task.path, None))
    run.errors.begin_file(task.key, prov)
    run.error(extractor, kind, message)
    run.count(f"skipped:{kind}")


#: address space left under the worker's cap from which its helper threads are allowed
THREAD_HEADROOM = 1 << 30


def _threads_allowed() -> bool:
    """May the worker start its helper threads? Not under a tight address-space cap (a small
    --max-memory-per-worker): a thread's stack and malloc arena reserve tens of MB of address space,
    which would count against the files' own allowance. Under the run's default cap (gigabytes,
    where no cgroup holds the worker) that is a few percent, and the threads save the run time."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return True
    try:
        with open("/proc/self/statm", "rb") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return False
    return soft - used >= THREAD_HEADROOM


def _finish(config: WorkerConfig, run: _Run, result: ChunkResult) -> ChunkResult:
    """Build every buffer into one Arrow batch and emit it. Parquet parts are written by a thread
    while the next buffers are built (Parquet encoding runs in Arrow's C++ without the GIL, building
    the arrays in Python with it); parts keep the order of the buffers, and a write that fails
    raises here as it would have inline."""
    # (a one-file chunk has nothing to overlap: the thread only costs it, ~0.02 s of CPU of a one-file run)
    threaded = PARTS_IN_THREAD and config.tables_dir is not None and result.files > 1 and _threads_allowed()
    writer = ThreadPoolExecutor(1, "quarry-parts") if threaded else None
    pending: list[Future[Part]] = []
    try:
        for name, buf in run.buffers.items():
            batch, problems = buf.build()
            for key, _field, line, message in problems:
                run.errors.begin_file(key, run.provenance[key])
                run.error(run.producer[name], "schema", f"dataset '{name}': {message}", line)
            if batch is not None and batch.num_rows:
                _emit(config, result, name, batch, writer, pending)
        err_batch, _ = run.errors.build()
        if err_batch is not None and err_batch.num_rows:
            _emit(config, result, "errors", err_batch, writer, pending)
            result.counts["errors"] = err_batch.num_rows
        result.parts.extend(f.result() for f in pending)
    finally:
        if writer is not None:
            writer.shutdown(wait=True, cancel_futures=True)
    for k, v in run.counts.items():
        result.counts[k] = result.counts.get(k, 0) + v
    _account(run, result, err_batch)
    return result


def _account(run: _Run, result: ChunkResult, errors: pa.RecordBatch | None) -> None:
    """Fill the report's figures of a chunk: per-extractor seconds and rows, errors, this worker's peak."""
    import resource

    for (ex, _view, _bufs), sec, rows in zip(run.views, run.seconds, run.rows, strict=True):
        if sec or rows:
            result.seconds[ex.name] = result.seconds.get(ex.name, 0.0) + sec
            result.ex_rows[ex.name] = result.ex_rows.get(ex.name, 0) + rows
    if run.shared:
        result.seconds["parse"] = result.seconds.get("parse", 0.0) + run.shared
    if errors is not None and errors.num_rows:
        grouped = (
            pa.Table.from_batches([errors]).group_by(["kind", "extractor"]).aggregate([([], "count_all")])
        )
        for kind, extractor, n in zip(*(grouped.column(i).to_pylist() for i in range(3)), strict=True):
            key = f"{kind}\t{extractor}"
            result.errors[key] = result.errors.get(key, 0) + n
    result.pid = os.getpid()
    result.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def failure_result(
    config: WorkerConfig, task: FileTask, kind: str, message: str, extractor: str = "worker"
) -> ChunkResult:
    """The rows of a file whose worker hung, died or ran out of memory (see _record_failure)."""
    run = _Run(load_extractors(config.extractors))
    _record_failure(task, config, run, kind, message, extractor)
    result = _finish(config, run, ChunkResult(files=1, bytes=task.size))
    result.pid = result.peak_rss = 0  # made by the supervisor, not by a worker
    return result


def per_file_error(exc: BaseException) -> bool:
    """Can this failure of a whole chunk be pinned on one of its files? Not an I/O error (the store's
    disk, not the corpus) nor an interruption: those stop the run."""
    return isinstance(exc, Exception) and not isinstance(exc, OSError)


def alone_failure(config: WorkerConfig, task: FileTask, kind: str, message: str) -> ChunkResult:
    """The rows of a file that failed when run alone outside any extractor (its rows could not be
    built, or its worker died writing them): an error row, and its manifest row if that can be made."""
    try:
        return failure_result(config, task, kind, message, extractor="worker")
    except Exception:  # the manifest row itself cannot be made: the error row alone
        run = _Run(load_extractors(config.extractors))
        run.errors.begin_file(task.key, (task.repo, task.path, None))
        run.error("worker", kind, message)
        run.count(f"skipped:{kind}")
        return _finish(config, run, ChunkResult(files=1, bytes=task.size))


def process_alone_on_failure(
    config: WorkerConfig, tasks: list[FileTask], timeout: float | None
) -> Iterator[ChunkResult]:
    """:func:`process_chunk` in this process; a chunk that raises as a whole is run again file by file,
    and a file that raises alone is one error row (see :func:`per_file_error`)."""
    try:
        yield process_chunk(config, tasks, timeout=timeout)
    except Exception as exc:
        if not per_file_error(exc):
            raise
        if len(tasks) > 1:
            for task in tasks:
                yield from process_alone_on_failure(config, [task], timeout)
            return
        yield alone_failure(config, tasks[0], "internal", f"{type(exc).__name__}: {exc}")


def _emit(
    config: WorkerConfig,
    result: ChunkResult,
    name: str,
    batch: pa.RecordBatch,
    writer: ThreadPoolExecutor | None,
    pending: list[Future[Part]],
) -> None:
    if config.tables_dir is None:
        result.tables[name] = _ipc(batch)
    elif writer is None:
        result.parts.append(write_part(config.tables_dir, config.run_id, name, batch))
    else:
        pending.append(writer.submit(write_part, config.tables_dir, config.run_id, name, batch))


def read_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


__all__ = [
    "FileTask",
    "WorkerConfig",
    "ChunkResult",
    "process_chunk",
    "load_extractors",
    "read_ipc",
]

"""What one worker does with a chunk of files: read each once, run every extractor, return Arrow.

Engines (local process pool, Ray) only decide where :func:`process_chunk` runs; it knows nothing of
them. Its inputs and outputs are small picklable values: file tasks in, Arrow IPC bytes and counters
out.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from codequarry.api import FileExtractor, Outputs
from codequarry.extractors.core import Error
from codequarry.schema import RowBuffer
from codequarry.source import FILE_PRODUCTS, ParseFailure, SourceFile

_HASH_BLOCK = 1 << 20


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


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs besides the files: extractor references and limits."""

    extractors: tuple[tuple[str, str], ...]  # (module, attribute) of each selected FileExtractor
    max_file_size: int = 10 * 1024 * 1024
    tables_dir: str | None = None  # write Parquet parts here (tables_dir/<dataset>/...); else return IPC
    run_id: str = "run"


@dataclass(frozen=True)
class Part:
    """A Parquet file a worker wrote into a table's folder, not yet committed (invisible to readers)."""

    dataset: str
    file: str  # relative to the table folder
    size: int
    rows: int
    stats: str  # Delta Lake statistics JSON: numRecords, min/max of repo and path


@dataclass
class ChunkResult:
    tables: dict[str, bytes] = field(default_factory=dict)  # dataset -> Arrow IPC stream
    parts: list[Part] = field(default_factory=list)  # or, with WorkerConfig.tables_dir, Parquet parts
    counts: dict[str, int] = field(default_factory=dict)  # parsed, skipped:<reason>, ...
    files: int = 0
    bytes: int = 0


_loaded: dict[tuple[tuple[str, str], ...], tuple[list[Any], list[FileExtractor]]] = {}


def load_extractors(refs: tuple[tuple[str, str], ...]) -> list[FileExtractor]:
    """Import the selected extractors by reference (cached per process while the modules stay the same)."""
    cached = _loaded.get(refs)
    if cached is not None and all(sys.modules.get(m) is mod for (m, _), mod in zip(refs, cached[0], strict=True)):
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


def _looks_binary(head: bytes) -> bool:
    if b"\0" not in head:
        return False
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control * 10 > len(head) or not _is_utf8(head)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(data) - 4  # a character cut at the end of the sample is fine
    return True


def _line_count(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


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
        for ex in extractors:
            bufs = []
            for spec in ex.outputs:
                buf = self.buffers.get(spec.name)
                if buf is None:
                    buf = self.buffers[spec.name] = RowBuffer(spec)
                    self.producer[spec.name] = ex.name
                bufs.append(buf)
            self.views.append((ex, Outputs({b.spec.name: b for b in bufs}), bufs))
        self.errors = RowBuffer(Error)
        self.provenance: dict[int, tuple[str, str, str | None]] = {}
        self.counts: dict[str, int] = {}
        self.progress: Any = None
        self.current = -1  # index in views of the extractor running now

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def error(self, extractor: str, kind: str, message: str, line: int | None = None,
              column: int | None = None, source_line: str | None = None) -> None:
        if source_line is not None and len(source_line) > 500:
            source_line = source_line[:497] + "..."
        self.errors.add(extractor=extractor, kind=kind, message=message[:2000], line=line, column=column,
                        source_line=source_line)


def _read(task: FileTask, max_size: int, run: _Run) -> tuple[bytes | None, str | None, int, int | None] | None:
    """Read a file once. Returns (data or None if too large, sha256, size, line count) or None if gone."""
    full = os.path.join(task.root, task.path)
    try:
        with open(full, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size <= max_size:
                data = fh.read()
                return data, hashlib.sha256(data).hexdigest(), len(data), None
            digest = hashlib.sha256()
            lines = 0
            last = b""
            while block := fh.read(_HASH_BLOCK):
                digest.update(block)
                lines += block.count(b"\n")
                last = block
            if last and not last.endswith(b"\n"):
                lines += 1
            return None, digest.hexdigest(), size, lines
    except FileNotFoundError:
        run.errors.begin_file(task.key, (task.repo, task.path, None))
        run.error("read", "unreadable", "file disappeared between scan and read")
        run.count("skipped:unreadable")
        return None
    except (IsADirectoryError, NotADirectoryError) as exc:
        run.errors.begin_file(task.key, (task.repo, task.path, None))
        run.error("read", "unreadable", f"not a regular file: {exc.strerror}")
        run.count("skipped:unreadable")
        return None
    except OSError as exc:
        run.errors.begin_file(task.key, (task.repo, task.path, None))
        run.error("read", "unreadable", f"{exc.strerror or exc}")
        run.count("skipped:unreadable")
        return None


def _process_file(task: FileTask, config: WorkerConfig, run: _Run) -> None:
    got = _read(task, config.max_file_size, run)
    if got is None:
        return
    data, sha, size, lines = got
    skip_reason: str | None = None
    if data is None:
        skip_reason = "too_large"
    else:
        lines = _line_count(data)
        if _looks_binary(data[:8192]):
            lines = None
            if task.language == "python":
                skip_reason = "binary"
    prov = (task.repo, task.path, sha)
    run.provenance[task.key] = prov
    for buf in run.buffers.values():
        buf.begin_file(task.key, prov)
    run.errors.begin_file(task.key, prov)
    partial = task.only is not None
    src = SourceFile(
        repo=task.repo, path=task.path, data=data, sha256=sha, size=size, language=task.language,
        mtime_ns=task.mtime_ns, module=task.module, is_package=task.is_package, line_count=lines,
    )
    if skip_reason and not partial:  # a partial re-run's file was read before: its errors are stored
        run.count(f"skipped:{skip_reason}")
        if skip_reason == "too_large":
            run.error("read", "too_large", f"{size} bytes is over --max-file-size {config.max_file_size}")
        else:
            run.error("read", "binary", "binary content (NUL and control bytes) in a Python file")
    failure: ParseFailure | None = None
    progress = run.progress
    for index, (ex, view, bufs) in enumerate(run.views):
        run.current = index
        if progress is not None:
            progress[1] = index
        if not ex.applies_to(task.language) or (partial and ex.name not in task.only):  # type: ignore[operator]
            continue
        if ex.needs and (skip_reason or failure):
            continue
        marks = [b.n for b in bufs]
        try:
            ex.func(src, view)
        except ParseFailure as exc:
            for b, m in zip(bufs, marks, strict=True):
                b.truncate(m)
            if exc.product not in FILE_PRODUCTS:  # e.g. symtable or compile refuses what ast accepted
                run.error(ex.name, exc.kind, exc.message, exc.line, exc.column, _safe_line(src, exc.line))
                continue
            failure = exc
            line = exc.line
            if not partial or task.file_errors:
                run.error("parse", exc.kind, exc.message, line, exc.column,
                          exc.source_line if exc.source_line is not None else _safe_line(src, line))
        except MemoryError:
            for b, m in zip(bufs, marks, strict=True):
                b.truncate(m)
            run.error(ex.name, "memory_limit", "ran out of memory (over --max-memory-per-worker)")
        except Exception as exc:  # an extractor's bug costs its rows for this file only
            for b, m in zip(bufs, marks, strict=True):
                b.truncate(m)
            line = _line_of_exception(exc)
            last = traceback.extract_tb(exc.__traceback__)[-1]
            where = f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
            run.error(ex.name, "extractor", f"{type(exc).__name__}: {exc}{where}", line, None,
                      _safe_line(src, line))
    if failure is not None:
        run.count(f"skipped:{failure.kind}")
    elif src._tree is not None:
        run.count("parsed")


def _safe_line(src: SourceFile, line: int | None) -> str | None:
    try:
        return src.source_line(line)
    except ParseFailure:
        return None


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _stats(batch: pa.RecordBatch) -> str:
    mins: dict[str, str] = {}
    maxs: dict[str, str] = {}
    for col in ("repo", "path"):
        mm = pc.min_max(batch.column(col))
        mins[col], maxs[col] = mm["min"].as_py(), mm["max"].as_py()
    return json.dumps({"numRecords": batch.num_rows, "minValues": mins, "maxValues": maxs,
                       "nullCount": {"repo": 0, "path": 0}})


def write_part(tables_dir: str, run_id: str, name: str, batch: pa.RecordBatch) -> Part:
    """Write one batch as a Parquet file inside the table's folder; the driver commits it later."""
    folder = os.path.join(tables_dir, name)
    os.makedirs(folder, exist_ok=True)
    file = f"part-{run_id}-{uuid.uuid4().hex[:16]}.snappy.parquet"
    full = os.path.join(folder, file)
    pq.write_table(pa.Table.from_batches([batch]), full, compression="snappy", use_compliant_nested_type=True)
    return Part(dataset=name, file=file, size=os.path.getsize(full), rows=batch.num_rows, stats=_stats(batch))


class FileTimeout(BaseException):
    """Raised by the in-process timer in the middle of a file (a BaseException, so that extractors'
    own ``except Exception`` cannot swallow it)."""


def _on_alarm(_sig: int, _frame: Any) -> None:
    raise FileTimeout()


def process_chunk(config: WorkerConfig, tasks: list[FileTask], progress: Any = None,
                  timeout: float | None = None) -> ChunkResult:
    """Read, parse and extract every file of ``tasks``; return one Arrow batch per dataset.

    ``progress``, when given, is a shared int64 array a supervisor watches: [file key, extractor
    index, start time in ns]; it tells the supervisor which file a hung or dead worker was on.
    ``timeout`` arms a timer per file (for in-process runs, where no supervisor can kill a worker);
    it stops hangs in Python code, not in native code.
    """
    run = _Run(load_extractors(config.extractors))
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ASTs are acyclic; collecting during parsing costs ~25% for nothing
    result = ChunkResult()
    quiet = warnings.catch_warnings()
    quiet.__enter__()
    warnings.simplefilter("ignore")  # the corpus's SyntaxWarnings are not ours to print
    run.progress = progress
    timer = timeout is not None and timeout > 0 and hasattr(signal, "setitimer")
    previous = signal.signal(signal.SIGALRM, _on_alarm) if timer else None
    try:
        for task in tasks:
            if progress is not None:
                progress[0] = task.key
                progress[1] = -1
                progress[2] = time.monotonic_ns()
            if timer:
                _timed_file(task, config, run, timeout)  # type: ignore[arg-type]
            else:
                _process_file(task, config, run)
            result.files += 1
            result.bytes += task.size
        if progress is not None:
            progress[0] = -1
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        quiet.__exit__(None, None, None)
        if gc_was_enabled:
            gc.enable()
    return _finish(config, run, result)


def _timed_file(task: FileTask, config: WorkerConfig, run: _Run, timeout: float) -> None:
    marks = {name: buf.n for name, buf in run.buffers.items()}
    err_mark = run.errors.n
    run.current = -1
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            _process_file(task, config, run)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except FileTimeout:  # also when the timer fired just as the file finished: it is stopped all the same
        for name, buf in run.buffers.items():
            buf.truncate(marks[name])
        run.errors.truncate(err_mark)
        index = run.current
        extractor = run.views[index][0].name if 0 <= index < len(run.views) else "worker"
        _record_failure(task, config, run, "timeout", f"stopped after --file-timeout {timeout:g} s while "
                        f"running {extractor}", extractor)  # the same text as engine.supervisor's


def _record_failure(task: FileTask, config: WorkerConfig, run: _Run, kind: str, message: str,
                    extractor: str) -> None:
    """Rows for a file that failed as a whole: its manifest row (so that the next run does not retry
    an unchanged file) and one error row."""
    manifest = next((v for v in run.views if (v[0].module, v[0].attribute) == MANIFEST), None)
    if manifest is not None and task.only is None:
        got = _read(task, config.max_file_size, run)
        if got is not None:
            data, sha, size, lines = got
            if data is not None:
                lines = None if _looks_binary(data[:8192]) else _line_count(data)
            prov = (task.repo, task.path, sha)
            run.provenance[task.key] = prov
            for buf in manifest[2]:
                buf.begin_file(task.key, prov)
            manifest[0].func(SourceFile(repo=task.repo, path=task.path, data=None, sha256=sha, size=size,
                                        language=task.language, mtime_ns=task.mtime_ns, line_count=lines),
                             manifest[1])
    prov = run.provenance.get(task.key, (task.repo, task.path, None))
    run.errors.begin_file(task.key, prov)
    run.error(extractor, kind, message)
    run.count(f"skipped:{kind}")


def _finish(config: WorkerConfig, run: _Run, result: ChunkResult) -> ChunkResult:
    for name, buf in run.buffers.items():
        batch, problems = buf.build()
        for key, _field, line, message in problems:
            run.errors.begin_file(key, run.provenance[key])
            run.error(run.producer[name], "schema", f"dataset '{name}': {message}", line)
        if batch is not None and batch.num_rows:
            _emit(config, result, name, batch)
    err_batch, _ = run.errors.build()
    if err_batch is not None and err_batch.num_rows:
        _emit(config, result, "errors", err_batch)
        result.counts["errors"] = err_batch.num_rows
    for k, v in run.counts.items():
        result.counts[k] = result.counts.get(k, 0) + v
    return result


MANIFEST = ("codequarry.extractors.core", "files")


def failure_result(config: WorkerConfig, task: FileTask, kind: str, message: str,
                   extractor: str = "worker") -> ChunkResult:
    """The rows of a file whose worker hung, died or ran out of memory (see _record_failure)."""
    run = _Run(load_extractors(config.extractors))
    _record_failure(task, config, run, kind, message, extractor)
    return _finish(config, run, ChunkResult(files=1, bytes=task.size))


def _emit(config: WorkerConfig, result: ChunkResult, name: str, batch: pa.RecordBatch) -> None:
    if config.tables_dir is None:
        result.tables[name] = _ipc(batch)
    else:
        result.parts.append(write_part(config.tables_dir, config.run_id, name, batch))


def read_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


__all__ = ["FileTask", "WorkerConfig", "ChunkResult", "Part", "write_part", "process_chunk", "load_extractors", "read_ipc"]


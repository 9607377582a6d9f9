"""Datasets: annotated classes turned into Arrow schemas, and the columnar buffers rows go into.

A dataset is declared once, as an annotated class::

    @dataset("env_reads")
    class EnvRead:
        name: str
        line: int
        default: str | None

Python types map to Arrow types: ``str`` -> string, ``int`` -> int64, ``float`` -> float64,
``bool`` -> bool, ``bytes`` -> binary, ``X | None`` -> nullable, ``list[X]`` -> list, and any other
annotated class -> struct. Every dataset written by a file extractor also gets the provenance columns
``repo``, ``path`` and ``sha256`` in front; extractors never fill them in.
"""

from __future__ import annotations

import functools
import types
import typing
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.errors import DeclarationError, SchemaError, did_you_mean

PROVENANCE = (
    pa.field("repo", pa.string(), nullable=False),
    pa.field("path", pa.string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=True),
)
PROVENANCE_NAMES = tuple(f.name for f in PROVENANCE)

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
}


@dataclass(frozen=True)
class DatasetSpec:
    """A named table with a declared schema. ``schema`` includes the provenance columns."""

    name: str
    fields: tuple[pa.Field, ...]
    doc: str = ""
    provenance: bool = True

    @property
    def schema(self) -> pa.Schema:
        lead = PROVENANCE if self.provenance else ()
        return pa.schema([*lead, *self.fields])

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _arrow_type(tp: Any, where: str) -> tuple[pa.DataType, bool]:
    """Map one annotation to (arrow type, nullable)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise DeclarationError(f"{where}: unions other than 'X | None' cannot be stored in Arrow")
        inner, _ = _arrow_type(args[0], where)
        return inner, True
    if origin in (list, tuple, Iterable) or tp in (list, tuple):
        elems = typing.get_args(tp)
        if not elems or (origin is tuple and not (len(elems) == 2 and elems[1] is Ellipsis)):
            raise DeclarationError(f"{where}: give the element type, e.g. list[str]")
        inner, _ = _arrow_type(elems[0], where)
        return pa.list_(inner), False
    if tp in _SCALARS:
        return _SCALARS[tp], False
    if isinstance(tp, type) and getattr(tp, "__annotations__", None):
        return pa.struct(_fields_of(tp, where)), False
    raise DeclarationError(
        f"{where}: type {tp!r} cannot be stored in Arrow; use str, int, float, bool, bytes, "
        "list[...], 'X | None' or an annotated class"
    )


def _fields_of(cls: type, where: str) -> list[pa.Field]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # a NameError in a string annotation, most often
        raise DeclarationError(f"{where}: cannot resolve the annotations of {cls.__name__}: {exc}") from exc
    fields = []
    for name, tp in hints.items():
        if name.startswith("_"):
            continue
        arrow, nullable = _arrow_type(tp, f"{where}.{name}")
        fields.append(pa.field(name, arrow, nullable=nullable))
    return fields


def dataset(name: str, *, provenance: bool = True) -> Callable[[Any], DatasetSpec]:
    """Class decorator declaring a dataset; the class becomes a :class:`DatasetSpec`.

    mypy does not apply a class decorator's return type, so for mypy the class would stay a class:
    the plugin :mod:`codequarry.mypy_plugin` (``plugins = ["codequarry.mypy_plugin"]``) makes it
    the ``DatasetSpec`` it is at run time, so ``outputs=[EnvRead]`` and ``EnvRead.schema`` type-check.
    (``wrap`` takes ``Any``: under the plugin, mypy already sees the class as that ``DatasetSpec``.)
    """

    def wrap(cls: type[Any]) -> DatasetSpec:
        fields = _fields_of(cls, f"dataset '{name}'")
        clash = [f.name for f in fields if provenance and f.name in PROVENANCE_NAMES]
        if clash:
            raise DeclarationError(
                f"dataset '{name}' declares {clash}, which are provenance columns added automatically"
            )
        if not fields:
            raise DeclarationError(f"dataset '{name}' declares no fields")
        return DatasetSpec(
            name=name, fields=tuple(fields), doc=(cls.__doc__ or "").strip(), provenance=provenance
        )

    return wrap


@functools.cache
def build_pool() -> pa.MemoryPool:
    """The memory pool a batch build takes its arrays from: jemalloc where this pyarrow has it, else
    the C library's allocator; elsewhere the process's default pool (the system allocator when run
    through ``quarry``: cli.main sets ARROW_DEFAULT_MEMORY_POOL).

    A worker's batch is large, new and short-lived (one chunk's rows, freed once its part is
    written). mimalloc gets such blocks from transparent huge pages where the kernel offers them
    (``madvise`` mode), and clearing fresh huge pages cost 2.6 s of system time a GB on the machine
    this was measured on, against 0.45 s for the same bytes in 4 KiB pages (the bytecode layer's
    build on the standard library, in process: 3.6 s -> 2.4 s CPU). Only the calls that make a
    batch's arrays name this pool, so nothing else in the process changes allocator.
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc (e.g. on Windows)
        return pa.system_memory_pool()


class RowBuffer:
    """Columnar rows of one dataset, appended by extractors, turned into one Arrow batch per chunk.

    ``add`` is the hot path: it appends to per-column lists and checks only field names; types are
    checked when the batch is built, and a bad value then costs only the rows of the (extractor, file)
    that produced it.
    """

    __slots__ = ("spec", "_names", "_cols", "_first", "_files", "add", "_blocks", "_block_n")
    #: ``add(**fields)``: one row, a keyword per field (generated per dataset, see :func:`_appender`)
    add: Callable[..., None]

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self._names = spec.field_names
        self._cols: dict[str, list[Any]] = {n: [] for n in self._names}
        self._first = self._cols[self._names[0]]
        # (file key, first row, provenance tuple); a file's rows are contiguous
        self._files: list[tuple[int, int, tuple[str, str, str | None]]] = []
        self.add = _appender(self)
        # (rows, arrays or a DeferredBlock) from add_arrays: they come before any list rows
        self._blocks: list[tuple[int, Any]] = []
        self._block_n = 0

    @property
    def n(self) -> int:
        return self._block_n + len(self._first)

    def _unknown(self, fields: dict[str, Any]) -> None:
        _unknown_field(self.spec.name, self._names, fields)

    def columns(self) -> tuple[list[Any], ...]:
        """The column lists, in declaration order, for extractors that stream millions of rows
        (bytecode, AST nodes): a row is one ``append`` to each, with no keyword dict per row. Every
        row must get a value in every column; rows already appended for the current file may be
        rewritten in place; an exception mid-row is undone by the worker's truncate."""
        return tuple(self._cols[n] for n in self._names)

    def add_arrays(self, block: list[pa.Array] | DeferredBlock) -> None:
        """Append a block of rows given whole: one Arrow array per field in declaration order, or a
        :class:`DeferredBlock` that makes them when the batch is built (so that an extractor can
        compute many files' columns in one pass). For extractors that compute columns at once (the
        bytecode layer) and so skip a Python object per value. A buffer takes blocks or list rows
        (``add``, ``columns``), not both."""
        if self._first:
            raise SchemaError(f"dataset '{self.spec.name}': add_arrays after rows from add() or columns()")
        n = len(block) if isinstance(block, DeferredBlock) else self._checked(block)
        if n:
            self._blocks.append((n, block))
            self._block_n += n

    def _checked(self, arrays: list[pa.Array]) -> int:
        fields = self.spec.fields
        n = len(arrays[0]) if arrays else 0
        if len(arrays) != len(fields) or any(len(a) != n for a in arrays):
            raise SchemaError(f"dataset '{self.spec.name}': a block needs {len(fields)} arrays of one length")
        for f, arr in zip(fields, arrays, strict=True):
            if arr.type != f.type or (not f.nullable and arr.null_count):
                raise SchemaError(
                    f"dataset '{self.spec.name}': field '{f.name}' expects {f.type}, got {arr.type}"
                )
        return n

    def _resolved(self, block: Any) -> list[pa.Array]:
        if isinstance(block, DeferredBlock):
            arrays = block.arrays()
            if self._checked(arrays) != len(block):
                raise SchemaError(f"dataset '{self.spec.name}': a deferred block changed its length")
            return arrays
        return list(block)

    def begin_file(self, key: int, provenance: tuple[str, str, str | None]) -> None:
        self._files.append((key, self.n, provenance))

    def truncate(self, n: int) -> None:
        """Drop every row from index ``n`` on (an extractor failed on the current file)."""
        for col in self._cols.values():
            del col[max(0, n - self._block_n) :]
        while self._block_n > n:
            rows, last = self._blocks.pop()
            self._block_n -= rows
            if self._block_n < n:
                self._blocks.append(
                    (n - self._block_n, [a.slice(0, n - self._block_n) for a in self._resolved(last)])
                )
                self._block_n = n

    def _file_ranges(self) -> list[tuple[int, int, int, tuple[str, str, str | None]]]:
        out = []
        for i, (key, start, prov) in enumerate(self._files):
            end = self._files[i + 1][1] if i + 1 < len(self._files) else self.n
            if end > start:
                out.append((key, start, end, prov))
        return out

    def build(self) -> tuple[pa.RecordBatch | None, list[tuple[int, str, int | None, str]]]:
        """Return (batch, problems). Each problem is (file key, field, line, message) for rows dropped."""
        ranges = self._file_ranges()
        if not self.n:
            return None, []
        problems: list[tuple[int, str, int | None, str]] = []
        try:
            arrays = self._block_arrays() if self._blocks else self._arrays(range(self.n))
        except _BadRows as bad:
            keep: list[int] = []
            bad_files: dict[int, tuple[str, int | None, str]] = {}
            for key, start, end, _prov in ranges:
                culprit = next((r for r in bad.rows if start <= r < end), None)
                if culprit is None:
                    keep.extend(range(start, end))
                else:
                    field, msg = bad.rows[culprit]
                    line = self._cols["line"][culprit] if "line" in self._cols else None
                    bad_files[key] = (field, line if isinstance(line, int) else None, msg)
            problems = [(k, f, ln, m) for k, (f, ln, m) in bad_files.items()]
            ranges = [r for r in ranges if r[0] not in bad_files]
            if not keep:
                return None, problems
            arrays = self._arrays(keep)
        if not self.spec.provenance:
            return pa.RecordBatch.from_arrays(arrays, schema=self.spec.schema), problems
        # provenance: one value per file, repeated by index (no Python list of repeated strings, nor
        # of repeated ints: a C array repeated per file, handed to Arrow as its buffer)
        index = array("i")
        for i, (_key, start, end, _prov) in enumerate(ranges):
            index.extend(array("i", (i,)) * (end - start))
        take = pa.Array.from_buffers(pa.int32(), len(index), [None, pa.py_buffer(index)])
        pool = build_pool()
        lead = [
            pc.take(pa.array([r[3][c] for r in ranges], type=f.type), take, memory_pool=pool)
            for c, f in enumerate(PROVENANCE)
        ]
        return pa.RecordBatch.from_arrays([*lead, *arrays], schema=self.spec.schema), problems

    def _block_arrays(self) -> list[pa.Array]:
        if self._first:
            raise SchemaError(f"dataset '{self.spec.name}' got rows from add_arrays and from add()")
        blocks = [self._resolved(block) for _n, block in self._blocks]
        return [_joined([b[i] for b in blocks]) for i in range(len(self.spec.fields))]

    def _arrays(self, rows: Iterable[int]) -> list[pa.Array]:
        rows = list(rows)
        whole = len(rows) == self.n
        arrays = []
        bad: dict[int, tuple[str, str]] = {}
        for f in self.spec.fields:
            col = self._cols[f.name]
            values = col if whole else [col[i] for i in rows]
            try:
                arr = utf8_array(values, f.type)
                if not f.nullable and arr.null_count:
                    raise pa.ArrowInvalid("null in a field that is not optional")
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                for pos, value in enumerate(values):
                    msg = _check_value(value, f)
                    if msg:
                        bad.setdefault(rows[pos], (f.name, msg))
                continue
            arrays.append(arr)
        if bad:
            raise _BadRows(bad)
        return arrays


def _joined(parts: list[pa.Array]) -> pa.Array:
    """``parts`` as one array: without a copy when they are consecutive slices of one array (the
    blocks of an extractor that computes many files' columns at once), else concatenated."""
    first = parts[0]
    if len(parts) > 1 and first.type.num_fields == 0 and not pa.types.is_dictionary(first.type):
        where = [(b.address, b.size) if b is not None else None for b in first.buffers()]
        end = first.offset + len(first)
        for part in parts[1:]:
            if (
                part.offset != end
                or [(b.address, b.size) if b is not None else None for b in part.buffers()] != where
            ):
                break
            end += len(part)
        else:
            return pa.Array.from_buffers(first.type, end - first.offset, first.buffers(), offset=first.offset)
    return pa.concat_arrays(parts, build_pool())


@typing.runtime_checkable
class DeferredBlock(typing.Protocol):
    """Rows for :meth:`RowBuffer.add_arrays` whose count is known now and whose arrays are made
    when the buffer is built."""

    def __len__(self) -> int: ...

    def arrays(self) -> list[pa.Array]: ...


#: (dataset, field names) -> the compiled module that defines its ``add``
_ADD_CODE: dict[tuple[str, tuple[str, ...]], types.CodeType] = {}


def _appender(buf: RowBuffer) -> Callable[..., None]:
    """A fast ``add(**fields)`` for one dataset: keyword parameters named after the fields, each
    appended to its column list; an unknown keyword is a SchemaError naming the closest field.
    Generated because the obvious loop over a kwargs dict costs ~3x more per row on the hot path."""
    names = buf._names
    code = _ADD_CODE.get((buf.spec.name, names))
    if code is None:  # compiled once per dataset and process, not once per buffer (per chunk)
        params = ", ".join(f"{n}=None" for n in names)
        body = "\n".join(f"    _a{i}({n})" for i, n in enumerate(names))
        src = f"def add(*, {params}, **_unknown):\n    if _unknown:\n        _bad(_unknown)\n{body}\n"
        code = _ADD_CODE[(buf.spec.name, names)] = compile(src, f"<row buffer {buf.spec.name}>", "exec")
    scope: dict[str, Any] = {f"_a{i}": buf._cols[n].append for i, n in enumerate(names)}
    # nothing in ``add`` refers back to ``buf``: a buffer is freed by reference counting as soon as
    # its chunk is done (a cycle would leave its millions of values to the cyclic collector)
    scope["_bad"] = functools.partial(_unknown_field, buf.spec.name, names)
    exec(code, scope)  # noqa: S102 - our own code
    add: Callable[..., None] = scope.pop("add")  # its globals must not hold it: that is a cycle too
    return add


def _unknown_field(dataset: str, names: tuple[str, ...], fields: dict[str, Any]) -> None:
    bad = sorted(fields)[0]
    raise SchemaError(f"dataset '{dataset}' has no field {bad!r}.{did_you_mean(bad, names)}")


def utf8_array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """``values`` as an Arrow array of ``type_``. A string holding a lone surrogate (``"\\ud800"`` in
    Python source or a JSON escape; UTF-8 cannot hold it) is stored as its ``\\udXXX`` escape, so one
    odd value never loses its rows."""
    pool = build_pool()
    try:
        return pa.array(values, type=type_, memory_pool=pool)
    except UnicodeEncodeError:
        return pa.array([_escape_surrogates(v) for v in values], type=type_, memory_pool=pool)


def _escape_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate of its strings written as a ``\\udXXX`` escape (Arrow
    strings are UTF-8, which cannot hold them); lists, tuples and dicts are cleaned inside."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_escape_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_surrogates(v) for k, v in value.items()}
    return value


class _BadRows(Exception):
    def __init__(self, rows: dict[int, tuple[str, str]]) -> None:
        self.rows = rows


def _check_value(value: Any, field: pa.Field) -> str:
    if value is None:
        return "" if field.nullable else f"field '{field.name}' is required but got None"
    try:
        utf8_array([value], field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        return (
            f"field '{field.name}' expects {field.type} but got {type(value).__name__} {value!r:.60}: {exc}"
        )
    return ""


__all__ = [
    "DatasetSpec",
    "DeferredBlock",
    "RowBuffer",
    "build_pool",
    "dataset",
    "PROVENANCE",
    "PROVENANCE_NAMES",
]

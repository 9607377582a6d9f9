"""The ``bytecode`` layer: every code object the compiler makes from a file, and its instructions.

The ``bytecode`` parse product compiles the already-parsed tree (no second parse) with
``dont_inherit=True`` and a fixed ``optimize`` level, recorded in every row; nothing is executed.
Bytecode belongs to the interpreter that compiled it: ``python`` and ``magic`` say which. Columns are
characters from 0, like every codequarry table (``co_positions`` counts UTF-8 bytes).
"""

from __future__ import annotations

import dis
import importlib.util
import platform
import threading
from collections.abc import Iterator
from types import CodeType
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.layers import bytecode_columns as columns
from codequarry.extractors.layers.bytecode_decode import decoder
from codequarry.extractors.layers.positions import char_columns
from codequarry.schema import dataset
from codequarry.source import BYTECODE_OPTIMIZE

PYTHON = platform.python_version()
MAGIC = importlib.util.MAGIC_NUMBER.hex()
_FLAG_NAMES = sorted(dis.COMPILER_FLAG_NAMES.items())


@dataset("bytecode_code_units")
class CodeUnit:
    """One row per code object: the module, each class body, function, lambda and comprehension."""

    unit_id: int
    parent_id: int | None
    qualname: str
    name: str
    firstlineno: int
    argcount: int
    posonlyargcount: int
    kwonlyargcount: int
    nlocals: int
    stacksize: int
    flags: int
    flag_names: list[str]
    instructions: int
    optimize: int
    python: str
    magic: str


@dataset("bytecode_instructions")
class Instruction:
    """One row per instruction as ``dis.Bytecode`` shows it (inline caches hidden; exception handlers are jump targets)."""

    unit_id: int
    offset: int
    opname: str
    arg: int | None
    argrepr: str
    is_jump_target: bool
    line: int | None
    end_line: int | None
    col: int | None
    end_col: int | None


def code_units(module: CodeType) -> Iterator[tuple[int, int | None, CodeType]]:
    """(unit id, parent id, code) in pre-order; nested code objects are constants of their parent."""
    stack: list[tuple[CodeType, int | None]] = [(module, None)]
    next_id = 0
    while stack:
        code, parent = stack.pop()
        uid = next_id
        next_id += 1
        yield uid, parent, code
        stack.extend((c, uid) for c in reversed(code.co_consts) if isinstance(c, CodeType))


def _flag_names(flags: int) -> list[str]:
    return [name for bit, name in _FLAG_NAMES if flags & bit]


@file_extractor(
    "python.layers.bytecode",
    version=1,
    needs=["bytecode"],
    outputs=[CodeUnit, Instruction],
    description="bytecode: every code object (flags, arg counts) and instruction (opname, arg, positions)",
    default=False,
)
def bytecode(src: Any, out: Any) -> None:
    module = src.bytecode
    convert = char_columns(src)
    units = list(code_units(module))
    if columns.available():
        codes = [code for _uid, _parent, code in units]
        counts = [columns.instruction_count(code) for code in codes]
        pending = _Batch.current(out.bytecode_instructions)
        pending.add((codes, convert, src.lines if convert is not None else None), sum(counts))
    else:
        cols = out.bytecode_instructions.columns()
        decode = decoder()
        counts = [decode(code, cols, uid, convert) for uid, _parent, code in units]
    unit = out.bytecode_code_units.add
    for (uid, parent, code), n in zip(units, counts, strict=True):
        unit(
            unit_id=uid,
            parent_id=parent,
            qualname=code.co_qualname,
            name=code.co_name,
            firstlineno=code.co_firstlineno,
            argcount=code.co_argcount,
            posonlyargcount=code.co_posonlyargcount,
            kwonlyargcount=code.co_kwonlyargcount,
            nlocals=code.co_nlocals,
            stacksize=code.co_stacksize,
            flags=code.co_flags,
            flag_names=_flag_names(code.co_flags),
            instructions=n,
            optimize=BYTECODE_OPTIMIZE,
            python=PYTHON,
            magic=MAGIC,
        )


#: instructions decoded in one vectorised pass: enough to amortise NumPy's per-call cost, few
#: enough that its arrays stay in the processor's caches
PASS_ROWS = 1 << 17


class _Batch:
    """The files whose instruction rows one buffer is waiting for, decoded together in a few
    vectorised passes when the buffer builds its batch (the first file's block asks for all) into
    one set of arrays; each file's block is a slice of them, and the buffer joins adjacent slices
    without a copy."""

    _local = threading.local()

    def __init__(self, buffer: Any) -> None:
        self.buffer = buffer
        self.files: list[columns.FileCode] = []
        self.where: list[int] = []  # per file: its first row
        self.passes: list[list[columns.FileCode]] = [[]]
        self.rows = 0  # in the last pass
        self.total = 0  # in all passes
        self.arrays: list[Any] | None = None

    @classmethod
    def current(cls, buffer: Any) -> _Batch:
        """This thread's open batch for ``buffer``, or a new one (after a build, or another buffer)."""
        batch = getattr(cls._local, "batch", None)
        if batch is None or batch.buffer is not buffer or batch.arrays is not None:
            batch = cls._local.batch = cls(buffer)
        return batch

    def add(self, file: columns.FileCode, rows: int) -> None:
        self.buffer.add_arrays(_Block(self, len(self.where), rows))
        if self.rows >= PASS_ROWS:
            self.passes.append([])
            self.rows = 0
        self.where.append(self.total)
        self.passes[-1].append(file)
        self.rows += rows
        self.total += rows

    def resolve(self) -> list[Any]:
        if self.arrays is None:
            self.arrays = columns.joined_arrays(self.passes, self.total)
            self.passes = []
            if getattr(self._local, "batch", None) is self:
                self._local.batch = None
        return self.arrays


class _Block:
    """One file's rows of a :class:`_Batch` (a ``DeferredBlock`` of the row buffer)."""

    __slots__ = ("batch", "index", "rows")

    def __init__(self, batch: _Batch, index: int, rows: int) -> None:
        self.batch, self.index, self.rows = batch, index, rows

    def __len__(self) -> int:
        return self.rows

    def arrays(self) -> list[Any]:
        start = self.batch.where[self.index]
        return [a.slice(start, self.rows) for a in self.batch.resolve()]

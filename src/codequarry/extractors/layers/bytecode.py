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
from collections.abc import Iterator
from types import CodeType
from typing import Any

from codequarry.api import file_extractor
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
    unit = out.bytecode_code_units.add
    cols = out.bytecode_instructions.columns()
    convert = char_columns(src.lines, src.text)
    decode = decoder()
    for uid, parent, code in code_units(module):
        n = decode(code, cols, uid, convert)
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

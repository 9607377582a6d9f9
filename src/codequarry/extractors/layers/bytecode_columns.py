"""CPython 3.11 bytecode decoded a file at a time into Arrow columns, with no Python object per
instruction.

:mod:`bytecode_decode` reads one instruction at a time and appends ten Python values per
instruction to lists, which Arrow then converts back; on the standard library (3.8 million
instructions) that costs twice a bare ``ast.parse``. Here every code object of a file is decoded at
once with NumPy over the concatenated ``co_code``:

- in ``co_code`` (CPython 3.11 de-optimises it on access) every inline cache unit is ``CACHE`` with
  argument 0, so the instructions ``dis`` shows are exactly the code units whose opcode is not 0;
- an ``EXTENDED_ARG`` prefix widens the next argument: a chain is at most three long, so three
  vectorised passes give every argument;
- ``argrepr`` is an index into a per-file table of strings (each code object's names, local names
  and constant reprs, the fixed tables of ``dis``, and one ``to N`` per jump), turned into a string
  column by one Arrow ``take``;
- positions come from ``co_positions`` (a C iterator) filtered to instructions by
  ``itertools.compress``, and reach Arrow as four tuples.

The rows are those of :func:`bytecode_decode.decode` (which stays the reference, and the path on a
file whose lines are not all ASCII: its byte columns need per-line conversion). The test suite
compares the two over the standard library.
"""

from __future__ import annotations

import dis
from collections.abc import Callable
from types import CodeType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codequarry.extractors.layers.bytecode_decode import _T, FAST, _exception_targets, const_repr
from codequarry.schema import build_pool, utf8_array

#: constants whose repr may differ between processes (see bytecode_decode.const_repr)
_NESTED = frozenset({CodeType, frozenset, tuple})
_NULL = "NULL + "
_OPNAMES = pa.array(dis.opname, pa.string())
_CACHE = dis.opmap.get("CACHE", 0)

#: the fixed part of every file's argrepr table: "", then the tables whose index is the argument
_STATIC: list[str] = [""]
_CMP = _BIN = _FMT = _MKFN = 0
if FAST:
    _CMP = len(_STATIC)
    _STATIC += list(dis.cmp_op)
    _BIN = len(_STATIC)
    _STATIC += list(_T["binary"])
    _FMT = len(_STATIC)
    for _arg in range(8):  # FORMAT_VALUE reads bits 0-1 (conversion) and 2 (format spec)
        _text = _T["format"][_arg & 3][1]
        if _arg & 4:
            _text = _text + ", with format" if _text else "with format"
        _STATIC.append(_text)
    _MKFN = len(_STATIC)
    _STATIC += [", ".join(s for b, s in enumerate(_T["make_function"]) if a & (1 << b)) for a in range(16)]
_KINDS = np.array(_T["kind"] if FAST else [0] * 256, np.int8)


def _local_names(code: CodeType) -> tuple[str, ...]:
    """Every name a local-variable argument indexes: 3.11's localsplus, which is the locals, then
    the cells that are not also arguments or locals, then the free variables."""
    names = code.co_varnames
    cells = code.co_cellvars
    if cells:
        names += tuple(c for c in cells if c not in names)
    return names + code.co_freevars


def _table(codes: list[CodeType]) -> tuple[list[str], np.ndarray]:
    """The file's argrepr strings, and per code object where its names, 'NULL + ' names, local
    names and constant reprs start in them (a (4, codes) array)."""
    table = list(_STATIC)
    bases = np.empty((4, len(codes)), np.int64)
    for c, code in enumerate(codes):
        names = code.co_names
        bases[0, c] = len(table)
        table += names
        bases[1, c] = len(table)
        table += map(_NULL.__add__, names)
        bases[2, c] = len(table)
        table += _local_names(code)
        bases[3, c] = len(table)
        consts = code.co_consts
        if _NESTED.isdisjoint(map(type, consts)):
            table += map(repr, consts)
        else:
            table += [const_repr(v) if type(v) in _NESTED else repr(v) for v in consts]
    return table, bases


def _arguments(op: np.ndarray, byte: np.ndarray) -> np.ndarray:
    """Each instruction's argument with its EXTENDED_ARG prefixes applied (what ``dis`` shows)."""
    full = byte.astype(np.int64)
    after_ext = np.zeros(len(op), bool)
    after_ext[1:] = op[:-1] == dis.EXTENDED_ARG
    if after_ext.any():
        where = np.flatnonzero(after_ext)
        for _ in range(3):
            full[where] = byte[where] | (full[where - 1] << 8)
    return full


#: one file's code objects in pre-order, and for a file that is not all ASCII its converter from
#: byte to character columns and its lines (None, None for an ASCII file)
FileCode = tuple[list[CodeType], Callable[[int | None, int | None], int | None] | None, list[str] | None]


def instruction_count(code: CodeType) -> int:
    """How many instructions ``dis`` shows for ``code``: its code units that are not caches."""
    raw = code.co_code
    return len(raw) // 2 - raw[0::2].count(_CACHE)


def batch_arrays(files: list[FileCode]) -> list[pa.Array]:
    """The ``bytecode_instructions`` columns of many files' code objects, file after file (unit ids
    count from 0 in each file, in the order given)."""
    rows = sum(instruction_count(code) for file in files for code in file[0])
    return joined_arrays([files], rows)


#: the NumPy type of each column :func:`_pass` gives, in order: unit_id, offset, opcode, arg,
#: has_arg, argrepr index, is_jump_target, line, end_line, col, end_col
_PASS_TYPES = (np.int64, np.int64, np.uint8, np.int64, bool, np.int32, bool, *[np.int64] * 4)


def joined_arrays(passes: list[list[FileCode]], rows: int) -> list[pa.Array]:
    """The columns of every pass's files (``rows`` instructions in all), one array each.

    Each pass is decoded with NumPy (a pass is small enough for the processor's caches) into its rows
    of whole-length columns allocated once; those become Arrow arrays without a copy, so that the
    rows of a buffer are made in memory once (fresh memory is what costs most: see
    :func:`codequarry.schema.build_pool`)."""
    pool = build_pool()
    # in the build pool, not NumPy's own: NumPy asks for transparent huge pages for large arrays
    out = [
        np.frombuffer(pa.allocate_buffer(rows * np.dtype(t).itemsize, memory_pool=pool), t)
        for t in _PASS_TYPES
    ]
    table: list[str] = []
    at = 0
    for files in passes:
        cols, part = _pass(files)
        n = len(cols[0])
        if at + n > rows:
            raise ValueError(f"bytecode: {at + n} instructions decoded, {rows} expected")
        cols[5] += len(table)
        table += part
        for whole, col in zip(out, cols, strict=True):
            whole[at : at + n] = col
        at += n
    if at != rows:
        raise ValueError(f"bytecode: {at} instructions decoded, {rows} expected")
    unit_id, offset, op, arg, has_arg, index, label, *positions = out
    return [
        pa.array(unit_id, memory_pool=pool),
        pa.array(offset, memory_pool=pool),
        pc.take(_OPNAMES, pa.array(op), memory_pool=pool),
        pa.array(arg, mask=~has_arg, memory_pool=pool),
        pc.take(utf8_array(table, pa.string()), pa.array(index), memory_pool=pool),
        pa.array(label, memory_pool=pool),
        *(pa.array(v, mask=v < 0, memory_pool=pool) for v in positions),
    ]


def _pass(files: list[FileCode]) -> tuple[list[np.ndarray], list[str]]:
    """One pass: the columns of ``files`` as NumPy arrays (in :data:`_PASS_TYPES` order, -1 for a
    missing position) and the argrepr table the index column points into."""
    codes = [code for file in files for code in file[0]]
    raws = [code.co_code for code in codes]
    units = np.fromiter(map(len, raws), np.int64, len(raws)) >> 1
    start = np.zeros(len(codes) + 1, np.int64)
    np.cumsum(units, out=start[1:])
    raw = np.frombuffer(b"".join(raws), np.uint8)
    ins = np.flatnonzero(raw[0::2] != _CACHE)
    op, byte = raw[0::2][ins], raw[1::2][ins]
    cid = np.repeat(np.arange(len(codes)), units)[ins]
    offset = (ins - start[cid]) * 2
    has_arg = op >= dis.HAVE_ARGUMENT
    arg = _arguments(op, byte)
    kind = np.where(has_arg, _KINDS[op], 0)
    table, index = _argreprs(codes, cid, kind, arg)
    jumps, targets = _jumps(kind, offset, arg)
    index[jumps] = len(table) + np.arange(len(jumps))
    table += [f"to {t}" for t in targets.tolist()]
    label = _labels(codes, units, start, cid[jumps], targets)
    line, end_line, col, end_col = _positions(codes, int(start[-1]), ins)
    if any(convert is not None for _codes, convert, _lines in files):
        _to_characters(files, np.bincount(cid, minlength=len(codes)), line, col, end_line, end_col)
    unit_id = np.concatenate([np.arange(len(f[0]), dtype=np.int64) for f in files])[cid]
    return [unit_id, offset, op, arg, has_arg, index, label[ins], line, end_line, col, end_col], table


def _to_characters(
    files: list[FileCode],
    counts: np.ndarray,
    line: np.ndarray,
    col: np.ndarray,
    end_line: np.ndarray,
    end_col: np.ndarray,
) -> None:
    """Byte columns to character columns, in place, in the rows of the files that are not ASCII."""
    first_code = 0
    row_start = np.concatenate(([0], np.cumsum(counts)))
    for file_codes, convert, lines in files:
        part = slice(row_start[first_code], row_start[first_code + len(file_codes)])
        first_code += len(file_codes)
        if convert is None:
            continue
        wide = np.array([i for i, text in enumerate(lines or (), 1) if not text.isascii()], np.int64)
        col[part] = _characters(convert, wide, line[part], col[part])
        end_col[part] = _characters(convert, wide, end_line[part], end_col[part])


def _argreprs(
    codes: list[CodeType], cid: np.ndarray, kind: np.ndarray, arg: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """The argrepr table and each instruction's index in it (jumps are filled in by the caller)."""
    table, bases = _table(codes)
    index = np.zeros(len(kind), np.int64)
    for k, base in ((2, bases[0]), (7, bases[2]), (1, bases[3])):
        m = kind == k
        index[m] = base[cid[m]] + arg[m]
    m = kind == 3
    index[m] = np.where(arg[m] & 1, bases[1][cid[m]], bases[0][cid[m]]) + (arg[m] >> 1)
    for k, base, mask in ((8, _CMP, -1), (11, _BIN, -1), (9, _FMT, 7), (10, _MKFN, 15)):
        m = kind == k
        index[m] = base + (arg[m] & mask)
    return table, index


def _jumps(kind: np.ndarray, offset: np.ndarray, arg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of jump instructions and the offsets they jump to (in their own code object)."""
    jumps = np.flatnonzero((kind >= 4) & (kind <= 6))
    k = kind[jumps]
    targets = np.where(k == 4, 0, offset[jumps] + 2) + np.where(k == 6, -2, 2) * arg[jumps]
    return jumps, targets


def _labels(
    codes: list[CodeType], units: np.ndarray, start: np.ndarray, jump_cid: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Per code unit of the batch, whether a jump or an exception handler lands on it."""
    label = np.zeros(int(start[-1]) + 1, bool)
    inside = (targets >= 0) & (targets < 2 * units[jump_cid])
    label[start[jump_cid][inside] + (targets[inside] >> 1)] = True
    for c, code in enumerate(codes):
        if code.co_exceptiontable:
            handlers = [t >> 1 for t in _exception_targets(code) if t < 2 * units[c]]
            label[start[c] + np.array(handlers, np.int64)] = True
    return label


def _signed(u: np.ndarray) -> np.ndarray:
    return np.where(u & 1, -(u >> 1), u >> 1)


def _varints(b: np.ndarray, starts: np.ndarray, ends: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """The varints (6 bits a byte, 64 = more, least significant first) that fill the payload of
    the given entries (from the byte after each entry's first to the next entry), in order."""
    first_byte = starts[entries] + 1
    size = ends[entries] - first_byte
    at = np.repeat(first_byte - np.cumsum(size) + size, size) + np.arange(int(size.sum()))
    vb = b[at].astype(np.int64)
    last = (vb & 64) == 0
    first = np.ones(len(vb), bool)
    first[1:] = last[:-1]
    vstart = np.flatnonzero(first)
    shift = 6 * (np.arange(len(vb)) - np.repeat(vstart, np.diff(np.append(vstart, len(vb)))))
    return np.add.reduceat((vb & 63) << shift, vstart) if len(vb) else np.zeros(0, np.int64)


def _characters(
    convert: Callable[[int | None, int | None], int | None],
    lines: np.ndarray,
    line: np.ndarray,
    col: np.ndarray,
) -> np.ndarray:
    """Byte columns as character columns, converting only the rows on a line that is not ASCII
    (``lines``: their numbers)."""
    out = col.copy()
    rows = np.flatnonzero(np.isin(line, lines) & (col >= 0))
    out[rows] = [convert(ln, c) for ln, c in zip(line[rows].tolist(), col[rows].tolist(), strict=True)]
    return out


def _positions(codes: list[CodeType], units: int, ins: np.ndarray) -> tuple[np.ndarray, ...]:
    """(line, end_line, col, end_col) of the code units ``ins``, -1 for None: what ``co_positions``
    gives, read from ``co_linetable`` (CPython's Objects/locations.md) in one vectorised pass.

    An entry starts with a byte >= 128: bits 3-6 its form, bits 0-2 how many code units it covers
    less one; no other byte reaches 128 (the compiler keeps one-byte columns under 128). Forms: 0-9
    short (same line, one byte of columns), 10-12 one line (line delta form - 10, two column bytes),
    13 no columns (signed varint line delta), 14 long (line delta, end-line delta, column + 1,
    end column + 1 as varints), 15 no location."""
    tables = [code.co_linetable for code in codes]
    b = np.frombuffer(b"".join(tables), np.uint8)
    table_start = np.zeros(len(codes) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, tables), np.int64, len(tables)), out=table_start[1:])
    starts = np.flatnonzero(b >= 128)
    head = b[starts].astype(np.int64)
    form = (head >> 3) & 15
    owner = np.searchsorted(table_start, starts, side="right") - 1
    nocol, long, none = form == 13, form == 14, form == 15
    one = (form >= 10) & (form <= 12)
    short = form < 10
    vals = _varints(b, starts, np.append(starts[1:], len(b)), nocol | long)
    first_var = np.cumsum(np.where(nocol, 1, np.where(long, 4, 0)))
    first_var -= np.where(nocol, 1, np.where(long, 4, 0))
    delta = np.where(one, form - 10, 0)
    delta[nocol | long] = _signed(vals[first_var[nocol | long]])
    total = np.cumsum(delta)
    first_entry = np.searchsorted(starts, table_start[:-1])
    before = np.where(first_entry > 0, total[np.maximum(first_entry - 1, 0)], 0)
    firstlineno = np.fromiter((code.co_firstlineno for code in codes), np.int64, len(codes))
    line = firstlineno[owner] + total - before[owner]
    # columns per form, each computed on its own entries only
    col = np.full(len(starts), -1, np.int64)
    end_col = col.copy()
    end_line = line.copy()
    last = len(b) - 1
    rows = np.flatnonzero(short)
    second = b[np.minimum(starts[rows] + 1, last)].astype(np.int64)
    col[rows] = (form[rows] << 3) | (second >> 4)
    end_col[rows] = col[rows] + (second & 15)
    rows = np.flatnonzero(one)
    col[rows] = b[np.minimum(starts[rows] + 1, last)]
    end_col[rows] = b[np.minimum(starts[rows] + 2, last)]
    rows = np.flatnonzero(long)
    at = first_var[rows]  # a long entry's four varints: line delta, end-line delta, col + 1, end col + 1
    end_line[rows] += vals[at + 1]
    col[rows] = vals[at + 2] - 1
    end_col[rows] = vals[at + 3] - 1
    end_line[none] = -1
    line[none] = -1
    covers = (head & 7) + 1
    if int(covers.sum()) != units:  # not the compiler's table: what co_positions itself says
        given = [p for code in codes for p in code.co_positions()]
        whole = (np.array([-1 if v is None else v for v in c], np.int64) for c in zip(*given, strict=True))
        return tuple(v[ins] for v in whole)
    entry = np.repeat(np.arange(len(starts)), covers)[ins]
    return line[entry], end_line[entry], col[entry], end_col[entry]


def available() -> bool:
    """Whether this interpreter's bytecode is the one this decoder reads (CPython 3.11)."""
    return FAST


def list_arrays(cols: tuple[list[Any], ...]) -> list[pa.Array]:
    """The same columns from :func:`bytecode_decode.decode`'s lists (a file whose lines are not all
    ASCII, whose columns it converts from bytes to characters)."""
    types = (pa.int64(), pa.int64(), pa.string(), pa.int64(), pa.string(), pa.bool_())
    return [utf8_array(values, t) for values, t in zip(cols, (*types, *[pa.int64()] * 4), strict=True)]


__all__ = ["FileCode", "available", "batch_arrays", "instruction_count", "joined_arrays", "list_arrays"]

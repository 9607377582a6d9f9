"""A fast decoder of CPython 3.11 bytecode, giving what ``dis.Bytecode`` gives, column-wise.

``dis`` builds a named tuple per instruction and a ``Positions`` per instruction; for millions of
instructions that is most of the layer's cost. This decoder reads ``co_code`` directly with the
public opcode tables and appends straight into the layer's columns. It is used on CPython 3.11 only
(where the test suite checks it instruction by instruction against ``dis`` over the standard
library); any other interpreter goes through ``dis`` (see :func:`decoder`).

One deliberate difference from ``dis``: constants are shown deterministically. A code object's repr
holds a memory address and a frozenset's order follows string hashing, which changes per process;
both would make a file's rows differ between two runs. ``const_repr`` shows ``<code NAME, line N>``
and frozensets sorted.
"""

from __future__ import annotations

import dis
import opcode
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any

FAST = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)


def const_repr(value: Any) -> str:
    """``repr`` that is the same in every process (see the module docstring)."""
    if isinstance(value, CodeType):
        return f"<code {value.co_name}, line {value.co_firstlineno}>"
    if isinstance(value, frozenset):
        return (
            "frozenset({" + ", ".join(sorted(const_repr(v) for v in value)) + "})" if value else "frozenset()"
        )
    if isinstance(value, tuple) and any(isinstance(v, CodeType | frozenset | tuple) for v in value):
        inner = ", ".join(const_repr(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _exception_targets(code: CodeType) -> set[int]:
    """Handler offsets of the exception table (format: CPython's Objects/exception_handling_notes.txt):
    entries of four varints (start, length, target, depth and lasti), 6 bits a byte, 0x40 = more."""
    table = code.co_exceptiontable
    targets: set[int] = set()
    i, n, field, value = 0, len(table), 0, 0
    while i < n:
        b = table[i]
        i += 1
        value = (value << 6) | (b & 63)
        if b & 64:
            continue
        if field == 2:
            targets.add(value * 2)
        field = (field + 1) % 4
        value = 0
    return targets


def _tables() -> dict[str, Any]:
    """Per opcode, how its argument reads: a small int kind, looked up once per instruction."""
    kind = [0] * 256
    for op in dis.hasconst:
        kind[op] = 1 if op == dis.opmap["LOAD_CONST"] else 0
    for op in dis.hasname:
        kind[op] = 2
    kind[dis.opmap["LOAD_GLOBAL"]] = 3
    for op in dis.hasjabs:
        kind[op] = 4
    for op in dis.hasjrel:
        kind[op] = 6 if "JUMP_BACKWARD" in dis.opname[op] else 5
    for op in (*dis.haslocal, *dis.hasfree):
        kind[op] = 7
    for op in dis.hascompare:
        kind[op] = 8
    kind[dis.opmap["FORMAT_VALUE"]] = 9
    kind[dis.opmap["MAKE_FUNCTION"]] = 10
    kind[dis.opmap["BINARY_OP"]] = 11
    caches = list(getattr(opcode, "_inline_cache_entries", [0] * 256))
    return {
        "kind": kind,
        "caches": caches,
        "binary": [name for _, name in getattr(opcode, "_nb_ops", [])],
        "format": getattr(dis, "FORMAT_VALUE_CONVERTERS", ()),
        "make_function": getattr(dis, "MAKE_FUNCTION_FLAGS", ()),
    }


_T = _tables() if FAST else {}


def decode(
    code: CodeType,
    cols: tuple[list[Any], ...],
    uid: int,
    convert: Callable[[int | None, int | None], int | None] | None,
) -> int:
    """Append every instruction of ``code`` (no inline caches) to the columns ``(unit_id, offset,
    opname, arg, argrepr, is_jump_target, line, end_line, col, end_col)``; return how many.

    One pass; ``is_jump_target`` is written False and then set for every offset a jump or an
    exception handler lands on."""
    (c_unit, c_offset, c_opname, c_arg, c_argrepr, c_jump, c_line, c_end_line, c_col, c_end_col) = cols
    a_offset, a_opname, a_arg, a_argrepr = (
        c_offset.append,
        c_opname.append,
        c_arg.append,
        c_argrepr.append,
    )
    a_line, a_end_line, a_col, a_end_col = c_line.append, c_end_line.append, c_col.append, c_end_col.append
    first = len(c_offset)
    raw = code.co_code
    positions = list(code.co_positions())
    kinds, caches, opnames, binary = _T["kind"], _T["caches"], dis.opname, _T["binary"]
    extended = dis.EXTENDED_ARG
    have_argument = dis.HAVE_ARGUMENT
    names, consts = code.co_names, code.co_consts
    local_name = code._varname_from_oparg  # type: ignore[attr-defined]  # localsplus names (3.11)
    labels = _exception_targets(code) if code.co_exceptiontable else set()
    ext = 0
    i, end = 0, len(raw)
    while i < end:
        op = raw[i]
        argrepr = ""
        if op < have_argument:
            arg: Any = None
            ext = 0
        else:
            arg = raw[i + 1] | ext
            ext = (arg << 8) if op == extended else 0
            k = kinds[op]
            if k == 7:
                argrepr = local_name(arg)
            elif k == 2:
                argrepr = names[arg]
            elif k == 1:
                argrepr = const_repr(consts[arg])
            elif k == 3:
                argrepr = ("NULL + " + names[arg >> 1]) if arg & 1 else names[arg >> 1]
            elif k == 0:
                pass
            elif k == 5:
                labels.add(i + 2 + arg * 2)
                argrepr = f"to {i + 2 + arg * 2}"
            elif k == 6:
                labels.add(i + 2 - arg * 2)
                argrepr = f"to {i + 2 - arg * 2}"
            elif k == 4:
                labels.add(arg * 2)
                argrepr = f"to {arg * 2}"
            elif k == 11:
                argrepr = binary[arg]
            else:
                argrepr = _other_argrepr(k, arg)
        line, end_line, col, end_col = positions[i >> 1]
        if convert is not None:
            col, end_col = convert(line, col), convert(end_line, end_col)
        a_offset(i)
        a_opname(opnames[op])
        a_arg(arg)
        a_argrepr(argrepr)
        a_line(line)
        a_end_line(end_line)
        a_col(col)
        a_end_col(end_col)
        i += 2 + 2 * caches[op]
    n = len(c_offset) - first
    c_unit.extend([uid] * n)
    c_jump.extend([False] * n)
    if labels:
        _mark_jump_targets(c_offset, c_jump, first, labels)
    return n


def _other_argrepr(k: int, arg: int) -> str:
    """The argrepr of the rarer argument kinds: a comparison (8), ``FORMAT_VALUE`` (9), the flags of
    ``MAKE_FUNCTION`` (10)."""
    if k == 8:
        return dis.cmp_op[arg]
    if k == 9:
        argrepr: str = _T["format"][arg & 3][1]
        if arg & 4:
            argrepr = argrepr + ", with format" if argrepr else "with format"
        return argrepr
    return ", ".join(s for b, s in enumerate(_T["make_function"]) if arg & (1 << b))


def _mark_jump_targets(c_offset: list[Any], c_jump: list[Any], first: int, labels: set[int]) -> None:
    """Set ``is_jump_target`` of the rows (from row ``first`` on) whose offset is in ``labels``."""
    row = {off: first + r for r, off in enumerate(c_offset[first:])}
    for target in labels:
        at = row.get(target)
        if at is not None:
            c_jump[at] = True


def decode_with_dis(
    code: CodeType,
    cols: tuple[list[Any], ...],
    uid: int,
    convert: Callable[[int | None, int | None], int | None] | None,
) -> int:
    """The same columns from ``dis.Bytecode`` (any interpreter), constants shown as above."""
    n = 0
    for ins in dis.Bytecode(code):
        line, end_line, col, end_col = ins.positions or (None, None, None, None)
        if convert is not None:
            col, end_col = convert(line, col), convert(end_line, end_col)
        argrepr = const_repr(ins.argval) if ins.opcode in dis.hasconst and ins.argrepr else ins.argrepr
        for column, value in zip(
            cols,
            (
                uid,
                ins.offset,
                ins.opname,
                ins.arg,
                argrepr,
                ins.is_jump_target,
                line,
                end_line,
                col,
                end_col,
            ),
            strict=True,
        ):
            column.append(value)
        n += 1
    return n


def decoder() -> Callable[..., int]:
    """The fast decoder on CPython 3.11, ``dis`` elsewhere."""
    return decode if FAST else decode_with_dis

"""Schemas of JSON-lines tools: from the recipe (``schema = {name = "str", line = "int?"}``) or from
a tool's own schema command, and the strict check that a record fits.

Types: ``str``, ``int``, ``float``, ``bool`` and ``list[T]``; a trailing ``?`` makes a field
optional (missing or null), otherwise it is required. A schema command may print the same table as
JSON, or lean_scout's format (``{"fields": [{"name", "nullable", "type": {"datatype": ...}}]}``,
which also allows structs). Checking is columnar: the set of Python types in a column is computed
in C, and only a column holding a stray type is looked at value by value.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa

_NAMES = {
    "str": pa.string(), "string": pa.string(),
    "int": pa.int64(), "int64": pa.int64(), "integer": pa.int64(), "nat": pa.int64(),
    "float": pa.float64(), "float64": pa.float64(), "double": pa.float64(),
    "bool": pa.bool_(), "boolean": pa.bool_(),
}
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class SchemaProblem(ValueError):
    """A schema that cannot be read; the message says which field and why."""


def parse_type(text: str) -> tuple[pa.DataType, bool]:
    """'int' -> (int64, required); 'list[str]?' -> (list<string>, optional)."""
    raw = text.strip()
    nullable = raw.endswith("?")
    raw = raw.rstrip("?").strip()
    return _type_of(raw, text), nullable


def _type_of(raw: str, original: str) -> pa.DataType:
    low = raw.lower()
    if low in _NAMES:
        return _NAMES[low]
    if low.startswith("list[") and low.endswith("]"):
        return pa.list_(_type_of(raw[5:-1].strip(), original))
    raise SchemaProblem(f"unknown type '{original}': use str, int, float, bool or list[T], with '?' for optional")


def fields_from_table(table: dict[str, Any]) -> list[pa.Field]:
    """The recipe's ``schema = {...}`` (name -> type string)."""
    if not table:
        raise SchemaProblem("the schema declares no field")
    out = []
    for name, text in table.items():
        if not isinstance(text, str):
            raise SchemaProblem(f"field '{name}': the type must be a string such as \"int\" or \"str?\"")
        if not name.isidentifier():
            raise SchemaProblem(f"field '{name}': a column name is letters, digits and '_'")
        try:
            tp, nullable = parse_type(text)
        except SchemaProblem as exc:
            raise SchemaProblem(f"field '{name}': {exc}") from None
        out.append(pa.field(name, tp, nullable=nullable))
    return out


def fields_from_json(text: str) -> list[pa.Field]:
    """What a schema command printed: a name -> type table, or lean_scout's field list."""
    try:
        data = json.loads(text.strip().splitlines()[-1] if text.strip() and not text.strip().startswith("{")
                          else text)
    except (json.JSONDecodeError, IndexError) as exc:
        raise SchemaProblem(f"the schema command did not print a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaProblem("the schema command did not print a JSON object")
    if isinstance(data.get("fields"), list):
        return [_lean_field(f) for f in data["fields"]]
    return fields_from_table(data)


def _lean_field(obj: Any) -> pa.Field:
    if not isinstance(obj, dict) or "name" not in obj:
        raise SchemaProblem(f"a field of the schema has no name: {obj!r:.80}")
    return pa.field(str(obj["name"]), _lean_type(obj.get("type", {}), obj["name"]),
                    nullable=bool(obj.get("nullable", True)))


def _lean_type(obj: Any, where: str) -> pa.DataType:
    kind = obj.get("datatype") if isinstance(obj, dict) else None
    if kind in ("bool", "nat", "int", "float", "string"):
        return _NAMES[kind]
    if kind == "list":
        return pa.list_(_lean_type(obj.get("item", {}), where))
    if kind == "struct":
        return pa.struct([_lean_field(c) for c in obj.get("children", [])])
    raise SchemaProblem(f"field '{where}': unknown datatype {kind!r}")


def fields_to_json(fields: list[pa.Field]) -> str:
    """A schema in lean_scout's JSON format (the canonical form a plan carries)."""
    return json.dumps({"fields": [_field_json(f) for f in fields]}, sort_keys=True)


def _field_json(f: pa.Field) -> dict[str, Any]:
    return {"name": f.name, "nullable": f.nullable, "type": _type_json(f.type)}


def _type_json(tp: pa.DataType) -> dict[str, Any]:
    if pa.types.is_list(tp):
        return {"datatype": "list", "item": _type_json(tp.value_type)}
    if pa.types.is_struct(tp):
        return {"datatype": "struct", "children": [_field_json(tp.field(i)) for i in range(tp.num_fields)]}
    names = {pa.string(): "string", pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}
    return {"datatype": names[tp]}


def describe(fields: list[pa.Field]) -> dict[str, str]:
    """name -> 'int' / 'list[str]?' for people (the plan printout)."""
    def name(tp: pa.DataType) -> str:
        if pa.types.is_list(tp):
            return f"list[{name(tp.value_type)}]"
        if pa.types.is_struct(tp):
            return "{" + ", ".join(f"{tp.field(i).name}: {name(tp.field(i).type)}" for i in range(tp.num_fields)) + "}"
        return {pa.string(): "str", pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}.get(tp, str(tp))
    return {f.name: name(f.type) + ("?" if f.nullable else "") for f in fields}


# -- checking records -------------------------------------------------------------------------------

def _scalar_check(tp: pa.DataType) -> Callable[[Any], bool]:
    if tp == pa.string():
        return lambda v: type(v) is str
    if tp == pa.int64():
        return lambda v: type(v) is int and _INT_MIN <= v <= _INT_MAX
    if tp == pa.float64():
        return lambda v: type(v) in (int, float)
    if tp == pa.bool_():
        return lambda v: type(v) is bool
    if pa.types.is_list(tp):
        inner = _value_check(tp.value_type, True)
        return lambda v: type(v) is list and all(inner(x) for x in v)
    if pa.types.is_struct(tp):
        subs = [(tp.field(i).name, _value_check(tp.field(i).type, tp.field(i).nullable)) for i in range(tp.num_fields)]
        names = {n for n, _ in subs}
        return lambda v: type(v) is dict and v.keys() <= names and all(c(v.get(n)) for n, c in subs)
    raise SchemaProblem(f"unsupported type {tp}")


def _value_check(tp: pa.DataType, nullable: bool) -> Callable[[Any], bool]:
    check = _scalar_check(tp)
    if nullable:
        return lambda v: v is None or check(v)
    return lambda v: v is not None and check(v)


_FAST: dict[pa.DataType, set[type]] = {pa.string(): {str}, pa.int64(): {int}, pa.float64(): {int, float}, pa.bool_(): {bool}}


_NONE = type(None)


def _fast_ok(col: list[Any], tp: pa.DataType, nullable: bool) -> bool:
    """Does a whole column fit, judged from the set of its value types (computed in C)? False means
    'look value by value', not 'wrong'."""
    kinds = set(map(type, col))
    if nullable:
        kinds.discard(_NONE)
    if pa.types.is_list(tp):
        if not kinds <= {list}:
            return False
        flat = list(itertools.chain.from_iterable(v for v in col if v is not None))
        return _fast_ok(flat, tp.value_type, True)
    allowed = _FAST.get(tp)
    if allowed is None or not kinds <= allowed:
        return False
    if tp == pa.int64():
        ints = [v for v in col if v is not None]
        return not ints or (min(ints) >= _INT_MIN and max(ints) <= _INT_MAX)
    return True


class RecordChecker:
    """Turns lists of decoded records into Arrow batches, setting aside the ones that do not fit."""

    def __init__(self, fields: list[pa.Field]) -> None:
        self.fields = fields
        self.schema = pa.schema(fields)
        self.names = frozenset(f.name for f in fields)
        self._checks = [_value_check(f.type, f.nullable) for f in fields]

    def problem(self, record: Any) -> str | None:
        """Why one record does not fit (None when it does)."""
        if type(record) is not dict:
            return f"a record is a JSON object, got {type(record).__name__}"
        extra = record.keys() - self.names
        if extra:
            name = sorted(extra)[0]
            return f"unknown field '{name}' (the schema has {', '.join(sorted(self.names))})"
        for f, check in zip(self.fields, self._checks, strict=True):
            value = record.get(f.name)
            if not check(value):
                if value is None:
                    return f"field '{f.name}' is required"
                return f"field '{f.name}' expects {describe([f])[f.name]}, got {type(value).__name__} {value!r:.60}"
        return None

    def build(self, records: list[dict[str, Any]]) -> tuple[pa.RecordBatch | None, list[tuple[int, str]]]:
        """(batch of the records that fit, [(index, reason)] of those that do not)."""
        bad: dict[int, str] = {}
        columns: list[list[Any]] = []
        for f, check in zip(self.fields, self._checks, strict=True):
            col = [r.get(f.name) for r in records]
            ok = _fast_ok(col, f.type, f.nullable)
            if not ok:
                for i, v in enumerate(col):
                    if i not in bad and not check(v):
                        bad[i] = self.problem(records[i]) or f"field '{f.name}' does not fit"
            columns.append(col)
        if bad:
            keep = [i for i in range(len(records)) if i not in bad]
            columns = [[c[i] for i in keep] for c in columns]
        if not columns or not columns[0]:
            return None, sorted(bad.items())
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, self.fields, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema), sorted(bad.items())

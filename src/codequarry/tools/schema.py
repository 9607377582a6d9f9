"""Schemas of JSON-lines tools: from the recipe (``schema = {name = "str", line = "int?"}``) or from
a tool's own schema command, and the check that a record fits.

Types: ``str``, ``int``, ``float``, ``bool`` and ``list[T]``; a trailing ``?`` makes a field
optional (missing or null), otherwise it is required. A nested table declares a struct column
(``location = {row = "int", column = "int"}``: the fields of the object it names), and a quoted
dotted name declares a column taken from inside an object (``"location.row" = "int"`` is the column
``location_row``). A schema command may print the same table as JSON, or lean_scout's format
(``{"fields": [{"name", "nullable", "type": {"datatype": ...}}]}``, which also allows structs).

Real tools print more than a user declares: fields a record has and the schema does not are
ignored (``extra = "ignore"``, the default), kept as one JSON text column ``extra``
(``extra = "json"``), or make the record invalid (``extra = "forbid"``). Checking is columnar: the
set of Python types in a column is computed in C, and only a column holding a stray type is looked
at value by value.
"""

from __future__ import annotations

import itertools
import json
import re
import reprlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from codequarry.schema import utf8_array

_NAMES = {
    "str": pa.string(),
    "string": pa.string(),
    "int": pa.int64(),
    "int64": pa.int64(),
    "integer": pa.int64(),
    "nat": pa.int64(),
    "float": pa.float64(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
}
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
EXTRA_MODES = ("ignore", "json", "forbid")
EXTRA_COLUMN = "extra"
_PATH = b"path"  # field metadata: the dotted path of a column taken from inside an object
_KEY = re.compile(r"^[^.]+(\.[^.]+)*$")


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
    raise SchemaProblem(
        f"unknown type '{original}': use str, int, float, bool or list[T], with '?' for optional"
    )


def fields_from_table(table: dict[str, Any], *, nested: bool = False) -> list[pa.Field]:
    """The recipe's ``schema = {...}``: name -> type string, or -> a table (a struct column);
    a dotted name ``a.b`` takes the column ``a_b`` from inside the object ``a``."""
    if not table:
        raise SchemaProblem("the schema declares no field")
    out: list[pa.Field] = []
    for name, value in table.items():
        path = name.split(".") if "." in name and not nested else None
        column = "_".join(path) if path else name
        if path is not None and not _KEY.match(name):
            raise SchemaProblem(
                f"field '{name}': a dotted path is names joined by '.', such as \"location.row\""
            )
        if not (column.isidentifier() or (nested and name)):
            raise SchemaProblem(f"field '{name}': a column name is letters, digits and '_'")
        if isinstance(value, dict):
            try:
                f = pa.field(column, pa.struct(fields_from_table(value, nested=True)), nullable=True)
            except SchemaProblem as exc:
                raise SchemaProblem(f"field '{name}'.{exc}") from None
        elif isinstance(value, str):
            try:
                tp, nullable = parse_type(value)
            except SchemaProblem as exc:
                raise SchemaProblem(f"field '{name}': {exc}") from None
            f = pa.field(column, tp, nullable=nullable)
        else:
            raise SchemaProblem(
                f'field \'{name}\': the type must be a string such as "int" or "str?", '
                "or a table of the object's fields"
            )
        if path is not None:
            f = f.with_metadata({_PATH: ".".join(path).encode()})
        if any(o.name == column for o in out):
            raise SchemaProblem(f"field '{name}': the column '{column}' is declared twice")
        out.append(f)
    return out


def path_of(f: pa.Field) -> list[str] | None:
    """The keys leading to a column declared with a dotted name (None: the field of the same name)."""
    raw = (f.metadata or {}).get(_PATH)
    return raw.decode().split(".") if raw else None


def table_fields(declared: list[pa.Field], extra: str) -> list[pa.Field]:
    """The columns of a tool's table: the declared fields, and ``extra`` (JSON text) with extra = "json"."""
    plain = [f.remove_metadata() for f in declared]  # the path is how to read a column, not part of it
    if extra == "json":
        return [*plain, pa.field(EXTRA_COLUMN, pa.string(), nullable=True)]
    return plain


def fields_from_json(text: str) -> list[pa.Field]:
    """What a schema command printed: a name -> type table, or lean_scout's field list."""
    try:
        data = json.loads(
            text.strip().splitlines()[-1] if text.strip() and not text.strip().startswith("{") else text
        )
    except (json.JSONDecodeError, IndexError) as exc:
        raise SchemaProblem(f"the schema command did not print a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaProblem("the schema command did not print a JSON object")
    if isinstance(data.get("fields"), list):
        return [field_from_json(f) for f in data["fields"]]
    return fields_from_table(data)


def field_from_json(obj: Any) -> pa.Field:
    """One field in the canonical JSON form (lean_scout's field format, which plans carry)."""
    if not isinstance(obj, dict) or "name" not in obj:
        raise SchemaProblem(f"a field of the schema has no name: {obj!r:.80}")
    f = pa.field(
        str(obj["name"]),
        _type_from_json(obj.get("type", {}), obj["name"]),
        nullable=bool(obj.get("nullable", True)),
    )
    if isinstance(obj.get("path"), list) and obj["path"]:
        f = f.with_metadata({_PATH: ".".join(str(p) for p in obj["path"]).encode()})
    return f


def _type_from_json(obj: Any, where: str) -> pa.DataType:
    kind = obj.get("datatype") if isinstance(obj, dict) else None
    if kind in ("bool", "nat", "int", "float", "string"):
        return _NAMES[kind]
    if kind == "list":
        return pa.list_(_type_from_json(obj.get("item", {}), where))
    if kind == "struct":
        return pa.struct([field_from_json(c) for c in obj.get("children", [])])
    raise SchemaProblem(f"field '{where}': unknown datatype {kind!r}")


def fields_to_json(fields: list[pa.Field]) -> str:
    """A schema in lean_scout's JSON format (the canonical form a plan carries)."""
    return json.dumps({"fields": [_field_json(f) for f in fields]}, sort_keys=True)


def _field_json(f: pa.Field) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "nullable": f.nullable, "type": _type_json(f.type)}
    path = path_of(f)
    if path:
        out["path"] = path
    return out


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
            return (
                "{"
                + ", ".join(f"{tp.field(i).name}: {name(tp.field(i).type)}" for i in range(tp.num_fields))
                + "}"
            )
        return {pa.string(): "str", pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}.get(
            tp, str(tp)
        )

    out = {}
    for f in fields:
        path = path_of(f)
        out[f.name] = (
            name(f.type) + ("?" if f.nullable else "") + (f" (from {'.'.join(path)})" if path else "")
        )
    return out


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
        subs = [
            (tp.field(i).name, _value_check(tp.field(i).type, tp.field(i).nullable))
            for i in range(tp.num_fields)
        ]
        return lambda v: type(v) is dict and all(c(v.get(n)) for n, c in subs)
    raise SchemaProblem(f"unsupported type {tp}")


def _value_check(tp: pa.DataType, nullable: bool) -> Callable[[Any], bool]:
    check = _scalar_check(tp)
    if nullable:
        return lambda v: v is None or check(v)
    return lambda v: v is not None and check(v)


_FAST: dict[pa.DataType, set[type]] = {
    pa.string(): {str},
    pa.int64(): {int},
    pa.float64(): {int, float},
    pa.bool_(): {bool},
}


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


_MISSING: Any = None


def _dig(record: dict[str, Any], path: list[str]) -> Any:
    value: Any = record
    for key in path:
        if type(value) is not dict:
            return _MISSING
        value = value.get(key)
    return value


class RecordChecker:
    """Turns lists of decoded records into Arrow batches, setting aside the ones that do not fit.

    ``extra`` says what becomes of the fields a record has and the schema does not declare:
    "ignore" them, keep them as JSON text in the ``extra`` column ("json"), or reject the record
    ("forbid")."""

    def __init__(self, fields: list[pa.Field], extra: str = "ignore") -> None:
        if extra not in EXTRA_MODES:
            raise SchemaProblem(f"extra = {extra!r}: use one of {', '.join(EXTRA_MODES)}")
        self.fields = fields
        self.extra = extra
        self.schema = pa.schema(table_fields(fields, extra))
        self.paths = [path_of(f) for f in fields]
        self.names = frozenset(p[0] if p else f.name for f, p in zip(fields, self.paths, strict=True))
        self._checks = [_value_check(f.type, f.nullable) for f in fields]

    def value(self, record: dict[str, Any], index: int) -> Any:
        path = self.paths[index]
        return record.get(self.fields[index].name) if path is None else _dig(record, path)

    def column(self, records: list[dict[str, Any]], index: int) -> list[Any]:
        path = self.paths[index]
        if path is None:
            name = self.fields[index].name
            return [r.get(name) for r in records]
        return [_dig(r, path) for r in records]

    def problem(self, record: Any) -> str | None:
        """Why one record does not fit (None when it does)."""
        if type(record) is not dict:
            return f"a record is a JSON object, got {type(record).__name__}"
        if self.extra == "forbid":
            unknown = record.keys() - self.names
            if unknown:
                name = sorted(unknown)[0]
                return f"unknown field '{name}' (the schema has {', '.join(sorted(self.names))})"
        for i, (f, check) in enumerate(zip(self.fields, self._checks, strict=True)):
            value = self.value(record, i)
            if not check(value):
                if value is None:
                    return f"field '{f.name}' is required"
                return f"field '{f.name}' expects {describe([f])[f.name]}, got {type(value).__name__} {shown(value)}"
        return None

    def build(
        self, records: list[dict[str, Any]], dumps: Callable[[Any], str] | None = None
    ) -> tuple[pa.RecordBatch | None, list[tuple[int, str]]]:
        """(batch of the records that fit, [(index, reason)] of those that do not)."""
        bad: dict[int, str] = {}
        columns: list[list[Any]] = []
        extra = self._extra(records, dumps or json.dumps, bad) if self.extra == "json" else None
        for i, (f, check) in enumerate(zip(self.fields, self._checks, strict=True)):
            col = self.column(records, i)
            if not _fast_ok(col, f.type, f.nullable):
                for j, v in enumerate(col):
                    if j not in bad and not check(v):
                        bad[j] = self.problem(records[j]) or f"field '{f.name}' does not fit"
            columns.append(col)
        if extra is not None:
            columns.append(extra)
        if bad:
            keep = [i for i in range(len(records)) if i not in bad]
            columns = [[c[i] for i in keep] for c in columns]
        if not columns or not columns[0]:
            return None, sorted(bad.items())
        arrays = [utf8_array(c, f.type) for c, f in zip(columns, self.schema, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema), sorted(bad.items())

    def _extra(
        self, records: list[dict[str, Any]], dumps: Callable[[Any], str], bad: dict[int, str]
    ) -> list[str | None]:
        """The ``extra`` column; a record whose undeclared fields nest too deep to write back as
        JSON (json.dumps recursed past Python's limit: the run ended in a traceback) goes in ``bad``."""
        names = self.names
        out: list[str | None] = []
        for j, r in enumerate(records):
            rest = {k: v for k, v in r.items() if k not in names}
            try:
                out.append(dumps(rest) if rest else None)
            except RecursionError:
                bad[j] = 'its undeclared fields nest too deep to keep as JSON text (extra = "json")'
                out.append(None)
        return out


#: how much of a value that does not fit an error message shows
SHOWN = 60


def shown(value: Any) -> str:
    """The start of ``value``'s repr, at most :data:`SHOWN` characters, made without walking all of
    it: a tool's record may hold a list nested 100,000 deep (``repr`` recursed past Python's limit
    and ended the run in a traceback) or a 50 MB string."""
    if isinstance(value, str):
        return repr(value[: SHOWN + 1])[:SHOWN]
    if isinstance(value, list | dict):
        return reprlib_short.repr(value)[:SHOWN]
    return repr(value)[:SHOWN]


reprlib_short = reprlib.Repr()
reprlib_short.maxlevel, reprlib_short.maxlist, reprlib_short.maxdict = 4, 12, 8
reprlib_short.maxstring = reprlib_short.maxother = SHOWN

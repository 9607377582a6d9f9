"""Plain dataclasses with the JSON surface of a pydantic model, for the records a run makes.

The run report (report/model.py) and the request of a run (plan.ExtractPlan) were pydantic models.
Importing pydantic and building their 14 models cost ~0.1 s of CPU of every `quarry extract`, a
seventh of a one-file run (docs/fast-path.md), for records that are built by codequarry itself and
read back from codequarry's own JSON. They are dataclasses now, and :class:`Plain` gives them the
few pydantic methods their readers use, with the same results:

- ``model_dump()`` (Python values: tuples stay tuples, paths stay paths) and
  ``model_dump(mode="json")`` (lists, strings, non-finite floats as ``null``), fields in declaration
  order, private fields (a leading ``_``) left out;
- ``model_dump_json(indent=None)``: that JSON as text, the same text pydantic wrote (compact, or
  indented; non-ASCII characters as they are; floats as pydantic writes them, see :func:`float_text`);
- ``model_validate(data)``: a record from a dict (unknown keys ignored), each field checked and
  converted as pydantic's lax mode does for these types (an int where a float is declared becomes a
  float, a list where a tuple is declared a tuple, a dict a nested record); anything else is a
  ``ValueError`` naming the field;
- ``model_copy(update=...)``: a copy with some fields replaced.

Only the standard library is imported here: this module is on the path of every run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

P = TypeVar("P", bound="Plain")
_NONE = type(None)


class Plain:
    """Base of a dataclass record; see the module docstring."""

    def __post_init__(self) -> None:
        # pydantic's lax mode: an int given for a float is a float, a list or other iterable given
        # for a tuple a tuple, a string given for a path a path
        cls = type(self)
        for name in _float_fields(cls):
            value = getattr(self, name)
            if type(value) is int:
                object.__setattr__(self, name, float(value))
        for name, to in _converted_fields(cls):
            value = getattr(self, name)
            if not isinstance(value, to):
                object.__setattr__(self, name, to(value))

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        """The fields as a dict (``mode="json"``: only JSON values)."""
        out: dict[str, Any] = _dump(self, mode == "json")
        return out

    def model_dump_json(self, indent: int | None = None) -> str:
        out: list[str] = []
        _write(self.model_dump(mode="json"), indent, 0, out)
        return "".join(out)

    @classmethod
    def model_validate(cls: type[P], data: Any) -> P:
        """A record from ``data`` (a dict, or a record of this class, returned as it is)."""
        if isinstance(data, cls):
            return data
        out: P = _record(cls, data, cls.__name__)
        return out

    def model_copy(self: P, update: Mapping[str, Any] | None = None) -> P:
        """A copy, with the fields in ``update`` replaced (checked again, as the constructor checks)."""
        return dataclasses.replace(self, **dict(update or {}))  # type: ignore[type-var]


#: values written as they are, in both modes
_SIMPLE = frozenset({str, int, bool, type(None)})
_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """The public fields of dataclass ``cls``, in declaration order (cached: a tools run dumps 10^5
    task records)."""
    names = _NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))
        _NAMES[cls] = names
    return names


def _dump(value: Any, as_json: bool) -> Any:
    kind = type(value)
    if kind in _SIMPLE:
        return value
    if kind is float:
        return None if as_json and not math.isfinite(value) else value  # pydantic's JSON for inf, nan
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for name in _names(kind):
            item = getattr(value, name)
            out[name] = item if type(item) in _SIMPLE else _dump(item, as_json)
        return out
    if isinstance(value, dict):
        return {(str(k) if as_json else k): _dump(v, as_json) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_dump(v, as_json) for v in value]
        return items if as_json or isinstance(value, list) else tuple(items)
    if isinstance(value, Path):
        return str(value) if as_json else value
    if as_json and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def float_text(value: float) -> str:
    """A float as pydantic writes it in JSON: Python's ``repr``, except below 1e-4, where Python
    writes ``5.4e-05`` and pydantic ``0.000054`` (down to 1e-5) or ``5.4e-5`` (below)."""
    text = repr(value)
    mantissa, e, exp = text.partition("e")
    if not e or not exp.startswith("-"):
        return text
    power = int(exp)
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    if power >= -5:  # 0.0000ddd
        digits = mantissa.replace(".", "")
        return f"{sign}0.{'0' * (-power - 1)}{digits}"
    return f"{sign}{mantissa}e{power}"


def _write(value: Any, indent: int | None, level: int, out: list[str]) -> None:
    """``value`` (JSON values) as ``json.dumps(value, indent=indent, ensure_ascii=False)`` writes it
    (compact separators without an indent), floats as :func:`float_text` writes them."""
    if isinstance(value, float):
        out.append(float_text(value))
    elif isinstance(value, dict | list) and value:
        inner = "" if indent is None else "\n" + " " * indent * (level + 1)
        sep = ":" if indent is None else ": "
        out.append("{" if isinstance(value, dict) else "[")
        for i, item in enumerate(value.items() if isinstance(value, dict) else value):
            out.append(("," if i else "") + inner)
            if isinstance(value, dict):
                out.append(json.dumps(item[0], ensure_ascii=False) + sep)
                item = item[1]
            _write(item, indent, level + 1, out)
        out.append(
            ("" if indent is None else "\n" + " " * indent * level)
            + ("}" if isinstance(value, dict) else "]")
        )
    else:
        out.append(json.dumps(value, ensure_ascii=False))


_HINTS: dict[type, dict[str, Any]] = {}
_FLOATS: dict[type, tuple[str, ...]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of dataclass ``cls`` (cached)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _float_fields(cls: type) -> tuple[str, ...]:
    names = _FLOATS.get(cls)
    if names is None:
        hints = _hints(cls)
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if hints.get(f.name) is float or _optional_float(hints.get(f.name))
        )
        _FLOATS[cls] = names
    return names


_CONVERTED: dict[type, tuple[tuple[str, type], ...]] = {}


def _converted_fields(cls: type) -> tuple[tuple[str, type], ...]:
    """(name, tuple or Path) of each field of dataclass ``cls`` declared as a tuple or a path (cached)."""
    got = _CONVERTED.get(cls)
    if got is None:
        hints = _hints(cls)
        got = tuple(
            (f.name, to)
            for f in dataclasses.fields(cls)
            if f.init
            for to in (tuple, Path)
            if hints.get(f.name) is to or typing.get_origin(hints.get(f.name)) is to
        )
        _CONVERTED[cls] = got
    return got


def _optional_float(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and set(typing.get_args(tp)) == {float, _NONE}


_FIELDS: dict[type, tuple[tuple[str, Any, bool, frozenset[type]], ...]] = {}
_SHAPES: dict[Any, tuple[Any, tuple[Any, ...]]] = {}


def _fields(cls: type) -> tuple[tuple[str, Any, bool, frozenset[type]], ...]:
    """(name, type, required, the value types kept as they are) of each field of dataclass ``cls``
    its constructor takes (cached)."""
    got = _FIELDS.get(cls)
    if got is None:
        hints = _hints(cls)
        got = tuple(
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                _kept(hints[f.name]),
            )
            for f in dataclasses.fields(cls)
            if f.init
        )
        _FIELDS[cls] = got
    return got


def _kept(tp: Any) -> frozenset[type]:
    """The types of the values that a field of type ``tp`` takes unchanged (a float as a float,
    None for an optional field): no conversion to look up."""
    if tp in (str, int, bool, float):
        return frozenset({tp})
    origin, args = _shape(tp)
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_kept(a) if a is not _NONE else {_NONE} for a in args))
    return frozenset()


def _shape(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    got = _SHAPES.get(tp)
    if got is None:
        got = (typing.get_origin(tp), typing.get_args(tp))
        _SHAPES[tp] = got
    return got


def _record(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    values = {}
    for name, tp, required, kept in _fields(cls):
        if name in data:
            value = data[name]
            if type(value) in kept:  # the common case: a value of the declared type
                values[name] = value
            else:
                values[name] = _convert(tp, value, f"{where}.{name}")
        elif required:
            raise ValueError(f"{where}.{name}: field required")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _convert(tp: Any, value: Any, where: str) -> Any:  # noqa: PLR0911, C901 - one case per type
    """``value`` as type ``tp``, converted as pydantic's lax mode does for the types records use."""
    if tp is Any:
        return value
    origin, args = _shape(tp)
    if origin in (Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        errors = []
        for arg in args:
            if arg is _NONE:
                continue
            try:
                return _convert(arg, value, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        if value in args:
            return value
        raise ValueError(f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if type(value) is int and value in (0, 1):
            return bool(value)
    elif tp is int:
        if type(value) is int:
            return value
        if type(value) is float and value.is_integer():
            return int(value)
    elif tp is float:
        if type(value) in (int, float):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, str | Path):
            return Path(value)
    elif origin in (list, tuple) and isinstance(value, list | tuple):
        item = args[0] if args else Any
        inner = f"{where}[]"
        items = [_convert(item, v, inner) for v in value]
        return items if origin is list else tuple(items)
    elif origin is dict and isinstance(value, Mapping):
        key, val = args if args else (Any, Any)
        return {_convert(key, k, where): _convert(val, v, f"{where}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        return _record(tp, value, where)
    raise ValueError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")

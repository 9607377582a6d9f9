"""Which members of a validation model are fields, and what each declares (type, required,
nullable, default, factory, alias): the rules of pydantic (v1 and v2), SQLModel, dataclasses, attrs
and marshmallow, one function per family. Used by :mod:`.validation`."""

from __future__ import annotations

import re
from typing import Any

from codequarry.extractors.python.models.candidates import last_part

_ATTRS_FIELDS = frozenset({"ib", "attrib", "attr", "field"})
_CLASSVAR = re.compile(r"^(typing\.)?(ClassVar|KW_ONLY|InitVar)\b|(^|\.)KW_ONLY$")


def attrs_declares(row: dict[str, Any]) -> bool:
    """Whether an attrs class takes annotated attributes as fields (``@define``, ``auto_attribs=True``)."""
    for d in row["decorators"]:
        last = last_part(d["name"])
        if last in ("define", "frozen", "mutable"):
            return not any(kv["name"] == "auto_attribs" and kv["value"] == "False" for kv in d["keywords"])
        if last in ("s", "attrs", "dataclass"):
            return last == "dataclass" or any(
                kv["name"] == "auto_attribs" and kv["value"] == "True" for kv in d["keywords"]
            )
    return False


def member_field(fw: str, m: dict[str, Any], version: str | None, attrs_auto: bool) -> dict[str, Any] | None:
    """The field member ``m`` of a ``fw`` model declares, or None when it declares none."""
    annotation = m["annotation"]
    callee = m["callee"]
    last = last_part(callee)
    if fw == "marshmallow":
        return _marshmallow_field(m, callee, last)
    if annotation is not None and _CLASSVAR.search(annotation):
        return None
    if fw == "attrs":
        return _attrs_field(m, callee, last, attrs_auto)
    name = m["name"]
    if annotation is None or name.startswith("_") or name == "model_config":
        return None  # pydantic and dataclasses take annotated attributes only
    if (
        fw in ("dataclass", "pydantic_dataclass")
        and last == "field"
        and callee
        and (callee.startswith(("dataclasses.", "pydantic.")) or callee == "field")
    ):
        return _dataclass_field(m, callee)
    return _pydantic_field(fw, m, callee, last, version)


def _marshmallow_field(m: dict[str, Any], callee: str | None, last: str) -> dict[str, Any] | None:
    """``name = fields.Str(required=True, data_key=...)``: only ``marshmallow`` field classes count."""
    if callee is None or not (
        callee.startswith("marshmallow.") or ".fields." in f".{callee}" or callee.startswith("fields.")
    ):
        return None
    kwargs = m["keywords_kv"]
    default = kwargs.get("load_default", kwargs.get("missing"))
    ref = m["first_ref"] if last in ("Nested", "List", "Pluck") else None
    return _field(
        type=last,
        field_class=callee,
        required=kwargs.get("required") == "True",
        nullable=kwargs.get("allow_none") == "True",
        default=default,
        factory=None,
        alias=kwargs.get("data_key"),
        ref=ref,
    )


def _attrs_field(m: dict[str, Any], callee: str | None, last: str, attrs_auto: bool) -> dict[str, Any] | None:
    """``x = attr.ib(...)`` / ``attrs.field(...)``, or an annotated attribute of an auto-attribs class."""
    annotation = m["annotation"]
    kwargs = m["keywords_kv"]
    is_attr_call = (
        callee is not None and callee.partition(".")[0] in ("attr", "attrs") and last in _ATTRS_FIELDS
    )
    if not is_attr_call and not (attrs_auto and annotation is not None):
        return None
    default = kwargs.get("default")
    factory = kwargs.get("factory")
    if not is_attr_call and m["value"] is not None:
        default = m["value"]
    if default is not None and default.startswith(("attr.Factory(", "attrs.Factory(", "Factory(")):
        factory, default = default[default.index("(") + 1 : -1], None
    return _field(
        type=m["ann_type"] or kwargs.get("type"),
        field_class=callee if is_attr_call else None,
        required=default is None and factory is None and kwargs.get("init") != "False",
        nullable=bool(m["ann_optional"]),
        default=default,
        factory=factory,
        alias=kwargs.get("alias"),
        ref=m["ann_ref"],
    )


def _dataclass_field(m: dict[str, Any], callee: str) -> dict[str, Any]:
    """``x: int = dataclasses.field(default=..., default_factory=...)`` (pydantic's too)."""
    kwargs = m["keywords_kv"]
    default = kwargs.get("default")
    factory = kwargs.get("default_factory")
    return _field(
        type=m["ann_type"],
        field_class=callee,
        required=default is None and factory is None and kwargs.get("init") != "False",
        nullable=bool(m["ann_optional"]),
        default=default,
        factory=factory,
        alias=None,
        ref=m["ann_ref"],
    )


def _pydantic_field(
    fw: str, m: dict[str, Any], callee: str | None, last: str, version: str | None
) -> dict[str, Any] | None:
    """An annotated attribute of a pydantic model, a SQLModel or a dataclass: ``x: int = Field(...)``
    or ``x: int = value``; pydantic v1's implicit ``None`` default of ``Optional`` included."""
    kwargs = m["keywords_kv"]
    if last == "Field" and callee is not None:
        args = m["args"]
        default = kwargs.get("default", args[0] if args else None)
        if default == "...":
            default = None
        factory = kwargs.get("default_factory")
        alias = kwargs.get("alias") or kwargs.get("validation_alias")
    elif (
        callee is not None
        and m["value"] is None
        and fw in ("pydantic", "sqlmodel")
        and last in ("Relationship", "PrivateAttr")
    ):
        return None  # not a validated field
    else:
        default = m["value"] if m["value"] is not None else (f"{last}(...)" if callee else None)
        factory = None
        alias = None
    optional = bool(m["ann_optional"])
    required = default is None and factory is None
    if (
        version == "v1"
        and optional
        and default is None
        and factory is None
        and not (last == "Field" and m["args"] and m["args"][0] == "...")
    ):
        required = False  # pydantic v1: Optional[X] without a default defaults to None
    return _field(
        type=m["ann_type"],
        field_class=callee,
        required=required,
        nullable=optional,
        default=default,
        factory=factory,
        alias=alias,
        ref=m["ann_ref"],
    )


def _field(
    *,
    type: str | None,
    field_class: str | None,
    required: bool,
    nullable: bool,
    default: str | None,
    factory: str | None,
    alias: str | None,
    ref: str | None,
) -> dict[str, Any]:
    return {
        "type": type,
        "field_class": field_class,
        "required": required,
        "nullable": nullable,
        "has_default": default is not None or factory is not None,
        "default": default,
        "default_factory": factory,
        "alias": alias,
        "ref": ref,
    }

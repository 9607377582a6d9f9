"""What an ORM field declaration means, per framework: Django fields, SQLAlchemy columns and
relationships, SQLModel fields. Each reads one ``model_members`` row and returns an ``orm_fields``
row, or None for a member that is no field (a manager, a plain annotation)."""

from __future__ import annotations

import re
from typing import Any

from codequarry.extractors.python.models.candidates import last_part

_DJANGO_RELATIONS = {
    "ForeignKey": "foreign_key",
    "OneToOneField": "one_to_one",
    "ManyToManyField": "many_to_many",
    "GenericForeignKey": "relationship",
    "GenericRelation": "relationship",
    "ForeignObject": "foreign_key",
    "ParentalKey": "foreign_key",
    "ParentalManyToManyField": "many_to_many",
}
_SQLA_COLUMNS = frozenset({"Column", "mapped_column"})
_SQLA_RELATIONS = frozenset({"relationship", "Relationship", "backref"})
_CLASSVAR = re.compile(r"^(typing\.)?ClassVar\b")


def is_true(value: str | None) -> bool:
    """Whether a keyword's value as written is ``True``."""
    return value == "True"


def interpret(fw: str, m: dict[str, Any]) -> dict[str, Any] | None:
    """The ``orm_fields`` row of member ``m`` of a model of framework ``fw``, or None."""
    if fw == "django":
        return _django_field(m)
    if fw == "sqlmodel":
        return _sqlmodel_field(m)
    return _sqla_field(m)


def _base_field(m: dict[str, Any], **kw: Any) -> dict[str, Any]:
    kwargs = m["keywords_kv"]
    default = kwargs.get("default", kwargs.get("server_default"))
    out = {
        "name": m["name"],
        "column_name": m["name"],
        "kind": "field",
        "field_class": m["callee"],
        "type": None,
        "nullable": None,
        "primary_key": is_true(kwargs.get("primary_key")),
        "unique": is_true(kwargs.get("unique")),
        "has_default": default is not None or "default_factory" in kwargs,
        "default": default,
        "foreign_key_target": None,
        "relationship_target": None,
    }
    out.update(kw)
    return out


def _django_field(m: dict[str, Any]) -> dict[str, Any] | None:
    cls = last_part(m["callee"])
    if m["callee"] is None or not (cls.endswith("Field") or cls in _DJANGO_RELATIONS):
        return None  # managers, annotations and other class attributes
    kwargs = m["keywords_kv"]
    kind = _DJANGO_RELATIONS.get(cls, "field")
    target = kwargs.get("to", m["first_ref"]) if kind != "field" else None
    if cls in ("GenericForeignKey",):
        target = None
    field = _base_field(m, kind=kind, type=cls)
    field["nullable"] = None if kind in ("many_to_many", "relationship") else is_true(kwargs.get("null"))
    if kind == "one_to_one":
        field["unique"] = True
    if field["primary_key"]:
        field["unique"] = True
    if kind in ("foreign_key", "one_to_one"):
        field["foreign_key_target"] = target
        field["column_name"] = kwargs.get("db_column", f"{m['name']}_id")
    elif kind in ("many_to_many", "relationship"):
        field["relationship_target"] = target
        field["column_name"] = None
    else:
        field["column_name"] = kwargs.get("db_column", m["name"])
    return field


def _sqla_field(m: dict[str, Any]) -> dict[str, Any] | None:
    callee = last_part(m["callee"])
    annotation = m["annotation"]
    if annotation is not None and _CLASSVAR.match(annotation):
        return None
    kwargs = m["keywords_kv"]
    if callee in _SQLA_RELATIONS:
        target = m["first_ref"] or kwargs.get("argument") or m["ann_ref"]
        return _base_field(
            m,
            kind="relationship",
            column_name=None,
            relationship_target=target,
            type=m["ann_type"],
            primary_key=False,
        )
    mapped = annotation is not None and ("Mapped[" in annotation or "Mapped [" in annotation)
    if callee not in _SQLA_COLUMNS and not (m["kind"] == "table_column" or (mapped and m["callee"] is None)):
        return None
    field = _base_field(m, column_name=m["column_name"] or kwargs.get("name") or m["name"])
    field["type"] = m["type_arg"] or kwargs.get("type_") or (m["ann_type"] if mapped else None)
    explicit = kwargs.get("nullable")
    if explicit in ("True", "False"):
        field["nullable"] = explicit == "True"
    elif field["primary_key"]:
        field["nullable"] = False
    elif mapped:
        field["nullable"] = bool(m["ann_optional"])
    else:
        field["nullable"] = True
    if m["foreign_key"]:
        field["kind"] = "foreign_key"
        field["foreign_key_target"] = m["foreign_key"]
    return field


def _sqlmodel_field(m: dict[str, Any]) -> dict[str, Any] | None:
    annotation = m["annotation"]
    name = m["name"]
    if annotation is None:
        return None
    if _CLASSVAR.match(annotation) or name.startswith("_") or name == "model_config":
        return None
    callee = last_part(m["callee"])
    kwargs = m["keywords_kv"]
    if callee in _SQLA_RELATIONS:
        return _base_field(
            m,
            kind="relationship",
            column_name=None,
            relationship_target=m["ann_ref"],
            type=m["ann_type"],
            primary_key=False,
        )
    field = _base_field(m, type=m["ann_type"], column_name=name)
    if callee != "Field" and m["value"] is not None:
        field["has_default"], field["default"] = True, m["value"]
    elif callee == "Field" and m["args"]:
        field["has_default"], field["default"] = True, m["args"][0]
    explicit = kwargs.get("nullable")
    if explicit in ("True", "False"):
        field["nullable"] = explicit == "True"
    else:
        field["nullable"] = bool(m["ann_optional"]) and not field["primary_key"]
    if kwargs.get("foreign_key"):
        field["kind"] = "foreign_key"
        field["foreign_key_target"] = kwargs["foreign_key"]
    return field

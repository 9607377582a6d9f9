"""Validation and data models: pydantic (v1 and v2), SQLModel, dataclasses (and pydantic dataclasses),
attrs classes and marshmallow schemas; their fields and their validators.

Computed by the operation ``python.models.resolve`` (:mod:`~codequarry.extractors.python.models.operations`)
over the per-file candidate classes of :mod:`~codequarry.extractors.python.models.classes`: a pydantic model or marshmallow schema is one by
inheritance, possibly from a base in another module. Dataclasses and attrs classes are those
decorated so (a subclass of a dataclass is not one unless decorated too). See
``docs/tables/models.md`` for every column and for what is and is not detected.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from codequarry.extractors.python.models.candidates import last_part
from codequarry.extractors.python.models.graph import ClassGraph, provenance, table_of
from codequarry.extractors.python.models.validation_fields import attrs_declares, member_field
from codequarry.schema import dataset


@dataset("validation_models")
class ValidationModel:
    """One row per pydantic model, SQLModel class, dataclass, attrs class or marshmallow schema."""

    framework: str
    pydantic_version: str | None
    name: str
    qualname: str
    module: str
    fqn: str
    bases: list[str]
    parent_models: list[str]
    options: list[str]
    n_fields: int
    n_validators: int
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("validation_fields")
class ValidationField:
    """One row per field of a validation model, inherited fields included."""

    framework: str
    model: str
    model_name: str
    declared_in: str
    inherited: bool
    name: str
    annotation: str | None
    type: str | None
    field_class: str | None
    required: bool
    nullable: bool
    has_default: bool
    default: str | None
    default_factory: str | None
    alias: str | None
    ref: str | None
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("validation_validators")
class ValidationValidator:
    """One row per validator or processing hook declared on a validation model."""

    framework: str
    model: str
    model_name: str
    name: str
    kind: str
    fields: list[str]
    mode: str | None
    line: int
    col: int
    end_line: int
    end_col: int


_PYDANTIC_ROOTS = frozenset({"BaseModel", "RootModel", "BaseSettings", "GenericModel"})
_MARSHMALLOW_ROOTS = frozenset(
    {"Schema", "SQLAlchemySchema", "SQLAlchemyAutoSchema", "ModelSchema", "TableSchema"}
)
_ATTRS_DECORATORS = frozenset({"s", "attrs", "define", "frozen", "mutable", "dataclass"})
_V2_VALIDATORS = {"field_validator": "field_validator", "model_validator": "model_validator"}
_V1_VALIDATORS = {"validator": "validator", "root_validator": "root_validator"}
_MARSHMALLOW_HOOKS = frozenset(
    {"validates", "validates_schema", "pre_load", "post_load", "pre_dump", "post_dump"}
)


def _root(name: str) -> str | None:
    top = name.partition(".")[0]
    last = last_part(name)
    if top in ("pydantic", "pydantic_settings") and last in _PYDANTIC_ROOTS:
        return "pydantic"
    if top == "sqlmodel" and last == "SQLModel":
        return "sqlmodel"
    if top.startswith("marshmallow") and last in _MARSHMALLOW_ROOTS:
        return "marshmallow"
    return None


def _decorated(row: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """(framework, options) of a class made a model by its decorator."""
    for d in row["decorators"]:
        name = d["name"]
        top, last = name.partition(".")[0], last_part(name)
        opts = {kv["name"]: kv["value"] for kv in d["keywords"]}
        if name in ("dataclasses.dataclass", "dataclass") or (top == "dataclasses" and last == "dataclass"):
            return "dataclass", opts
        if top == "pydantic" and last == "dataclass":
            return "pydantic_dataclass", opts
        if top in ("attr", "attrs") and last in _ATTRS_DECORATORS:
            return "attrs", opts
    return None, {}


class ValidationClasses:
    """Which candidate classes are validation models, of which framework, with which options."""

    def __init__(self, g: ClassGraph) -> None:
        self.g = g
        schema_roots = {
            f"{fqn}.{root}"
            for fqn, target in g.factories.items()
            if g.canon(target) in ("flask_marshmallow.Marshmallow", "flask_marshmallow.extension.Marshmallow")
            for root in ("Schema", "SQLAlchemySchema", "SQLAlchemyAutoSchema")
        }
        inherited = g.closure(lambda name: _root(name) or ("marshmallow" if name in schema_roots else None))
        self.framework: dict[str, str] = {}
        self.options: dict[str, dict[str, str]] = {}
        for fqn, row in g.classes.items():
            if row["kind"] != "class":
                continue
            fw, opts = _decorated(row)
            if fw is None:
                fw = inherited.get(fqn)
                opts = row["meta_kv"] if fw == "marshmallow" else row["config_kv"]
            if fw is not None:
                self.framework[fqn] = fw
                self.options[fqn] = opts

    def classes(self) -> set[str]:
        """Validation models and every class they inherit from (whose members the tables need)."""
        out = set(self.framework)
        for fqn in self.framework:
            out.update(a for a, _ in self.g.ancestors(fqn, lambda _: False))
        return out


def validation_tables(vc: ValidationClasses, only: set[str] | None = None) -> dict[str, pa.Table]:
    """The three validation tables (the graph's members of ``vc.classes()`` must be loaded); with
    ``only``, the rows of those models alone (the members of them and their ancestors loaded: each
    model's rows depend on those, and on which classes are models)."""
    g, framework, options = vc.g, vc.framework, vc.options
    versions = _pydantic_versions(g, framework)
    models, fields, validators = [], [], []
    for fqn in sorted(
        framework if only is None else only & set(framework),
        key=lambda f: (g.classes[f]["repo"], g.classes[f]["path"], g.classes[f]["line"]),
    ):
        row = g.classes[fqn]
        fw = framework[fqn]
        parents = [a for a, _ in g.ancestors(fqn, lambda a: a in framework) if a in framework]
        own_validators = _validators(g, fqn, fw, row)
        own_fields = _fields(g, fqn, fw, framework, versions.get(fqn))
        models.append(
            {
                **provenance(row),
                "framework": fw,
                "pydantic_version": versions.get(fqn),
                "name": row["name"],
                "qualname": row["qualname"],
                "module": row["module"],
                "fqn": fqn,
                "bases": g.bases(fqn),
                "parent_models": parents,
                "options": [f"{k}={v}" for k, v in options[fqn].items()],
                "n_fields": len(own_fields),
                "n_validators": len(own_validators),
                "line": row["line"],
                "col": row["col"],
                "end_line": row["end_line"],
                "end_col": row["end_col"],
            }
        )
        fields.extend(own_fields)
        validators.extend(own_validators)
    known = set(framework)
    for f in fields:
        ref = f["ref"]
        if ref:
            canon = g.canon(ref)
            if canon not in known and "." not in ref:
                hits = [c for c in g.by_name(f["repo"], ref) if c in known]
                canon = hits[0] if len(hits) == 1 else None
            f["ref"] = canon if canon in known else None
    return {
        "validation_models": table_of(models, ValidationModel),
        "validation_fields": table_of(fields, ValidationField),
        "validation_validators": table_of(validators, ValidationValidator),
    }


def _pydantic_versions(g: ClassGraph, framework: dict[str, str]) -> dict[str, str]:
    """'v1' or 'v2' for pydantic models, from what the class (or a model it inherits from) uses:
    ``pydantic.v1`` bases, ``class Config`` and ``@validator`` mean v1; ``model_config``,
    ``@field_validator``/``@model_validator`` and ``RootModel`` mean v2."""
    own: dict[str, str] = {}
    for fqn, fw in framework.items():
        if fw not in ("pydantic", "sqlmodel", "pydantic_dataclass"):
            continue
        row = g.classes[fqn]
        bases = g.bases(fqn)
        signs = set()
        for b in bases:
            if b.startswith("pydantic.v1."):
                signs.add("v1")
            elif b.startswith("pydantic_settings.") or last_part(b) == "RootModel":
                signs.add("v2")
            elif b.startswith("pydantic.") and last_part(b) in ("BaseSettings", "GenericModel"):
                signs.add("v1")
        if row["config_kind"] == "model_config":
            signs.add("v2")
        elif row["config_kind"] == "Config":
            signs.add("v1")
        for m in g.members.get(fqn, ()):
            for d in m["decorators"]:
                if d["name"].startswith("pydantic.v1."):
                    signs.add("v1")
                elif last_part(d["name"]) in _V2_VALIDATORS:
                    signs.add("v2")
                elif last_part(d["name"]) in _V1_VALIDATORS:
                    signs.add("v1")
        if fw == "sqlmodel":
            signs.add("v2")
        if len(signs) == 1:
            own[fqn] = signs.pop()
    out: dict[str, str] = {}
    for fqn in own:
        out[fqn] = own[fqn]
    for fqn, fw in framework.items():
        if fqn in out or fw not in ("pydantic", "sqlmodel", "pydantic_dataclass"):
            continue
        for anc, _ in g.ancestors(fqn, lambda a: False):
            if anc in own:
                out[fqn] = own[anc]
                break
    return out


def _fields(
    g: ClassGraph, fqn: str, fw: str, framework: dict[str, str], version: str | None
) -> list[dict[str, Any]]:
    """Own fields, then inherited ones (nearest first), for models that inherit fields: pydantic,
    SQLModel and marshmallow through any base; dataclasses and attrs classes through decorated bases."""
    row = g.classes[fqn]
    sources = [fqn]
    for anc, _ in g.ancestors(fqn, lambda a: False):
        if fw in ("pydantic", "sqlmodel", "marshmallow") or framework.get(anc) == fw:
            sources.append(anc)
    attrs_auto = fw == "attrs" and attrs_declares(row)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source in sources:
        for m in g.members.get(source, ()):
            if m["kind"] not in ("annotated", "assign") or m["name"] in seen:
                continue
            field = member_field(fw, m, version, attrs_auto)
            if field is None:
                continue
            seen.add(m["name"])
            field.update(provenance(g.classes[source]))
            field.update(
                framework=fw,
                model=fqn,
                model_name=row["name"],
                declared_in=source,
                inherited=source != fqn,
                name=m["name"],
                annotation=m["annotation"],
                line=m["line"],
                col=m["col"],
                end_line=m["end_line"],
                end_col=m["end_col"],
            )
            out.append(field)
    return out


def _validators(g: ClassGraph, fqn: str, fw: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    own_fields = {m["name"] for m in g.members.get(fqn, ()) if m["kind"] != "method"}
    for m in g.members.get(fqn, ()):
        if m["kind"] != "method":
            continue
        for d in m["decorators"]:
            name = d["name"]
            last = last_part(name)
            kwargs = {kv["name"]: kv["value"] for kv in d["keywords"]}
            kind = mode = None
            fields = list(d["args"])
            if fw in ("pydantic", "sqlmodel", "pydantic_dataclass") and (
                name.startswith("pydantic") or "." not in name
            ):
                if last in _V2_VALIDATORS:
                    kind = last
                    mode = kwargs.get("mode", "after" if last == "field_validator" else None)
                elif last in _V1_VALIDATORS:
                    kind = last
                    mode = "before" if kwargs.get("pre") == "True" else "after"
                if last == "model_validator":
                    fields = []
            elif (
                fw == "marshmallow"
                and last in _MARSHMALLOW_HOOKS
                and (name.startswith("marshmallow") or "." not in name)
            ):
                kind = last
                if last != "validates":
                    fields = []
                mode = (
                    "pass_many"
                    if kwargs.get("pass_many") == "True" or kwargs.get("pass_collection") == "True"
                    else None
                )
            elif fw == "attrs" and last == "validator" and name.count(".") >= 1:
                field_name = name.rsplit(".", 2)[-2]
                if field_name in own_fields:
                    kind, fields = "attrs_validator", [field_name]
            if kind is None:
                continue
            out.append(
                {
                    **provenance(row),
                    "framework": fw,
                    "model": fqn,
                    "model_name": row["name"],
                    "name": m["name"],
                    "kind": kind,
                    "fields": fields,
                    "mode": mode,
                    "line": m["line"],
                    "col": m["col"],
                    "end_line": m["end_line"],
                    "end_col": m["end_col"],
                }
            )
            break
    return out

"""ORM models and their fields: Django, SQLAlchemy (classic and 2.x), Flask-SQLAlchemy, SQLModel, and
SQLAlchemy ``Table(...)`` objects.

Computed by the operation ``python.models.resolve`` (:mod:`~codequarry.extractors.python.models.operations`)
over the per-file candidate classes of :mod:`~codequarry.extractors.python.models.classes`: model-ness is decided across files (a model whose
abstract base lives in another module is a model, and inherits that base's fields), so it cannot be
decided per file. See ``docs/tables/models.md`` for every column and for what is and is not detected.

Framework by root:

- Django: ``django.db.models.Model`` (also through ``django.contrib.gis``), and the well-known abstract
  bases of ``django.contrib`` when Django's own source is not part of the corpus;
- SQLAlchemy: subclasses of a class deriving from ``DeclarativeBase``/``DeclarativeBaseNoMeta`` or
  decorated ``@as_declarative``, of a module-level ``declarative_base()`` / ``registry().generate_base()``
  result, and classes decorated ``@registry.mapped``;
- Flask-SQLAlchemy: ``db.Model`` for any ``db = SQLAlchemy(...)`` of the corpus;
- SQLModel: ``SQLModel`` subclasses with ``table=True`` (the others are validation models; their
  fields are inherited by the table models below them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from codequarry.extractors.python.models.candidates import last_part
from codequarry.extractors.python.models.fields import interpret, is_true
from codequarry.extractors.python.models.graph import MAX_ANCESTORS, ClassGraph, provenance, table_of
from codequarry.schema import dataset


@dataset("orm_models")
class OrmModel:
    """One row per ORM model class (abstract ones included) or SQLAlchemy ``Table`` object."""

    framework: str
    kind: str
    name: str
    qualname: str
    module: str
    fqn: str
    table_name: str | None
    table_name_source: str | None
    is_abstract: bool
    is_proxy: bool
    inheritance: str | None
    parent_models: list[str]
    bases: list[str]
    has_explicit_pk: bool
    primary_key: list[str]
    n_fields: int
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("orm_fields")
class OrmField:
    """One row per field of a model (inherited ones included) or column of a Table object."""

    framework: str
    model: str
    model_name: str
    declared_in: str
    inherited: bool
    name: str
    column_name: str | None
    kind: str
    field_class: str | None
    type: str | None
    nullable: bool | None
    primary_key: bool
    unique: bool
    has_default: bool
    default: str | None
    foreign_key_target: str | None
    relationship_target: str | None
    line: int
    col: int
    end_line: int
    end_col: int


_DECLARATIVE_BASES = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta"})
_SQLMODEL_ROOTS = frozenset({"sqlmodel.SQLModel", "sqlmodel.main.SQLModel"})
_FLASK_SQLALCHEMY = frozenset({"flask_sqlalchemy.SQLAlchemy", "flask_sqlalchemy.extension.SQLAlchemy"})
#: django.contrib models (and Wagtail's) used as bases or targets when their source is not in the
#: corpus (True: abstract; False: concrete, so a subclass is its multi-table child)
KNOWN_DJANGO = {
    "django.contrib.auth.models.AbstractUser": True,
    "django.contrib.auth.models.AbstractBaseUser": True,
    "django.contrib.auth.base_user.AbstractBaseUser": True,
    "django.contrib.auth.models.PermissionsMixin": True,
    "django.contrib.sessions.base_session.AbstractBaseSession": True,
    "django.contrib.auth.models.User": False,
    "django.contrib.auth.models.Group": False,
    "django.contrib.auth.models.Permission": False,
    "django.contrib.contenttypes.models.ContentType": False,
    "django.contrib.sites.models.Site": False,
    # Wagtail and the packages it builds on: a page type is a multi-table child of Page
    **{f"{m}.Page": False for m in ("wagtail.models", "wagtail.core.models")},
    **{f"{m}.Orderable": True for m in ("wagtail.models", "wagtail.core.models")},
    "wagtail.models.Task": False,
    "wagtail.models.TaskState": False,
    "wagtail.contrib.forms.models.AbstractFormField": True,
    "wagtail.contrib.settings.models.BaseSiteSetting": True,
    "wagtail.contrib.settings.models.BaseGenericSetting": True,
    "modelcluster.models.ClusterableModel": True,
    "taggit.models.TaggedItemBase": True,
}


def snake_case(name: str) -> str:
    """Flask-SQLAlchemy's default table name for a model class (``UserRole`` -> ``user_role``)."""
    return re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", name).lower().lstrip("_")


def django_app_label(module: str) -> str | None:
    """The app label Django derives for models of ``module``: the package holding ``models``."""
    parts = module.split(".")
    if "models" in parts:
        i = len(parts) - 1 - parts[::-1].index("models")
        return parts[i - 1] if i > 0 else None
    return parts[-2] if len(parts) > 1 else None


class OrmClasses:
    """Which candidate classes are ORM classes, of which framework, in which role."""

    def __init__(self, graph: ClassGraph) -> None:
        self.g = graph
        self.flask_models = {
            f"{fqn}.Model"
            for fqn, target in graph.factories.items()
            if graph.canon(target) in _FLASK_SQLALCHEMY
        }
        self.sqla_bases = {
            fqn for fqn, target in graph.factories.items() if _is_sqla_factory(graph.canon(target))
        }
        self.declbase: set[str] = set()  # declarative bases: not models, their subclasses are
        self.mapped: set[str] = set()  # classes mapped by a decorator, @registry.mapped
        for fqn, row in graph.classes.items():
            if row["kind"] != "class":
                continue
            direct = [last_part(b) for b in graph.bases(fqn) if b.startswith("sqlalchemy.")]
            decorators = [last_part(d["name"]) for d in row["decorators"]]
            if any(b in _DECLARATIVE_BASES for b in direct) or "as_declarative" in decorators:
                self.declbase.add(fqn)
            elif "mapped" in decorators or "mapped_as_dataclass" in decorators:
                self.mapped.add(fqn)
        self.framework = graph.closure(self.root)
        for fqn in self.declbase | self.mapped:
            self.framework[fqn] = "sqlalchemy"
        self.role: dict[str, str] = {fqn: self._role(fqn) for fqn in graph.classes}

    def root(self, name: str) -> str | None:
        if name.startswith("django.") and (
            name.endswith(".models.Model") or name.endswith(".models.base.Model")
        ):
            return "django"
        if name in KNOWN_DJANGO and name not in self.g.classes:
            return "django"
        if name in self.declbase or name in self.sqla_bases or name in self.mapped:
            return "sqlalchemy"
        if name.startswith("sqlalchemy.") and last_part(name) in _DECLARATIVE_BASES:
            return "sqlalchemy"
        if name in self.flask_models:
            return "flask_sqlalchemy"
        if name in _SQLMODEL_ROOTS:
            return "sqlmodel"
        return None

    def _role(self, fqn: str) -> str:
        """'table', 'model' (mapped, concrete), 'abstract', 'proxy', 'base' (a declarative base or a
        non-table SQLModel) or '' (not an ORM class)."""
        row = self.g.classes[fqn]
        if row["kind"] == "table":
            return "table"
        fw = self.framework.get(fqn)
        if fw is None:
            return ""
        if fw == "django":
            meta = row["meta_kv"]
            if is_true(meta.get("abstract")):
                return "abstract"
            return "proxy" if is_true(meta.get("proxy")) else "model"
        if fqn in self.declbase:
            return "base"
        if fw == "sqlmodel":
            return "model" if is_true(row["keywords_kv"].get("table")) else "base"
        return "abstract" if row["is_abstract_dunder"] else "model"

    def classes(self) -> set[str]:
        """ORM classes and every class they inherit from (whose members the tables need)."""
        out = {fqn for fqn, role in self.role.items() if role}
        for fqn in list(out):
            out.update(a for a, _ in self.g.ancestors(fqn, lambda _: False))
        return out

    def concrete(self, fqn: str) -> bool:
        return self.role.get(fqn) in ("model", "proxy")


def _is_sqla_factory(target: str | None) -> bool:
    if not target or not target.startswith("sqlalchemy."):
        return False
    return last_part(target) == "declarative_base" or target.endswith("().generate_base")


def orm_tables(orm: OrmClasses, only: set[str] | None = None) -> dict[str, pa.Table]:
    """``orm_models`` and ``orm_fields`` (the graph's members of ``orm.classes()`` must be loaded);
    with ``only``, the rows of those models alone (the members of them and their ancestors loaded:
    a model's rows depend on those, its parents' rows, and which classes are models)."""
    models: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    done: dict[str, dict[str, Any]] = {}  # models by fqn, parents before children
    known = {fqn: _framework(orm, fqn) for fqn, role in orm.role.items() if role not in ("", "base")}
    wanted = list(known)
    if only is not None:  # the models asked for and the ancestors their rows are made from
        need = {a for fqn in only if fqn in known for a in (fqn, *_concrete_chain(orm, fqn))}
        wanted = [fqn for fqn in wanted if fqn in need]
    for fqn in sorted(wanted, key=lambda f: len(_concrete_chain(orm, f))):  # parents before children
        fw = known[fqn]
        own = _model_fields(orm, fqn, fw)
        done[fqn] = _model_row(orm, fqn, fw, own, done)
        if only is None or fqn in only:
            models.append(done[fqn])
            fields.extend(own)
    _resolve_targets(orm, known, fields)
    models.sort(key=lambda m: (m["repo"], m["path"], m["line"], m["col"]))
    fields.sort(key=lambda f: (f["model"], f["inherited"], f["repo"], f["path"], f["line"], f["col"]))
    return {"orm_models": table_of(models, OrmModel), "orm_fields": table_of(fields, OrmField)}


def _framework(orm: OrmClasses, fqn: str) -> str:
    """The framework column of a model's rows."""
    if orm.role[fqn] != "table":
        return str(orm.framework[fqn])
    return "flask_sqlalchemy" if _flask_table(orm, orm.g.classes[fqn]) else "sqlalchemy"


@dataclass(slots=True)
class _Mapping:
    """How a model maps to its table, as the steps of ``_model_row`` settle it."""

    inheritance: str | None
    table_name: str | None
    source: str | None
    pk: list[str]
    explicit: bool


def _model_row(
    orm: OrmClasses, fqn: str, fw: str, own: list[dict[str, Any]], done: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The ``orm_models`` row of ``fqn`` (its parents' rows are in ``done``)."""
    graph = orm.g
    role = orm.role[fqn]
    row = graph.classes[fqn]
    parents = [a for a, stopped in graph.ancestors(fqn, orm.concrete) if stopped] if role != "table" else []
    if fw == "django" and not parents and role != "table":
        parents = _known_parents(graph, fqn)
    pk = _primary_key(orm, fqn, role, row, own)
    table_name: str | None = row["tablename"]
    m = _Mapping(None, table_name, "explicit" if table_name else None, pk, bool(pk))
    if fw == "django":
        _django_mapping(m, orm, role, row, parents, done)
    elif role != "table":
        _sqla_mapping(m, orm, fqn, fw, role, row, parents, done)
    return {
        **provenance(row),
        "framework": fw,
        "kind": "table" if role == "table" else "model",
        "name": row["name"],
        "qualname": row["qualname"],
        "module": row["module"],
        "fqn": fqn,
        "table_name": m.table_name,
        "table_name_source": m.source,
        "is_abstract": role == "abstract",
        "is_proxy": role == "proxy",
        "inheritance": m.inheritance,
        "parent_models": parents,
        "bases": graph.bases(fqn),
        "has_explicit_pk": m.explicit,
        "primary_key": m.pk,
        "n_fields": len(own),
        "line": row["line"],
        "col": row["col"],
        "end_line": row["end_line"],
        "end_col": row["end_col"],
    }


def _known_parents(graph: ClassGraph, fqn: str) -> list[str]:
    """Concrete models known by name but not in the corpus (``User``, Wagtail's ``Page``) that the
    class or one of its non-model ancestors derives from: its multi-table parents."""
    out: list[str] = []
    for c in [fqn, *(a for a, _ in graph.ancestors(fqn, lambda _: False))]:
        for b in graph.bases(c):
            if KNOWN_DJANGO.get(b) is False and b not in graph.classes and b not in out:
                out.append(b)
    return out


def _primary_key(
    orm: OrmClasses, fqn: str, role: str, row: dict[str, Any], own: list[dict[str, Any]]
) -> list[str]:
    """The primary key the model declares (its own fields, and ``pk_columns`` of it and its abstract
    ancestors); marks those of its fields primary and not nullable."""
    graph = orm.g
    pk = [f["name"] for f in own if f["primary_key"]]
    pk_columns = list(row["pk_columns"])
    for ancestor, stopped in [] if role == "table" else graph.ancestors(fqn, orm.concrete):
        if not stopped:
            pk_columns.extend(graph.classes[ancestor]["pk_columns"])
    for name in pk_columns:
        if name not in pk:
            pk.append(name)
    for f in own:
        if f["name"] in pk_columns or (f["column_name"] in pk_columns and f["column_name"]):
            f["primary_key"] = True
            f["nullable"] = False if f["kind"] != "relationship" else f["nullable"]
    return pk


def _django_mapping(
    m: _Mapping,
    orm: OrmClasses,
    role: str,
    row: dict[str, Any],
    parents: list[str],
    done: dict[str, dict[str, Any]],
) -> None:
    """Django: proxy and multi-table inheritance, ``Meta.db_table`` or ``<app_label>_<name>``, and the
    implicit ``id`` / ``<parent>_ptr`` primary key."""
    meta = row["meta_kv"]
    if role == "proxy":
        m.inheritance = "proxy"
    elif parents:
        m.inheritance = "multi_table"
    if role == "abstract":
        m.table_name = m.source = None
    elif role == "proxy":
        m.table_name = next((done[p]["table_name"] for p in parents if p in done), None)
        m.source = "inherited" if m.table_name else None
    elif meta.get("db_table"):
        m.table_name, m.source = meta["db_table"], "explicit"
    else:
        label = meta.get("app_label") or django_app_label(row["module"])
        m.table_name = f"{label}_{row['name'].lower()}" if label else row["name"].lower()
        m.source = "derived"
    if not m.explicit:
        parent_rows = [done[p] for p in parents if p in done]
        if role == "proxy":
            m.pk = parent_rows[0]["primary_key"] if parent_rows else ["id"]
            m.explicit = bool(parent_rows) and parent_rows[0]["has_explicit_pk"]
        elif role != "abstract":
            m.pk = [f"{last_part(parents[0]).lower()}_ptr"] if parents else ["id"]


def _sqla_mapping(
    m: _Mapping,
    orm: OrmClasses,
    fqn: str,
    fw: str,
    role: str,
    row: dict[str, Any],
    parents: list[str],
    done: dict[str, dict[str, Any]],
) -> None:
    """SQLAlchemy, Flask-SQLAlchemy, SQLModel classes: single-table and joined inheritance, declared
    or derived table names, the primary key a parent declares."""
    if parents and not (row["tablename"] or row["has_table"]):
        m.inheritance = "single"
        m.table_name = next((done[p]["table_name"] for p in parents if p in done), None)
        m.source = "inherited" if m.table_name else None
    elif parents:
        m.inheritance = "joined"
    if role == "abstract":
        m.table_name = m.source = None
    elif m.table_name is None and m.inheritance is None:
        if _declared_tablename(orm, fqn):
            m.source = "declared_attr"
        elif fw == "flask_sqlalchemy":
            m.table_name, m.source = snake_case(row["name"]), "derived"
        elif fw == "sqlmodel":
            m.table_name, m.source = row["name"].lower(), "derived"
    if not m.explicit and parents:
        parent_rows = [done[p] for p in parents if p in done]
        m.explicit = any(r["has_explicit_pk"] for r in parent_rows)
        if m.inheritance == "single" or not m.pk:
            m.pk = next((r["primary_key"] for r in parent_rows if r["primary_key"]), m.pk)


def _concrete_chain(orm: OrmClasses, fqn: str) -> list[str]:
    """Concrete ancestors (all levels), to order parents before their children."""
    out: list[str] = []
    seen = {fqn}
    stack = list(orm.g.bases(fqn))
    while stack and len(out) < MAX_ANCESTORS:
        base = stack.pop()
        if base in seen or base not in orm.g.classes:
            continue
        seen.add(base)
        out.append(base)
        stack.extend(orm.g.bases(base))
    return out


def _flask_table(orm: OrmClasses, row: dict[str, Any]) -> bool:
    callee = orm.g.canon(row["bases"][0]) if row["bases"] else None
    return bool(callee) and any(callee == f"{m[: -len('.Model')]}.Table" for m in orm.flask_models)


def _declared_tablename(orm: OrmClasses, fqn: str) -> bool:
    """Whether the class or a class it inherits from declares ``__tablename__`` with ``@declared_attr``."""
    owners = [fqn, *(a for a, stopped in orm.g.ancestors(fqn, lambda _: False))]
    return any(
        m["kind"] == "method" and m["name"] == "__tablename__"
        for o in owners
        for m in orm.g.members.get(o, ())
    )


def _model_fields(orm: OrmClasses, fqn: str, fw: str) -> list[dict[str, Any]]:
    """Fields of a model: its own, then those of the classes it inherits columns from (abstract models,
    mixins, non-table SQLModel bases), nearest first; a name already seen is overridden."""
    g = orm.g
    row = g.classes[fqn]
    sources = [fqn]
    if row["kind"] == "class":
        for anc, stopped in g.ancestors(fqn, orm.concrete):
            if stopped:
                continue
            if fw == "django" and orm.role.get(anc) != "abstract":
                continue  # Django takes fields from abstract models only, not from plain mixins
            sources.append(anc)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source in sources:
        for member in g.members.get(source, ()):
            name = member["name"]
            if name in seen or member["kind"] == "method":
                continue
            field = interpret(fw, member)
            if field is None:
                continue
            seen.add(name)
            declaring = g.classes[source]
            field.update(provenance(declaring))
            field.update(
                framework=fw,
                model=fqn,
                model_name=row["name"],
                declared_in=source,
                inherited=source != fqn,
                line=member["line"],
                col=member["col"],
                end_line=member["end_line"],
                end_col=member["end_col"],
            )
            for key in ("foreign_key_target", "relationship_target"):
                if field[key] == "self":  # Django's "self": the model the field ends up on
                    field[key] = fqn
            out.append(field)
    return out


def _resolve_targets(orm: OrmClasses, known: dict[str, str], fields: list[dict[str, Any]]) -> None:
    """Model references as fully qualified names where they can be: a resolved name through
    re-exports, ``"Address"`` (SQLAlchemy's registry, Django's same app) or ``"auth.User"`` (Django's
    app label) by looking the class name up among the models of the same source (``known``: every
    model of the graph and its framework)."""
    g = orm.g
    labels = {fqn: django_app_label(g.classes[fqn]["module"]) for fqn, fw in known.items() if fw == "django"}
    for f in fields:
        for key in ("foreign_key_target", "relationship_target"):
            target = f[key]
            if not target or target in known:
                continue
            if f["framework"] != "django" and key == "foreign_key_target":
                continue  # "users.id": a table and a column, not a class
            canon = g.canon(target)
            if canon in known or canon in KNOWN_DJANGO:
                f[key] = canon
                continue
            label, _, short = target.rpartition(".")
            if label and "." in label:
                continue  # a dotted name that is no model of the corpus: keep it as written
            hits = [c for c in g.by_name(f["repo"], short) if c in known]
            if label:
                hits = [
                    c
                    for c in hits
                    if labels.get(c) == label or g.classes[c]["module"].endswith(f"{label}.models")
                ]
                if not hits:  # "auth.User" when django.contrib is not in the corpus
                    hits = [
                        k
                        for k in KNOWN_DJANGO
                        if k.endswith(f".{short}") and django_app_label(k.rsplit(".", 1)[0]) == label
                    ][:1]
            if len(hits) == 1:
                f[key] = hits[0]

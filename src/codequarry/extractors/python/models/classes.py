"""Per-file facts about classes that may be models: the input of the ORM and validation operations.

Whether a class is a Django model, an SQLAlchemy mapped class or a pydantic model often depends on
another file (``class Article(TimeStamped)`` with ``TimeStamped`` in ``core/models.py``), so this
extractor decides nothing: it records, for every *candidate* class, its bases resolved through the
file's imports, its decorators, its ``Meta``/``Config`` options and its field-like members; the
operation in :mod:`~codequarry.extractors.python.models.operations` computes model-ness across files.

A class is a candidate when one of its bases resolves outside the standard library and builtins (a
project or third-party class, or a name that cannot be resolved), when a decorator does (dataclass,
attrs and ``registry.mapped`` count too), or when its body declares SQLAlchemy columns (mixins).
Classes whose bases are all standard-library classes (``Exception``, ``enum.Enum``,
``typing.NamedTuple``), directly or through classes of the same file, are not, which keeps the cost
low on code that defines no models: most classes are settled from how their bases are written,
without resolving a name.

Also recorded: SQLAlchemy ``Table(...)`` objects (``kind = 'table'``, their ``Column`` arguments as
members), and module-level assignments that make model bases (``Base = declarative_base()``,
``db = SQLAlchemy()``, ``Model = db.Model``) as rows of kind ``factory`` and ``alias``.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.models.members import (
    NO_CALL,
    call_options,
    decorator,
    emit_columns,
    emit_member,
    options,
    pk_from_args,
)
from codequarry.python.calls import last_name
from codequarry.python.imports import STDLIB, stdlib_heads
from codequarry.python.resolve import BUILTIN_NAMES, FileNames, file_names
from codequarry.python.scopes import body_statements, enclosing_def, module_name
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str, value_text
from codequarry.schema import dataset
from codequarry.source import SourceFile


class KeyValue:
    """A keyword argument or an option assignment: name and value as written (strings unquoted)."""

    name: str
    value: str


class Decorator:
    """A decorator: resolved callee, positional arguments (strings unquoted) and keywords."""

    name: str
    args: list[str]
    keywords: list[KeyValue]


@dataset("model_classes")
class ModelClass:
    """Intermediate, per file: a class that may be a model (``kind='class'``), a ``Table(...)`` object
    (``'table'``), or a module-level name bound to a model base factory (``'factory'``, the resolved
    callee in ``bases``) or to another name (``'alias'``)."""

    kind: str
    name: str
    qualname: str
    module: str
    fqn: str
    bases: list[str]
    keywords: list[KeyValue]
    decorators: list[Decorator]
    meta: list[KeyValue]
    config: list[KeyValue]
    config_kind: str | None
    tablename: str | None
    has_table: bool
    is_abstract_dunder: bool
    pk_columns: list[str]
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("model_members")
class ModelMember:
    """Intermediate, per file: a field-like member of a candidate class, or a column of a Table object."""

    owner: str
    name: str
    kind: str
    annotation: str | None
    ann_type: str | None
    ann_ref: str | None
    ann_optional: bool
    callee: str | None
    value: str | None
    args: list[str]
    first_ref: str | None
    column_name: str | None
    foreign_key: str | None
    type_arg: str | None
    keywords: list[KeyValue]
    decorators: list[Decorator]
    line: int
    col: int
    end_line: int
    end_col: int


#: callee names (last part) whose calls in a class body are SQLAlchemy/SQLModel columns or relations
ORM_MEMBER_CALLS = frozenset(
    {
        "Column",
        "mapped_column",
        "relationship",
        "column_property",
        "composite",
        "synonym",
        "deferred",
        "Relationship",
        "backref",
        "association_proxy",
    }
)
#: decorators (last part of the resolved name) that make a class a model whatever its bases
MODEL_DECORATORS = frozenset(
    {
        "dataclass",
        "s",
        "attrs",
        "define",
        "frozen",
        "mutable",
        "mapped",
        "mapped_as_dataclass",
        "as_declarative",
        "dataclass_transform",
    }
)
#: decorators (last part) of methods worth recording: validators, hooks, declared attributes
MEMBER_DECORATORS = frozenset(
    {
        "field_validator",
        "model_validator",
        "validator",
        "root_validator",
        "validates",
        "validates_schema",
        "pre_load",
        "post_load",
        "pre_dump",
        "post_dump",
        "declared_attr",
        "computed_field",
        "field_serializer",
        "model_serializer",
        "default",
        "hybrid_property",
        "directive",
    }
)
#: module-level calls (last part of the resolved callee) whose result is a model base
FACTORIES = frozenset({"declarative_base", "SQLAlchemy", "generate_base", "Marshmallow"})
_NESTED_OPTIONS = frozenset({"Meta", "Config"})
_EMPTY: list[Any] = []


def _last(name: str | None) -> str:
    return name.rsplit(".", 1)[-1] if name else ""


def _is_stdlib(name: str, own_top: str) -> bool:
    top = name.partition(".")[0]
    return top != own_top and top in STDLIB


@file_extractor("python.models.classes", version=1, needs=["ast"], outputs=[ModelClass, ModelMember])
def model_classes(src: SourceFile, out: Any) -> None:
    """Candidate model classes with resolved bases, options and field-like members; Table objects."""
    classes = src.nodes(ast.ClassDef)
    tables = _table_assigns(src) if "Table(" in src.text else _EMPTY
    factories = _factory_assigns(src.tree.body)
    # First a cheap look, without resolving anything: a class whose bases are builtins, names imported
    # from the standard library, or plain classes seen before, whose decorators come from the standard
    # library too (dataclass excepted) and whose body declares no columns, is plain.
    todo = []
    plain_nodes = []
    if classes:
        modname = module_name(src)
        std = stdlib_heads(src, modname.partition(".")[0])
        plain_names: set[str] = set()
        for cls in classes:
            # only a class without bases (or with just ``object``) can be a column mixin
            bare = not cls.bases or (len(cls.bases) == 1 and getattr(cls.bases[0], "id", None) == "object")
            if _looks_plain(cls, std, plain_names) and not (bare and _declares_columns(cls.body)):
                plain_nodes.append(cls)
                plain_names.add(cls.name)
            else:
                todo.append(cls)
    if not todo and not tables and not factories:
        return
    names = file_names(src)
    modname = names.modname
    own_top = modname.partition(".")[0]
    parent = src.parents.get
    seg = src.segment
    span = span_getter(src)
    qualname = src.qualname
    add_class = out.model_classes.add
    add_member = out.model_members.add

    for stmt in factories:
        _emit_alias(stmt, names, modname, span, add_class)

    # a class of this file whose bases are all standard-library classes or such classes of this file
    # is no candidate; nodes come in source order, so a base defined earlier is known
    plain: set[str] = set()
    tree = src.tree
    for cls in plain_nodes:
        if parent(cls) is tree:
            plain.add(f"{modname}.{cls.name}")
            continue
        scope = enclosing_def(parent, cls)
        fqn = f"{modname}.{qualname(cls)}"
        plain.add(fqn)
        if scope is not None:
            names.bind(scope, cls.name, fqn)
    for cls in todo:
        scope = enclosing_def(parent, cls)
        if scope is not None:
            names.bind(scope, cls.name, f"{modname}.{qualname(cls)}")
        bases = [names.name(b.value if b.__class__ is ast.Subscript else b, scope) for b in cls.bases]
        decorators = [decorator(d, names, scope, seg) for d in cls.decorator_list]
        qual = qualname(cls)
        fqn = f"{modname}.{qual}"
        if not (
            any(not _is_stdlib(b, own_top) and b not in plain for b in bases)
            or any(_last(d["name"]) in MODEL_DECORATORS for d in decorators)
            or _declares_columns(cls.body)
        ):
            plain.add(fqn)
            continue
        stmts = body_statements(cls.body)
        meta: list[dict[str, str]] = _EMPTY
        config: list[dict[str, str]] = _EMPTY
        config_kind = None
        tablename = None
        has_table = is_abstract = False
        pk_columns: list[str] = []
        for stmt in stmts:
            kind = stmt.__class__
            if kind is ast.ClassDef:
                if stmt.name in _NESTED_OPTIONS:
                    opts = options(stmt.body, seg)
                    if stmt.name == "Meta":
                        meta = opts
                    else:
                        config, config_kind = opts, "Config"
                continue
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                if stmt.decorator_list and any(
                    last_name(d) in MEMBER_DECORATORS for d in stmt.decorator_list
                ):
                    line, col, end_line, end_col = span(stmt)
                    add_member(
                        owner=fqn,
                        name=stmt.name,
                        kind="method",
                        annotation=None,
                        ann_type=None,
                        ann_ref=None,
                        ann_optional=False,
                        value=None,
                        decorators=[decorator(d, names, cls, seg) for d in stmt.decorator_list],
                        line=line,
                        col=col,
                        end_line=end_line,
                        end_col=end_col,
                        **NO_CALL,
                    )
                continue
            if kind is ast.Assign:
                if len(stmt.targets) != 1 or stmt.targets[0].__class__ is not ast.Name:
                    continue
                target = stmt.targets[0]
                annotation = None
            elif kind is ast.AnnAssign:
                target = stmt.target
                if target.__class__ is not ast.Name:
                    continue
                annotation = stmt.annotation
            else:
                continue
            name = target.id
            value = stmt.value
            if name.startswith("__") and name.endswith("__"):
                if name == "__tablename__":
                    tablename = literal_str(value) if value is not None else None
                elif name == "__abstract__":
                    is_abstract = value.__class__ is ast.Constant and value.value is True
                elif name == "__table__":
                    has_table = True
                    if value.__class__ is ast.Call:
                        tablename = literal_str(value.args[0]) if value.args else None
                        emit_columns(value, fqn, names, cls, seg, span, add_member, pk_columns)
                elif name in ("__mapper_args__", "__table_args__"):
                    pk_columns.extend(pk_from_args(value))
                continue
            if name == "model_config" and value is not None and value.__class__ in (ast.Call, ast.Dict):
                config, config_kind = call_options(value, seg), "model_config"
                continue
            if annotation is None and (value is None or value.__class__ is not ast.Call):
                continue  # a plain class attribute (x = 1) is no field in any framework here
            emit_member(name, annotation, value, fqn, names, cls, seg, span(target), add_member)
        line, col, end_line, end_col = span(cls)
        keywords = [{"name": kw.arg, "value": value_text(seg, kw.value)} for kw in cls.keywords if kw.arg]
        add_class(
            kind="class",
            name=cls.name,
            qualname=qual,
            module=modname,
            fqn=fqn,
            bases=bases,
            keywords=keywords or _EMPTY,
            decorators=decorators or _EMPTY,
            meta=meta,
            config=config,
            config_kind=config_kind,
            tablename=tablename,
            has_table=has_table,
            is_abstract_dunder=is_abstract,
            pk_columns=pk_columns or _EMPTY,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

    for stmt in tables:
        call = stmt.value
        target = stmt.targets[0]
        scope = enclosing_def(parent, stmt)
        callee = names.name(call.func, scope)
        if not (
            callee.startswith("sqlalchemy.")
            or any(a.__class__ is ast.Call and last_name(a.func) == "Column" for a in call.args)
        ):
            continue  # some other Table: neither sqlalchemy's nor holding columns
        qual = target.id if scope is None else f"{qualname(scope)}.{target.id}"
        fqn = f"{modname}.{qual}"
        pk_columns = []
        emit_columns(call, fqn, names, scope, seg, span, add_member, pk_columns)
        line, col, end_line, end_col = span(stmt)
        add_class(
            kind="table",
            name=target.id,
            qualname=qual,
            module=modname,
            fqn=fqn,
            bases=[callee],
            keywords=[{"name": kw.arg, "value": value_text(seg, kw.value)} for kw in call.keywords if kw.arg],
            decorators=_EMPTY,
            meta=_EMPTY,
            config=_EMPTY,
            config_kind=None,
            tablename=literal_str(call.args[0]) if call.args else None,
            has_table=True,
            is_abstract_dunder=False,
            pk_columns=pk_columns,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


def _looks_plain(cls: Any, std: set[str], plain_names: set[str]) -> bool:
    for d in cls.decorator_list:
        head = d.func if d.__class__ is ast.Call else d
        if last_name(head) in MODEL_DECORATORS:
            return False
        while head.__class__ is ast.Attribute:
            head = head.value
        if head.__class__ is not ast.Name or not (head.id in std or head.id in BUILTIN_NAMES):
            return False
    for b in cls.bases:
        if b.__class__ is ast.Subscript:
            b = b.value
        if b.__class__ is ast.Name:
            name = b.id
            if name in std or name in plain_names or (name in BUILTIN_NAMES and name not in std):
                continue
            return False
        while b.__class__ is ast.Attribute:
            b = b.value
        if b.__class__ is not ast.Name or b.id not in std:
            return False
    return True


def _factory_assigns(body: list[Any]) -> list[Any]:
    """Module-level ``X = factory(...)`` and ``Model = db.Model`` statements (under if/try too)."""
    out = []
    Assign = ast.Assign
    for stmt in body:
        cls = stmt.__class__
        if cls is Assign:
            if _maybe_alias(stmt):
                out.append(stmt)
        elif cls is ast.If or cls is ast.Try:
            out.extend(s for s in body_statements([stmt]) if s.__class__ is Assign and _maybe_alias(s))
    return out


def _maybe_alias(stmt: Any) -> bool:
    """``X = factory(...)`` or ``Model = db.Model`` (a name bound to a dotted name that looks like a base)."""
    if (
        stmt.__class__ is not ast.Assign
        or len(stmt.targets) != 1
        or stmt.targets[0].__class__ is not ast.Name
    ):
        return False
    value = stmt.value
    if value.__class__ is ast.Call:
        return _last(last_name(value.func)) in FACTORIES
    return value.__class__ is ast.Attribute and value.attr.endswith(("Model", "Base", "Schema"))


def _emit_alias(stmt: Any, names: FileNames, modname: str, span: Any, add: Any) -> None:
    value = stmt.value
    name = stmt.targets[0].id
    if value.__class__ is ast.Call:
        kind = "factory"
        func = value.func
        if func.__class__ is ast.Attribute and func.value.__class__ is ast.Call:
            inner = names.resolve(func.value.func, None)  # registry().generate_base()
            target = f"{inner}().{func.attr}" if inner else None
        else:
            target = names.resolve(func, None)
    else:
        kind = "alias"
        target = names.resolve(value, None)
    if target is None:
        return
    line, col, end_line, end_col = span(stmt)
    add(
        kind=kind,
        name=name,
        qualname=name,
        module=modname,
        fqn=f"{modname}.{name}",
        bases=[target],
        keywords=_EMPTY,
        decorators=_EMPTY,
        meta=_EMPTY,
        config=_EMPTY,
        config_kind=None,
        tablename=None,
        has_table=False,
        is_abstract_dunder=False,
        pk_columns=_EMPTY,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
    )


def _table_assigns(src: SourceFile) -> list[Any]:
    """``x = Table(...)`` / ``x = sa.Table(...)`` / ``x = db.Table(...)`` outside class bodies."""
    out = []
    parent = src.parents.get
    for stmt in src.nodes(ast.Assign):
        value = stmt.value
        if (
            value.__class__ is ast.Call
            and len(stmt.targets) == 1
            and stmt.targets[0].__class__ is ast.Name
            and last_name(value.func) == "Table"
            and value.func.__class__ is not ast.Call
        ):
            owner = enclosing_def(parent, stmt)
            if owner is None or owner.__class__ is not ast.ClassDef:
                out.append(stmt)
    return out


def _declares_columns(body: list[Any]) -> bool:
    """Whether a class body assigns SQLAlchemy columns or relations, or declares attributes with
    ``@declared_attr`` (a mixin without bases)."""
    for stmt in body:
        cls = stmt.__class__
        if cls is ast.FunctionDef:
            for dec in stmt.decorator_list:
                if "declared_attr" in (last_name(dec), getattr(getattr(dec, "value", None), "id", None)):
                    return True
            continue
        if cls is ast.Assign or cls is ast.AnnAssign:
            value = stmt.value
            if (
                value is not None
                and value.__class__ is ast.Call
                and last_name(value.func) in ORM_MEMBER_CALLS
            ):
                return True
            if cls is ast.AnnAssign:
                ann = stmt.annotation
                if ann.__class__ is ast.Subscript and last_name(ann.value) == "Mapped":
                    return True
    return False

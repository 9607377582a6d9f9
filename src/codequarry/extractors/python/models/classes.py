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
from dataclasses import dataclass, field
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.models.candidates import (
    MEMBER_DECORATORS,
    MODEL_DECORATORS,
    ORM_MEMBER_CALLS,
    declares_columns,
    factory_assigns,
    last_part,
    sort_classes,
    table_assigns,
)
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
from codequarry.python.imports import STDLIB
from codequarry.python.resolve import FileNames, file_names
from codequarry.python.scopes import body_statements, enclosing_def
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


_NESTED_OPTIONS = frozenset({"Meta", "Config"})
_EMPTY: list[Any] = []


def _is_stdlib(name: str, own_top: str) -> bool:
    top = name.partition(".")[0]
    return top != own_top and top in STDLIB


@file_extractor("python.models.classes", version=2, needs=["ast"], outputs=[ModelClass, ModelMember])
def model_classes(src: SourceFile, out: Any) -> None:
    """Candidate model classes with resolved bases, options and field-like members; Table objects."""
    tables = table_assigns(src) if "Table(" in src.text else _EMPTY
    factories = factory_assigns(src.tree.body)
    todo, plain_nodes = sort_classes(src)
    if not todo and not tables and not factories:
        return
    names = file_names(src)
    modname = names.modname
    fm = _FileModels(
        src=src,
        names=names,
        modname=modname,
        own_top=modname.partition(".")[0],
        span=span_getter(src),
        add_class=out.model_classes.add,
        add_member=out.model_members.add,
    )
    for stmt in factories:
        _emit_alias(stmt, names, modname, fm.span, fm.add_class)
    fm.mark_plain(plain_nodes)
    for cls in todo:
        fm.emit_class(cls)
    for stmt in tables:
        fm.emit_table(stmt)


@dataclass
class _ClassBody:
    """What a candidate class's body declares about its table and options."""

    meta: list[dict[str, str]] = field(default_factory=lambda: _EMPTY)
    config: list[dict[str, str]] = field(default_factory=lambda: _EMPTY)
    config_kind: str | None = None
    tablename: str | None = None
    has_table: bool = False
    is_abstract: bool = False
    pk_columns: list[str] = field(default_factory=list)


@dataclass
class _FileModels:
    """The rows of one file's candidate classes and tables, and what writing them shares."""

    src: SourceFile
    names: FileNames
    modname: str
    own_top: str
    span: Any
    add_class: Any
    add_member: Any
    #: fully qualified names of the file's classes that are no candidates
    plain: set[str] = field(default_factory=set)

    def mark_plain(self, plain_nodes: list[Any]) -> None:
        """Record the plain classes (and bind those defined in a function or class body).

        A class of this file whose bases are all standard-library classes or such classes of this
        file is no candidate; nodes come in source order, so a base defined earlier is known.
        """
        src, modname = self.src, self.modname
        parent = src.parents.get
        tree = src.tree
        for cls in plain_nodes:
            if parent(cls) is tree:
                self.plain.add(f"{modname}.{cls.name}")
                continue
            scope = enclosing_def(parent, cls)
            fqn = f"{modname}.{src.qualname(cls)}"
            self.plain.add(fqn)
            if scope is not None:
                self.names.bind(scope, cls.name, fqn)

    def emit_class(self, cls: Any) -> None:
        """One ``model_classes`` row and its members, unless the class turns out plain."""
        src, names, modname = self.src, self.names, self.modname
        seg = src.segment
        scope = enclosing_def(src.parents.get, cls)
        qual = src.qualname(cls)
        fqn = f"{modname}.{qual}"
        if scope is not None:
            names.bind(scope, cls.name, fqn)
        bases = [names.name(b.value if b.__class__ is ast.Subscript else b, scope) for b in cls.bases]
        decorators = [decorator(d, names, scope, seg) for d in cls.decorator_list]
        if not (
            any(not _is_stdlib(b, self.own_top) and b not in self.plain for b in bases)
            or any(last_part(d["name"]) in MODEL_DECORATORS for d in decorators)
            or declares_columns(cls.body)
        ):
            self.plain.add(fqn)
            return
        body = self._class_body(cls, fqn)
        line, col, end_line, end_col = self.span(cls)
        keywords = [{"name": kw.arg, "value": value_text(seg, kw.value)} for kw in cls.keywords if kw.arg]
        self.add_class(
            kind="class",
            name=cls.name,
            qualname=qual,
            module=modname,
            fqn=fqn,
            bases=bases,
            keywords=keywords or _EMPTY,
            decorators=decorators or _EMPTY,
            meta=body.meta,
            config=body.config,
            config_kind=body.config_kind,
            tablename=body.tablename,
            has_table=body.has_table,
            is_abstract_dunder=body.is_abstract,
            pk_columns=body.pk_columns or _EMPTY,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

    def _class_body(self, cls: Any, fqn: str) -> _ClassBody:
        """Read the class body: options, dunder table settings, members (written as it goes)."""
        names, seg, span, add_member = self.names, self.src.segment, self.span, self.add_member
        body = _ClassBody()
        for stmt in body_statements(cls.body):
            kind = stmt.__class__
            if kind is ast.ClassDef:
                if stmt.name in _NESTED_OPTIONS:
                    opts = options(stmt.body, seg)
                    if stmt.name == "Meta":
                        body.meta = opts
                    else:
                        body.config, body.config_kind = opts, "Config"
                continue
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                self._method_member(stmt, cls, fqn)
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
                self._dunder(body, name, value, cls, fqn)
                continue
            if name == "model_config" and value is not None and value.__class__ in (ast.Call, ast.Dict):
                body.config, body.config_kind = call_options(value, seg), "model_config"
                continue
            if annotation is None and (value is None or value.__class__ is not ast.Call):
                continue  # a plain class attribute (x = 1) is no field in any framework here
            emit_member(name, annotation, value, fqn, names, cls, seg, span(target), add_member)
        return body

    def _dunder(self, body: _ClassBody, name: str, value: Any, cls: Any, fqn: str) -> None:
        """``__tablename__``, ``__abstract__``, ``__table__``, ``__mapper_args__`` / ``__table_args__``."""
        if name == "__tablename__":
            body.tablename = literal_str(value) if value is not None else None
        elif name == "__abstract__":
            body.is_abstract = value.__class__ is ast.Constant and value.value is True
        elif name == "__table__":
            body.has_table = True
            if value.__class__ is ast.Call:
                body.tablename = literal_str(value.args[0]) if value.args else None
                emit_columns(
                    value, fqn, self.names, cls, self.src.segment, self.span, self.add_member, body.pk_columns
                )
        elif name in ("__mapper_args__", "__table_args__"):
            body.pk_columns.extend(pk_from_args(value))

    def _method_member(self, stmt: Any, cls: Any, fqn: str) -> None:
        """A method decorated as a member (``@validator``, ``@hybrid_property``, ...) is a member row;
        a ``@declared_attr`` returning a column or relationship is that field (a mixin's
        ``def project_id(cls): return Column(ForeignKey("project.id"))``)."""
        if not stmt.decorator_list or not any(last_name(d) in MEMBER_DECORATORS for d in stmt.decorator_list):
            return
        returned = _declared_column(stmt)
        if returned is not None:
            returns = stmt.returns
            if returns is not None and not (
                returns.__class__ is ast.Subscript and last_name(returns.value) == "Mapped"
            ):
                returns = None  # -> Column[int], -> "RelationshipProperty": no Mapped[] annotation
            seg = self.src.segment
            emit_member(
                stmt.name, returns, returned, fqn, self.names, cls, seg, self.span(stmt), self.add_member
            )
            return
        line, col, end_line, end_col = self.span(stmt)
        self.add_member(
            owner=fqn,
            name=stmt.name,
            kind="method",
            annotation=None,
            ann_type=None,
            ann_ref=None,
            ann_optional=False,
            value=None,
            decorators=[decorator(d, self.names, cls, self.src.segment) for d in stmt.decorator_list],
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
            **NO_CALL,
        )

    def emit_table(self, stmt: Any) -> None:
        """One ``kind = 'table'`` row for ``t = Table(...)`` of SQLAlchemy (or holding Columns)."""
        src, names = self.src, self.names
        call = stmt.value
        target = stmt.targets[0]
        scope = enclosing_def(src.parents.get, stmt)
        callee = names.name(call.func, scope)
        if not (
            callee.startswith("sqlalchemy.")
            or any(a.__class__ is ast.Call and last_name(a.func) == "Column" for a in call.args)
        ):
            return  # some other Table: neither sqlalchemy's nor holding columns
        qual = target.id if scope is None else f"{src.qualname(scope)}.{target.id}"
        fqn = f"{self.modname}.{qual}"
        pk_columns: list[str] = []
        emit_columns(call, fqn, names, scope, src.segment, self.span, self.add_member, pk_columns)
        line, col, end_line, end_col = self.span(stmt)
        seg = src.segment
        self.add_class(
            kind="table",
            name=target.id,
            qualname=qual,
            module=self.modname,
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


def _declared_column(stmt: Any) -> Any:
    """The column or relationship call a ``@declared_attr`` method (not ``.directive``, which makes
    ``__tablename__`` and the like) ends by returning, if that is all its body does at the end."""
    if stmt.name.startswith("__") or not any(
        last_name(d, through_calls=False) == "declared_attr" for d in stmt.decorator_list
    ):
        return None
    last = stmt.body[-1]
    if last.__class__ is not ast.Return or last.value is None or last.value.__class__ is not ast.Call:
        return None
    if last_name(last.value.func) not in ORM_MEMBER_CALLS:
        return None
    return last.value

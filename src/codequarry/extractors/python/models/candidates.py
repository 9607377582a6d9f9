"""Which classes and assignments of a file may make models, decided without resolving a name.

The first, cheap look of :mod:`.classes`: most classes of a corpus are settled here from how their
bases and decorators are written, so that only the rest pay for name resolution.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.python.calls import last_name
from codequarry.python.imports import stdlib_heads
from codequarry.python.resolve import BUILTIN_NAMES
from codequarry.python.scopes import body_statements, enclosing_def, module_name
from codequarry.source import SourceFile

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
_EMPTY: list[Any] = []


def last_part(name: str | None) -> str:
    """The last dotted part of a name ('' for None)."""
    return name.rsplit(".", 1)[-1] if name else ""


def sort_classes(src: SourceFile) -> tuple[list[Any], list[Any]]:
    """(classes to look at, classes that are plain at a glance), in source order.

    A cheap look, without resolving anything: a class whose bases are builtins, names imported from
    the standard library, or plain classes seen before, whose decorators come from the standard
    library too (dataclass excepted) and whose body declares no columns, is plain.
    """
    classes = src.nodes(ast.ClassDef)
    todo: list[Any] = []
    plain_nodes: list[Any] = []
    if not classes:
        return todo, plain_nodes
    modname = module_name(src)
    std = stdlib_heads(src, modname.partition(".")[0])
    plain_names: set[str] = set()
    for cls in classes:
        # only a class without bases (or with just ``object``) can be a column mixin
        bare = not cls.bases or (len(cls.bases) == 1 and getattr(cls.bases[0], "id", None) == "object")
        if looks_plain(cls, std, plain_names) and not (bare and declares_columns(cls.body)):
            plain_nodes.append(cls)
            plain_names.add(cls.name)
        else:
            todo.append(cls)
    return todo, plain_nodes


def looks_plain(cls: Any, std: set[str], plain_names: set[str]) -> bool:
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


def factory_assigns(body: list[Any]) -> list[Any]:
    """Module-level ``X = factory(...)`` and ``Model = db.Model`` statements (under if/try too)."""
    out = []
    Assign = ast.Assign
    for stmt in body:
        cls = stmt.__class__
        if cls is Assign:
            if maybe_alias(stmt):
                out.append(stmt)
        elif cls is ast.If or cls is ast.Try:
            out.extend(s for s in body_statements([stmt]) if s.__class__ is Assign and maybe_alias(s))
    return out


def maybe_alias(stmt: Any) -> bool:
    """``X = factory(...)`` or ``Model = db.Model`` (a name bound to a dotted name that looks like a base)."""
    if (
        stmt.__class__ is not ast.Assign
        or len(stmt.targets) != 1
        or stmt.targets[0].__class__ is not ast.Name
    ):
        return False
    value = stmt.value
    if value.__class__ is ast.Call:
        return last_part(last_name(value.func)) in FACTORIES
    return value.__class__ is ast.Attribute and value.attr.endswith(("Model", "Base", "Schema"))


def table_assigns(src: SourceFile) -> list[Any]:
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


def declares_columns(body: list[Any]) -> bool:
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

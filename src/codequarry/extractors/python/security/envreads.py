"""Environment variables a file reads, with their defaults: the ``env_reads`` table.

Recognised reads, each resolved through the file's imports (``from os import environ as E`` and a
module-level ``ENV = os.environ`` count; a local variable named ``environ`` does not):

- ``os.environ[...]``, ``os.environ.get``, ``.setdefault``, ``.pop`` (and ``os.environb``);
- ``os.getenv``, ``os.getenvb``;
- python-decouple's ``config("X", default=..., cast=...)``;
- django-environ: calls of an ``environ.Env(...)`` instance bound at module level
  (``env("X")``, ``env.str("X", default="")``, ``env.bool(...)``, ``env.db()`` ...);
- pydantic settings: the annotated fields of a class deriving directly from ``BaseSettings``
  (``pydantic_settings`` or pydantic v1), named with a literal ``env_prefix`` when one is given.

Writes (``os.environ["X"] = ...``), deletions, membership tests and whole-environment reads
(``dict(os.environ)``) are not reads of one variable and give no row.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.security.callsites import FileFacts, file_facts
from codequarry.python.calls import call_arg, keyword
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str, storable
from codequarry.schema import dataset
from codequarry.source import SourceFile


@dataset("env_reads")
class EnvRead:
    """One row per read of one environment variable."""

    scope: str
    name: str | None
    name_expr: str
    api: str
    has_default: bool
    default: str | None
    raises_if_unset: bool
    cast: str | None
    line: int
    col: int
    end_line: int
    end_col: int


_ROOTS = frozenset({"os", "decouple", "environ", "pydantic", "pydantic_settings"})
_ENVIRON = frozenset({"os.environ", "os.environb"})
_GETENV = frozenset({"os.getenv", "os.getenvb"})
_DECOUPLE = frozenset({"decouple.config", "decouple.AutoConfig", "decouple.Config"})
_BASE_SETTINGS = frozenset(
    {
        "pydantic_settings.BaseSettings",
        "pydantic.BaseSettings",
        "pydantic.v1.BaseSettings",
        "pydantic.env_settings.BaseSettings",
    }
)
#: django-environ methods that read one variable -> the type they cast to
_ENV_METHODS = {
    "str": "str",
    "bool": "bool",
    "int": "int",
    "float": "float",
    "json": "json",
    "list": "list",
    "tuple": "tuple",
    "dict": "dict",
    "url": "url",
    "path": "path",
    "decimal": "decimal",
    "bytes": "bytes",
    "db_url": "db_url",
    "db": "db_url",
    "cache_url": "cache_url",
    "cache": "cache_url",
    "email_url": "email_url",
    "email": "email_url",
    "search_url": "search_url",
    "channels_url": "channels_url",
    "channels": "channels_url",
    "parse_value": None,
}
#: what django-environ reads when a URL method is called without a variable name
_ENV_DEFAULT_VAR = {
    "db_url": "DATABASE_URL",
    "db": "DATABASE_URL",
    "cache_url": "CACHE_URL",
    "cache": "CACHE_URL",
    "email_url": "EMAIL_URL",
    "email": "EMAIL_URL",
    "search_url": "SEARCH_URL",
    "channels_url": "CHANNELS_URL",
    "channels": "CHANNELS_URL",
}
_MAX_EXPR = 200


@file_extractor("python.env.reads", version=1, needs=["ast"], outputs=[EnvRead])
def env_reads(src: SourceFile, out: Any) -> None:
    """Environment variables read (os.environ, os.getenv, decouple, django-environ, pydantic settings)."""
    facts = file_facts(src)
    roots = facts.roots
    if roots.isdisjoint(_ROOTS):
        return
    reads = _Reads(src, facts)
    if "os" in roots:
        reads.os_reads()
    if "decouple" in roots:
        reads.decouple()
    if "environ" in roots:
        reads.django_environ()
    if "pydantic" in roots or "pydantic_settings" in roots:
        reads.pydantic_settings()
    if not reads.rows:
        return
    reads.rows.sort(key=lambda r: (r[0].lineno, r[0].col_offset))
    span = span_getter(src)
    add = out.env_reads.add
    for node, row in reads.rows:
        line, col, end_line, end_col = span(node)
        add(**row, line=line, col=col, end_line=end_line, end_col=end_col)


class _Reads:
    def __init__(self, src: SourceFile, facts: FileFacts) -> None:
        self.src = src
        self.facts = facts
        self.seg = src.segment
        self.rows: list[tuple[Any, dict[str, Any]]] = []
        self.aliases: set[str] = set()

    def _add(
        self,
        node: Any,
        *,
        key: Any,
        api: str,
        default: Any = None,
        has_default: bool = False,
        raises: bool = False,
        cast: str | None = None,
        name: str | None = None,
    ) -> None:
        facts = self.facts
        scope, _ = facts.context(node)
        if not has_default and not raises:
            default, has_default = self._or_default(node)
        if name is None and key is not None:
            name = literal_str(key)
        self.rows.append(
            (
                node,
                {
                    "scope": facts.scope_name(scope),
                    "name": storable(name) if name is not None else None,
                    "name_expr": self.seg(key, _MAX_EXPR) if key is not None else repr(name),
                    "api": api,
                    "has_default": has_default,
                    "default": self.seg(default, _MAX_EXPR) if default is not None else None,
                    "raises_if_unset": raises,
                    "cast": cast,
                },
            )
        )

    def _or_default(self, node: Any) -> tuple[Any, bool]:
        """``os.getenv("X") or "d"``: the right side of an ``or`` is the default in effect."""
        parent = self.facts.parent(node)
        if parent.__class__ is ast.BoolOp and parent.op.__class__ is ast.Or and parent.values[0] is node:
            return parent.values[1], True
        return None, False

    # -- os -------------------------------------------------------------------------------------------
    def _environ_like(self, node: Any) -> str | None:
        """'os.environ' / 'os.environb' when ``node`` refers to one of them, else None."""
        cls = node.__class__
        if cls is ast.Attribute:
            if node.attr not in ("environ", "environb"):
                return None
        elif cls is not ast.Name or node.id not in self.aliases:
            return None
        got = self.facts.resolve(node)
        return got if got in _ENVIRON else None

    def os_reads(self) -> None:
        """``os.environ.get/setdefault/pop``, ``os.getenv``/``getenvb`` and ``os.environ[...]`` reads."""
        self.aliases = self._environ_aliases()
        self.facts.want("os", *self.aliases)
        self._environ_methods()
        self._getenv_calls()
        self._environ_subscripts()

    def _environ_aliases(self) -> set[str]:
        """Plain names that may stand for os.environ: ``from os import environ as E``, module-level
        ``X = os.environ``."""
        aliases: set[str] = set()
        for stmt in self.src.nodes(ast.ImportFrom):
            if stmt.module == "os" and not stmt.level:
                aliases.update(a.asname or a.name for a in stmt.names if a.name in ("environ", "environb"))
        for stmt in self.src.tree.body:
            if (
                stmt.__class__ is ast.Assign
                and stmt.value.__class__ is ast.Attribute
                and stmt.value.attr in ("environ", "environb")
            ):
                aliases.update(t.id for t in stmt.targets if t.__class__ is ast.Name)
        return aliases

    def _environ_methods(self) -> None:
        """``os.environ.get(key, default)``, ``.setdefault(...)``, ``.pop(...)``."""
        for call in self.facts.calls_named("get", "setdefault", "pop"):
            func = call.func
            if func.__class__ is not ast.Attribute:
                continue
            environ = self._environ_like(func.value)
            if environ is None:
                continue
            key = call_arg(call, 0, "key")
            if key is None:
                continue
            method = func.attr
            default = call_arg(call, 1, "default")
            self._add(
                call,
                key=key,
                api=f"{environ}.{method}",
                default=default,
                has_default=default is not None,
                raises=method == "pop" and default is None,
            )

    def _getenv_calls(self) -> None:
        """``os.getenv(key, default)`` and ``os.getenvb(...)``, resolved through the imports."""
        facts = self.facts
        for call in facts.calls_named("getenv", "getenvb"):
            if facts.callee(call) not in _GETENV:
                continue
            key = call_arg(call, 0, "key")
            if key is None:
                continue
            default = call_arg(call, 1, "default")
            self._add(
                call,
                key=key,
                api=facts.callee(call) or "os.getenv",
                default=default,
                has_default=default is not None,
            )

    def _environ_subscripts(self) -> None:
        """``os.environ["X"]`` read (not assigned or deleted): raises when the variable is unset."""
        aliases = self.aliases
        Load = ast.Load
        for sub in self.src.nodes(ast.Subscript):
            value = sub.value
            cls = value.__class__
            if (cls is ast.Attribute and value.attr in ("environ", "environb")) or (
                cls is ast.Name and value.id in aliases
            ):
                if sub.ctx.__class__ is not Load:
                    continue
                environ = self._environ_like(value)
                if environ is None:
                    continue
                self._add(sub, key=sub.slice, api=f"{environ}[]", raises=True)

    # -- decouple -------------------------------------------------------------------------------------
    def decouple(self) -> None:
        facts = self.facts
        for call in facts.calls_named("config"):
            if facts.callee(call) != "decouple.config":
                continue
            key = call_arg(call, 0, "option")
            if key is None:
                continue
            default = keyword(call, "default")
            cast = keyword(call, "cast")
            self._add(
                call,
                key=key,
                api="decouple.config",
                default=default,
                has_default=default is not None,
                raises=default is None,
                cast=self.seg(cast, 80) if cast is not None else None,
            )

    # -- django-environ -------------------------------------------------------------------------------
    def django_environ(self) -> None:
        facts = self.facts
        instances: set[str] = set()
        for stmt in self.src.tree.body:
            if (
                stmt.__class__ is ast.Assign
                and stmt.value.__class__ is ast.Call
                and facts.callee(stmt.value) in ("environ.Env", "environ.environ.Env")
            ):
                instances.update(t.id for t in stmt.targets if t.__class__ is ast.Name)
        if not instances:
            return
        for call in self.src.nodes(ast.Call):
            func = call.func
            if func.__class__ is ast.Name:
                if func.id not in instances:
                    continue
                method, cast = "__call__", None
                cast_node = call_arg(call, 1, "cast")
                if cast_node is not None:
                    cast = self.seg(cast_node, 80)
                default = call_arg(call, 2, "default")
            elif (
                func.__class__ is ast.Attribute
                and func.value.__class__ is ast.Name
                and func.value.id in instances
            ):
                method = func.attr
                if method not in _ENV_METHODS:
                    continue
                cast = _ENV_METHODS[method]
                default = call_arg(call, 1, "default")
            else:
                continue
            key = call_arg(call, 0, "var")
            name = None
            if key is None:
                name = _ENV_DEFAULT_VAR.get(method)
                if name is None:
                    continue
            api = "environ.Env" if method == "__call__" else f"environ.Env.{method}"
            self._add(
                call,
                key=key,
                api=api,
                default=default,
                has_default=default is not None,
                raises=default is None,
                cast=cast,
                name=name,
            )

    # -- pydantic settings ----------------------------------------------------------------------------
    def pydantic_settings(self) -> None:
        facts = self.facts
        for cls in self.src.nodes(ast.ClassDef):
            if not any(facts.resolve(b) in _BASE_SETTINGS for b in cls.bases):
                continue
            prefix = _env_prefix(cls)
            for stmt in cls.body:
                if stmt.__class__ is not ast.AnnAssign or stmt.target.__class__ is not ast.Name:
                    continue
                field = stmt.target.id
                if field == "model_config" or field.startswith("_"):
                    continue
                default = stmt.value
                name = prefix + field
                if default is not None and default.__class__ is ast.Call and _called_name(default) == "Field":
                    call = default
                    default = call_arg(call, 0, "default")
                    if default is not None and default.__class__ is ast.Constant and default.value is ...:
                        default = None
                    if default is None:
                        default = keyword(call, "default_factory")
                    alias = keyword(call, "validation_alias") or keyword(call, "alias")
                    if alias is not None and literal_str(alias) is not None:
                        name = literal_str(alias) or name  # an alias is the whole name: no prefix
                self._add(
                    stmt,
                    key=stmt.target,
                    api="pydantic.BaseSettings",
                    default=default,
                    has_default=default is not None,
                    raises=default is None,
                    cast=self.seg(stmt.annotation, 80),
                    name=name.upper(),
                )


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if func.__class__ is ast.Attribute:
        return func.attr
    return func.id if func.__class__ is ast.Name else None


def _env_prefix(cls: ast.ClassDef) -> str:
    """A literal ``env_prefix`` from ``model_config = SettingsConfigDict(...)`` or ``class Config``."""
    stmt: Any
    for stmt in cls.body:
        if stmt.__class__ in (ast.Assign, ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(t.__class__ is ast.Name and t.id == "model_config" for t in targets):
                value = stmt.value
                if value.__class__ is ast.Call:
                    got = literal_str(keyword(value, "env_prefix") or ast.Constant(None))
                    if got is not None:
                        return got
                elif value.__class__ is ast.Dict:
                    for k, v in zip(value.keys, value.values, strict=True):
                        if k is not None and literal_str(k) == "env_prefix" and literal_str(v) is not None:
                            return literal_str(v) or ""
        elif stmt.__class__ is ast.ClassDef and stmt.name == "Config":
            for inner in stmt.body:
                if inner.__class__ is ast.Assign and any(
                    t.__class__ is ast.Name and t.id == "env_prefix" for t in inner.targets
                ):
                    got = literal_str(inner.value)
                    if got is not None:
                        return got
    return ""

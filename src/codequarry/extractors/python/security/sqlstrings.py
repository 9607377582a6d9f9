"""SQL text reaching a sink, with how it was built: the ``sql_strings`` table.

Sinks: the methods ``execute``, ``executemany``, ``executescript`` and ``exec_driver_sql`` on any
object (DB-API cursors and connections, SQLAlchemy sessions, engines and connections); SQLAlchemy's
``text()`` (resolved through the imports, so a local ``text`` function is no sink); Django's
``.raw()``, ``.extra(where=[...], select={...})`` and ``RawSQL``; pandas' ``read_sql`` and
``read_sql_query``. ``execute(text("..."))`` is one row, at the ``execute``, with ``wrapper``
naming the ``text`` function.

The SQL argument is classified by how it was built: ``literal``, ``fstring``, ``percent``
(``"..." % x``), ``format`` (``"...".format(x)``), ``concat`` (``+``, ``+=``), ``join``
(``" AND ".join(parts)``), ``composed`` (psycopg's ``sql.SQL(...).format(...)``, which quotes what it
inserts), or, when it cannot be seen, ``parameter``, ``name``, ``attribute``, ``call``, ``other``.
A plain name at the sink is traced to the last assignment to it before the sink in the same function
(then the module), folding later ``+=`` into a concatenation. The rows also give the expressions
interpolated into the text, so that "SQL built from values reaching ``execute``" is one query.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.security.callsites import FileFacts, file_facts
from codequarry.extractors.python.security.sqlbuild import Builder, Built
from codequarry.python.calls import call_arg, keyword
from codequarry.python.spans import span_getter
from codequarry.python.values import storable
from codequarry.schema import dataset
from codequarry.source import SourceFile


@dataset("sql_strings")
class SqlString:
    """One row per SQL argument of a sink call (``extra()`` gives one per SQL fragment)."""

    scope: str
    sink: str
    callee: str
    wrapper: str | None
    arg: str
    build: str
    techniques: list[str]
    is_interpolated: bool
    interpolated: list[str]
    sql: str | None
    looks_like_sql: bool
    has_params: bool
    expression: str
    assigned_line: int | None
    line: int
    col: int
    end_line: int
    end_col: int


#: method sinks on any receiver -> (keyword names of the SQL argument, keyword names of parameters)
_METHOD_SINKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "execute": (
        ("sql", "query", "statement", "operation", "stmt"),
        ("params", "parameters", "args", "vars", "seq_of_parameters", "multiparams"),
    ),
    "executemany": (
        ("sql", "query", "statement", "operation", "stmt"),
        ("params", "parameters", "args", "vars_list", "seq_of_parameters"),
    ),
    "executescript": (("sql_script", "sql"), ()),
    "exec_driver_sql": (("statement", "sql"), ("parameters", "params")),
}
#: resolved names of SQLAlchemy's ``text`` (a sink alone, a wrapper inside ``execute``)
_TEXT = frozenset(
    {
        "sqlalchemy.text",
        "sqlalchemy.sql.text",
        "sqlalchemy.sql.expression.text",
        "sqlalchemy.sql.elements.text",
        "sqlalchemy.sql._elements_constructors.text",
        "sqlmodel.text",
        "flask_sqlalchemy.text",
    }
)
_READ_SQL = frozenset(
    {"pandas.read_sql", "pandas.read_sql_query", "pandas.io.sql.read_sql", "pandas.io.sql.read_sql_query"}
)
#: sinks that take nothing but SQL: their argument is SQL whatever it looks like
_SQL_ONLY = frozenset({"executescript", "exec_driver_sql", "text", "raw", "extra", "RawSQL", "read_sql"})

_SQL_START = re.compile(
    r"\s*(?:--[^\n]*\n\s*|/\*(?>.*?\*/)\s*)*\(?\s*(?:SELECT|INSERT|UPDATE|DELETE|REPLACE|UPSERT|MERGE|CREATE|DROP|ALTER"
    r"|TRUNCATE|WITH|PRAGMA|EXPLAIN|GRANT|REVOKE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ANALYZE|ATTACH"
    r"|DETACH|SET|SHOW|DECLARE|EXEC|EXECUTE|CALL|LOCK|COPY|REINDEX|COMMENT|DESCRIBE|USE)\b",
    re.IGNORECASE | re.DOTALL,
)
_SQL_WORDS = re.compile(r"\b(?:SELECT|FROM|WHERE|INSERT INTO|DELETE FROM|VALUES|ORDER BY|GROUP BY|JOIN)\b")
_MAX_SQL = 2000
_MAX_EXPR = 200


@dataclass(slots=True)
class SqlSite:
    """One SQL argument at a sink, as the ``sql_strings`` row and the ``sql-interpolation`` rule see it."""

    call: ast.Call
    scope: str
    sink: str
    callee: str
    wrapper: str | None
    arg: str
    built: Built
    looks_like_sql: bool
    has_params: bool
    expression: str


def sql_sites(src: SourceFile) -> list[SqlSite]:
    """Every SQL argument reaching a sink in ``src`` (computed once per file, shared)."""
    facts = file_facts(src)
    got = facts.memo.get("sql")
    if got is None:
        got = facts.memo["sql"] = _find(src, facts)
    return got


def _find(src: SourceFile, facts: FileFacts) -> list[SqlSite]:
    """The SQL sites of the file: every candidate sink call, checked, with its SQL argument built."""
    candidates, sqlalchemy = _candidates(facts)
    if not candidates:
        return []
    candidates.sort(key=lambda c: (c[0].lineno, c[0].col_offset))
    builder = Builder(src, facts)
    seg = src.segment
    sites: list[SqlSite] = []
    consumed: set[ast.Call] = set()  # text() calls already reported as the wrapper of an execute
    for call, sink in candidates:
        if call in consumed:
            continue
        keywords = _sink_keywords(call, sink, facts)
        if keywords is None:
            continue
        sink_kw, params = keywords
        has_params = _has_params(call, sink, params)
        scope_node, _ = facts.context(call)
        scope = facts.scope_name(scope_node)
        callee = seg(call.func, 120)
        if sink == "extra":
            for arg, fragment in _extra_fragments(call):
                built = builder.build(fragment, scope_node, call)
                sites.append(
                    SqlSite(
                        call,
                        scope,
                        sink,
                        callee,
                        None,
                        arg,
                        built,
                        True,
                        has_params,
                        seg(fragment, _MAX_EXPR),
                    )
                )
            continue
        expr = call_arg(call, 0, *sink_kw)
        if expr is None or expr.__class__ is ast.Starred:
            continue
        arg = (
            "0"
            if call.args and call.args[0] is expr
            else next(kw.arg for kw in call.keywords if kw.value is expr and kw.arg is not None)
        )
        wrapper = None
        if expr.__class__ is ast.Call and sink in _METHOD_SINKS and sqlalchemy:
            wrapper, expr = _unwrap_text(expr, facts, consumed)
        built = builder.build(expr, scope_node, call)
        looks = sink in _SQL_ONLY or wrapper is not None or _looks_like_sql(built.text)
        sites.append(
            SqlSite(call, scope, sink, callee, wrapper, arg, built, looks, has_params, seg(expr, _MAX_EXPR))
        )
    return sites


def _candidates(facts: FileFacts) -> tuple[list[tuple[ast.Call, str]], bool]:
    """(the calls that may be sinks, with the sink each may be; whether the file imports SQLAlchemy)."""
    calls = facts.calls
    roots = facts.roots
    candidates: list[tuple[ast.Call, str]] = []
    for name in _METHOD_SINKS:
        for call in calls.get(name, ()):
            if call.func.__class__ is ast.Attribute:
                candidates.append((call, name))
    sqlalchemy = bool(roots & {"sqlalchemy", "sqlmodel", "flask_sqlalchemy"})
    if sqlalchemy:
        candidates.extend((c, "text") for c in calls.get("text", ()))
    if "django" in roots:
        candidates.extend((c, "raw") for c in calls.get("raw", ()) if c.func.__class__ is ast.Attribute)
        candidates.extend((c, "extra") for c in calls.get("extra", ()) if c.func.__class__ is ast.Attribute)
        candidates.extend((c, "RawSQL") for c in calls.get("RawSQL", ()))
    if "pandas" in roots:
        candidates.extend(
            (c, "read_sql") for c in (*calls.get("read_sql", ()), *calls.get("read_sql_query", ()))
        )
    return candidates, sqlalchemy


def _sink_keywords(
    call: ast.Call, sink: str, facts: FileFacts
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(keyword names of the SQL argument, keyword names of parameters) of a sink call; None when the
    call is no sink after all (a ``text``, ``RawSQL`` or ``read_sql`` that resolves elsewhere)."""
    if sink == "text" and facts.callee(call) not in _TEXT:
        return None
    if sink == "RawSQL":
        target = facts.callee(call)
        if target is None or not target.startswith("django."):
            return None
    if sink == "read_sql":
        if facts.callee(call) not in _READ_SQL:
            return None
        return ("sql",), ("params",)
    if sink in _METHOD_SINKS:
        return _METHOD_SINKS[sink]
    if sink == "raw":
        return ("raw_query",), ("params",)
    if sink == "RawSQL":
        return ("sql",), ("params",)
    if sink == "text":
        return ("text",), ()
    return (), ("params", "select_params")


def _has_params(call: ast.Call, sink: str, params: tuple[str, ...]) -> bool:
    """Whether the sink call passes query parameters (a second positional argument, or a parameter
    keyword; ``read_sql`` only by ``params=``)."""
    if sink == "read_sql":
        return keyword(call, "params") is not None
    return (len(call.args) >= 2 and sink not in ("text", "read_sql", "executescript")) or any(
        kw.arg in params for kw in call.keywords
    )


def _unwrap_text(expr: ast.Call, facts: FileFacts, consumed: set[ast.Call]) -> tuple[str | None, Any]:
    """``execute(text("..."))``: (the ``text`` function, its SQL argument), the ``text`` call marked
    consumed; (None, ``expr``) when ``expr`` is another call."""
    inner = facts.callee(expr)
    if inner not in _TEXT:
        return None, expr
    consumed.add(expr)
    text_arg = call_arg(expr, 0, "text")
    if text_arg is not None and text_arg.__class__ is not ast.Starred:
        return inner, text_arg
    return inner, expr


def _looks_like_sql(text: str | None) -> bool:
    if not text:
        return False
    return _SQL_START.match(text) is not None or _SQL_WORDS.search(text) is not None


def _extra_fragments(call: ast.Call) -> list[tuple[str, ast.expr]]:
    """The SQL fragments of a Django ``extra()``: ``where=[...]`` items and ``select={...}`` values."""
    out: list[tuple[str, ast.expr]] = []
    where = keyword(call, "where")
    if where is not None:
        if where.__class__ in (ast.List, ast.Tuple):
            out.extend((f"where[{i}]", e) for i, e in enumerate(where.elts) if e.__class__ is not ast.Starred)
        else:
            out.append(("where", where))
    select = keyword(call, "select")
    if select is not None:
        if select.__class__ is ast.Dict:
            for k, v in zip(select.keys, select.values, strict=True):
                if k is None:
                    continue
                label = repr(k.value) if k.__class__ is ast.Constant else "?"
                out.append((f"select[{label}]", v))
        else:
            out.append(("select", select))
    return out


# -- how an expression was built ---------------------------------------------------------------------


# -- the extractor -------------------------------------------------------------------------------------


@file_extractor("python.sql.strings", version=1, needs=["ast"], outputs=[SqlString])
def sql_strings(src: SourceFile, out: Any) -> None:
    """SQL text reaching execute/text/raw/extra/RawSQL/read_sql, with how it was built."""
    sites = sql_sites(src)
    if not sites:
        return
    span = span_getter(src)
    add = out.sql_strings.add
    for site in sites:
        built = site.built
        text = built.text
        if text is not None:
            if len(text) > _MAX_SQL:
                text = text[: _MAX_SQL - 3] + "..."
            text = storable(text)
        line, col, end_line, end_col = span(site.call)
        add(
            scope=site.scope,
            sink=site.sink,
            callee=site.callee,
            wrapper=site.wrapper,
            arg=site.arg,
            build=built.build,
            techniques=sorted(built.techniques),
            is_interpolated=bool(built.interpolated),
            interpolated=built.interpolated,
            sql=text,
            looks_like_sql=site.looks_like_sql,
            has_params=site.has_params,
            expression=site.expression,
            assigned_line=built.assigned_line,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

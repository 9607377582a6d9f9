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
from dataclasses import dataclass, field
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.security.callsites import FileFacts, file_facts
from codequarry.python.calls import call_arg, keyword
from codequarry.python.scopes import enclosing_def, parameter_names
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str, storable
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
    r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*\(?\s*(?:SELECT|INSERT|UPDATE|DELETE|REPLACE|UPSERT|MERGE|CREATE|DROP|ALTER"
    r"|TRUNCATE|WITH|PRAGMA|EXPLAIN|GRANT|REVOKE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ANALYZE|ATTACH"
    r"|DETACH|SET|SHOW|DECLARE|EXEC|EXECUTE|CALL|LOCK|COPY|REINDEX|COMMENT|DESCRIBE|USE)\b",
    re.IGNORECASE | re.DOTALL,
)
_SQL_WORDS = re.compile(r"\b(?:SELECT|FROM|WHERE|INSERT INTO|DELETE FROM|VALUES|ORDER BY|GROUP BY|JOIN)\b")
_MAX_SQL = 2000
_MAX_EXPR = 200
_MAX_PIECE = 80
_MAX_DEPTH = 8


@dataclass(slots=True)
class Built:
    """How one expression that becomes SQL text was built."""

    build: str
    text: str | None = None  # the text as far as known; interpolations shown as {expression}
    techniques: set[str] = field(default_factory=set)
    interpolated: list[str] = field(default_factory=list)
    assigned_line: int | None = None


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
    calls = facts.calls
    roots = facts.roots
    candidates: list[tuple[ast.Call, str]] = []
    for name in _METHOD_SINKS:
        for call in calls.get(name, ()):
            if call.func.__class__ is ast.Attribute:
                candidates.append((call, name))
    sqlalchemy = bool(roots & {"sqlalchemy", "sqlmodel", "flask_sqlalchemy"})
    django = "django" in roots
    if sqlalchemy:
        candidates.extend((c, "text") for c in calls.get("text", ()))
    if django:
        candidates.extend((c, "raw") for c in calls.get("raw", ()) if c.func.__class__ is ast.Attribute)
        candidates.extend((c, "extra") for c in calls.get("extra", ()) if c.func.__class__ is ast.Attribute)
        candidates.extend((c, "RawSQL") for c in calls.get("RawSQL", ()))
    if "pandas" in roots:
        candidates.extend(
            (c, "read_sql") for c in (*calls.get("read_sql", ()), *calls.get("read_sql_query", ()))
        )
    if not candidates:
        return []
    candidates.sort(key=lambda c: (c[0].lineno, c[0].col_offset))
    builder = _Builder(src, facts)
    seg = src.segment
    sites: list[SqlSite] = []
    consumed: set[ast.Call] = set()  # text() calls already reported as the wrapper of an execute
    sink_kw: tuple[str, ...]
    params: tuple[str, ...]
    expr: Any
    for call, sink in candidates:
        if call in consumed:
            continue
        if sink == "text" and facts.callee(call) not in _TEXT:
            continue
        if sink == "RawSQL":
            target = facts.callee(call)
            if target is None or not target.startswith("django."):
                continue
        if sink == "read_sql":
            if facts.callee(call) not in _READ_SQL:
                continue
            sink_kw, params = ("sql",), ("params",)
        elif sink in _METHOD_SINKS:
            sink_kw, params = _METHOD_SINKS[sink]
        elif sink == "raw":
            sink_kw, params = ("raw_query",), ("params",)
        elif sink == "RawSQL":
            sink_kw, params = ("sql",), ("params",)
        elif sink == "text":
            sink_kw, params = ("text",), ()
        else:
            sink_kw, params = (), ("params", "select_params")
        has_params = (len(call.args) >= 2 and sink not in ("text", "read_sql", "executescript")) or any(
            kw.arg in params for kw in call.keywords
        )
        if sink == "read_sql":
            has_params = keyword(call, "params") is not None
        scope_node, _ = facts.context(call)
        scope = facts.scope_name(scope_node)
        callee = seg(call.func, 120)
        if sink == "extra":
            for arg, expr in _extra_fragments(call):
                built = builder.build(expr, scope_node, call)
                sites.append(
                    SqlSite(
                        call, scope, sink, callee, None, arg, built, True, has_params, seg(expr, _MAX_EXPR)
                    )
                )
            continue
        expr = call_arg(call, 0, *sink_kw)
        if expr is None or expr.__class__ is ast.Starred:
            continue
        arg = (
            "0"
            if call.args and call.args[0] is expr
            else next(kw.arg for kw in call.keywords if kw.value is expr)
        )
        wrapper = None
        if expr.__class__ is ast.Call and sink in _METHOD_SINKS and sqlalchemy:
            inner = facts.callee(expr)
            if inner in _TEXT:
                wrapper = inner
                consumed.add(expr)
                text_arg = call_arg(expr, 0, "text")
                if text_arg is not None and text_arg.__class__ is not ast.Starred:
                    expr = text_arg
        built = builder.build(expr, scope_node, call)
        looks = sink in _SQL_ONLY or wrapper is not None or _looks_like_sql(built.text)
        sites.append(
            SqlSite(call, scope, sink, callee, wrapper, arg, built, looks, has_params, seg(expr, _MAX_EXPR))
        )
    return sites


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


class _Builder:
    """Classifies SQL expressions; traces plain names to their last assignment in the same scope."""

    def __init__(self, src: SourceFile, facts: FileFacts) -> None:
        self.src = src
        self.facts = facts
        self.seg = src.segment
        self._assigns: dict[tuple[Any, str], list[Any]] | None = None

    def build(self, expr: Any, scope: Any, at: Any) -> Built:
        return self._build(expr, scope, (at.lineno, at.col_offset), 0, True)

    def _piece(self, node: Any) -> str:
        return self.seg(node, _MAX_PIECE)

    def _build(self, node: Any, scope: Any, before: tuple[int, int], depth: int, top: bool = False) -> Built:
        if depth > _MAX_DEPTH:
            return Built("other")
        cls = node.__class__
        if cls is ast.Constant:
            value = node.value
            if value.__class__ is str:
                return Built("literal", value)
            if value.__class__ is bytes:
                return Built("literal", value.decode("utf-8", "replace"))
            return Built("other")
        if cls is ast.JoinedStr:
            return self._fstring(node)
        if cls is ast.BinOp:
            op = node.op.__class__
            if op is ast.Mod:
                return self._percent(node, scope, before, depth)
            if op is ast.Add:
                operands = []
                n = node
                while n.__class__ is ast.BinOp and n.op.__class__ is ast.Add:
                    operands.append(n.right)
                    n = n.left
                operands.append(n)
                operands.reverse()
                return self._concat([self._build(o, scope, before, depth + 1) for o in operands], operands)
            return Built("other")
        if cls is ast.Call:
            return self._call(node, scope, before, depth)
        if cls is ast.Name:
            return self._name(node, scope, before, depth, top)
        if cls is ast.Attribute:
            return Built("attribute")
        if cls is ast.IfExp:  # `"A" if c else "B"`: either branch may be the text
            body = self._build(node.body, scope, before, depth + 1)
            orelse = self._build(node.orelse, scope, before, depth + 1)
            if body.build == "literal" and orelse.build == "literal":
                return Built("literal", body.text)
            first, second = (body, orelse) if body.build != "literal" else (orelse, body)
            return Built(
                first.build,
                first.text,
                first.techniques | second.techniques,
                first.interpolated + second.interpolated,
            )
        return Built("other")

    def _fstring(self, node: ast.JoinedStr) -> Built:
        parts: list[str] = []
        interpolated: list[str] = []
        for v in node.values:
            if v.__class__ is ast.Constant:
                parts.append(str(v.value))
            elif v.__class__ is ast.FormattedValue:
                inner = v.value
                if inner.__class__ is ast.Constant:
                    parts.append(str(inner.value))
                    continue
                piece = self._piece(inner)
                parts.append("{" + piece + "}")
                interpolated.append(piece)
        if not interpolated:
            return Built("literal", "".join(parts))
        return Built("fstring", "".join(parts), {"fstring"}, interpolated)

    def _percent(self, node: ast.BinOp, scope: Any, before: tuple[int, int], depth: int) -> Built:
        left = self._build(node.left, scope, before, depth + 1)
        right = node.right
        if right.__class__ is ast.Tuple:
            items = right.elts
        elif right.__class__ is ast.Dict:
            items = [v for v in right.values if v is not None]
        else:
            items = [right]
        interpolated = list(left.interpolated)
        interpolated.extend(self._piece(e) for e in items if e.__class__ is not ast.Constant)
        techniques = set(left.techniques)
        if len(interpolated) > len(left.interpolated):
            techniques.add("percent")
        return Built("percent", left.text, techniques, interpolated)

    def _concat(self, parts: list[Built], nodes: list[Any]) -> Built:
        texts: list[str] = []
        interpolated: list[str] = []
        techniques: set[str] = set()
        plain = False  # an operand interpolated as it is (a name, a call), not built from literals
        for built, node in zip(parts, nodes, strict=True):
            if built.build == "literal":
                texts.append(built.text or "")
                continue
            techniques |= built.techniques
            if built.text is not None and built.build in ("fstring", "percent", "format", "concat", "join"):
                texts.append(built.text)
                interpolated.extend(built.interpolated)
            else:
                piece = self._piece(node) if node is not None else "?"
                texts.append("{" + piece + "}")
                interpolated.append(piece)
                plain = True
        if not interpolated:
            return Built("literal", "".join(texts))
        if plain:
            techniques.add("concat")
        return Built("concat", "".join(texts), techniques, interpolated)

    def _call(self, node: ast.Call, scope: Any, before: tuple[int, int], depth: int) -> Built:
        func = node.func
        if _is_sql_composer(node):
            return Built("composed", _literal_arg(node))
        if func.__class__ is not ast.Attribute:
            return Built("call")
        receiver = func.value
        if func.attr == "format":
            if _is_sql_composer(receiver):
                return Built("composed", _literal_arg(receiver))
            recv = self._build(receiver, scope, before, depth + 1)
            values = [*node.args, *(kw.value for kw in node.keywords)]
            interpolated = list(recv.interpolated)
            interpolated.extend(self._piece(v) for v in values if v.__class__ is not ast.Constant)
            techniques = set(recv.techniques)
            if len(interpolated) > len(recv.interpolated):
                techniques.add("format")
            return Built("format", recv.text, techniques, interpolated)
        if func.attr == "join" and receiver.__class__ is ast.Constant and receiver.value.__class__ is str:
            if not node.args:
                return Built("call")
            items = node.args[0]
            sep = receiver.value
            if (
                items.__class__ is ast.BinOp
                and items.op.__class__ is ast.Mult
                and items.left.__class__ in (ast.List, ast.Tuple)
                and len(items.left.elts) == 1
            ):
                item = literal_str(items.left.elts[0])
                if item is not None:  # ", ".join(["%s"] * n): placeholders, not values
                    return Built("join", f"{item}{sep}{item}{sep}...")
            if items.__class__ in (ast.List, ast.Tuple):
                parts = [self._build(e, scope, before, depth + 1) for e in items.elts]
                if all(p.build == "literal" for p in parts):
                    return Built("literal", sep.join(p.text or "" for p in parts))
            piece = self._piece(items)
            return Built("join", "{" + piece + "}", {"join"}, [piece])
        return Built("call")

    def _name(self, node: ast.Name, scope: Any, before: tuple[int, int], depth: int, top: bool) -> Built:
        chain = self._trace(node.id, scope, before)
        if chain is None:
            if (
                scope is not None
                and scope.__class__ is not ast.ClassDef
                and node.id in parameter_names(scope.args)
            ):
                return Built("parameter")
            return Built("name")
        base, augments = chain
        if base.__class__ is ast.AugAssign:  # only `+=` seen: the start is unknown
            built = Built("name")
            start_nodes: list[Any] = [node]
        else:
            start = base.value
            built = self._build(start, self._scope_of(base), (base.lineno, base.col_offset), depth + 1)
            start_nodes = [start]
        if augments:
            parts = [built]
            nodes = start_nodes
            for aug in augments:
                parts.append(
                    self._build(aug.value, self._scope_of(aug), (aug.lineno, aug.col_offset), depth + 1)
                )
                nodes.append(aug.value)
            built = self._concat(parts, nodes)
        if top:
            built.assigned_line = base.lineno
        return built

    # -- tracing names --------------------------------------------------------------------------------
    def _scope_of(self, stmt: Any) -> Any:
        return enclosing_def(self.facts.parent, stmt)

    def _index(self) -> dict[tuple[Any, str], list[Any]]:
        found: dict[tuple[Any, str], list[Any]] = {}
        Name = ast.Name
        for stmt in self.src.nodes(ast.Assign, ast.AnnAssign, ast.AugAssign):
            cls = stmt.__class__
            if cls is ast.Assign:
                names = [t.id for t in stmt.targets if t.__class__ is Name]
            elif cls is ast.AugAssign:
                if stmt.target.__class__ is not Name or stmt.op.__class__ is not ast.Add:
                    continue
                names = [stmt.target.id]
            else:
                if stmt.value is None or stmt.target.__class__ is not Name:
                    continue
                names = [stmt.target.id]
            if not names:
                continue
            scope = self._scope_of(stmt)
            for name in names:
                found.setdefault((scope, name), []).append(stmt)
        for stmts in found.values():
            stmts.sort(key=lambda s: (s.lineno, s.col_offset))
        return found

    def _trace(self, name: str, scope: Any, before: tuple[int, int]) -> tuple[Any, list[Any]] | None:
        """(the last plain assignment to ``name`` before ``before`` in ``scope``, the ``+=`` after it);
        a function without one falls back to the module's last assignment. None when there is none."""
        if self._assigns is None:
            self._assigns = self._index()
        stmts = self._assigns.get((scope, name))
        if stmts:
            earlier = [s for s in stmts if (s.lineno, s.col_offset) < before]
            augments: list[Any] = []
            for stmt in reversed(earlier):
                if stmt.__class__ is ast.AugAssign:
                    augments.append(stmt)
                else:
                    augments.reverse()
                    return stmt, augments
            if augments:
                augments.reverse()
                return augments[0], augments[1:]
            return None
        if scope is not None and scope.__class__ is not ast.ClassDef and name in parameter_names(scope.args):
            return None
        if scope is not None:
            module_level = self._assigns.get((None, name))
            if module_level and module_level[-1].__class__ is not ast.AugAssign:
                return module_level[-1], []
        return None


def _is_sql_composer(call: Any) -> bool:
    """``sql.SQL("...")`` / ``SQL("...")``: psycopg's composable SQL, which quotes what it inserts."""
    if call.__class__ is not ast.Call:
        return False
    func = call.func
    name = func.attr if func.__class__ is ast.Attribute else func.id if func.__class__ is ast.Name else None
    return name in ("SQL", "Composed")


def _literal_arg(call: Any) -> str | None:
    if call.args and call.args[0].__class__ is ast.Constant and call.args[0].value.__class__ is str:
        return call.args[0].value
    return None


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

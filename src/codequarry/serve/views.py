"""The UI's fixed pages (routes, models, security findings) as SQL over the store, with filters.

Filters come from the query string, so every value is quoted as an SQL string literal here and every
column is one of the view's own: a request cannot change the shape of the query.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    table: str
    columns: str  # the SELECT list
    filters: dict[str, str]  # query parameter -> SQL expression it is compared with (ILIKE / =)
    order: str
    exact: tuple[str, ...] = ()  # parameters compared with '=' instead of a substring match
    flags: dict[str, str] | None = None  # parameter "1" -> a whole condition


VIEWS: dict[str, View] = {
    "routes": View(
        table="routes",
        columns="repo, framework, array_to_string(methods, ',') AS methods, full_path, handler, "
        "array_to_string(auth, ',') AS auth, path, line",
        filters={
            "repo": "repo",
            "framework": "framework",
            "path": "full_path",
            "handler": "handler",
            "method": "array_to_string(methods, ',')",
        },
        order="repo, full_path, path, line",
        exact=("framework",),
        flags={"no_auth": "cardinality(auth) = 0"},
    ),
    "models": View(
        table="orm_models",
        columns="repo, framework, kind, name, table_name, n_fields, has_explicit_pk, "
        "array_to_string(primary_key, ',') AS primary_key, path, line",
        filters={"repo": "repo", "framework": "framework", "name": "name", "table": "table_name"},
        order="repo, framework, name, path, line",
        exact=("framework",),
        flags={"no_pk": "NOT has_explicit_pk"},
    ),
    "findings": View(
        table="security_findings",
        columns="repo, severity, rule, cwe, message, path, line, snippet",
        filters={"repo": "repo", "severity": "severity", "rule": "rule", "path": "path", "cwe": "cwe"},
        order="CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, repo, path, line",
        exact=("severity", "rule", "cwe"),
    ),
}


def literal(value: str) -> str:
    """An SQL string literal: quotes doubled, NUL removed (DataFusion strings cannot hold it)."""
    return "'" + value.replace("\x00", "").replace("'", "''") + "'"


def view_sql(name: str, params: dict[str, str]) -> str:
    """The SELECT for one view with the filters the request gave (unknown parameters are ignored)."""
    view = VIEWS[name]
    where = []
    for param, expr in view.filters.items():
        value = params.get(param, "").strip()
        if not value:
            continue
        if param in view.exact:
            where.append(f"{expr} = {literal(value)}")
        else:
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"{expr} ILIKE {literal('%' + escaped + '%')}")
    for param, condition in (view.flags or {}).items():
        if params.get(param) in ("1", "true", "on"):
            where.append(condition)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {view.columns} FROM {view.table}{clause} ORDER BY {view.order}"

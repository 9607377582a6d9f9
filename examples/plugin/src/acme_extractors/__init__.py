"""An example codequarry plugin: where Python code reads environment variables.

- ``acme.env.reads`` (file extractor) writes ``acme_env_reads``: one row per ``os.environ["NAME"]``,
  ``os.environ.get("NAME", default)`` or ``os.getenv("NAME", default)`` with a literal name. A bare
  ``environ[...]`` / ``getenv(...)`` counts too (``from os import environ, getenv``).
- ``acme.env.unused`` (operation) writes ``acme_unused_env``: the variables a file reads that no module of
  the same repo captures in a module-level constant of the same name (``PORT = os.getenv("PORT")``):
  settings read ad hoc, where a reader of the code cannot find them.

codequarry finds this module through the entry point group ``codequarry.extractors`` declared in
``pyproject.toml``, and takes every extractor and operation defined here.
"""

from __future__ import annotations

import ast
from typing import Any

import pyarrow as pa

from codequarry import SourceFile, dataset, file_extractor, operation

_ENVIRON = frozenset({"os.environ", "environ"})
_GETTERS = {"os.getenv": "getenv", "getenv": "getenv", "os.environ.get": "get", "environ.get": "get"}


@dataset("acme_env_reads")
class EnvRead:
    """One read of an environment variable with a literal name."""

    name: str
    via: str  # subscript (os.environ[...], raises when unset) | get (os.environ.get) | getenv
    default: str | None  # the default as written (source text); null when there is none
    line: int
    col: int


@file_extractor("acme.env.reads", version=1, needs=["ast"], outputs=[EnvRead])
def env_reads(src: SourceFile, out: Any) -> None:
    """Reads of environment variables: os.environ[...], os.environ.get(...), os.getenv(...)."""
    add = out.acme_env_reads.add
    for node in src.nodes(ast.Call, ast.Subscript):
        read = _subscript(src, node) if isinstance(node, ast.Subscript) else _getter(src, node)
        if read is not None:
            line, col, _, _ = src.span(node)
            add(name=read[0], via=read[1], default=read[2], line=line, col=col)


def _subscript(src: SourceFile, node: ast.Subscript) -> tuple[str, str, str | None] | None:
    """``os.environ["NAME"]`` read (not assigned or deleted)."""
    if not isinstance(node.ctx, ast.Load) or src.dotted(node.value) not in _ENVIRON:
        return None
    name = _literal(node.slice)
    return None if name is None else (name, "subscript", None)


def _getter(src: SourceFile, node: ast.Call) -> tuple[str, str, str | None] | None:
    """``os.environ.get("NAME", default)`` or ``os.getenv("NAME", default)``."""
    via = _GETTERS.get(src.dotted(node.func) or "")
    name = _literal(node.args[0]) if via is not None and node.args else None
    if via is None or name is None:
        return None
    default = node.args[1] if len(node.args) > 1 else next(
        (kw.value for kw in node.keywords if kw.arg == "default"), None)
    return name, via, None if default is None else src.segment(default, 200)


def _literal(node: Any) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@dataset("acme_unused_env")
class UnusedEnv:
    """A variable a file reads that no module-level constant of the same name captures in its repo."""

    name: str
    reads: int  # how many times this file reads it
    line: int  # the first read in the file


@operation("acme.env.unused", version=1, inputs=["acme_env_reads", "assignments"], outputs=[UnusedEnv])
def unused_env(ctx: Any) -> pa.Table:
    """Environment variables read ad hoc: no settings constant of the same name in the repo."""
    return ctx.sql("""
        SELECT e.repo, e.path, e.sha256, e.name, count(*) AS reads, min(e.line) AS line
        FROM acme_env_reads e
        WHERE NOT EXISTS (SELECT 1 FROM assignments a
                          WHERE a.repo = e.repo AND a.scope = '' AND a.target = e.name)
        GROUP BY e.repo, e.path, e.sha256, e.name
        ORDER BY e.repo, e.path, e.name
    """)

"""Facts about Python source that extractors build on: the public fact API.

The built-in Python extractors use these modules and nothing private; a plugin can use them the same
way. Every function takes nodes of the file's tree (``src.tree``, ``src.nodes(ast.Call)``) and, where it
climbs, the file's parent links (``src.parents.get``); nothing walks the whole tree, nothing imports or
runs the scanned code. See docs/python-facts-api.md for a walk-through with a runnable plugin.

- :mod:`codequarry.python.scopes`: which def, class or lambda holds a node (:func:`scope_of`,
  :func:`scope_and_lambdas`, :func:`enclosing_def`), qualified names of scopes (:class:`ScopeNames`,
  :func:`module_name`), parameters, the statements of a body.
- :mod:`codequarry.python.imports`: what each import binds (:func:`import_bindings`), relative imports
  made absolute, ``TYPE_CHECKING`` guards, standard-library names.
- :mod:`codequarry.python.resolve`: the fully qualified name a dotted name refers to (:class:`Resolver`,
  every binding; :func:`file_names`, the cheap per-file one).
- :mod:`codequarry.python.calls`: call arguments (:func:`call_arg`, :func:`keyword`), the name a callee
  ends with (:func:`last_name`), dotted names, a callee as written.
- :mod:`codequarry.python.values`: literal values (:func:`literal_str`, :func:`is_literal`,
  :func:`value_kind`), a value's text, text Arrow can store.
- :mod:`codequarry.python.spans`: node positions in characters.
- :mod:`codequarry.python.bulk`: for operations that build many rows at once.
"""

from __future__ import annotations

from codequarry.python.calls import call_arg, dotted_name, dotted_parts, keyword, last_name
from codequarry.python.imports import ImportBinding, import_bindings, resolve_relative
from codequarry.python.resolve import BUILTIN_NAMES, FileNames, Resolver, file_names
from codequarry.python.scopes import (
    DEF_TYPES,
    FUNCTION_TYPES,
    ScopeNames,
    enclosing_def,
    module_name,
    scope_and_lambdas,
    scope_of,
)
from codequarry.python.spans import span_getter
from codequarry.python.values import is_literal, literal_str, literal_strs, value_kind

__all__ = [
    "BUILTIN_NAMES",
    "DEF_TYPES",
    "FUNCTION_TYPES",
    "FileNames",
    "ImportBinding",
    "Resolver",
    "ScopeNames",
    "call_arg",
    "dotted_name",
    "dotted_parts",
    "enclosing_def",
    "file_names",
    "import_bindings",
    "is_literal",
    "keyword",
    "last_name",
    "literal_str",
    "literal_strs",
    "module_name",
    "resolve_relative",
    "scope_and_lambdas",
    "scope_of",
    "span_getter",
    "value_kind",
]

"""The oracle for syntax newer than the interpreter: run by a newer Python on the fixtures, and by
the tests on the trees quarry builds under 3.11, so both sides go through the same code.

``python newer_oracle.py FILE...`` prints, as JSON per file, the facts (functions, classes, imports,
calls: names and lines) and a normalised tree. Normalising states the documented differences
between the 3.11 tree quarry builds and a 3.12+ ``ast`` tree: a ``TypeAlias`` counts as the
assignment ``X = value``, type parameters are dropped, and the parts of an f-string other than
its expressions carry no positions (3.11 gives them the span of the whole literal, 3.12 their own).
Standard library only: it must run on any Python from 3.11.
"""

from __future__ import annotations

import ast
import json
import sys
from typing import Any

_SKIP_FIELDS = {"type_params", "type_ignores", "ctx", "kind", "type_comment"}
_POSITIONS = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def normalise(node: Any, positions: bool = True) -> Any:
    """A JSON-able, version-independent picture of an ``ast`` tree (see the module docstring)."""
    if isinstance(node, list):
        return [normalise(n, positions) for n in node]
    if not isinstance(node, ast.AST):
        return repr(node) if isinstance(node, (bytes, complex, float)) or node is Ellipsis else node
    cls = type(node).__name__
    if cls == "TypeAlias":  # 3.12+: the 3.11 tree holds the assignment ``name = value``
        name = ast.Name(id=node.name.id, ctx=ast.Store())
        ast.copy_location(name, node.name)
        node = ast.Assign(targets=[name], value=node.value)
        ast.copy_location(node, node.value)
        node.lineno, node.col_offset = name.lineno, name.col_offset - len("type ")
        cls = "Assign"
    out: dict[str, Any] = {"_": cls}
    inner = positions and cls not in ("JoinedStr", "FormattedValue")
    if inner and hasattr(node, "lineno") and not (cls == "Constant" and not positions):
        out["@"] = [getattr(node, p, None) for p in _POSITIONS]
    for field, value in ast.iter_fields(node):
        if field in _SKIP_FIELDS or value is None or value == []:
            continue
        if cls in ("JoinedStr", "FormattedValue") and field != "value":
            out[field] = normalise(value, False)
        elif cls == "FormattedValue":
            out[field] = normalise(value, True)
        elif cls == "JoinedStr":
            out[field] = [normalise(v, isinstance(v, ast.FormattedValue)) for v in value]
        else:
            out[field] = normalise(value, positions)
    return out


def _dotted(node: Any) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def facts(tree: ast.AST) -> dict[str, list[list[Any]]]:
    """Names and lines of functions, classes, imports and (dotted) calls: what the tables hold."""
    out: dict[str, list[list[Any]]] = {"functions": [], "classes": [], "imports": [], "calls": []}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out["functions"].append([node.name, node.lineno])
        elif isinstance(node, ast.ClassDef):
            out["classes"].append([node.name, node.lineno])
        elif isinstance(node, ast.Import):
            out["imports"].extend([a.name, None, node.lineno] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out["imports"].extend([node.module, a.name, node.lineno] for a in node.names)
        elif isinstance(node, ast.Call) and _dotted(node.func) is not None:
            out["calls"].append([_dotted(node.func), node.lineno])
    return {k: sorted(v, key=repr) for k, v in out.items()}


def describe(text: str) -> dict[str, Any]:
    tree = ast.parse(text)
    return {"facts": facts(tree), "tree": normalise(tree)}


if __name__ == "__main__":
    texts = {}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as fh:
            texts[path] = fh.read()
    print(json.dumps({path: describe(text) for path, text in texts.items()}))

"""A tiny JSON-lines extractor: one record per function and class of a Python file.

Usage: python3 defs.py FILE.py  -> {"name": ..., "kind": ..., "line": ..., "doc": ...} per line on stdout,
progress on stderr. It stands in for any tool in any language that speaks the protocol.
"""

import ast
import json
import sys


def main(path: str) -> int:
    with open(path, "rb") as fh:
        tree = ast.parse(fh.read(), filename=path)
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            print(json.dumps({"name": node.name, "kind": kind, "line": node.lineno, "doc": ast.get_docstring(node)}))
            n += 1
    print(f"{path}: {n} definitions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

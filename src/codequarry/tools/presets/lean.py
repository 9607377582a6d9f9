"""The Lean preset: lean_scout extractors as JSON-lines tools.

lean_scout (a Lean 4 package) prints one JSON record per line on stdout and its schema with
``--schema``. With ``preset = "lean"`` and ``extractor = "types"``, a tool runs, per target::

    lake exe -q lean_scout --command types --imports MODULE     (imports = ["Mathlib.Order.Basic", ...])
    lake exe -q lean_scout --command types --read FILE.lean     (read = ["Mathlib/Order/*.lean"])

in ``cwd`` (the Lean project that depends on lean_scout), and reads the table's schema once from
``lake exe -q lean_scout --command types --schema``. Build lean_scout first
(``lake build -q lean_scout``), so that the parallel tasks do not all try to build it.
"""

from __future__ import annotations

from typing import Any

BASE = ("lake", "exe", "-q", "lean_scout", "--command")


def defaults(extractor: str, *, imports: bool) -> dict[str, Any]:
    """The generic settings the preset stands for (command, schema command, protocol, output)."""
    how = ("--imports", "{target}") if imports else ("--read", "{file}")
    return {
        "command": [*BASE, extractor, *how],
        "schema_command": [*BASE, extractor, "--schema"],
        "protocol": "jsonl",
        "output": extractor,
    }

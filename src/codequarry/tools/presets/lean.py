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

from pydantic import BaseModel, ConfigDict

from codequarry.tools.presets.base import Preset, Resolving, Settings

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


class LeanOptions(BaseModel):
    """The recipe keys of preset "lean"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extractor: str | None = None
    imports: list[str] | None = None
    read: list[str] | None = None


class LeanPreset(Preset):
    """lean_scout: the command from ``extractor``; targets are modules (imports) or files (read)."""

    name = "lean"
    options = LeanOptions
    literal_key = "imports"
    files_key = "read"

    def settings(self, given: Settings, ctx: Resolving) -> Settings:
        o = self.options_of(ctx, LeanOptions)
        if not o.extractor:
            raise ctx.err("extractor", 'required by preset "lean": a lean_scout command such as "types"')
        if o.imports and o.read:
            raise ctx.err("read", "give 'imports' (modules) or 'read' (files), not both")
        if not o.imports and not o.read:
            raise ctx.err("imports", "preset \"lean\" needs 'imports' (modules) or 'read' (file globs)")
        got = defaults(o.extractor, imports=bool(o.imports))
        return {k: given[k] if given[k] is not None else v for k, v in got.items()}


PRESET = LeanPreset()

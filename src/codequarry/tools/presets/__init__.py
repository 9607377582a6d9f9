"""Presets: ready-made settings for known tools (``preset = "tamarin"``, ``preset = "lean"``).

Each preset is one module holding a :class:`~codequarry.tools.presets.base.Preset` instance named
``PRESET``; :data:`BUILTIN` lists them, in the order error messages name them. The plan, the
runner, the result tables and the report reach presets only through :func:`get` and
:data:`REGISTRY` (see "Writing a preset" in docs/tools.md).
"""

from __future__ import annotations

from codequarry.tools.presets import lean, tamarin
from codequarry.tools.presets.base import GENERIC, Preset, Target

BUILTIN: tuple[Preset, ...] = (tamarin.PRESET, lean.PRESET)
REGISTRY: dict[str, Preset] = {p.name: p for p in BUILTIN}
PRESETS = tuple(REGISTRY)


def get(name: str | None) -> Preset:
    """The preset of that name; the generic behaviour for a tool without one (None)."""
    return GENERIC if name is None else REGISTRY[name]


def option_owners() -> dict[str, str]:
    """Recipe key -> the preset it belongs to (a key of one preset is refused on any other tool)."""
    return {key: p.name for p in BUILTIN for key in p.option_names()}


def result_tables() -> tuple[str, ...]:
    """The result tables presets write (names a tool's ``output`` may not take)."""
    return tuple(p.dataset.name for p in BUILTIN if p.dataset is not None)


__all__ = [
    "BUILTIN",
    "GENERIC",
    "PRESETS",
    "REGISTRY",
    "Preset",
    "Target",
    "get",
    "option_owners",
    "result_tables",
]

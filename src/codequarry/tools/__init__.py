"""External tools as workers: recipes, per-task limits, statuses, the result cache, reports.

A recipe (TOML) names tools; :func:`make_tools_plan` resolves it into a frozen plan and
:func:`run_recipe` runs it into a store (see ``docs/tools.md``)::

    from codequarry.tools import make_tools_plan, run_recipe
    summary = run_recipe(make_tools_plan("recipe.toml"))
    print(summary.statuses, summary.report_path)

Modules: ``recipe`` (the file as written), ``plan`` (the recipe resolved), ``resolve`` (one tool
section resolved), ``planned`` (the frozen plan values), ``process`` (one task's process tree under
limits; its cgroups are ``codequarry.cgroup``), ``scheduler`` (packing under budgets), ``jsonl``, ``infer`` and ``schema`` (the
JSON-lines protocol), ``results`` (tables, replacement), ``cache``, ``summary`` (what a run hands
back), ``report``, ``progress``, ``runner`` (the whole run), ``presets`` (the ``Preset`` base and its
Tamarin and Lean instances), ``cli``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy: `quarry sql` should not import the runner
    if name == "make_tools_plan":
        from codequarry.tools.plan import make_tools_plan

        return make_tools_plan
    if name == "run_recipe":
        from codequarry.tools.runner import run_recipe

        return run_recipe
    raise AttributeError(f"module 'codequarry.tools' has no attribute {name!r}")


__all__ = ["make_tools_plan", "run_recipe"]

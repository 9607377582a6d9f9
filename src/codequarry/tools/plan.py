"""A recipe resolved, once, into a frozen plan: every budget, path, target, argv and limit expanded.

Nothing runs from the recipe itself: ``quarry check`` prints this plan and ``quarry run`` executes
exactly it. Everything that can be wrong is found here, before the first task starts, and named by
file and key: unknown keys, budgets that cannot be read, a task needing more cores or memory than
the global budget, an executable that is not there, a glob that matched nothing, a placeholder
the tool cannot fill.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import psutil

from codequarry.errors import QuarryError
from codequarry.plan import Plan, make_plan, parse_size
from codequarry.tools import presets
from codequarry.tools.planned import Budget, TaskTable, ToolPlan, ToolsPlan
from codequarry.tools.recipe import RecipeIn, fail, read_recipe
from codequarry.tools.resolve import TABLE_NAME, Resolver, memory_value

RESERVED_TABLES = ("errors", "files", "tool_runs", *presets.result_tables())
DEFAULT_TASK_MEMORY = 2 << 30


def make_tools_plan(
    recipe: str | Path, *, store: str | Path | None = None, strict: bool = False
) -> ToolsPlan:
    """Read and resolve a recipe file. Raises RecipeError (a UsageError) naming the file and key."""
    path = Path(recipe).expanduser().resolve()
    model, data = read_recipe(path)
    base = path.parent
    if not model.tools and model.extract is None:
        raise fail(path, "", "nothing to run: add a [tools.NAME] section or an [extract] section")
    budget = _budget(model, path)
    extract = _extract(model, path, base, store)
    store_path = (
        Path(store).expanduser().resolve()
        if store
        else (extract.request.store if extract else base / ".quarry")
    )
    notes: list[str] = []
    tools: list[ToolPlan] = []
    tasks = TaskTable()
    outputs: dict[str, tuple[str, str | None]] = {}
    reserved = _reserved(model, extract)
    for name, tool in model.tools.items():
        if not TABLE_NAME.match(name):
            raise fail(
                path, f"tools.{name}", "a tool name is letters, digits and '_' (it becomes the rows' repo)"
            )
        plan, got = Resolver(path, base, name, tool, budget, strict, notes).resolve()
        tasks.extend(got)  # resolved (and checked) before the output, as one list was
        _check_output(path, name, plan, reserved, outputs)
        tools.append(plan)
    return ToolsPlan(
        recipe=str(path),
        recipe_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        recipe_pickle=pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL),
        store=str(store_path),
        strict=strict,
        budget=budget,
        tools=tuple(tools),
        tasks=tasks,
        extract=extract.request if extract else None,  # serialisable (its report, `quarry run --check`)
        notes=tuple(notes),
    ).keeping(extract)


def _check_output(
    path: Path, name: str, plan: ToolPlan, reserved: set[str], outputs: dict[str, tuple[str, str | None]]
) -> None:
    """A tool's output table may not be one codequarry writes, nor one another tool writes with another
    schema or with an inferred one; ``outputs`` (table -> tool, schema) learns this tool's table."""
    if plan.output is None:
        return
    if plan.output in reserved:
        raise fail(
            path,
            f"tools.{name}.output",
            f"'{plan.output}' is a table codequarry writes itself; choose another name",
        )
    other = outputs.get(plan.output)
    if other is not None and (plan.infer or other[1] is None):
        raise fail(
            path,
            f"tools.{name}.output",
            f"table '{plan.output}' is also written by tool "
            f"'{other[0]}'; a tool with schema = \"infer\" needs a table of its own",
        )
    if other is not None and other[1] != plan.record_schema:
        raise fail(
            path,
            f"tools.{name}.output",
            f"table '{plan.output}' is also written by tool '{other[0]}' with another schema",
        )
    outputs[plan.output] = (name, plan.record_schema)


def _reserved(model: RecipeIn, extract: Plan | None) -> set[str]:
    """The tables codequarry writes itself: a tool may not name its output after one. The catalog is
    the extract plan's when the recipe has one (loaded once per command)."""
    names = set(RESERVED_TABLES)
    try:
        from codequarry.registry import load_catalog

        catalog = extract.catalog if extract else load_catalog(())
        names |= {
            o if isinstance(o, str) else o.name for ex in catalog.extractors.values() for o in ex.outputs
        }
        names |= {
            o if isinstance(o, str) else o.name for op in catalog.operations.values() for o in op.outputs
        }
    except QuarryError:
        pass  # a broken plugin is reported by the extract plan
    return names


def _budget(model: RecipeIn, path: Path) -> Budget:
    r = model.resources
    machine_cores = _machine_cores()
    total = psutil.virtual_memory().total
    if r.max_cores == "max":
        cores = machine_cores
    elif r.max_cores < 1:
        raise fail(path, "resources.max_cores", f'must be at least 1 or "max", got {r.max_cores}')
    else:
        cores = r.max_cores
    memory = memory_value(r.max_memory, path, "resources.max_memory", total=total, budget=True)
    if not r.default_timeout > 0:  # NaN too: a task compared with it never timed out
        raise fail(path, "resources.default_timeout", "must be a positive number of seconds")
    # finite, and NaN refused (every comparison with it is false): a NaN or infinite sampling
    # interval never sampled a task's memory (no limit without a cgroup); an infinite grace waited
    # for ever on a task that ignores SIGTERM
    grace_ok = 0 <= r.grace < float("inf")
    if not grace_ok or not 0 < r.sample_interval < float("inf"):
        key = "resources.grace" if not grace_ok else "resources.sample_interval"
        raise fail(path, key, "must be a positive number of seconds")
    if r.default_cores < 1:
        raise fail(path, "resources.default_cores", f"must be at least 1, got {r.default_cores}")
    default_memory = (
        memory_value(r.default_memory, path, "resources.default_memory", total=total)
        if r.default_memory is not None
        else min(DEFAULT_TASK_MEMORY, memory)
    )
    return Budget(
        cores=cores,
        memory=memory,
        default_timeout=float(r.default_timeout),
        grace=float(r.grace),
        sample_interval=float(r.sample_interval),
        default_cores=r.default_cores,
        default_memory=default_memory,
        cgroup=r.cgroup,
    )


def _machine_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _extract(model: RecipeIn, path: Path, base: Path, store: str | Path | None) -> Plan | None:
    ex = model.extract
    if ex is None:
        return None
    if not ex.sources:
        raise fail(path, "extract.sources", "list at least one folder to extract")
    sources = [base / os.path.expanduser(s) for s in ex.sources]
    try:
        return make_plan(
            sources,
            store=store,
            workers=ex.workers,
            exclude=ex.exclude,
            plugins=ex.plugins,
            select=ex.select,
            deselect=ex.skip,
            max_file_size=parse_size(ex.max_file_size),
            file_timeout=float(ex.file_timeout),
            engine=ex.engine,
        )
    except QuarryError as exc:
        raise fail(path, "extract", str(exc)) from None

"""The `quarry run`, `quarry check` and `quarry cache` commands (registered on the main app).

Thin, like the rest of the CLI: read options, call :mod:`codequarry.tools` (plan, runner, cache),
render. Exit codes: 0 every task ok; 1 some task failed, timed out, ran out of memory or printed
invalid output; 2 a bad recipe or option; 130 Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from codequarry.cli_common import StoreOpt, interrupt_code, open_store
from codequarry.errors import printable
from codequarry.plan import format_size

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

RecipeArg = Annotated[Path, typer.Argument(help="Recipe file (TOML, or JSON).")]
RecipeStoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        "-s",
        help="Store folder (default: .quarry/ next to the recipe, or under the first [extract] source).",
    ),
]


class Order(StrEnum):
    fifo = "fifo"
    shortest = "shortest"
    longest = "longest"


SchedulerOpt = Annotated[
    Order,
    typer.Option(
        "--scheduler", help="Task order: fifo, shortest or longest first (by the previous run's time)."
    ),
]
RerunFailedOpt = Annotated[
    bool,
    typer.Option(
        "--rerun-failed",
        help="Run again cached tasks that failed, timed out, ran out of memory or printed invalid output.",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="A JSON-lines line that does not fit fails its task as invalid_output (default: an errors row).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the external-tool commands to the `quarry` app."""
    app.command("run")(run)
    app.command("check")(check)
    cache_app = typer.Typer(help="Inspect and trim the result cache of external tools.", no_args_is_help=True)
    cache_app.command("info")(cache_info)
    cache_app.command("clear")(cache_clear)
    cache_app.command("prune")(cache_prune)
    app.add_typer(cache_app, name="cache")


def run(
    recipe: RecipeArg,
    store: RecipeStoreOpt = None,
    scheduler: SchedulerOpt = Order.fifo,
    rerun_failed: RerunFailedOpt = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every task, cached or not.")] = False,
    strict: StrictOpt = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write report.json here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report's summary as JSON.")] = False,
) -> None:
    """Run a recipe: its [extract] section, then every tool task under the limits; publish one snapshot."""
    from codequarry.tools.plan import make_tools_plan
    from codequarry.tools.progress import make_view
    from codequarry.tools.runner import run_recipe

    plan = make_tools_plan(recipe, store=store, strict=strict)
    if report is not None:
        from codequarry.tools.report import check_target

        check_target(report, plan.store)
    view = make_view(err, len(plan.tasks), quiet=quiet or as_json)
    try:
        summary = run_recipe(
            plan,
            scheduler=scheduler.value,
            rerun_failed=rerun_failed,
            no_cache=no_cache,
            report=report,
            view=view,
        )
    except KeyboardInterrupt:
        view.close()
        err.print("interrupted: nothing was published; the store still holds its previous snapshot")
        raise typer.Exit(interrupt_code()) from None
    finally:
        view.close()
    _print_run(summary, quiet=quiet, as_json=as_json)
    code = summary.exit_code
    if code == 130:
        code = interrupt_code()
    if code:
        raise typer.Exit(code)


def _print_run(summary: Any, *, quiet: bool, as_json: bool) -> None:
    """What `quarry run` prints once the run ended: the report's summary as JSON, or the summary people
    read, or nothing (--quiet)."""
    if as_json:
        sys.stdout.write(
            json.dumps(
                {**summary.report_summary, "report": summary.report_path, "snapshot": summary.snapshot},
                indent=2,
            )
            + "\n"
        )
    elif not quiet:
        for line in summary.lines:  # rendered by the run, from its result log (task ids name files)
            out.print(printable(line), markup=False)


def check(
    recipe: RecipeArg,
    store: RecipeStoreOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Plan as 'quarry run --strict' would (cache keys).")
    ] = False,
    rerun_failed: Annotated[
        bool, typer.Option("--rerun-failed", help="Plan as 'quarry run --rerun-failed'.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Validate a recipe and print the resolved plan: every task, its argv, limits, and whether it is cached."""
    from codequarry.tools.plan import make_tools_plan

    plan = make_tools_plan(recipe, store=store, strict=strict)
    states = _cached_states(plan, rerun_failed)
    if as_json:
        from codequarry import cgroup

        data = {
            "recipe": plan.recipe,
            "store": plan.store,
            "budget": plan.budget.model_dump(),
            "limit_mechanism": cgroup.describe(plan.budget.cgroup).split(":", 1)[0],
            "extract": plan.extract.model_dump(mode="json") if plan.extract else None,
            "tools": [{**t.model_dump(), "resolved": executables(plan, t)} for t in plan.tools],
            "tasks": [
                {**t.model_dump(), "inputs": [p for p, _ in t.inputs], "cache": states.get(t.id, "run")}
                for t in plan.tasks
            ],
            "notes": list(plan.notes),
        }
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    for line in _plan_lines(plan, states):
        out.print(printable(line), markup=False)


def _cached_states(plan: Any, rerun_failed: bool) -> dict[str, str]:
    from codequarry.errors import StoreError
    from codequarry.store import Store
    from codequarry.tools.cache import ResultCache
    from codequarry.tools.results import decide, live_groups, live_runs

    try:
        st = Store.open(plan.store)
    except StoreError:
        return {}
    snap = st.snapshot()
    names = [t.name for t in plan.tools]
    decision = decide(
        plan,
        ResultCache(st.path),
        live_runs(st, snap, names),
        live_groups(st, snap, names),
        rerun_failed=rerun_failed,
    )
    states = decision.states()
    return {t.id: states[t.row] for t in plan.tasks}


def _plan_lines(plan: Any, states: dict[str, str]) -> list[str]:
    from codequarry import cgroup
    from codequarry.tools.schema import describe

    gb = 1 << 30
    b = plan.budget
    lines = [
        f"recipe {plan.recipe}",
        f"store  {plan.store}",
        f"budget {b.cores} cores, {b.memory / gb:.2f} GB; default timeout {b.default_timeout:g} s, "
        f"grace {b.grace:g} s",
        f"memory limits {cgroup.describe(b.cgroup)}",
    ]
    if plan.extract is not None:
        e = plan.extract
        lines.append(
            f"extract {', '.join(s.root for s in e.sources)}: {len(e.extractors)} extractors, "
            f"{e.workers} workers, engine {e.engine}"
        )
    for tool in plan.tools:
        tasks = [t for t in plan.tasks if t.tool == tool.name]
        how = f"protocol {tool.protocol}" + (f" -> table {tool.output}" if tool.output else "")
        lines.append(
            f"tool {tool.name}: {len(tasks)} tasks, {how}"
            + (f", preset {tool.preset}" if tool.preset else "")
        )
        for name, path in executables(plan, tool).items():
            lines.append(f"  executable {name} -> {path}")
        if tool.infer:
            lines.append("  schema inferred from the output (every task runs when any must)")
        elif tool.output:
            lines.append(
                "  schema "
                + json.dumps(describe(tool.declared_fields))
                + (f"; undeclared fields: {tool.extra}" if tool.extra != "ignore" else "")
            )
        for t in tasks:
            state = states.get(t.id, "run")
            lines.append(f"  {t.id}  [{state}]")
            lines.append(f"    argv {json.dumps(list(t.argv))}")
            lines.append(
                f"    cwd {t.cwd}; cores {t.cores}, memory {t.memory / gb:.2f} GB, timeout {t.timeout:g} s; "
                f"key {t.key[:16]}"
            )
    counts: dict[str, int] = {}
    for t in plan.tasks:
        counts[states.get(t.id, "run")] = counts.get(states.get(t.id, "run"), 0) + 1
    lines.append(f"{len(plan.tasks)} tasks: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    lines += [f"note: {n}" for n in plan.notes]
    return lines


def executables(plan: Any, tool: Any) -> dict[str, str]:
    """What each command of a tool resolves to: the name as written (or the executable's label) ->
    the absolute path that runs."""
    out: dict[str, str] = {}
    for t in plan.tasks:
        if t.tool == tool.name:
            written = tool.command[0] if t.executable is None else t.executable
            out.setdefault(written, t.argv[0])
    return out


def cache_info(
    store: StoreOpt = None, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False
) -> None:
    """Show the result cache: entries, size, per tool and per status."""
    from codequarry.tools.cache import ResultCache

    info = ResultCache(open_store(store).path).info()
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    out.print(f"cache {info['path']}: {info['entries']} entries, {format_size(info['bytes'])}", markup=False)
    if info["entries"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["newest"]))
        out.print("  tools: " + ", ".join(f"{k} {v}" for k, v in info["tools"].items()), markup=False)
        out.print("  statuses: " + ", ".join(f"{k} {v}" for k, v in info["statuses"].items()), markup=False)
        out.print(f"  last used {when}", markup=False)


def cache_clear(store: StoreOpt = None) -> None:
    """Remove every cached result (the next run runs every task)."""
    from codequarry.tools.cache import ResultCache

    st = open_store(store)
    n = ResultCache(st.path).clear()  # under the writer lock, taken inside
    out.print(f"removed {n} cached results", markup=False)


def cache_prune(
    max_size: Annotated[
        str,
        typer.Option(
            "--max-size",
            help="Keep at most this much (e.g. 100MB), dropping the least recently used results first.",
        ),
    ],
    store: StoreOpt = None,
) -> None:
    """Drop least recently used cached results until the cache fits --max-size."""
    from codequarry.plan import parse_size
    from codequarry.tools.cache import ResultCache

    limit = 0 if max_size.strip() in ("0", "0B", "0MB") else parse_size(max_size)
    st = open_store(store)
    removed, freed = ResultCache(st.path).prune(limit)  # under the writer lock, taken inside
    out.print(f"removed {removed} cached results ({format_size(freed)})", markup=False)

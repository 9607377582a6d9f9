"""The `quarry extract` and `quarry plan` commands: a run of the extractors, and its plan shown
without running it (with the progress bar and the summary a run prints)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from codequarry.cli_common import SourceStoreOpt, err, interrupt_code, out

# the options of `quarry extract`
SourcesArg = Annotated[list[Path], typer.Argument(help="Folders (git work trees or plain) or files to scan.")]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-w", help="Worker processes (default: one per core; 1 runs in-process)."),
]
ExcludeOpt = Annotated[
    list[str] | None, typer.Option("--exclude", "-x", help="Glob of paths to skip (repeatable).")
]
SelectOpt = Annotated[
    list[str] | None,
    typer.Option("--select", help="Run only these extractors or groups (dotted prefix; repeatable)."),
]
DeselectOpt = Annotated[
    list[str] | None, typer.Option("--skip", help="Leave out these extractors or groups (repeatable).")
]
PluginOpt = Annotated[
    list[str] | None,
    typer.Option("--plugin", "-p", help="Import extractors from this module (repeatable)."),
]
MaxFileSizeOpt = Annotated[
    str, typer.Option("--max-file-size", help="Skip files larger than this (e.g. 10MB).")
]
FileTimeoutOpt = Annotated[
    float, typer.Option("--file-timeout", help="Stop a file after this many seconds (0: never).")
]
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-memory-per-worker",
        help="Memory limit of a worker (e.g. 2GB; off: none). Default: its share of half the machine's memory.",
    ),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="local (process pool) or ray.")]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster: auto or HOST:PORT (default: start a local Ray)."),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 1 if the store holds any error row of these sources after the run (this run's or an earlier run's for an unchanged file).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")]
AsJsonOpt = Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")]
RepoOpt = Annotated[
    str | None, typer.Option("--repo", help="Store the (one) source as this repo, wherever it sits.")
]
IncludeGeneratedOpt = Annotated[
    bool,
    typer.Option(
        "--include-generated",
        help="Parse minified build outputs (*.min.js, bundles of very long lines) too; by default they get their files row only.",
    ),
]
NoFastPathOpt = Annotated[
    bool,
    typer.Option(
        "--no-fast-path",
        help="Always run the whole extract, even when the last identical run changed nothing (see docs/fast-path.md).",
    ),
]


def extract(
    sources: SourcesArg,
    store: SourceStoreOpt = None,
    workers: WorkersOpt = None,
    exclude: ExcludeOpt = None,
    select: SelectOpt = None,
    deselect: DeselectOpt = None,
    plugin: PluginOpt = None,
    max_file_size: MaxFileSizeOpt = "10MB",
    file_timeout: FileTimeoutOpt = 60.0,
    max_memory: MaxMemoryOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
    as_json: AsJsonOpt = False,
    repo: RepoOpt = None,
    include_generated: IncludeGeneratedOpt = False,
    no_fast_path: NoFastPathOpt = False,
) -> None:
    """Scan SOURCES, extract every selected dataset, and publish them to the store as one snapshot."""
    from codequarry import cli_lean

    code = cli_lean.run(
        sources,
        out=out,
        err=err,
        interrupt_code=interrupt_code,
        store=store,
        workers=workers,
        exclude=exclude,
        select=select,
        deselect=deselect,
        plugin=plugin,
        max_file_size=max_file_size,
        file_timeout=file_timeout,
        max_memory=max_memory,
        engine=engine,
        address=address,
        strict=strict,
        quiet=quiet,
        as_json=as_json,
        repo=repo,
        include_generated=include_generated,
    )
    if code:
        raise typer.Exit(code)


class PlanFmt(StrEnum):
    text = "text"
    json = "json"
    mermaid = "mermaid"


def plan(
    sources: Annotated[
        list[Path] | None, typer.Argument(help="Sources to plan for (default: the current folder).")
    ] = None,
    store: SourceStoreOpt = None,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these extractors/operations or groups.")
    ] = None,
    deselect: Annotated[list[str] | None, typer.Option("--skip", help="Leave these out.")] = None,
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="Import extractors from this module.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Glob of paths to skip.")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Worker processes.")] = None,
    fmt: Annotated[PlanFmt, typer.Option("--format", "-f", help="text, json, or mermaid.")] = PlanFmt.text,
    no_files: Annotated[
        bool, typer.Option("--no-files", help="Do not scan: skip the per-extractor file counts.")
    ] = False,
    include_generated: IncludeGeneratedOpt = False,
) -> None:
    """Print the resolved plan (extractors, operations, DAG layers, parse products, work) without running it."""
    from codequarry.explain import describe, render_mermaid, render_text
    from codequarry.plan import make_plan

    p = make_plan(
        sources or [Path(".")],
        store=store,
        workers=workers,
        exclude=exclude or (),
        plugins=plugin or (),
        select=select or (),
        deselect=deselect or (),
        include_generated=include_generated,
    )
    for warning in p.warnings:
        err.print(f"warning: {warning}", markup=False)
    info = describe(p, count_files=not no_files and fmt is not PlanFmt.mermaid)
    if fmt is PlanFmt.json:
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    elif fmt is PlanFmt.mermaid:
        sys.stdout.write(render_mermaid(info))
    else:
        sys.stdout.write(render_text(info))

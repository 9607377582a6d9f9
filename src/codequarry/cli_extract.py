"""The `quarry extract` and `quarry plan` commands: a run of the extractors, and its plan shown
without running it (with the progress bar and the summary a run prints)."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from codequarry import fastpath
from codequarry.cli_common import SourceStoreOpt, err, out
from codequarry.cli_common import out as _out
from codequarry.cli_common import state as _state

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
    str | None, typer.Option("--max-memory-per-worker", help="Memory limit of a worker (e.g. 2GB).")
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
NoFastPathOpt = Annotated[
    bool,
    typer.Option(
        "--no-fast-path",
        help="Always run the whole extract, even when the last identical run changed nothing (see docs/fast-path.md).",
    ),
]


class Progress:
    """A progress bar on stderr, shown only on a terminal and only once a run has lasted a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err.is_terminal
        self.start = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, files: int, nbytes: int, total_files: int, total_bytes: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < 1.0:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("extracting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files"),
                TextColumn("{task.fields[rate]:>8} files/s"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            self.task = self.bar.add_task("extract", total=total_files, rate="")
            self.bar.start()
        rate = files / max(1e-9, time.perf_counter() - self.start)
        self.bar.update(self.task, completed=files, rate=f"{rate:,.0f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


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
    no_fast_path: NoFastPathOpt = False,
) -> None:
    """Scan SOURCES, extract every selected dataset, and publish them to the store as one snapshot."""
    from codequarry.plan import make_plan, parse_size
    from codequarry.run import extract as run_extract

    options = fastpath.options_of(
        sources,
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
        repo=repo,
    )

    plan = make_plan(
        sources,
        store=store,
        workers=workers,
        exclude=exclude or (),
        plugins=plugin or (),
        select=select or (),
        deselect=deselect or (),
        max_file_size=parse_size(max_file_size),
        file_timeout=file_timeout,
        max_memory_per_worker=parse_size(max_memory) if max_memory else None,
        engine=engine,
        address=address,
        repo=repo,
    )
    for warning in plan.warnings:
        err.print(f"warning: {warning}", markup=False)
    progress = Progress(enabled=not quiet)
    try:
        summary = run_extract(plan, progress=progress, after=_stamper(options, plan))
    except KeyboardInterrupt:
        progress.close()
        err.print("interrupted: nothing was published; the store still holds its previous snapshot")
        raise typer.Exit(143 if _state.get("sigterm") else 130) from None
    finally:
        progress.close()
    if as_json:
        out.print_json(json.dumps(summary.to_json()))
    elif not quiet:
        _render_summary(summary, warnings=plan.warnings)
    if strict and (summary.errors or summary.errors_stored):
        # the store's state for these sources, not only this run's rows: a re-run that changed nothing
        # still fails while an error row of an unchanged file stands
        err.print(
            f"--strict: {max(summary.errors, summary.errors_stored)} error rows for these sources in the "
            f'store, {summary.errors} written by this run (see: quarry sql "SELECT * FROM errors")'
        )
        raise typer.Exit(1)


def _stamper(options: dict[str, Any], plan: Any) -> Any:
    """What the run calls when done, under its lock: the no-op stamp of the fast path (stamp.py)."""
    from codequarry import stamp

    roots = list(plan.request.sources)
    key = stamp.request_key(options, roots, str(plan.store), fastpath.cores())

    def after(summary: Any, txn: Any, recorder: Any) -> None:
        def render(s: Any, styled: bool) -> str:
            from io import StringIO

            from rich.console import Console

            buf = StringIO()
            console = Console(
                file=buf,
                force_terminal=styled,
                color_system="standard" if styled else None,
                highlight=False,
                soft_wrap=True,
            )
            _render_summary(s, warnings=plan.warnings, console=console)
            return buf.getvalue()

        try:
            stamp.stamp_run(key, roots, plan.request.exclude, plan.warnings, render, summary, txn, recorder)
        except Exception:  # noqa: BLE001 - a stamp only saves the next run time: it never fails this one
            stamp.forget(plan.store)

    return after


def _render_summary(s: Any, warnings: tuple[str, ...] = (), console: Any = None) -> None:
    out = console or _out
    skipped = ", ".join(f"{v} {k}" for k, v in s.skipped.items()) or "none"
    out.print(
        f"[bold]{s.files_scanned}[/] files scanned: [bold]{s.changed}[/] changed ({s.added} added, "
        f"{s.modified} modified, {s.deleted} deleted), {s.unchanged} unchanged"
    )
    for repo, names in s.rerun.items():
        if s.unchanged:
            out.print(f"re-run on every file of {repo}: {', '.join(names)} (new or new version)")
    for repo, names in s.dropped.items():
        out.print(f"dropped from {repo}: {', '.join(names)} (no longer selected)")
    out.print(
        f"{s.files_parsed} parsed, skipped: {skipped}; {s.errors} errors; "
        f"{s.seconds:.2f} s with {s.workers} worker(s)"
    )
    if s.rows and any(s.rows.values()):
        out.print("rows written: " + ", ".join(f"{k} {v:,}" for k, v in s.rows.items() if v))
    if s.published:
        out.print(f"snapshot {s.snapshot} published to {s.store}")
    else:
        out.print(f"nothing to do: snapshot {s.snapshot} of {s.store} is up to date")
    for note in s.notes:
        if note not in warnings:
            out.print(f"note: {note}")
    for repo, path, reason in s.skipped_files[:10]:
        out.print(f"skipped {repo}/{path}: {reason}", markup=False)
    if len(s.skipped_files) > 10:
        out.print("(more skipped files: quarry extract --json, field skipped_files)")


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

"""The `quarry` command. Thin: parse arguments, call the library, render. Exit codes: 0 ok, 1 the run
finished with errors under --strict, 2 usage or input error, 130 interrupted."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from codequarry import __version__
from codequarry.cli_common import SourceStoreOpt, StoreOpt, err, out
from codequarry.cli_common import find_store as _find_store
from codequarry.cli_common import state as _state
from codequarry.cli_common import wide as _wide
from codequarry.errors import QuarryError, StoreError, UsageError
from codequarry.plan import format_size

app = typer.Typer(
    name="quarry",
    help="Turn source trees into SQL-queryable tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain text: '[extract]' is a word, not markup
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"quarry (codequarry) {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


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


@app.command()
def extract(
    sources: Annotated[
        list[Path], typer.Argument(help="Folders (git work trees or plain) or files to scan.")
    ],
    store: SourceStoreOpt = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Worker processes (default: one per core; 1 runs in-process)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Glob of paths to skip (repeatable).")
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="Run only these extractors or groups (dotted prefix; repeatable)."),
    ] = None,
    deselect: Annotated[
        list[str] | None, typer.Option("--skip", help="Leave out these extractors or groups (repeatable).")
    ] = None,
    plugin: Annotated[
        list[str] | None,
        typer.Option("--plugin", "-p", help="Import extractors from this module (repeatable)."),
    ] = None,
    max_file_size: Annotated[
        str, typer.Option("--max-file-size", help="Skip files larger than this (e.g. 10MB).")
    ] = "10MB",
    file_timeout: Annotated[
        float, typer.Option("--file-timeout", help="Stop a file after this many seconds (0: never).")
    ] = 60.0,
    max_memory: Annotated[
        str | None, typer.Option("--max-memory-per-worker", help="Memory limit of a worker (e.g. 2GB).")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="local (process pool) or ray.")] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster: auto or HOST:PORT (default: start a local Ray)."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 1 if the store holds any error row of these sources after the run (this run's or an earlier run's for an unchanged file).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    repo: Annotated[
        str | None, typer.Option("--repo", help="Store the (one) source as this repo, wherever it sits.")
    ] = None,
) -> None:
    """Scan SOURCES, extract every selected dataset, and publish them to the store as one snapshot."""
    from codequarry.plan import make_plan, parse_size
    from codequarry.run import extract as run_extract

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
        summary = run_extract(plan, progress=progress)
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


def _render_summary(s: Any, warnings: tuple[str, ...] = ()) -> None:
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


@app.command()
def tables(store: StoreOpt = None) -> None:
    """List the store's tables with their row counts and columns."""
    from codequarry.query import open_store

    st = open_store(_find_store(store))
    snap = st.snapshot()
    if snap is None:
        raise StoreError(f"store '{st.path}' has no published snapshot yet")

    grid = Table("table", "rows", "columns", box=None, pad_edge=False)
    for name, state in sorted(snap.tables.items()):
        schema = st.open_delta(name, state.version).schema()
        cols = ", ".join(f.name for f in schema.fields)
        grid.add_row(name, f"{state.rows:,}", cols)
    out.print(grid)
    if "files" in snap.tables:  # which languages the store holds, and what each one fills
        from codequarry.language import coverage_of
        from codequarry.query import sql

        langs = Table("language", "files", "tables filled (* opt-in)", box=None, pad_edge=False)
        for row in sql(
            st, "SELECT language, count(*) AS n FROM files GROUP BY language ORDER BY n DESC"
        ).to_pylist():
            langs.add_row(row["language"] or "(unknown)", f"{row['n']:,}", coverage_of(row["language"]))
        out.print()
        out.print(langs)


@app.command()
def schema(name: Annotated[str, typer.Argument(help="Table name.")], store: StoreOpt = None) -> None:
    """Show the columns and types of one table."""
    import pyarrow as pa

    from codequarry.errors import did_you_mean
    from codequarry.query import open_store

    st = open_store(_find_store(store))
    snap = st.snapshot()
    if snap is None or name not in snap.tables:
        known = sorted(snap.tables) if snap else []
        raise UsageError(f"no table '{name}'.{did_you_mean(name, known)} Tables: {', '.join(known)}")
    arrow = pa.schema(st.open_delta(name, snap.tables[name].version).schema().to_arrow())
    grid = Table("column", "type", "nullable", box=None, pad_edge=False)
    for f in arrow:
        grid.add_row(f.name, str(f.type), "yes" if f.nullable else "no")
    out.print(grid)


class PlanFmt(StrEnum):
    text = "text"
    json = "json"
    mermaid = "mermaid"


@app.command()
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


@app.command()
def status(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show the live snapshot, table versions, rows and sizes, the last run, and running services."""
    from codequarry.query import open_store
    from codequarry.serve.cli import services_table
    from codequarry.serve.services import status as services_status
    from codequarry.store.maintenance import status as store_status

    st = open_store(_find_store(store))
    info = store_status(st)
    if as_json:
        info["services"] = [s.to_json() for s in services_status(st.path)]
        out.print_json(json.dumps(info, default=str))
        return
    services = services_table(st.path)
    if services is not None:
        out.print(services)
    if info["snapshot"] is None:
        out.print(f"{info['store']}: no snapshot published yet")
        return
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["published"]))
    out.print(
        f"store {info['store']}: snapshot {info['snapshot']} published {when}; "
        f"{info['snapshots_kept']} snapshot(s) kept; {format_size(info['disk_bytes'])} on disk"
    )
    grid = Table("table", "version", "rows", "files", "live size", "on disk", box=None, pad_edge=False)
    for name, t in info["tables"].items():
        grid.add_row(
            name,
            str(t["version"]),
            f"{t['rows']:,}",
            str(t["files"]),
            format_size(t["bytes"]),
            format_size(t["disk_bytes"]),
        )
    out.print(grid)
    run = info["last_run"]
    if run:
        out.print(
            f"last run: {run.get('files_scanned', '?')} files scanned, {run.get('changed', '?')} changed, "
            f"{run.get('errors', '?')} errors, {run.get('seconds', '?')} s"
        )
        if run.get("skipped"):
            out.print("skipped: " + ", ".join(f"{v} {k}" for k, v in run["skipped"].items()), markup=False)
        for repo, path, reason in run.get("skipped_files", [])[:10]:
            out.print(f"skipped {repo}/{path}: {reason}", markup=False)


@app.command()
def compact(
    store: StoreOpt = None,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Compact only this table (repeatable).")
    ] = None,
    keep: Annotated[int, typer.Option("--keep", help="Snapshots to keep readable (at least 1).")] = 1,
) -> None:
    """Rewrite small files into large sorted ones and delete files no kept snapshot needs."""
    from codequarry.query import open_store
    from codequarry.store.maintenance import compact as run_compact

    if keep < 1:
        raise UsageError("--keep must be at least 1")
    st = open_store(_find_store(store))
    snap = st.snapshot()
    if table and snap is not None:
        from codequarry.errors import did_you_mean

        for t in table:
            if t not in snap.tables:
                raise UsageError(f"no table '{t}'.{did_you_mean(t, snap.tables)}")
    done = run_compact(st, tables=table, keep_snapshots=keep)  # under the writer lock, taken inside
    for name, (before, after) in done.tables.items():
        out.print(f"{name}: {before} -> {after} files")
    out.print(
        f"removed {done.removed_files} files ({format_size(done.removed_bytes)}) and {done.pruned_snapshots} "
        f"old snapshot(s); snapshot {done.snapshot} is live"
    )


@app.command()
def doctor(
    store: StoreOpt = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild damaged tables by extracting their files again.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Worker processes for --repair.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON.")] = False,
) -> None:
    """Check every table of the live snapshot (log, version, every file); exit 2 if any is damaged."""
    from codequarry.doctor import diagnose
    from codequarry.doctor import repair as run_repair

    path = _find_store(store)
    health = diagnose(path)
    if repair and not health.ok:
        fixed = run_repair(path, workers=workers)
        if not as_json:
            _print_health(fixed.before)
            for note in fixed.notes:
                out.print(f"repaired: {note}", markup=False)
            if fixed.published:
                out.print(
                    f"repaired: rebuilt {', '.join(fixed.rebuilt)}; snapshot {fixed.published[-1]} is live",
                    markup=False,
                )
        health = fixed.after
    if as_json:
        out.print_json(json.dumps(health.to_json()))
    else:
        _print_health(health)
    if not health.ok:
        raise typer.Exit(2)


def _print_health(health: Any) -> None:
    if health.snapshot_problem:
        out.print(f"snapshot.json: DAMAGED: {health.snapshot_problem}", markup=False)
    for t in health.tables:
        verdict = (
            f"ok (version {t.version}, {t.files} files, {t.rows:,} rows)" if t.ok else f"DAMAGED: {t.problem}"
        )
        out.print(f"{t.name}: {verdict}", markup=False)
    which = f"snapshot {health.snapshot}" if health.snapshot else "no snapshot"
    fix = "" if health.ok else "; run 'quarry doctor --repair' to repair it"
    out.print(
        f"{health.store}: {which}: {'every table is whole' if health.ok else 'damaged'}{fix}", markup=False
    )


class ExportFmt(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"
    sqlite = "sqlite"
    sarif = "sarif"


@app.command()
def export(
    out_path: Annotated[
        Path, typer.Argument(metavar="OUT", help="Folder (parquet, jsonl) or file (sqlite) to write.")
    ],
    fmt: Annotated[
        ExportFmt, typer.Option("--format", "-f", help="parquet (sharded), jsonl, or sqlite.")
    ] = ExportFmt.parquet,
    shards: Annotated[
        int | None, typer.Option("--shards", help="Parquet files per table (part-00000...).")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Column whose stable hash picks a row's shard (default: path)."),
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Export only this table (repeatable).")
    ] = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
    include_errors: Annotated[
        bool, typer.Option("--include-errors", help="sarif: also the errors table, as notes.")
    ] = False,
) -> None:
    """Export the published snapshot as sharded Parquet, JSON lines, one SQLite database, or SARIF 2.1.0
    (security findings, for code-scanning tools)."""
    from codequarry.query import open_store
    from codequarry.store.export import export as run_export

    if fmt is not ExportFmt.parquet and (shards is not None or key is not None):
        raise UsageError("--shards and --key apply to --format parquet only")
    if fmt is ExportFmt.sarif:
        from codequarry.report.cli import export_sarif

        return export_sarif(open_store(_find_store(store)), out_path, include_errors, table, as_json, quiet)
    if include_errors:
        raise UsageError("--include-errors applies to --format sarif only")
    kwargs: dict[str, Any] = {"format": fmt.value, "tables": table or None}
    if shards is not None:
        kwargs["shards"] = shards
    if key is not None:
        kwargs["key"] = key
    summary = run_export(open_store(_find_store(store)), out_path, **kwargs)
    if as_json:
        out.print_json(json.dumps(summary.to_json(), default=str))
    elif not quiet:
        for name, t in summary.tables.items():
            out.print(f"{name}: {t.rows:,} rows in {len(t.files)} file(s)")
        out.print(f"exported snapshot {summary.snapshot} to {summary.out} in {summary.seconds:.2f} s")


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(help="One SQL query (DataFusion dialect); statements that write are refused.")
    ],
    store: StoreOpt = None,
    fmt: Annotated[
        Fmt | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: a table on stdout; with -o, the one the file's extension names).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file instead of stdout (.parquet, .csv, .tsv, .json, .jsonl).",
        ),
    ] = None,
) -> None:
    """Run a read-only SQL query over the last published snapshot of the store.

    Only queries run (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW); COPY, INSERT, CREATE, DROP, SET
    and every other statement that would write or change something are refused.
    """
    from codequarry import sqlout
    from codequarry.query import open_store
    from codequarry.query import sql as run_sql

    folder = _find_store(store)
    if output is not None:
        sqlout.check_target(output, folder)
        kind = sqlout.format_for(output, fmt.value if fmt is not None else None)
    elif fmt is Fmt.parquet:
        raise UsageError("--format parquet needs --output FILE")
    result = run_sql(open_store(folder), query)
    if output is not None:
        sqlout.write(result, output, kind)
    elif fmt is None or fmt is Fmt.table:
        _print_grid(result)
    else:
        sys.stdout.write(sqlout.render(result, fmt.value))


def _print_grid(result: Any) -> None:
    """A table for people: one line per row, long cells cut; piped output is never wrapped."""
    from codequarry.sqlout import footer, grid

    console = _wide()
    console.print(grid(result))
    console.print(footer(result.num_rows), style="dim", markup=False)


@app.command()
def extractors(
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="Also load this plugin module.")
    ] = None,
) -> None:
    """List every available extractor and operation: version, datasets, needs, source, description."""
    from codequarry.registry import load_catalog

    catalog = load_catalog(plugin or ())
    grid = Table(
        "extractor", "version", "outputs", "needs", "source", "description", box=None, pad_edge=False
    )
    for name, ex in sorted(catalog.extractors.items()):
        grid.add_row(
            name,
            str(ex.version),
            ", ".join(ex.output_names),
            ", ".join(ex.needs) or "-",
            catalog.sources[name],
            ex.description,
        )
    for name, op in sorted(catalog.operations.items()):
        outs = ", ".join(o if isinstance(o, str) else o.name for o in op.outputs)
        grid.add_row(
            name,
            str(op.version),
            outs,
            "operation: " + ", ".join(op.inputs),
            catalog.sources[name],
            op.description,
        )
    _wide().print(grid)


def _register_commands() -> None:
    from codequarry.flows.cli import register as register_flows
    from codequarry.report.cli import register as register_reports
    from codequarry.serve.cli import register as register_serve
    from codequarry.tools.cli import register

    register(app)
    register_reports(app)
    register_serve(app)
    register_flows(app)
    from codequarry.repos_cli import register as register_repos

    register_repos(app)
    from codequarry.watch import register as register_watch

    register_watch(app)


_register_commands()


def _on_sigterm(_sig: int, _frame: Any) -> None:
    _state["sigterm"] = True
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the app, turning codequarry's own errors into one line and an exit code."""
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)  # stop like Ctrl-C: workers killed, nothing published
    from codequarry.pandas_probe import skip_pandas_probe

    skip_pandas_probe()  # ~0.3 s of every command: pyarrow's probe imports pandas (see the module)
    try:
        app()
    except QuarryError as exc:
        if _state["debug"]:
            raise
        from rich.markup import escape

        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()

"""The commands that read or look after a store: `tables`, `schema`, `status`, `compact`, `doctor`,
`export`."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from codequarry.cli_common import StoreOpt, out
from codequarry.cli_common import find_store as _find_store
from codequarry.errors import StoreError, UsageError, printable
from codequarry.plan import format_size


def tables(store: StoreOpt = None) -> None:
    """List the store's tables with their row counts and columns."""
    from codequarry.query import open_store
    from codequarry.store.damage import open_live

    st = open_store(_find_store(store))
    snap = st.snapshot()
    if snap is None:
        raise StoreError(f"store '{st.path}' has no published snapshot yet")

    grid = Table("table", "rows", "columns", box=None, pad_edge=False)
    for name, state in sorted(snap.tables.items()):
        schema = open_live(st, name, state).schema()  # a log that replays to other rows is named
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
    for name, t in info["tables"].items():
        if t.get("damaged"):
            out.print(f"table {name} is damaged: {t['damaged']}; run 'quarry doctor --repair'", markup=False)
    run = info["last_run"]
    if run:
        out.print(
            f"last run: {run.get('files_scanned', '?')} files scanned, {run.get('changed', '?')} changed, "
            f"{run.get('errors', '?')} errors, {run.get('seconds', '?')} s"
        )
        if run.get("skipped"):
            out.print("skipped: " + ", ".join(f"{v} {k}" for k, v in run["skipped"].items()), markup=False)
        for repo, path, reason in run.get("skipped_files", [])[:10]:  # the names are the repository's
            out.print(printable(f"skipped {repo}/{path}: {reason}"), markup=False)


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
    for name, what in health.odd_files:
        out.print(f"{name}: NOT A PLAIN FILE: {what}, which the store never makes", markup=False)
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

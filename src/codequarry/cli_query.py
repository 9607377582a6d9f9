"""The `quarry sql` and `quarry extractors` commands: a query of the store, and the catalog."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from codequarry.cli_common import StoreOpt
from codequarry.cli_common import find_store as _find_store
from codequarry.cli_common import wide as _wide
from codequarry.errors import UsageError


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


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

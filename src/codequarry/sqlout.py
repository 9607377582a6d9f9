"""Write a query's result to a file, in the format the file's name asks for.

``quarry sql ... -o FILE`` without ``-f`` picks the format from the extension (``.parquet``, ``.csv``,
``.tsv``/``.txt``, ``.json``, ``.jsonl``/``.ndjson``); a name with any other extension needs ``-f``.
The target is checked before the query runs (its folder exists, it is not a folder, it is not inside
the store), and the file is written under a temporary name and renamed into place, so a failed write
never leaves half a file and never damages the file it would have replaced.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from codequarry.errors import UsageError, printable

FORMATS = ("table", "tsv", "csv", "json", "jsonl", "parquet")
BY_SUFFIX = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def format_for(path: Path, explicit: str | None) -> str:
    """The format to write ``path`` in: the explicit one, else the one its extension names."""
    if explicit is not None:
        return "tsv" if explicit == "table" else explicit
    found = BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(BY_SUFFIX))
        raise UsageError(
            f"cannot tell the output format from the name '{path}': end it with one of {known}, "
            "or pass -f csv|tsv|json|jsonl|parquet"
        )
    return found


def check_target(path: Path, store: Path | None = None) -> None:
    """Refuse, before any work, an output path that cannot or must not be written (its folder must
    exist; any regular file may be replaced): :func:`codequarry.report.outfile.check_replaceable`."""
    from codequarry.report.outfile import check_replaceable

    check_replaceable(
        path,
        store,
        kind="result",
        example="result.parquet",
        folder_must_exist=True,
        fix="name a new file (or leave out -o to print the result)",
    )


def write(result: pa.Table, path: Path, fmt: str) -> None:
    """Write ``result`` to ``path`` in ``fmt`` (see :data:`FORMATS`), atomically."""
    from codequarry.report.outfile import replace_file

    def put(fh: IO[bytes]) -> None:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                pq.write_table(result, fh, compression="zstd")
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
                raise UsageError(
                    f"Parquet cannot hold this result ({exc}); cast the column in the query, "
                    "e.g. CAST(x AS VARCHAR), or pick another format with -f"
                ) from None
        else:
            fh.write(render(result, fmt).encode("utf-8"))

    try:
        replace_file(path, put)
    except OSError as exc:
        raise UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None


def as_text_ready(result: pa.Table) -> pa.Table:
    """``result`` with the columns Python values cannot hold exactly as text: a nanosecond
    timestamp, time or duration (``now()`` is one: ``to_pylist`` refused it, a traceback) and an
    interval (the CSV writer has no cast for it). Every other column is kept as it is."""
    import pyarrow.compute as pc

    cols = []
    for col in result.columns:
        t = col.type
        if (pa.types.is_timestamp(t) or pa.types.is_time(t)) and getattr(t, "unit", "") == "ns":
            col = pc.cast(col, pa.string())
        elif pa.types.is_duration(t) and t.unit == "ns":
            col = pa.array([None if v is None else f"{v} ns" for v in pc.cast(col, pa.int64()).to_pylist()])
        elif pa.types.is_interval(t):
            col = pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
        cols.append(col)
    return pa.table(cols, names=result.column_names)


def render(result: pa.Table, fmt: str) -> str:
    """The result as text: csv, tsv (a header line, then one tab-separated line per row), json, jsonl."""
    result = as_text_ready(result)
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return json.dumps(result.to_pylist(), default=str, ensure_ascii=False, indent=1) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(row, default=str, ensure_ascii=False) + "\n" for row in result.to_pylist())
    if fmt in ("tsv", "table"):
        lines = ["\t".join(_tsv(name) for name in result.column_names)]
        lines += [
            "\t".join(_TSV_NULL if v is None else _tsv(cell(v)) for v in row.values())
            for row in result.to_pylist()
        ]
        return "\n".join(lines) + "\n"
    raise UsageError(f"cannot render a result as '{fmt}' text; use one of {', '.join(FORMATS)}")


def grid(result: pa.Table) -> Any:
    """A result as a rich Table for people: one line per row, cells cut at 80 characters, and every
    cell plain text (``list[str]`` is an annotation, not markup)."""
    from rich.table import Table
    from rich.text import Text

    result = as_text_ready(result)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in result.column_names:
        table.add_column(Text(printable(name)), no_wrap=True, overflow="ellipsis", max_width=80)
    for row in result.to_pylist():
        table.add_row(*(Text(cell(v, 80)) for v in row.values()))
    return table


def footer(rows: int) -> str:
    return f"({rows} row{'s' if rows != 1 else ''})"


def grid_text(result: pa.Table) -> str:
    """What ``quarry sql`` prints for ``result`` when its output is not a terminal (never wrapped)."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=100_000, highlight=False, color_system=None)
    console.print(grid(result))
    console.print(footer(result.num_rows), markup=False)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


_TSV_NULL = "\\N"  # as PostgreSQL's text format writes it: a cell's own backslashes are doubled, so
# a null is told from an empty string (both were an empty cell) and from the text "\\N"


def _tsv(text: str) -> str:
    """A cell (or a column name) of a tab-separated line: tabs and line breaks inside it escaped, so a
    row stays one line and a header has one name per column."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def cell(value: Any, limit: int | None = None) -> str:
    """One value as text: lists and structs as JSON, null as empty; cut to ``limit`` characters."""
    if value is None:
        return ""
    text = (
        json.dumps(value, default=str, ensure_ascii=False) if isinstance(value, list | dict) else str(value)
    )
    if limit is not None:  # a table for a person: no line breaks or terminal escapes from the data
        text = printable(text)
        if len(text) > limit:
            text = text[: limit - 1] + "\u2026"
    return text


def _csv(result: pa.Table) -> str:
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    cols = []
    for col in result.columns:
        if pa.types.is_nested(col.type):
            col = pa.array(
                [json.dumps(v, default=str) if v is not None else None for v in col.to_pylist()], pa.string()
            )
        elif (
            pa.types.is_binary(col.type)
            or pa.types.is_large_binary(col.type)
            or pa.types.is_fixed_size_binary(col.type)
        ):
            col = pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())  # as serve
        cols.append(col if not pa.types.is_dictionary(col.type) else pc.cast(col, pa.string()))
    flat = pa.table(cols, names=result.column_names)
    buf = io.BytesIO()
    pacsv.write_csv(flat, buf)
    return buf.getvalue().decode("utf-8")

"""The layout ``quarry compact`` gives a table: rows sorted by (repo, path), in files of about
``TARGET_FILE_SIZE`` whose repo ranges do not overlap, in row groups of ``ROW_GROUP_ROWS`` rows.

Why this layout (measured in docs/scale.md): queries filter and join by repo and path. Each file's
min/max of ``repo`` and ``path`` is in the Delta log, and each row group's in the Parquet footer,
so a query for one repo opens only the files whose repo range holds it and reads only its row
groups. A z-order (what deltalake's optimizer offers) interleaves the bits of ``path`` into those of
``repo``: one repo's rows are spread over every file, and the ranges all overlap. One file per table
cannot be pruned at all, and many tiny files cost an open each: ~32 MB files keep a 20x store at a
few files per table while a repo's rows stay in one or two of them.

The rewrite streams: the ``repo`` column is read first (its row counts cut the sorted repos into
groups of about one file's rows), then one group at a time is read from the files whose repo range
meets it, sorted and written. Memory is about one group, not the table.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from codequarry.errors import StoreError
from codequarry.parts import WRITE_OPTIONS, read_checked
from codequarry.store.store import Store, arrow_table, damaged, part_inside, unreadable_part

#: compacted files aim at this size (compressed)
TARGET_FILE_SIZE = 32 * 1024 * 1024
#: rows per Parquet row group in compacted files (the statistics' granularity inside a file)
ROW_GROUP_ROWS = 64 * 1024
#: the name of every file the rewrite writes (how a table in the layout is told from a run's parts)
PREFIX = "part-compact-"
_SORT = [("repo", "ascending"), ("path", "ascending")]


Live = tuple[str, int, str | None, str | None, int | None]  # path, size, min/max repo, rows


def _live(table: DeltaTable) -> list[Live]:
    """(path, size, min repo, max repo, rows) of each live file (None: not in the log's stats)."""
    actions = arrow_table(table.get_add_actions(flatten=True))
    if not actions.num_rows:
        return []
    cols, n = actions.column_names, actions.num_rows

    def col(name: str) -> list[Any]:
        return actions.column(name).to_pylist() if name in cols else [None] * n

    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    return list(zip(paths, sizes, col("min.repo"), col("max.repo"), col("num_records"), strict=True))


def sorted_layout(table: DeltaTable) -> bool:
    """Whether the table already has the layout: every file written by :func:`rewrite_sorted` (a
    run's parts are not sorted inside), repo ranges in file order never overlap (a repo may continue
    into the next file), no file is over twice the target size, and there are not many more files
    than the size needs."""
    files = sorted(_live(table), key=lambda f: (f[2] or "", f[3] or ""))
    if any(
        not f[0].startswith(PREFIX) or f[1] > 2 * TARGET_FILE_SIZE or f[2] is None or f[3] is None
        for f in files
    ):
        return False
    if len(files) > 2 * (sum(f[1] for f in files) // TARGET_FILE_SIZE + 1):
        return False
    return all(a[3] <= b[2] for a, b in zip(files, files[1:], strict=False))  # type: ignore[operator]


def _groups(counts: Counter[str], target_rows: int) -> list[tuple[str, str]]:
    """Sorted repos cut into contiguous (first, last) groups of about ``target_rows`` rows."""
    out: list[tuple[str, str]] = []
    first: str | None = None
    rows = 0
    for repo in sorted(counts):
        if first is None:
            first = repo
        rows += counts[repo]
        if rows >= target_rows:
            out.append((first, repo))
            first, rows = None, 0
    if first is not None:
        out.append((first, max(counts)))
    return out


def rewrite_sorted(store: Store, name: str, table: DeltaTable) -> None:
    """Rewrite every live file of ``name`` into the layout, as one Delta commit (same rows)."""
    folder = store.table_path(name)
    files = _live(table)
    schema = pa.schema(table.schema().to_arrow())
    if not files or "repo" not in schema.names or "path" not in schema.names:
        return
    for f in files:
        if not part_inside(f[0]):
            raise damaged(store, name, f"its log names a file outside the table ({f[0]})")
    counts: Counter[str] = Counter()
    for path, _size, lo, hi, rows in files:
        if lo is not None and lo == hi and rows is not None:  # one repo's part: the log says it all
            counts[lo] += rows
            continue
        repos = _read(store, name, folder, path, ["repo"]).column("repo")
        for item in pc.value_counts(repos).to_pylist():
            counts[item["values"]] += item["counts"]
    total = sum(counts.values())
    if None in counts or not total:  # a row without a repo: leave the table as it is
        return
    per_row = max(1.0, sum(f[1] for f in files) / total)
    target_rows = max(ROW_GROUP_ROWS, int(TARGET_FILE_SIZE / per_row))
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = []
    written = 0
    try:
        for lo, hi in _groups(counts, target_rows):
            data = _read_group(store, name, files, lo, hi, schema)
            data = data.sort_by(_SORT)
            for start in range(0, data.num_rows, target_rows):
                piece = data.slice(start, target_rows)
                actions.append(_write(folder, piece, now))
                written += piece.num_rows
    except StoreError:  # a damaged part: nothing of the rewrite is kept
        for a in actions:
            os.unlink(folder / a.path)
        raise
    if written != total:  # never commit a rewrite that lost or doubled rows
        for a in actions:
            os.unlink(folder / a.path)
        raise damaged(store, name, f"its rewrite holds {written} rows, not {total}")
    actions += [RemoveAction(path=f[0], data_change=False, deletion_timestamp=now, size=f[1]) for f in files]
    table.create_write_transaction(actions, mode="append", schema=table.schema())


def _read(store: Store, name: str, folder: Any, path: str, columns: list[str] | None = None) -> pa.Table:
    """A live part of ``name``, its pages checked; a damaged part is a StoreError naming it."""
    with unreadable_part(store, name, f"its file {path}"):
        return read_checked(str(folder / path), columns)


def _read_group(store: Store, name: str, files: list[Live], lo: str, hi: str, schema: pa.Schema) -> pa.Table:
    """The rows with ``lo <= repo <= hi`` of the files whose repo range meets [lo, hi]."""
    folder = store.table_path(name)
    pieces = []
    for path, _size, low, high, _rows in files:
        if low is not None and high is not None and (high < lo or low > hi):
            continue
        part = _read(store, name, folder, path)
        if low is None or high is None or low < lo or high > hi:
            repo = part.column("repo")
            part = part.filter(pc.and_(pc.greater_equal(repo, lo), pc.less_equal(repo, hi)))
        if part.num_rows:
            pieces.append(part.select(schema.names).cast(schema))
    return pa.concat_tables(pieces) if pieces else schema.empty_table()


def _write(folder: Any, data: pa.Table, now: int) -> AddAction:
    """One compacted file (zstd, small row groups, page index) and its Delta add action."""
    file = f"{PREFIX}{uuid.uuid4().hex[:16]}.zstd.parquet"
    full = str(folder / file)
    pq.write_table(
        data,
        full,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        write_page_index=True,
        **WRITE_OPTIONS,
    )
    mins, maxs = {}, {}
    for col in ("repo", "path"):
        mm = pc.min_max(data.column(col))
        mins[col], maxs[col] = mm["min"].as_py(), mm["max"].as_py()
    stats = {
        "numRecords": data.num_rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": {"repo": 0, "path": 0},
    }
    return AddAction(
        path=file,
        size=os.path.getsize(full),
        partition_values={},
        modification_time=now,
        data_change=False,
        stats=json.dumps(stats),
    )

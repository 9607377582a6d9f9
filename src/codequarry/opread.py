"""The operations' streamed reads: an input's rows filtered and column-projected while they are read,
or handed over one repo at a time, so that an operation over a corpus of many repos never holds a
whole input table (``OperationContext.read`` and ``OperationContext.by_repo``).

Why: a derived table (routes, models, tests) is built from a few columns of a few rows of its
inputs, or repo by repo; reading the whole input first made the parent's peak memory grow with the
corpus (the ``imports`` table alone is ~100 MB of Arrow at 20x the standard library).

How a table is handed over one repo at a time: every row group of every live part is known, with the
least ``repo`` its footer's statistics give (a lower bound even when the writer shortened it). The
row groups are read in the order of those bounds, each projected and filtered as it is read, and its
rows put aside by repo; a repo is handed over as soon as the next row group's bound is above it (no
later row group can hold its rows). The store writes one repo per part, and ``quarry compact`` sorts
by repo, so a repo is usually complete after its own row groups: the memory held is about one repo's
rows. A part without statistics is read first and holds its repos back until the bounds pass them:
never wrong, only less frugal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: the lower bound of a row group whose footer gives none for ``repo``: read first, held longest
_NO_BOUND = ""


def read(data: Any, columns: list[str] | None, where: Any) -> pa.Table:
    """The rows of dataset ``data`` that match the expression ``where`` (None: all), only
    ``columns``: read one row group at a time and filtered at once, so only the matches are held
    (the dataset scanner reads several parts ahead, and keeps every part's footer: ~100 MB more
    RSS over the 190 parts of ``test_facts`` at 20x the standard library)."""
    import pyarrow.dataset as ds

    if where is not None and where.equals(ds.scalar(False)):  # the empty table of the columns
        empty = data.schema.empty_table()
        return empty if columns is None else empty.select(columns)
    pieces = [
        _row_group(data, path, group, columns, where).combine_chunks() for _, path, group in _row_groups(data)
    ]
    pieces = [p for p in pieces if p.num_rows] or pieces[:1]
    if not pieces:
        return data.schema.empty_table() if columns is None else data.schema.empty_table().select(columns)
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def _row_group(data: Any, path: str, group: int, columns: list[str] | None, where: Any) -> pa.Table:
    """One row group of one part, projected and filtered; a fragment made for it and let go."""
    fragment = data.format.make_fragment(path, filesystem=data.filesystem, row_groups=[group])
    return fragment.to_table(schema=data.schema, columns=columns, filter=where)


def by_repo(data: Any, columns: list[str] | None, where: Any) -> Iterator[tuple[str, pa.Table]]:
    """(repo, its rows) for every repo of dataset ``data`` with rows matching ``where``, in repo
    order, each repo once, with ``columns`` (and ``repo``) only; see the module docstring."""
    cols = None if columns is None else list(dict.fromkeys(["repo", *columns]))
    groups = sorted(_row_groups(data), key=lambda g: g[0])
    pending: dict[str, list[pa.Table]] = {}
    for i, (_, path, group) in enumerate(groups):
        part = _row_group(data, path, group, cols, where)  # (footers are not kept)
        for repo, rows in split_by_repo(part):
            pending.setdefault(repo, []).append(rows)
        del part
        bound = groups[i + 1][0] if i + 1 < len(groups) else None
        for repo in sorted(r for r in pending if bound is None or r < bound):
            yield repo, _one(pending.pop(repo), columns)


def split_by_repo(data: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """The rows of ``data`` by repo (rows without a repo are left out, as a repo filter leaves them)."""
    if not data.num_rows:
        return
    column = data.column("repo")
    if column.null_count == 0:
        first = column[0].as_py()
        if pc.all(pc.equal(column, first)).as_py():  # a part of one repo: no copy
            yield first, data
            return
    encoded = pc.dictionary_encode(column).combine_chunks()
    for code, repo in enumerate(encoded.dictionary.to_pylist()):
        yield repo, data.filter(pc.fill_null(pc.equal(encoded.indices, code), False))


def _one(tables: list[pa.Table], columns: list[str] | None) -> pa.Table:
    data = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return data if columns is None else data.select(columns)


def _row_groups(data: Any) -> Iterator[tuple[str, str, int]]:
    """(least repo or _NO_BOUND, file, row-group id) of every row group of ``data``. Each footer is
    read and let go (a dataset's fragments keep theirs once read: ~60 KB a part, 80 MB over the
    1,350 parts of four inputs at 20x the standard library)."""
    import pyarrow.parquet as pq

    for path in data.files:
        meta = pq.read_metadata(path, filesystem=data.filesystem)
        names = [meta.schema.column(j).path for j in range(meta.num_columns)]
        at = names.index("repo") if "repo" in names else None
        for group in range(meta.num_row_groups):
            stats = None if at is None else meta.row_group(group).column(at).statistics
            low = stats.min if stats is not None and stats.has_min_max else None
            yield (low if isinstance(low, str) else _NO_BOUND), path, group
        del meta


def held_rows(data: pa.Table, columns: list[str] | None, where: Any) -> pa.Table:
    """``read`` of a table already in memory (this run read it whole, or the part cache holds it)."""
    from codequarry.query import plain_types

    got = data if where is None else data.filter(where)
    return plain_types(got if columns is None else got.select(columns))


def split_held(data: pa.Table, columns: list[str] | None, where: Any) -> Iterator[tuple[str, pa.Table]]:
    """``by_repo`` of a table already in memory: the same repos, rows and order."""
    from codequarry.query import plain_types

    got = data if where is None else data.filter(where)
    cols = None if columns is None else list(dict.fromkeys(["repo", *columns]))
    pieces = dict(split_by_repo(got if cols is None else got.select(cols)))
    for repo in sorted(pieces):
        rows = pieces[repo]
        yield repo, plain_types(rows if columns is None else rows.select(columns))

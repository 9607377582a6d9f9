"""The values a run's writers hand to the store: Parquet parts not yet committed, and the rows a
table drops before the run's new rows are added.

They live below both the engine (whose workers write parts) and the store (whose writer commits them
and drops the replaced rows), so that neither imports the other, nor the planner that decides what
is replaced (incremental.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Every Parquet file the store writes keeps a CRC32 of each page, and the store's own whole-file reads
# (``quarry doctor``, compaction, the rewrite of a part that drops a file's rows) check them. A bit
# flipped on disk in a snappy part decodes without an error about half the time, as a different value:
# with the checksums it is an error that names the file instead of a silently wrong fact, and
# compaction cannot launder a damaged part into a new, well-formed one. (Parts written by
# ``write_deltalake`` for operations have no checksums: delta-rs does not offer them; their pages are
# read unchecked.)
WRITE_OPTIONS: dict[str, bool] = {"use_compliant_nested_type": True, "write_page_checksum": True}

#: a live part under this size is small: the automatic compaction after a run (CLI and `quarry watch`
#: alike) merges small parts into parts of about this size, and counts only small parts to decide
#: whether a table is crowded. A run rewrites each part holding a changed file's rows, so merging
#: whole tables (all of the standard library's 327k `calls` rows in one 16 MB part) would make every
#: later edit rewrite the whole table; a cold extract's parts (up to ~0.5 MB) are never merged.
SMALL_PART_BYTES = 256 * 1024


def small_parts(sizes: Iterable[int]) -> int:
    """How many of the parts of these sizes are small (see :data:`SMALL_PART_BYTES`)."""
    return sum(1 for size in sizes if size < SMALL_PART_BYTES)


def read_checked(full: str, columns: list[str] | None = None) -> pa.Table:
    """The whole Parquet file at ``full``, every page checked against its checksum where it has one."""
    return pq.ParquetFile(full, page_checksum_verification=True).read(columns=columns)


class RepoKeys(frozenset[tuple[str, str]]):
    """A part's (repo, path) keys that also hold their paths by repo, as the key record keeps them
    (store/keyindex.py), from a writer that has them so (the reuse copies: one shared tuple per
    file, the paths of each repo cut from sorted columns). The run's writer keeps such keys as they
    are, and the record takes :attr:`by_repo` instead of grouping the pairs again: at 100 copies of
    the standard library 1.5 M keys, walked twice (~10 s of the parent under the profiler).
    ``runs``: (repo, its paths) for each repo, a list of the shared strings (8 bytes a key until the
    record's sets are made, at the commit). Every pair is one of the writer's own tuples, shared by
    the file's keys in every table, so ``RunWriter.add`` keeps them as they are."""

    __slots__ = ("runs",)
    runs: tuple[tuple[str, list[str]], ...]

    def __new__(cls, pairs: Iterable[tuple[str, str]], runs: tuple[tuple[str, list[str]], ...]) -> RepoKeys:
        keys = super().__new__(cls, pairs)
        keys.runs = runs
        return keys

    @property
    def by_repo(self) -> dict[str, frozenset[str]]:
        """repo -> the paths of its keys."""
        out: dict[str, frozenset[str]] = {}
        for repo, paths in self.runs:
            out[repo] = out[repo] | frozenset(paths) if repo in out else frozenset(paths)
        return out

    def __reduce__(self) -> tuple[type[frozenset[tuple[str, str]]], tuple[list[tuple[str, str]]]]:
        return frozenset, (list(self),)  # (a copy elsewhere is a plain set of the same pairs)


@dataclass(frozen=True)
class Part:
    """A Parquet file a worker wrote into a table's folder, not yet committed (invisible to readers)."""

    dataset: str
    file: str  # relative to the table folder
    size: int
    rows: int
    stats: str  # Delta Lake statistics JSON: numRecords, min/max of repo and path
    #: the (repo, path) keys of its rows, found by the writer while it still holds them, so that the
    #: commit's record of each part's keys (store/keyindex.py) need not read the part back; None
    #: when a key is null (no record is kept for such a table)
    keys: frozenset[tuple[str, str]] | None = None


@dataclass
class Replacement:
    """The rows one table drops this run, before the run's new rows are added."""

    keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # repo -> paths
    repos: set[str] = field(default_factory=set)  # repos whose rows all go
    extractors: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # errors: repo -> names

    def __bool__(self) -> bool:
        return bool(self.repos or any(self.keys.values()) or any(self.extractors.values()))


def _stats(batch: pa.RecordBatch | pa.Table) -> str:
    mins: dict[str, str] = {}
    maxs: dict[str, str] = {}
    for col in ("repo", "path"):
        mm = pc.min_max(batch.column(col))
        mins[col], maxs[col] = mm["min"].as_py(), mm["max"].as_py()
    return json.dumps(
        {
            "numRecords": batch.num_rows,
            "minValues": mins,
            "maxValues": maxs,
            "nullCount": {"repo": 0, "path": 0},
        }
    )


def write_part(
    tables_dir: str,
    run_id: str,
    name: str,
    batch: pa.RecordBatch | pa.Table,
    keys: frozenset[tuple[str, str]] | None = None,
) -> Part:
    """Write one batch (or table: one row group whatever its chunks) as a Parquet file inside the
    table's folder; the driver commits it later. ``keys``: the (repo, path) pairs of its rows when
    the caller knows them (else they are found)."""
    folder = os.path.join(tables_dir, name)
    os.makedirs(folder, exist_ok=True)
    file = f"part-{run_id}-{uuid.uuid4().hex[:16]}.snappy.parquet"
    full = os.path.join(folder, file)
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    pq.write_table(table, full, compression="snappy", **WRITE_OPTIONS)
    return Part(
        dataset=name,
        file=file,
        size=os.path.getsize(full),
        rows=batch.num_rows,
        stats=_stats(batch),
        keys=keys if keys is not None else _keys(table),
    )


def _keys(table: pa.Table) -> frozenset[tuple[str, str]] | None:
    """The distinct (repo, path) pairs of ``table``'s rows; None if either column holds a null."""
    pairs = table.select(["repo", "path"]).group_by(["repo", "path"]).aggregate([])
    repos, paths = pairs.column("repo").to_pylist(), pairs.column("path").to_pylist()
    if None in repos or None in paths:
        return None
    return frozenset(zip(repos, paths, strict=True))

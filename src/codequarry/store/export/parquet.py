"""Parquet export: ``shards`` files per table, rows routed by a stable hash of a key column."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from codequarry.store.export.common import OLD, TMP, Progress, Source, TableExport, remove

ROW_GROUP_ROWS = 100_000
BUFFER_BYTES = 64 * 1024 * 1024  # rows buffered across all shard writers; beyond, the largest flush
MAX_SHARDS = 65_536  # files per table; beyond, a typo more likely than a wish
MAX_OPEN_SHARDS = 256  # more shards are written in several passes over the table (file descriptors)


# -- the shard function ---------------------------------------------------------------------------
def _key_bytes(value: str | bytes | int) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(int(value))).encode("utf-8")


def shard_of(value: str | bytes | int | None, shards: int) -> int:
    """The shard of one key value: the reference definition that ``shard_ids`` vectorizes."""
    if value is None:
        return 0
    return int.from_bytes(hashlib.sha256(_key_bytes(value)).digest()[:8], "big") % shards


def hashable(tp: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(tp)
        or pa.types.is_large_string(tp)
        or pa.types.is_binary(tp)
        or pa.types.is_large_binary(tp)
        or pa.types.is_integer(tp)
    )


def shard_ids(values: pa.Array | pa.ChunkedArray, shards: int) -> pa.Array:
    """``shard_of`` for a whole column: each distinct value is hashed once, then spread by index."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if shards == 1:
        return pa.array([0] * len(values), pa.int64())
    encoded = pc.dictionary_encode(values)
    digest = hashlib.sha256
    per_value = pa.array(
        [
            int.from_bytes(digest(_key_bytes(v)).digest()[:8], "big") % shards
            for v in encoded.dictionary.to_pylist()
        ],
        pa.int64(),
    )
    return pc.fill_null(pc.take(per_value, encoded.indices), 0)


# -- a table: a folder of shards ------------------------------------------------------------------
def parquet_table(src: Source, out: Path, shards: int, progress: Progress | None) -> TableExport:
    tmp = out / f"{TMP}{os.getpid()}-{src.name}"
    final = out / src.name
    remove(tmp)
    tmp.mkdir()
    try:
        done = 0
        for lo in range(0, shards, MAX_OPEN_SHARDS):
            with _ShardWriters(tmp, src.schema, range(lo, min(shards, lo + MAX_OPEN_SHARDS))) as writers:
                for batch in src.batches():
                    done += writers.route(batch, src.key, shards)
                    if progress is not None:
                        progress(src.name, done, src.rows)
        _swap_in(tmp, final)
    except BaseException:
        remove(tmp)
        raise
    files = tuple(final / _part_name(i) for i in range(shards))
    return TableExport(name=src.name, rows=done, files=files, bytes=sum(f.stat().st_size for f in files))


PART = re.compile(r"part-\d{5,}\.parquet")


def _part_name(shard: int) -> str:
    return f"part-{shard:05d}.parquet"


def _swap_in(tmp: Path, final: Path) -> None:
    """Put a finished table in place of the previous one, never leaving a half-written one there."""
    old = final.with_name(f"{OLD}{os.getpid()}-{final.name}")
    if final.exists() or final.is_symlink():
        os.replace(final, old)
    os.replace(tmp, final)
    remove(old)


class _ShardWriters:
    """One ParquetWriter per shard of a range; rows are buffered per shard into full row groups."""

    def __init__(self, folder: Path, schema: pa.Schema, shards: range) -> None:
        self.schema = schema
        self.shards = shards
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.buffers: dict[int, list[pa.RecordBatch]] = {s: [] for s in shards}
        self.buffered_rows = dict.fromkeys(shards, 0)
        self.buffered_bytes = dict.fromkeys(shards, 0)
        self.total_bytes = 0
        for s in shards:  # opened up front, so that a shard no row reaches still gets its file
            self.writers[s] = pq.ParquetWriter(str(folder / _part_name(s)), schema, compression="zstd")

    def route(self, batch: pa.RecordBatch, key: str, shards: int) -> int:
        """Add a batch's rows of this writer's shards; returns how many that was."""
        if shards == 1:
            self._add(0, batch)
            return int(batch.num_rows)
        ids = shard_ids(batch.column(key), shards)
        order = pc.sort_indices(ids)  # a stable sort: rows keep their order within a shard
        batch, ids = batch.take(order), ids.take(order)
        counts = pc.value_counts(ids)
        added = offset = 0
        for shard, n in sorted(
            zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        ):
            if shard in self.buffers:
                self._add(shard, batch.slice(offset, n))
                added += n
            offset += n
        return added

    def _add(self, shard: int, batch: pa.RecordBatch) -> None:
        self.buffers[shard].append(batch)
        self.buffered_rows[shard] += batch.num_rows
        self.buffered_bytes[shard] += batch.nbytes
        self.total_bytes += batch.nbytes
        if self.buffered_rows[shard] >= ROW_GROUP_ROWS:
            self._flush(shard)
        if self.total_bytes >= BUFFER_BYTES:
            # over the budget: write the largest buffers (the largest row groups) until half is free
            while self.total_bytes > BUFFER_BYTES // 2:
                largest = max(self.buffered_bytes, key=self.buffered_bytes.__getitem__)
                if not self.buffered_bytes[largest]:
                    break
                self._flush(largest)

    def _flush(self, shard: int) -> None:
        batches = self.buffers[shard]
        if not batches:
            return
        self.writers[shard].write_table(
            pa.Table.from_batches(batches, self.schema), row_group_size=ROW_GROUP_ROWS
        )
        self.total_bytes -= self.buffered_bytes[shard]
        self.buffered_bytes[shard] = 0
        self.buffers[shard] = []
        self.buffered_rows[shard] = 0

    def __enter__(self) -> _ShardWriters:
        return self

    def __exit__(self, et: type[BaseException] | None, *_: object) -> None:
        try:
            if et is None:
                for s in self.shards:
                    self._flush(s)
        finally:
            for w in self.writers.values():
                w.close()

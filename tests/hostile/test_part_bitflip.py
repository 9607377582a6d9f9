"""A bit flipped on disk inside a stored part: found, never built on, repaired.

About half of the single-bit flips in a snappy Parquet page still decode, as a different value. The
store writes a CRC32 of every page and its own whole-file reads check them, so such a flip is damage
that ``quarry doctor`` names, that an incremental run refuses to rewrite into a new well-formed part,
and that ``--repair`` removes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.hostile.test_store_damage import (  # noqa: F401 (built: a fixture)
    built,
    live_file,
    one_line_error,
    quarry,
    repaired_like_fresh,
)


def silent_flip(part: Path, column: str) -> int:
    """Flip one bit in ``column``'s pages such that an unchecked read still succeeds with other
    values (the harmful kind of damage); returns the offset flipped."""
    data = part.read_bytes()
    before = pq.ParquetFile(part).read()
    meta = pq.ParquetFile(part).metadata
    index = meta.schema.names.index(column)
    chunk = meta.row_group(0).column(index)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    for pos in range(start, start + chunk.total_compressed_size):
        for bit in (0x01, 0x10):
            flipped = bytearray(data)
            flipped[pos] ^= bit
            part.write_bytes(bytes(flipped))
            try:
                after = pq.ParquetFile(part).read()
            except Exception:
                continue
            if not after.equals(before):
                return pos
    part.write_bytes(data)
    raise AssertionError(f"no silent flip found in {column}")


def test_a_flipped_bit_in_a_part_is_damage_not_a_different_fact(
    built: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    src, store = built
    part = live_file(store, "functions")
    silent_flip(part, "name")
    live_before = (store / "snapshot.json").read_bytes()

    check = quarry("doctor", "--store", store)
    assert check.returncode == 2 and "functions: DAMAGED" in check.stdout, check.stdout + check.stderr
    assert part.name in check.stdout, check.stdout

    # an incremental run that must rewrite the part (it drops the edited file's rows) refuses
    (src / "pkg" / "m0.py").write_text("def changed():\n    pass\n")
    one_line_error(quarry("extract", src, "--store", store, "-q", "-w", "1"), "functions", "quarry doctor")
    assert (store / "snapshot.json").read_bytes() == live_before

    repaired_like_fresh(src, store, tmp_path)


def truncate(part: Path, column: str) -> int:
    os.truncate(part, part.stat().st_size // 2)
    return 0


@pytest.mark.parametrize("damage", [silent_flip, truncate], ids=["flipped-bit", "truncated"])
def test_compaction_refuses_a_damaged_part_in_one_line(
    built: tuple[Path, Path],  # noqa: F811
    damage: Callable[[Path, str], int],
) -> None:
    src, store = built
    for i in range(3):  # more parts in `functions`, so that compaction has work there
        (src / "pkg" / f"n{i}.py").write_text(f"def g{i}():\n    pass\n")
        assert quarry("extract", src, "--store", store, "-q", "-w", "1").returncode == 0
    part = live_file(store, "functions")
    damage(part, "name")
    folder = store / "tables" / "functions"
    files_before = sorted(p.name for p in folder.iterdir())

    one_line_error(quarry("compact", "--store", store), "functions", part.name, "quarry doctor")
    assert sorted(p.name for p in folder.iterdir()) == files_before  # nothing half-written left behind
    check = quarry("doctor", "--store", store)
    assert check.returncode == 2 and "functions: DAMAGED" in check.stdout, check.stdout + check.stderr


def test_reuse_never_copies_rows_out_of_a_damaged_part(built: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    src, store = built
    silent_flip(live_file(store, "functions"), "name")
    copy = tmp_path / "copy" / "pkg"
    copy.mkdir(parents=True)
    for name in ("__init__.py", "m1.py"):  # same content and module: its rows are copied
        (copy / name).write_bytes((src / "pkg" / name).read_bytes())
    live_before = (store / "snapshot.json").read_bytes()
    run = quarry("extract", src, tmp_path / "copy", "--store", store, "-q", "-w", "1")
    one_line_error(run, "functions", "quarry doctor")
    assert (store / "snapshot.json").read_bytes() == live_before

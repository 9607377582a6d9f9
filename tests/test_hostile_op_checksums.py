"""An operation's output written whole is checksummed like every other part (trust sweep 8).

Operations wrote a new output (and a whole re-derivation) with ``write_deltalake``; delta-rs writes
no Parquet page checksums, so a bit flipped on disk in, say, ``call_graph`` after a fresh extract
still decoded, as another caller name, and ``quarry doctor`` called the store whole. The whole
output is now one part of the store's own writer (parts.WRITE_OPTIONS), committed in one Delta
commit, so the flip is damage that doctor names and ``--repair`` rebuilds; the rows, versions and
row counts of a fresh extract are unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from tests.hostile.conftest import quarry
from tests.hostile.test_part_bitflip import silent_flip
from tests.hostile.test_store_damage import live_file

APP = "def helper():\n    return 1\n\n\ndef caller_of_helper():\n    return helper()\n"


def test_a_flipped_bit_in_an_operations_first_write_is_damage(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(APP)
    store = tmp_path / "store"
    quarry("extract", src, "--store", store, "-w", "1", "-q", "--select", "python.call_graph")
    rows = quarry("sql", "SELECT caller, callee FROM call_graph", "--store", store, "-f", "json").stdout
    assert ("app.caller_of_helper", "helper") in {(r["caller"], r["callee"]) for r in json.loads(rows)}
    part = live_file(store, "call_graph")
    assert pq.ParquetFile(part).metadata.created_by.startswith("parquet-cpp-arrow")  # the store's writer
    silent_flip(part, "caller")

    check = quarry("doctor", "--store", store, check=False)
    assert check.returncode != 0, check.stdout
    assert "call_graph" in check.stdout + check.stderr and "Traceback" not in check.stderr

    fixed = quarry("doctor", "--repair", "--store", store, check=False, timeout=300)
    assert fixed.returncode == 0, (fixed.stdout, fixed.stderr)
    assert (
        quarry("sql", "SELECT caller, callee FROM call_graph", "--store", store, "-f", "json").stdout == rows
    )

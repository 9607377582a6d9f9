"""A store whose files are symlinks, FIFOs or devices is never read through them (trust sweep 7).

A store can come from elsewhere (an archive, a copy). Before:

- a table's part file replaced by a symlink to a Parquet file outside the store, padded to the size
  the log records, was read as the table (``quarry sql`` answered its rows); linked to /etc/passwd,
  ``quarry sql`` called the table damaged but ``quarry doctor`` said every table was whole (it did not
  compare a part's size with its log);
- ``snapshot.json`` as a symlink to /dev/zero ended every command in a MemoryError traceback (or
  took the machine's memory), and as a FIFO held it forever; ``keys/*.json`` as a FIFO held
  ``quarry extract`` forever.

Now a live part that is a symlink (or under a symlinked folder) is damage, named by every reader and
by ``quarry doctor`` (``--repair`` rebuilds the table, and leaves the link's target alone); doctor
also compares each part's size with its log; the store's own JSON files are opened without following
a symlink or blocking and read no further than a bound (store/metafile.py).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.hostile.conftest import core_store, quarry


def _one_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return core_store(tmp_path)


def _part(store: Path) -> Path:
    (part,) = (store / "tables" / "functions").glob("*.parquet")
    return part


def _same_size_leak(part: Path, target: Path) -> None:
    """A Parquet file of the table's schema, every string 'leak', exactly as large as ``part``."""
    table = pq.read_table(part)
    row = {k: "leak" if isinstance(v, str) else v for k, v in table.to_pylist()[0].items()}
    want = part.stat().st_size
    # the metadata grows the file 2 or 3 bytes a pad; page checksums (4 bytes a page) shift the sizes
    for pad, checksums in itertools.product(range(4096), (False, True)):
        sink = pa.BufferOutputStream()
        leak = pa.Table.from_pylist([row], schema=table.schema.with_metadata({"p": "x" * pad}))
        pq.write_table(leak, sink, write_page_checksum=checksums)
        if sink.getvalue().size == want:
            target.write_bytes(sink.getvalue().to_pybytes())
            return
    pytest.skip("could not pad the Parquet file to the part's size")


def test_a_part_linked_out_of_the_store_is_not_read_and_doctor_repairs_it(
    store: Path, tmp_path: Path
) -> None:
    part = _part(store)
    leak = tmp_path / "leak.parquet"
    _same_size_leak(part, leak)
    before = hashlib.sha256(leak.read_bytes()).hexdigest()
    part.unlink()
    part.symlink_to(leak)
    done = quarry("sql", "SELECT name FROM functions", "--store", store, check=False)
    _one_line(done, "functions", "a symlink")
    assert "leak" not in done.stdout
    doctor = quarry("doctor", "--store", store, check=False)
    assert doctor.returncode == 2 and "functions: DAMAGED" in doctor.stdout and "a symlink" in doctor.stdout
    quarry("doctor", "--repair", "--store", store)
    done = quarry("sql", "SELECT name FROM functions", "--store", store)
    assert "f" in done.stdout.split() and "leak" not in done.stdout
    assert hashlib.sha256(leak.read_bytes()).hexdigest() == before


def test_doctor_names_a_part_whose_size_is_not_its_logs(store: Path) -> None:
    part = _part(store)
    part.unlink()
    part.symlink_to("/etc/passwd")
    _one_line(quarry("sql", "SELECT name FROM functions", "--store", store, check=False), "functions")
    doctor = quarry("doctor", "--store", store, check=False)
    assert doctor.returncode == 2 and "functions: DAMAGED" in doctor.stdout, doctor.stdout
    part.unlink()
    part.write_bytes(b"PAR1" * 3)  # a plain file now: only its size says it is not the part
    doctor = quarry("doctor", "--store", store, check=False)
    assert doctor.returncode == 2 and "holds 12 bytes, its log says" in doctor.stdout, doctor.stdout


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_a_snapshot_file_that_is_a_device_or_a_fifo_is_one_line(store: Path, kind: str) -> None:
    snap = store / "snapshot.json"
    snap.unlink()
    if kind == "zero":
        snap.symlink_to("/dev/zero")
    else:
        os.mkfifo(snap)
    done = quarry("sql", "SELECT count(*) FROM files", "--store", store, check=False, timeout=120)
    _one_line(done, "snapshot.json")


@pytest.mark.parametrize("kind", ["zero", "fifo", "outside"])
def test_a_keys_record_that_is_not_a_plain_file_is_not_read_and_is_replaced(
    store: Path, tmp_path: Path, kind: str
) -> None:
    record = store / "keys" / "files.json"
    outside = tmp_path / "victim.json"
    outside.write_bytes(record.read_bytes())
    record.unlink()
    if kind == "zero":
        record.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(record)
    else:
        record.symlink_to(outside)
    (tmp_path / "src" / "n.py").write_text("def g():\n    return 2\n")
    quarry(
        "extract", tmp_path / "src", "--store", store, "-w", "1", "-q", "--select", "python.core", timeout=120
    )
    assert record.is_file() and not record.is_symlink()
    assert outside.read_bytes() != record.read_bytes()  # rewritten in the store, not through the link
    done = quarry("sql", "SELECT path FROM files ORDER BY path", "--store", store)
    assert done.stdout.split()[1:3] == ["m.py", "n.py"]


@pytest.mark.parametrize("kind", ["outside", "fifo"])
def test_a_lock_that_is_a_link_or_a_fifo_is_never_written_and_doctor_removes_it(
    store: Path, tmp_path: Path, kind: str
) -> None:
    """The writer lock is written (its holder's pid): linked to a file outside the store, ``quarry
    extract`` emptied that file and wrote its pid there."""
    lock, victim = store / "lock", tmp_path / "precious.txt"
    victim.write_text("precious\n")
    lock.unlink(missing_ok=True)
    if kind == "outside":
        lock.symlink_to(victim)
    else:
        os.mkfifo(lock)
    (tmp_path / "src" / "n.py").write_text("def g():\n    return 2\n")
    extract = ("extract", tmp_path / "src", "--store", store, "-w", "1", "-q", "--select", "python.core")
    _one_line(quarry(*extract, check=False, timeout=120), "lock file", "remove it")
    assert victim.read_text() == "precious\n"
    doctor = quarry("doctor", "--store", store, check=False)
    assert doctor.returncode == 2 and "lock: NOT A PLAIN FILE" in doctor.stdout, doctor.stdout
    repaired = quarry("doctor", "--repair", "--store", store)
    assert "repaired: lock (" in repaired.stdout
    quarry(*extract, timeout=120)
    assert victim.read_text() == "precious\n" and lock.is_file() and not lock.is_symlink()


@pytest.mark.parametrize("where", ["fastpath.json", "runs/pending/zz.json", "report"])
def test_the_stores_run_records_that_are_fifos_hang_nothing(store: Path, tmp_path: Path, where: str) -> None:
    """The fast path's stamp, a pending row of the runs table and a run's report are the store's own
    small files too: a FIFO in their place held `quarry extract` (the stamp, read before anything
    else), `quarry runs` and `quarry report` forever."""
    src = tmp_path / "src"
    quarry("extract", src, "--store", store, "-w", "1", "-q")  # a second run: the stamp is written
    if where == "report":
        target = report = sorted((store / "runs").glob("*.json"))[0]
    else:
        target = store / where
        target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    if where == "report":
        done = quarry("report", report.stem, "--store", store, check=False, timeout=120)
        _one_line(done, "cannot be read")
        return
    assert quarry("extract", src, "--store", store, "-w", "1", "-q", timeout=120).returncode == 0
    listed = quarry("runs", "--store", store, timeout=120)
    assert "extract" in listed.stdout

"""Damaged stores, full disks, read-only stores and crafted snapshots (issue 10, items 3 and 8).

Every case ends in one line naming the damaged table (or snapshot.json) and the fix, exit code 2;
the last good snapshot stays readable; ``quarry doctor`` finds the damage and ``--repair`` makes the
store equal to a fresh extract again. Nothing outside the store is read or deleted through it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from codequarry.errors import StoreError
from codequarry.store import Store
from tests.test_incremental import dump

QUARRY = [sys.executable, "-m", "codequarry"]


def quarry(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUARRY, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def make_tree(root: Path, n: int = 6) -> None:
    (root / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "pkg" / "__init__.py").write_text("")
    for i in range(n):
        (root / "pkg" / f"m{i}.py").write_text(f"import os\n\ndef f{i}(x):\n    return os.path.join(x)\n")


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The run failed cleanly: exit 2, one line on stderr, no traceback, and it says ``needles``."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "panicked" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def repaired_like_fresh(src: Path, store: Path, tmp_path: Path) -> None:
    """``quarry doctor --repair`` makes the store whole, and it then extracts incrementally into the
    rows of a fresh extract of the same tree."""
    fixed = quarry("doctor", "--store", store, "--repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "every table is whole" in fixed.stdout
    again = quarry("doctor", "--store", store, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["ok"] is True
    assert quarry("extract", src, "--store", store, "-q", "-w", "1").returncode == 0
    fresh = tmp_path / "fresh"
    assert quarry("extract", src, "--store", fresh, "-q", "-w", "1").returncode == 0
    assert dump(store) == dump(fresh)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    src, store = tmp_path / "src", tmp_path / "store"
    make_tree(src)
    assert quarry("extract", src, "--store", store, "-q", "-w", "1").returncode == 0
    return src, store


def live_file(store: Path, table: str) -> Path:
    snap = json.loads((store / "snapshot.json").read_text())
    dt = DeltaTable(str(store / "tables" / table), version=snap["tables"][table]["version"])
    return Path(dt.file_uris()[0].removeprefix("file://"))


def truncate_part(store: Path) -> str:
    part = live_file(store, "functions")
    os.truncate(part, part.stat().st_size // 2)
    return "functions"


def delete_part(store: Path) -> str:
    live_file(store, "functions").unlink()
    return "functions"


def garbage_log(store: Path) -> str:
    """The table's latest commit file overwritten with garbage (deltalake's own parser must not win)."""
    latest = sorted((store / "tables" / "functions" / "_delta_log").glob("*.json"))[-1]
    latest.write_text("garbage{{\n")
    return "functions"


def garbage_operation_log(store: Path) -> str:
    """The same, for a table an operation derives (routes) rather than an extractor."""
    latest = sorted((store / "tables" / "routes" / "_delta_log").glob("*.json"))[-1]
    latest.write_text("garbage{{\n")
    return "routes"


def delete_log(store: Path) -> str:
    shutil.rmtree(store / "tables" / "functions" / "_delta_log")
    return "functions"


def bad_version(store: Path) -> str:
    """Well-formed JSON, valid shape, but a version the table never had."""
    data = json.loads((store / "snapshot.json").read_text())
    data["tables"]["functions"]["version"] = 999
    (store / "snapshot.json").write_text(json.dumps(data))
    return "functions"


def garbage_snapshot(store: Path) -> str:
    (store / "snapshot.json").write_bytes(b"\x00\x01 not json {")
    return "snapshot.json"


def wrong_shape_snapshot(store: Path) -> str:
    """Well-formed JSON that is not a snapshot (tables as a list, a string id)."""
    (store / "snapshot.json").write_text(json.dumps({"id": "7", "created": 1.0, "tables": ["functions"]}))
    return "snapshot.json"


DAMAGE: dict[str, Callable[[Path], str]] = {
    "truncated-part": truncate_part,
    "deleted-part": delete_part,
    "garbage-log": garbage_log,
    "garbage-operation-log": garbage_operation_log,
    "deleted-log": delete_log,
    "bad-version": bad_version,
    "garbage-snapshot": garbage_snapshot,
    "wrong-shape-snapshot": wrong_shape_snapshot,
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_explained_kept_readable_and_repaired(
    built: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    src, store = built
    damaged = DAMAGE[case](store)
    live_before = (store / "snapshot.json").read_bytes()

    # readers: one line naming what is damaged and the fix
    queried = damaged if damaged != "snapshot.json" else "functions"
    one_line_error(quarry("sql", f"SELECT * FROM {queried}", "--store", store), damaged, "quarry doctor")
    if damaged != "snapshot.json":  # the other tables of the snapshot still answer
        ok = quarry("sql", "SELECT count(*) AS n FROM files", "--store", store, "-f", "json")
        assert ok.returncode == 0, ok.stderr

    # a writer refuses to build on the damage (never "published" while dropping rows)
    (src / "pkg" / "m0.py").write_text("def changed():\n    pass\n")
    (src / "pkg" / "new.py").write_text("def added():\n    pass\n")
    one_line_error(quarry("extract", src, "--store", store, "-q", "-w", "1"), damaged, "quarry doctor")
    assert (store / "snapshot.json").read_bytes() == live_before  # nothing was published

    check = quarry("doctor", "--store", store)
    assert check.returncode == 2 and f"{damaged}: DAMAGED" in check.stdout, check.stdout + check.stderr
    repaired_like_fresh(src, store, tmp_path)


def test_doctor_reports_every_table_of_a_whole_store(built: tuple[Path, Path]) -> None:
    _src, store = built
    report = quarry("doctor", "--store", store, "--json")
    assert report.returncode == 0, report.stderr
    info = json.loads(report.stdout)
    snap = json.loads((store / "snapshot.json").read_text())
    assert info["ok"] and set(info["tables"]) == set(snap["tables"])
    assert info["tables"]["functions"]["rows"] == 6 and info["tables"]["functions"]["files"] >= 1


# -- item 3: nothing outside the store through the store's own files -------------------------------
def outside_table(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A Delta table next to the store, with a secret in it; returns it and its files' sizes."""
    elsewhere = tmp_path / "elsewhere"
    for i in range(3):  # three versions: compaction would have something to delete
        write_deltalake(str(elsewhere), pa.table({"secret": [f"leak-{i}"]}), mode="overwrite")
    return elsewhere, files_of(elsewhere)


def files_of(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "name", ["../../elsewhere", "../tables/../../elsewhere", "/tmp", ".hidden", "a/b", ""]
)
def test_a_snapshot_naming_a_table_outside_the_store_is_refused(
    built: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    _src, store = built
    elsewhere, before = outside_table(tmp_path)
    for snap_file in [
        store / "snapshot.json",
        *(store / "snapshots").glob("*.json"),
    ]:  # the attacker edits all
        data = json.loads(snap_file.read_text())
        data["tables"][name] = {"version": 2, "rows": 1}
        snap_file.write_text(json.dumps(data))

    with pytest.raises(StoreError, match="not a plain table name"):
        Store.open(store).snapshot()
    with pytest.raises(StoreError, match="not a plain table name"):
        Store.open(store).table_path(name)
    assert Store.open(store).history() == []  # no crafted snapshot is believed, not even as history
    sql = quarry("sql", f'SELECT * FROM "{name}"', "--store", store)
    one_line_error(sql, "snapshot.json", "quarry doctor --repair")
    assert "leak" not in sql.stdout
    one_line_error(quarry("compact", "--store", store), "snapshot.json")
    assert files_of(elsewhere) == before  # nothing outside was deleted


@pytest.mark.parametrize("form", ["relative", "encoded", "file-uri", "absolute"])
def test_a_log_naming_a_file_outside_its_table_is_never_read(
    built: tuple[Path, Path], tmp_path: Path, form: str
) -> None:
    src, store = built
    elsewhere, _ = outside_table(tmp_path)
    target = next(p for p in elsewhere.glob("*.parquet"))
    functions = store / "tables" / "functions"
    schema = pa.schema(DeltaTable(str(functions)).schema().to_arrow())
    pq.write_table(
        pa.table(
            {f.name: pa.array(["leak"] if pa.types.is_string(f.type) else [None], f.type) for f in schema}
        ),
        target,
    )  # the secret, in the table's own columns
    path = {
        "relative": f"../../../elsewhere/{target.name}",
        "encoded": f"%2E%2E/%2E%2E/%2E%2E/elsewhere/{target.name}",
        "file-uri": f"file://{target}",
        "absolute": str(target),
    }[form]
    version = DeltaTable(str(functions)).version() + 1
    add = {
        "path": path,
        "partitionValues": {},
        "size": target.stat().st_size,
        "modificationTime": 0,
        "dataChange": True,
        "stats": json.dumps({"numRecords": 1}),
    }
    (functions / "_delta_log" / f"{version:020d}.json").write_text(
        json.dumps({"commitInfo": {"timestamp": 1, "operation": "WRITE"}})
        + "\n"
        + json.dumps({"add": add})
        + "\n"
    )
    data = json.loads((store / "snapshot.json").read_text())
    data["tables"]["functions"]["version"] = version
    (store / "snapshot.json").write_text(json.dumps(data))
    before = files_of(elsewhere)

    sql = quarry("sql", "SELECT name FROM functions", "--store", store)
    one_line_error(sql, "functions", "outside the table")
    assert "leak" not in sql.stdout
    (src / "pkg" / "m1.py").write_text("x = 1\n")
    one_line_error(quarry("extract", src, "--store", store, "-q", "-w", "1"), "functions")
    one_line_error(quarry("compact", "--store", store), "functions")
    doctor = quarry("doctor", "--store", store)
    assert doctor.returncode == 2 and "outside the table" in doctor.stdout
    assert files_of(elsewhere) == before


# -- full disk and read-only store -----------------------------------------------------------------
@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """mount(folder, *options): mounts with the real mount(8), unmounted after the test; skips the test
    only when this machine does not let the test mount."""
    done: list[Path] = []

    def mount(folder: Path, *argv: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if shutil.which("mount") is None:
            pytest.skip("no mount(8) on this machine")
        proc = subprocess.run(["mount", *argv, str(folder)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
        done.append(folder)
        return folder

    yield mount
    for folder in reversed(done):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def incompressible_tree(root: Path, files: int, per_file: int) -> None:
    (root / "big").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        body = "".join(
            f'def g{i}_{j}(x):\n    """{os.urandom(200).hex()}"""\n    return x\n' for j in range(per_file)
        )
        (root / "big" / f"b{i}.py").write_text(body)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_is_one_line_and_the_previous_snapshot_stays(
    tmp_path: Path, mounted, workers: str
) -> None:  # type: ignore[no-untyped-def]
    disk = mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=2m", "tmpfs")
    src, store = tmp_path / "src", disk / "store"
    make_tree(src, 3)
    assert quarry("extract", src, "--store", store, "-q", "-w", "1").returncode == 0
    live = (store / "snapshot.json").read_bytes()
    parts = sorted(p.name for p in (store / "tables").rglob("*.parquet"))
    incompressible_tree(src, 400, 20)  # ~5 MB of parquet: more than the disk holds

    line = one_line_error(quarry("extract", src, "--store", store, "-q", "-w", workers), "no space left")
    assert "snapshot 1 is still live" in line and "free some space" in line
    assert (store / "snapshot.json").read_bytes() == live
    # the failed run's parts are gone (the run itself is recorded in runs/, outside the tables)
    assert sorted(p.name for p in (store / "tables").rglob("*.parquet")) == parts
    got = quarry("sql", "SELECT count(*) AS n FROM functions", "--store", store, "-f", "json")
    assert got.returncode == 0 and json.loads(got.stdout)[0]["n"] == 3, got.stdout + got.stderr
    assert quarry("doctor", "--store", store).returncode == 0


def test_a_read_only_store_is_read_and_refuses_writes_in_one_line(
    built: tuple[Path, Path], tmp_path: Path, mounted
) -> None:  # type: ignore[no-untyped-def]
    src, store = built
    ro = mounted(tmp_path / "ro", "--bind", str(store))
    mounted(ro, "-o", "remount,ro,bind")
    live = (store / "snapshot.json").read_bytes()
    (src / "pkg" / "m2.py").write_text("def other():\n    pass\n")

    one_line_error(quarry("extract", src, "--store", ro, "-q", "-w", "1"), "read-only", "quarry sql")
    one_line_error(quarry("compact", "--store", ro), "read-only")
    got = quarry("sql", "SELECT count(*) AS n FROM functions", "--store", ro, "-f", "json")
    assert got.returncode == 0 and json.loads(got.stdout)[0]["n"] == 6, got.stderr
    assert quarry("doctor", "--store", ro).returncode == 0
    assert quarry("status", "--store", ro).returncode == 0
    assert (store / "snapshot.json").read_bytes() == live

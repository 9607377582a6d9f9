"""Exports of a published snapshot (Parquet shards, JSON lines, SQLite), compared with the store."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from codequarry import extract, make_plan
from codequarry.errors import StoreError, UsageError
from codequarry.query import sql, table
from codequarry.store import Store
from codequarry.store.export import MARKER, export, shard_ids
from codequarry.store.export import jsonl as export_jsonl
from codequarry.store.export import parquet as export_parquet

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TABLES = ["assignments", "calls", "classes", "errors", "files", "functions", "imports", "modules"]


# -- helpers --------------------------------------------------------------------------------------
def reference_shard(value: Any, shards: int) -> int:
    """The documented shard function, written out again without the module's code."""
    if value is None:
        return 0
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return int(hashlib.sha256(data).hexdigest()[:16], 16) % shards


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)


def snapshot_id(store: Store) -> int:
    snap = store.snapshot()
    assert snap is not None
    return snap.id


def published_version(store: Store, name: str) -> int:
    snap = store.snapshot()
    assert snap is not None
    return snap.tables[name].version


def published(store: Store, name: str) -> list[dict[str, Any]]:
    return table(store, name).to_pylist()


def read_parquet_folder(folder: Path) -> pa.Table:
    return pads.dataset(folder, format="parquet").to_table()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store of a small real tree: the stdlib's json package, a file with non-ASCII text, a broken file."""
    src = tmp_path_factory.mktemp("tree") / "tree"
    shutil.copytree(STDLIB / "json", src / "json", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "greek.py").write_text(
        '"""Ωμέγα — façade."""\n\n'
        "def grüß(name: str = 'wörld', *args: int, key=None, **kw) -> str:\n"
        "    '''Say “hello”.'''\n"
        "    return f'γειά {name}'\n",
        encoding="utf-8",
    )
    (src / "broken.py").write_text("def broken(:\n    pass\n")
    path = tmp_path_factory.mktemp("stores") / "store"
    extract(make_plan([src], store=path, workers=1, select=["python.core"]))  # the TABLES below
    return Store.open(path)


def test_the_store_fixture_has_every_table_with_rows(store: Store) -> None:
    snap = store.snapshot()
    assert snap is not None and sorted(snap.tables) == TABLES
    for name in TABLES:  # every table is non-empty, so the comparisons below can fail
        assert table(store, name).num_rows > 0, name


# -- parquet --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shards", [1, 4])
def test_parquet_round_trips_every_table(store: Store, tmp_path: Path, shards: int) -> None:
    out = tmp_path / "out"
    summary = export(store, out, format="parquet", shards=shards)
    assert sorted(summary.tables) == TABLES
    for name in TABLES:
        folder = out / name
        assert sorted(p.name for p in folder.iterdir()) == [f"part-{i:05d}.parquet" for i in range(shards)]
        got = read_parquet_folder(folder)
        expected = table(store, name)
        assert got.schema.equals(expected.schema), name
        assert canonical(got.to_pylist()) == canonical(expected.to_pylist()), name
        assert summary.tables[name].rows == expected.num_rows
        assert summary.tables[name].files == tuple(folder / f"part-{i:05d}.parquet" for i in range(shards))
    assert summary.bytes == sum(f.stat().st_size for f in summary.files)
    report = json.loads(json.dumps(summary.to_json()))
    assert report["rows"] == summary.rows and report["files"] == len(TABLES) * shards
    marker = json.loads((out / MARKER).read_text())
    assert marker["complete"] is True and marker["snapshot"] == snapshot_id(store)
    assert marker["tables"]["functions"]["key"] == "path"
    first = pq.ParquetFile(out / "functions" / "part-00000.parquet").metadata.row_group(0)
    assert first.column(0).compression == "ZSTD"


def test_nested_parameters_round_trip_in_parquet(store: Store, tmp_path: Path) -> None:
    export(store, tmp_path / "out", format="parquet", shards=3, tables=["functions"])
    got = read_parquet_folder(tmp_path / "out" / "functions")
    assert pa.types.is_list(got.schema.field("parameters").type)
    greet = [r for r in got.to_pylist() if r["path"] == "greek.py"]
    assert greet[0]["name"] == "grüß"
    assert [(p["name"], p["kind"], p["annotation"], p["default"]) for p in greet[0]["parameters"]] == [
        ("name", "positional_or_keyword", "str", "'wörld'"),
        ("args", "var_positional", "int", None),
        ("key", "keyword_only", None, "None"),
        ("kw", "var_keyword", None, None),
    ]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("functions", "path"),
        ("functions", "qualname"),
        ("calls", "line"),
        ("modules", "module"),
        ("files", "path"),
    ],
)
def test_each_row_is_in_the_shard_its_key_hashes_to(
    store: Store, tmp_path: Path, name: str, key: str
) -> None:
    shards = 5
    export(store, tmp_path / "out", format="parquet", shards=shards, tables=[name], key=key)
    shard_of_key: dict[Any, int] = {}
    for i in range(shards):
        for value in pq.read_table(tmp_path / "out" / name / f"part-{i:05d}.parquet").column(key).to_pylist():
            assert reference_shard(value, shards) == i
            assert shard_of_key.setdefault(value, i) == i  # one key, one shard
    assert len(set(shard_of_key.values())) > 1  # the rows really are spread
    assert len(shard_of_key) == len(set(table(store, name).column(key).to_pylist()))


@pytest.fixture
def odd_store(tmp_path: Path) -> Store:
    """A hand-made store with a table that has no ``path`` and types no extractor writes yet."""
    from deltalake import write_deltalake

    from codequarry.store import TableState

    odd = Store.create(tmp_path / "odd")
    data = pa.table(
        {
            "name": pa.array(["a", "b", None, "ü"]),
            "blob": pa.array([b"\x00\xff", None, b"", b"x"], pa.binary()),
            "score": pa.array([1.5, float("nan"), None, float("inf")], pa.float64()),
            "flag": pa.array([True, False, None, True]),
            "when": pa.array([0, 1_700_000_000_000_000, None, 5], pa.timestamp("us", tz="UTC")),
            "tags": pa.array([[1, 2], [], None, [3]], pa.list_(pa.int64())),
        }
    )
    write_deltalake(str(odd.table_path("stats")), data)
    odd.publish({"stats": TableState(version=0, rows=data.num_rows)}, run={})
    return odd


def test_without_path_the_first_column_is_the_key(odd_store: Store, tmp_path: Path) -> None:
    summary = export(odd_store, tmp_path / "out", format="parquet", shards=3)
    assert json.loads((tmp_path / "out" / MARKER).read_text())["tables"]["stats"]["key"] == "name"
    assignment = _assignment(tmp_path / "out" / "stats", 3, "name")
    assert assignment == {v: reference_shard(v, 3) for v in ["a", "b", None, "ü"]}
    got = read_parquet_folder(tmp_path / "out" / "stats")
    assert summary.tables["stats"].rows == 4 and got.schema.equals(table(odd_store, "stats").schema)
    assert canonical_odd(got) == canonical_odd(table(odd_store, "stats"))


def canonical_odd(t: pa.Table) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in t.to_pylist())


def test_binary_floats_and_timestamps_in_jsonl_and_sqlite(odd_store: Store, tmp_path: Path) -> None:
    export(odd_store, tmp_path / "out", format="jsonl")
    text = (tmp_path / "out" / "stats.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(x) for x in text.splitlines()]
    assert rows[0] == {
        "name": "a",
        "blob": base64.b64encode(b"\x00\xff").decode(),
        "score": 1.5,
        "flag": True,
        "when": "1970-01-01T00:00:00+00:00",
        "tags": [1, 2],
    }
    assert [r["score"] for r in rows] == [1.5, None, None, None]  # JSON has no NaN or infinity
    assert rows[1]["when"] == "2023-11-14T22:13:20+00:00"
    assert rows[2] == {"name": None, "blob": "", "score": None, "flag": None, "when": None, "tags": None}

    export(odd_store, tmp_path / "odd.db", format="sqlite")
    con = sqlite3.connect(tmp_path / "odd.db")
    types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(stats)")}
    assert types == {
        "name": "TEXT",
        "blob": "BLOB",
        "score": "REAL",
        "flag": "INTEGER",
        "when": "TEXT",
        "tags": "TEXT",
    }
    got = con.execute("SELECT * FROM stats ORDER BY rowid").fetchall()
    assert got[0] == ("a", b"\x00\xff", 1.5, 1, "1970-01-01T00:00:00+00:00", "[1,2]")
    assert got[3][2] == float("inf")
    assert not con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchone()[0]
    con.close()


def test_shard_ids_matches_the_reference_for_strings_bytes_ints_and_nulls() -> None:
    values: list[Any] = ["", "a", "ünïcode/π.py", "x" * 1000, None, "a"]
    assert shard_ids(pa.array(values), 11).to_pylist() == [reference_shard(v, 11) for v in values]
    blobs = [b"\x00\xff", b"", None]
    assert shard_ids(pa.array(blobs, pa.binary()), 3).to_pylist() == [reference_shard(v, 3) for v in blobs]
    ints = [0, -5, 2**62, None]
    assert shard_ids(pa.array(ints, pa.int64()), 13).to_pylist() == [reference_shard(v, 13) for v in ints]
    assert shard_ids(pa.chunked_array([["a"], ["b"]]), 1).to_pylist() == [0, 0]


def _assignment(folder: Path, shards: int, key: str) -> dict[Any, int]:
    return {
        v: i
        for i in range(shards)
        for v in pq.read_table(folder / f"part-{i:05d}.parquet").column(key).to_pylist()
    }


def test_the_assignment_is_identical_across_runs_and_processes(store: Store, tmp_path: Path) -> None:
    export(store, tmp_path / "a", format="parquet", shards=4, tables=["calls"])
    code = (
        "import sys; from codequarry.store import Store; from codequarry.store.export import export; "
        "export(Store.open(sys.argv[1]), sys.argv[2], format='parquet', shards=4, tables=['calls'])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's own str hash would change with this
    subprocess.run(
        [sys.executable, "-c", code, str(store.path), str(tmp_path / "b")], check=True, env=env, timeout=120
    )
    a, b = _assignment(tmp_path / "a" / "calls", 4, "path"), _assignment(tmp_path / "b" / "calls", 4, "path")
    assert a == b and len(a) > 1
    for i in range(4):  # same rows in the same order: the files are interchangeable
        name = f"part-{i:05d}.parquet"
        assert pq.read_table(tmp_path / "a" / "calls" / name).equals(
            pq.read_table(tmp_path / "b" / "calls" / name)
        )


def test_empty_shards_still_get_a_file_with_the_schema(store: Store, tmp_path: Path) -> None:
    export(store, tmp_path / "out", format="parquet", shards=40, tables=["modules"])
    parts = [pq.read_table(tmp_path / "out" / "modules" / f"part-{i:05d}.parquet") for i in range(40)]
    assert any(p.num_rows == 0 for p in parts)
    assert all(p.schema.equals(table(store, "modules").schema) for p in parts)
    assert sum(p.num_rows for p in parts) == table(store, "modules").num_rows


def test_many_shards_are_written_in_passes_and_small_buffers_flush(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export(store, tmp_path / "once", format="parquet", shards=7, tables=["calls"])
    monkeypatch.setattr(export_parquet, "MAX_OPEN_SHARDS", 3)
    monkeypatch.setattr(export_parquet, "ROW_GROUP_ROWS", 50)
    monkeypatch.setattr(export_parquet, "BUFFER_BYTES", 10_000)
    seen: list[tuple[str, int, int]] = []
    export(
        store,
        tmp_path / "passes",
        format="parquet",
        shards=7,
        tables=["calls"],
        progress=lambda *a: seen.append(a),
    )
    for i in range(7):
        name = f"part-{i:05d}.parquet"
        assert pq.read_table(tmp_path / "passes" / "calls" / name).equals(
            pq.read_table(tmp_path / "once" / "calls" / name)
        )
    metas = [
        pq.ParquetFile(tmp_path / "passes" / "calls" / f"part-{i:05d}.parquet").metadata for i in range(7)
    ]
    biggest = max(metas, key=lambda m: m.num_rows)
    assert biggest.num_row_groups > 1
    assert all(biggest.row_group(i).num_rows <= 50 for i in range(biggest.num_row_groups))
    rows = table(store, "calls").num_rows
    assert seen[-1] == ("calls", rows, rows)
    assert [s[1] for s in seen] == sorted(s[1] for s in seen)


def test_huggingface_datasets_loads_the_shards(store: Store, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    export(store, tmp_path / "out", format="parquet", shards=3, tables=["functions"])
    loaded = datasets.load_dataset(
        "parquet", data_dir=str(tmp_path / "out" / "functions"), cache_dir=str(tmp_path / "hf")
    )
    train = loaded["train"]
    assert train.num_rows == table(store, "functions").num_rows
    assert canonical(train.to_list()) == canonical(published(store, "functions"))


def test_a_table_without_rows_exports_its_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0 rows: one Parquet file per shard with the table's schema and no row group (a row group of 0
    rows would make `datasets` fail with "BatchSize must be greater than 0")."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = tmp_path / "tree"
    src.mkdir()
    (src / "a.py").write_text("def f():\n    return 1\n")
    st = Store.create(tmp_path / "store")
    extract(make_plan([src], store=st.path, workers=1, select=["python.core"]))
    assert table(st, "classes").num_rows == 0
    export(st, tmp_path / "out", format="parquet", shards=2, tables=["classes", "functions"])
    for part in sorted((tmp_path / "out" / "classes").iterdir()):
        meta = pq.ParquetFile(part).metadata
        assert (meta.num_rows, meta.num_row_groups) == (0, 0)
        assert pq.read_schema(part).equals(table(st, "classes").schema)
    loaded = datasets.load_dataset(
        "parquet", data_dir=str(tmp_path / "out" / "classes"), streaming=True, cache_dir=str(tmp_path / "hf")
    )
    assert list(loaded["train"]) == []
    assert set(loaded["train"].features) == set(table(st, "classes").column_names)
    # beside an empty shard, a table with rows loads whole without streaming
    full = datasets.load_dataset(
        "parquet", data_dir=str(tmp_path / "out" / "functions"), cache_dir=str(tmp_path / "hf")
    )
    assert full["train"].num_rows == 1
    assert any(pq.ParquetFile(p).metadata.num_rows == 0 for p in (tmp_path / "out" / "functions").iterdir())


# -- JSON lines -----------------------------------------------------------------------------------
def test_jsonl_round_trips_every_table(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = export(store, out, format="jsonl")
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, *(f"{n}.jsonl" for n in TABLES)])
    for name in TABLES:
        text = (out / f"{name}.jsonl").read_text(encoding="utf-8")
        assert text.endswith("\n")
        rows = [json.loads(line) for line in text.splitlines()]
        assert canonical(rows) == canonical(published(store, name)), name
        assert list(rows[0]) == table(store, name).column_names  # keys in the schema's order
        assert summary.tables[name].rows == len(rows)
    raw = (out / "functions.jsonl").read_text(encoding="utf-8")
    assert "grüß" in raw  # UTF-8, not \u escapes
    greet = next(json.loads(x) for x in raw.splitlines() if '"greek.py"' in x and '"grüß"' in x)
    assert greet["parameters"][0] == {
        "name": "name",
        "kind": "positional_or_keyword",
        "annotation": "str",
        "has_default": True,
        "default": "'wörld'",
    }


def test_json_values_that_json_lacks(tmp_path: Path) -> None:
    import datetime as dt

    assert export_jsonl.json_default(b"\x00\xff") == base64.b64encode(b"\x00\xff").decode()
    assert export_jsonl.json_default(dt.date(2024, 1, 2)) == "2024-01-02"
    odd = {"a": [float("nan"), 1.5], "b": float("inf")}
    assert export_jsonl.finite(odd) == {"a": [None, 1.5], "b": None}


# -- SQLite ---------------------------------------------------------------------------------------
def test_sqlite_round_trips_every_table_with_types_and_indexes(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "quarry.db"
    summary = export(store, out, format="sqlite")
    assert summary.files == [out] and summary.bytes == out.stat().st_size
    con = sqlite3.connect(out)
    con.row_factory = sqlite3.Row
    for name in TABLES:
        arrow = table(store, name)
        nested = {f.name for f in arrow.schema if pa.types.is_nested(f.type)}
        booleans = {f.name for f in arrow.schema if pa.types.is_boolean(f.type)}
        rows = []
        for r in con.execute(f'SELECT * FROM "{name}"'):
            row = dict(r)
            for c in nested:
                row[c] = json.loads(row[c]) if row[c] is not None else None
            for c in booleans:
                row[c] = None if row[c] is None else bool(row[c])
            rows.append(row)
        assert canonical(rows) == canonical(arrow.to_pylist()), name
    types = {r["name"]: (r["type"], r["notnull"]) for r in con.execute("PRAGMA table_info(functions)")}
    assert types["line"] == ("INTEGER", 1) and types["is_async"] == ("INTEGER", 1)
    assert types["parameters"] == ("TEXT", 1) and types["docstring"] == ("TEXT", 0)
    indexes = {
        (r["tbl_name"], r["sql"])
        for r in con.execute("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index'")
    }
    for name in TABLES:
        assert (name, f'CREATE INDEX "{name}_path" ON "{name}" (path)') in indexes
        assert (name, f'CREATE INDEX "{name}_repo_path" ON "{name}" (repo, path)') in indexes
    plan = " ".join(
        str(tuple(r))
        for r in con.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM functions WHERE repo = 'tree' AND path = 'greek.py'"
        )
    )
    assert "functions_repo_path" in plan
    meta = json.loads(con.execute("SELECT meta FROM _quarry_export").fetchone()[0])
    assert meta["snapshot"] == snapshot_id(store)
    assert meta["tables"]["calls"]["rows"] == table(store, "calls").num_rows
    # nested columns are JSON that SQLite itself can query
    first = con.execute("SELECT json_extract(parameters, '$[0].name') FROM functions WHERE name = 'grüß'")
    assert first.fetchone()[0] == "name"
    con.close()


def test_a_failed_sqlite_export_leaves_the_previous_database_and_no_temp_file(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "quarry.sqlite"
    export(store, out, format="sqlite", tables=["files"])
    before = out.read_bytes()

    def fail(name: str, done: int, total: int) -> None:
        if name == "functions":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(store, out, format="sqlite", tables=["files", "functions"], progress=fail)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quarry.sqlite"]
    with pytest.raises(KeyboardInterrupt):
        export(store, tmp_path / "new.db", format="sqlite", progress=fail)
    assert not (tmp_path / "new.db").exists()
    export(store, out, format="sqlite", tables=["functions"])  # a previous export is updated: files stays
    con = sqlite3.connect(out)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert names == {"files", "functions", "_quarry_export"}


# -- overwriting and interruption -----------------------------------------------------------------
def test_a_previous_export_is_replaced_table_by_table_and_its_other_tables_kept(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export(store, out, format="parquet", shards=2, tables=["calls", "files", "functions"])
    calls = {p.name: p.read_bytes() for p in (out / "calls").iterdir()}
    (out / "README.md").write_text("notes kept by the user")
    export(store, out, format="parquet", shards=3, tables=["functions", "files"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "README.md", "calls", "files", "functions"]
    )
    assert len(list((out / "functions").iterdir())) == 3
    assert {p.name: p.read_bytes() for p in (out / "calls").iterdir()} == calls  # not written: untouched
    export(store, out, format="jsonl", tables=["modules", "functions"])  # functions changes form
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "README.md", "calls", "files", "modules.jsonl", "functions.jsonl"]
    )
    export(store, out, format="parquet", tables=["functions"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "README.md", "calls", "files", "modules.jsonl", "functions"]
    )
    marker = json.loads((out / MARKER).read_text())
    assert marker["complete"] is True
    assert {n: t["format"] for n, t in marker["tables"].items()} == {
        "calls": "parquet",
        "files": "parquet",
        "functions": "parquet",
        "modules": "jsonl",
    }
    assert marker["tables"]["calls"]["shards"] == 2 and marker["tables"]["files"]["shards"] == 3
    assert (out / "README.md").read_text() == "notes kept by the user"


def test_files_an_export_did_not_write_are_never_touched(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(store, out, format="parquet", tables=["functions"])
    (out / "calls").mkdir()
    (out / "calls" / "mine.parquet").write_bytes(b"the user's own")
    (out / "files.jsonl").write_text("the user's own\n")
    (out / "functions" / "notes.txt").write_text("added by hand")
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for tables, fmt, culprit in [
        (["calls"], "parquet", "calls"),
        (["files"], "jsonl", "files.jsonl"),
        (["files"], "parquet", "files.jsonl"),
        (["functions"], "parquet", "notes.txt"),
        (["modules", "calls"], "parquet", "calls"),
    ]:
        with pytest.raises(UsageError, match=f"{culprit}' was not written by a codequarry export"):
            export(store, out, format=fmt, tables=tables)  # type: ignore[arg-type]
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not (out / "modules").exists()  # refused before the first table was written


def test_an_interrupted_parquet_export_leaves_only_complete_tables(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(store, out, format="parquet", shards=2, tables=["calls", "functions"])
    before = {p.name: p.read_bytes() for p in (out / "functions").iterdir()}

    def die(name: str, done: int, total: int) -> None:
        if name == "functions":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(store, out, format="parquet", shards=3, tables=["calls", "functions"], progress=die)
    # calls was finished and swapped in; functions is still the previous, complete one
    assert len(list((out / "calls").iterdir())) == 3
    assert {p.name: p.read_bytes() for p in (out / "functions").iterdir()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert json.loads((out / MARKER).read_text())["complete"] is False
    export(store, out, format="parquet", shards=3, tables=["calls", "functions"])  # the next one recovers
    assert json.loads((out / MARKER).read_text())["complete"] is True
    assert len(list((out / "functions").iterdir())) == 3

    # a killed export still knows every table it may have written: the next export may replace them
    with pytest.raises(KeyboardInterrupt):
        export(store, out, format="parquet", tables=["modules", "functions"], progress=die)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "calls", "functions", "modules"])
    export(store, out, format="parquet", tables=["files"])
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "calls", "files", "functions", "modules"])
    export(store, out, format="jsonl", tables=["modules", "functions"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "calls", "files", "functions.jsonl", "modules.jsonl"]
    )


def test_leftovers_of_a_killed_export_are_cleaned_up(store: Store, tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    out = tmp_path / "out"
    export(store, out, format="jsonl", tables=["files"])
    (out / f".quarry-tmp-{dead}-files.jsonl").write_text("{half")
    (out / f".quarry-tmp-{dead}-calls").mkdir()
    (out / f".quarry-old-{dead}-calls").mkdir()
    (out / f".quarry-tmp-{os.getppid()}-calls").mkdir()  # a live process's: maybe an export running now
    export(store, out, format="jsonl", tables=["files"])
    alive = f".quarry-tmp-{os.getppid()}-calls"
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "files.jsonl", alive])
    (tmp_path / f".quarry.db.quarry-tmp-{dead}").write_bytes(b"half")
    export(store, tmp_path / "quarry.db", format="sqlite", tables=["files"])
    assert not (tmp_path / f".quarry.db.quarry-tmp-{dead}").exists()


# -- refusals -------------------------------------------------------------------------------------
def test_a_folder_that_is_not_an_export_is_never_written(store: Store, tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    for fmt in ("parquet", "jsonl"):
        with pytest.raises(UsageError, match="non-empty folder that is not a codequarry export"):
            export(store, tmp_path, format=fmt)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="is a folder"):
        export(store, tmp_path, format="sqlite")
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]
    with pytest.raises(UsageError, match="is a file"):
        export(store, tmp_path / "precious.txt", format="parquet")
    with pytest.raises(UsageError, match="not a codequarry SQLite export"):
        export(store, tmp_path / "precious.txt", format="sqlite")
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    with pytest.raises(UsageError, match="inside the store"):
        export(store, store.path / "export", format="parquet")
    export(store, tmp_path / "empty", format="jsonl", tables=["files"])  # new folders are fine
    (tmp_path / "empty2").mkdir()
    export(store, tmp_path / "empty2", format="jsonl", tables=["files"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "parquet", "shards": 0}, "--shards must be a whole number of at least 1, not 0"),
        ({"format": "parquet", "shards": -2}, "at least 1"),
        ({"format": "jsonl", "shards": 2}, "apply to --format parquet only"),
        ({"format": "sqlite", "key": "path"}, "apply to --format parquet only"),
        ({"format": "csv"}, "unknown export format 'csv'"),
        ({"format": "jsonl", "tables": []}, "no tables to export"),
        ({"format": "parquet", "tables": ["fuctions"]}, "no table 'fuctions' .* Did you mean 'functions'"),
        ({"format": "parquet", "tables": ["zzz"]}, "no table 'zzz' .* Tables: assignments, calls"),
        (
            {"format": "parquet", "key": "qualname"},
            "table 'assignments' has no key column 'qualname'.* Its columns: repo, path",
        ),
        (
            {"format": "parquet", "key": "parameters", "tables": ["functions"]},
            "type list.*choose a string or integer",
        ),
    ],
)
def test_bad_options_are_refused_with_one_line(
    store: Store, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message) as info:
        export(store, tmp_path / "out", **options)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_store_without_a_snapshot_is_refused(tmp_path: Path) -> None:
    empty = Store.create(tmp_path / "store")
    with pytest.raises(StoreError, match="no published snapshot"):
        export(empty, tmp_path / "out", format="parquet")


def test_only_the_published_snapshot_is_exported(store: Store, tmp_path: Path) -> None:
    """A commit that no snapshot names (a run still writing, or killed) is not exported."""
    from codequarry.store.writer import open_table

    # a copy, so that the module's store stays untouched
    copy = Store.open(shutil.copytree(store.path, tmp_path / "store"))
    files = open_table(copy.table_path("files"))
    assert files is not None
    files.delete("path = 'greek.py'")  # committed, never published
    assert files.version() > published_version(copy, "files")
    export(copy, tmp_path / "out", format="jsonl", tables=["files"])
    paths = [json.loads(x)["path"] for x in (tmp_path / "out" / "files.jsonl").read_text().splitlines()]
    assert "greek.py" in paths
    assert sorted(paths) == sorted(sql(copy, "SELECT path FROM files").column("path").to_pylist())


# -- a real corpus --------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_standard_library_exports_in_every_format(stdlib_store: Path, tmp_path: Path) -> None:
    """The store is tests/conftest.py's one extract of the stdlib, shared with tests/test_stdlib.py:
    exporting only reads it."""
    stdlib = Store.open(stdlib_store)
    counts = {n: sql(stdlib, f"SELECT count(*) AS n FROM {n}").column("n")[0].as_py() for n in TABLES}
    assert counts["calls"] > 100_000
    snap = stdlib.snapshot()
    assert snap is not None and {n: snap.tables[n].rows for n in TABLES} == counts

    parquet = export(stdlib, tmp_path / "parquet", format="parquet", shards=8)
    for name, n in counts.items():
        assert parquet.tables[name].rows == n
        assert read_parquet_folder(tmp_path / "parquet" / name).num_rows == n
    jsonl = export(stdlib, tmp_path / "jsonl", format="jsonl")
    for name, n in counts.items():
        with open(tmp_path / "jsonl" / f"{name}.jsonl", encoding="utf-8") as fh:
            assert sum(1 for _ in fh) == n == jsonl.tables[name].rows
    export(stdlib, tmp_path / "quarry.db", format="sqlite")
    con = sqlite3.connect(tmp_path / "quarry.db")
    for name, n in counts.items():
        assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == n
    con.close()


def test_the_export_command(store: Store, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "ds"
    q = [sys.executable, "-m", "codequarry"]
    done = subprocess.run(
        [
            *q,
            "export",
            str(out),
            "--store",
            str(store.path),
            "--shards",
            "3",
            "--key",
            "name",
            "--table",
            "functions",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["tables"]["functions"]["rows"] > 0
    assert sorted(p.name for p in (out / "functions").iterdir()) == [
        f"part-{i:05d}.parquet" for i in range(3)
    ]
    bad = subprocess.run(
        [*q, "export", str(tmp_path / "x"), "--store", str(store.path), "-f", "jsonl", "--shards", "2"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "parquet only" in bad.stderr


def test_a_sqlite_export_replaces_only_its_tables(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "quarry.db"
    export(store, out, format="sqlite", tables=["functions", "files"])
    export(store, out, format="sqlite", tables=["modules", "files"])
    con = sqlite3.connect(out)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts = {
        n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in ("functions", "files", "modules")
    }
    meta = json.loads(con.execute("SELECT meta FROM _quarry_export").fetchone()[0])
    con.execute("CREATE TABLE classes (mine TEXT)")  # the user's own table, named like a store table
    con.commit()
    con.close()
    assert names == {"functions", "files", "modules", "_quarry_export"}
    assert counts == {n: table(store, n).num_rows for n in counts}
    assert sorted(meta["tables"]) == ["files", "functions", "modules"]
    export(store, out, format="sqlite", tables=["calls"])  # the user's table is kept
    before = out.read_bytes()
    with pytest.raises(UsageError, match="table 'classes' of .* was not written by a codequarry export"):
        export(store, out, format="sqlite", tables=["calls", "classes"])
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    con = sqlite3.connect(out)
    assert con.execute("SELECT name FROM pragma_table_info('classes')").fetchall() == [("mine",)]
    con.close()

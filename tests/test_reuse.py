"""Pay once per unique content (reuse.py): a file whose bytes were already extracted is not parsed
again, and its rows are copied with the new provenance. The judge is always a store built without
reuse (QUARRY_REUSE=0) or a fresh extract of one repo alone: every table, sorted, provenance
(repo, path, sha256, mtime_ns) included."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store
from codequarry.query import table
from codequarry.repos import remove_repo
from tests import paths
from tests.storedump import dump

TREES = ["routes/flask_app", "routes/django_project", "models/django", "models/testsuite"]


def file_tables(store: Path, repo: str) -> dict[str, list[str]]:
    """The tables the file extractors wrote for ``repo`` (its rows only). Derived tables are left out:
    operations such as the ORM models resolve classes across repos, so a repo next to its copy can
    derive other rows than the same repo alone, with or without reuse."""
    snap = open_store(store).snapshot()
    assert snap is not None
    written = {t for tables in snap.run["outputs"][repo].values() for t in tables} | {"errors"}
    return {k: v for k, v in dump(store, repo).items() if k in written}


def python_files(store: Path, repo: str) -> int:
    """Files of ``repo`` that parsed as Python (each has a modules row)."""
    return sum(1 for r in table(open_store(store), "modules").to_pylist() if r["repo"] == repo)


def make_repo(root: Path) -> Path:
    """A tree with Python of every kind the default selection reads, files of other languages, a
    syntax error, empty package markers and two copies of one script in non-package folders."""
    for rel in TREES:
        shutil.copytree(paths.FIXTURES / rel, root / rel.replace("/", "_"))
    shutil.copytree(paths.FIXTURES / "treesitter", root / "ts", dirs_exist_ok=True)
    (root / "broken.py").write_text("def f(:\n    pass\n")
    for folder in ("tools/one", "tools/two"):  # same module name 'helper': one parse serves both
        (root / folder).mkdir(parents=True)
        (root / folder / "helper.py").write_text(
            "import os\n\ndef helper(x):\n    return os.path.join(x, 'a')\n"
        )
    for pkg in ("pkg_a", "pkg_b"):  # same (empty) bytes, different module names: both parsed
        (root / pkg).mkdir()
        (root / pkg / "__init__.py").write_text("")
        (root / pkg / "mod.py").write_text("from . import sibling\n\ndef run():\n    return sibling.go()\n")
    return root


def run(sources: list[Path], store: Path, *, reuse: bool = True, repo: str | None = None) -> object:
    old = os.environ.get("QUARRY_REUSE")
    os.environ["QUARRY_REUSE"] = "1" if reuse else "0"
    try:
        return extract(make_plan(sources, store=store, workers=1, repo=repo))
    finally:
        if old is None:
            del os.environ["QUARRY_REUSE"]
        else:
            os.environ["QUARRY_REUSE"] = old


@pytest.fixture()
def trees(tmp_path: Path) -> tuple[Path, Path]:
    a = make_repo(tmp_path / "corpus" / "alpha")
    b = tmp_path / "corpus" / "beta"
    shutil.copytree(a, b)  # copy2: the same mtimes, another repo name
    return a, b


def test_one_run_with_copies_equals_a_run_without_reuse(trees: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = trees
    with_reuse = run([a, b], tmp_path / "reuse")
    without = run([a, b], tmp_path / "plain", reuse=False)
    assert with_reuse.reused > 0 and without.reused == 0  # type: ignore[attr-defined]
    assert with_reuse.files_parsed < without.files_parsed  # type: ignore[attr-defined]
    # beta is a whole copy: none of its parsed files is parsed again; alpha's two helper.py share one
    assert with_reuse.reused >= python_files(tmp_path / "reuse", "beta") + 1  # type: ignore[attr-defined]
    assert dump(tmp_path / "reuse") == dump(tmp_path / "plain")


def test_a_later_copy_reuses_the_store_and_equals_a_fresh_extract(
    trees: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = trees
    store = tmp_path / "store"
    run([a], store)
    second = run([b], store)
    assert second.files_parsed == 0  # type: ignore[attr-defined]
    # every parsed file (the syntax error has no modules row to vouch for its module name)
    assert second.reused >= python_files(store, "beta")  # type: ignore[attr-defined]
    fresh = tmp_path / "fresh"
    run([b], fresh, reuse=False)
    assert file_tables(store, "beta") == file_tables(fresh, "beta")
    plain = tmp_path / "plain"
    run([a], plain, reuse=False)
    run([b], plain, reuse=False)
    assert dump(store) == dump(plain)


def test_an_edit_in_the_copy_then_its_revert(trees: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = trees
    store, plain = tmp_path / "store", tmp_path / "plain"
    for s in (store, plain):
        run([a, b], s, reuse=s == store)
    target = b / "routes_flask_app" / "shop" / "app.py"
    original = target.read_bytes()
    target.write_bytes(original + b"\n\n@app.route('/x')\ndef x():\n    return 'x'\n")
    edited = run([b], store)
    assert edited.files_parsed == 1 and edited.reused == 0  # type: ignore[attr-defined]
    run([b], plain, reuse=False)
    assert dump(store) == dump(plain)
    target.write_bytes(original)
    reverted = run([b], store)
    assert reverted.files_parsed == 0 and reverted.reused == 1  # type: ignore[attr-defined]
    run([b], plain, reuse=False)
    assert dump(store) == dump(plain)


def test_removing_one_copy_keeps_the_others(trees: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = trees
    store, fresh = tmp_path / "store", tmp_path / "fresh"
    run([a, b], store)
    remove_repo(open_store(store), "alpha")
    run([b], fresh, reuse=False)
    assert file_tables(store, "beta") == file_tables(fresh, "beta")
    # deleting the copy's files from disk drops only that repo's rows
    run([a], store)
    shutil.rmtree(b / "routes_flask_app")
    run([b], store)
    plain = tmp_path / "plain"
    run([a], plain, reuse=False)
    assert dump(store, "alpha") == dump(plain, "alpha")


def test_equal_size_different_bytes_are_never_shared(tmp_path: Path) -> None:
    """The key is the manifest's sha256 (checked against hashlib here), never size or name alone."""
    a, b = tmp_path / "c" / "a", tmp_path / "c" / "b"
    for root, body in ((a, "def f():\n    return 1\n"), (b, "def g():\n    return 2\n")):
        root.mkdir(parents=True)
        (root / "m.py").write_text(body)
        os.utime(root / "m.py", ns=(10**18, 10**18))
    store = tmp_path / "store"
    run([a], store)
    second = run([b], store)
    assert second.reused == 0 and second.files_parsed == 1  # type: ignore[attr-defined]
    rows = {r["repo"]: r["sha256"] for r in table(open_store(store), "files").to_pylist()}
    assert rows["b"] == hashlib.sha256((b / "m.py").read_bytes()).hexdigest() != rows["a"]
    names = sorted(r["name"] for r in table(open_store(store), "functions").to_pylist())
    assert names == ["f", "g"]


def test_a_leader_changed_under_the_run_is_not_copied(trees: tuple[Path, Path], tmp_path: Path) -> None:
    """alpha's file is edited after the parent hashed it and before the worker read it: beta's copy
    must not take the edited rows; it is extracted itself."""
    a, b = trees
    store, flag = tmp_path / "store", tmp_path / "pause.flag"
    env = {**os.environ, "QUARRY_PAUSE_AT": "execute", "QUARRY_PAUSE_FILE": str(flag), "QUARRY_REUSE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "codequarry",
        "extract",
        str(a),
        str(b),
        "--store",
        str(store),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (a / "routes_flask_app" / "shop" / "app.py").write_text("def replaced():\n    return 0\n")
    flag.unlink()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    fresh = tmp_path / "fresh"
    run([b], fresh, reuse=False)
    assert file_tables(store, "beta") == file_tables(fresh, "beta")


def test_sources_in_a_compacted_store(trees: tuple[Path, Path], tmp_path: Path) -> None:
    """Stored rows are found in parts that `quarry compact` rewrote (z-ordered, other names)."""
    from codequarry.store.maintenance import compact

    a, b = trees
    store, fresh = tmp_path / "store", tmp_path / "fresh"
    run([a], store)
    compact(open_store(store))
    second = run([b], store)
    assert second.files_parsed == 0 and second.reused >= python_files(store, "beta")  # type: ignore[attr-defined]
    run([b], fresh, reuse=False)
    assert file_tables(store, "beta") == file_tables(fresh, "beta")


def test_a_small_run_skips_the_lookup_in_a_big_store(
    trees: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One new file against a store of many: the manifest is not read to find its twin (LOOKUP_ROWS);
    it is parsed, and the rows are the same."""
    import codequarry.reuse

    a, _b = trees
    store = tmp_path / "store"
    run([a], store)
    lone = tmp_path / "corpus" / "lone"
    lone.mkdir()
    shutil.copy2(a / "tools" / "one" / "helper.py", lone / "helper.py")
    monkeypatch.setattr(codequarry.reuse, "LOOKUP_ROWS", 1)
    skipped = run([lone], store)
    assert (skipped.files_parsed, skipped.reused) == (1, 0)  # type: ignore[attr-defined]
    monkeypatch.setattr(codequarry.reuse, "LOOKUP_ROWS", 1000)
    other = tmp_path / "corpus" / "other"
    shutil.copytree(lone, other)
    looked = run([other], store)
    assert (looked.files_parsed, looked.reused) == (0, 1)  # type: ignore[attr-defined]
    fresh = tmp_path / "fresh"
    run([lone], fresh, reuse=False)
    run([other], fresh, reuse=False)
    assert file_tables(store, "lone") == file_tables(fresh, "lone")
    assert file_tables(store, "other") == file_tables(fresh, "other")


def test_the_copy_reads_its_sources_in_batches_bounded_by_their_bytes(
    trees: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent's memory in the copy is one batch of sources' rows (at most SOURCE_BYTES of their
    content, or one bigger source alone) and one part of copies (PART_ROWS), whatever the corpus:
    with tiny bounds, many batches and parts, of this run's leaders and of stored sources, give
    exactly the rows of a run without reuse."""
    from codequarry import reuse

    a, b = trees
    c = tmp_path / "corpus" / "gamma"
    shutil.copytree(a, c)
    sizes = sorted(p.stat().st_size for p in a.rglob("*.py"))
    monkeypatch.setattr(reuse, "SOURCE_BYTES", sizes[len(sizes) // 2] * 3)
    monkeypatch.setattr(reuse, "PART_ROWS", 7)
    bound = reuse.SOURCE_BYTES
    held: dict[str, list[int]] = {}  # table -> bytes of the sources' content per read (each up to the bound)
    real = reuse._read_sources

    def read(store: Any, table: str, parts: Any, batch: list[tuple[str, str]], *rest: Any) -> Any:
        size = sum(min(bound, (a.parent / repo / path).stat().st_size) for repo, path in batch)
        held.setdefault(table, []).append(size)
        return real(store, table, parts, batch, *rest)

    monkeypatch.setattr(reuse, "_read_sources", read)
    store, plain = tmp_path / "store", tmp_path / "plain"
    assert run([a, b], store).reused > 0  # type: ignore[attr-defined]
    assert run([c], store).reused > 0  # type: ignore[attr-defined]  (its sources are stored)
    run([a, b], plain, reuse=False)
    run([c], plain, reuse=False)
    reads = held["calls"]
    assert len(reads) > 2  # several batches in each run
    assert max(reads) <= bound
    assert dump(store) == dump(plain)


def test_the_copies_key_records_are_their_parts_keys_grouped_by_their_writer(
    trees: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copies' parts carry their keys by repo (parts.RepoKeys, made from the followers): the
    run's writer keeps them as they are and the key record takes that grouping; the record of every
    table names exactly the (repo, path) pairs of each part's rows."""
    import json

    import pyarrow.parquet as pq

    from codequarry.parts import RepoKeys
    from codequarry.store import keyindex

    grouped: list[RepoKeys] = []
    of = keyindex.IndexedPart.of.__func__  # type: ignore[attr-defined]

    def spy(cls: type, size: int, mtime: int, rows: int, keys: frozenset[tuple[str, str]]) -> object:
        if isinstance(keys, RepoKeys):
            grouped.append(keys)
        return of(cls, size, mtime, rows, keys)

    monkeypatch.setattr(keyindex.IndexedPart, "of", classmethod(spy))
    a, b = trees
    store = tmp_path / "reuse"
    assert run([a, b], store).reused > 0  # type: ignore[attr-defined]
    assert grouped
    # every pair is one tuple, shared by the file's keys in every table's parts (the run's writer
    # keeps them as they are)
    one: dict[tuple[str, str], tuple[str, str]] = {}
    assert all(one.setdefault(pair, pair) is pair for k in grouped for pair in k)
    assert all(k == {(r, p) for r, ps in k.by_repo.items() for p in ps} for k in grouped)
    assert {r for k in grouped for r in k.by_repo} == {"alpha", "beta"}  # alpha: its second helper.py
    checked = 0
    for record in sorted((store / "keys").glob("*.json")):
        for rel, part in json.loads(record.read_text())["parts"].items():
            rows = pq.read_table(store / "tables" / record.stem / rel, columns=["repo", "path"])
            pairs = set(zip(rows.column("repo").to_pylist(), rows.column("path").to_pylist(), strict=True))
            assert pairs == {(r, p) for r, ps in part["keys"].items() for p in ps}
            assert all(ps == sorted(ps) for ps in part["keys"].values())
            checked += 1
    assert checked

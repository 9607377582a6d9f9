"""Hard links are read once by the parent's read pass (manifest_rows._Links): another name of a file
already read takes its sha256 (or its manifest row's facts) by device, inode, size, mtime and ctime.
What must hold: every name gets the digest of its own bytes, two different files never share one
(not even with equal size and mtime), and the store equals a run without reuse."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from codequarry import extract, make_plan
from codequarry.engine.worker import FileTask
from codequarry.manifest_rows import read_pass
from tests.storedump import dump


def _task(key: int, root: Path, path: str, language: str | None = "python") -> FileTask:
    st = (root / path).stat()
    return FileTask(key, root.name, str(root), path, st.st_size, st.st_mtime_ns, language)


def test_links_share_a_digest_and_different_files_with_equal_size_and_mtime_do_not(tmp_path: Path) -> None:
    roots = [tmp_path / f"r{i}" for i in range(3)]
    for r in roots:
        r.mkdir()
    (roots[0] / "a.py").write_bytes(b"x = 1\n")
    os.link(roots[0] / "a.py", roots[1] / "a.py")  # one file, two names
    (roots[2] / "a.py").write_bytes(b"x = 2\n")  # another file: same size, same mtime below
    st = (roots[0] / "a.py").stat()
    os.utime(roots[2] / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    (roots[0] / "data.bin").write_bytes(b"\x00\x01" * 100)
    os.link(roots[0] / "data.bin", roots[1] / "data.bin")
    tasks = [_task(i, r, "a.py") for i, r in enumerate(roots)]
    only = [_task(10 + i, r, "data.bin", None) for i, r in enumerate(roots[:2])]
    hashes, read = read_pass(tasks, only, 1 << 20)
    assert hashes == {
        0: hashlib.sha256(b"x = 1\n").hexdigest(),
        1: hashlib.sha256(b"x = 1\n").hexdigest(),
        2: hashlib.sha256(b"x = 2\n").hexdigest(),
    }
    want = hashlib.sha256(b"\x00\x01" * 100).hexdigest()
    assert [read[10].sha256, read[11].sha256] == [want, want]
    assert read[10] == read[11]
    # written through one name after the pass: the next pass reads the new bytes under both names
    (roots[1] / "a.py").write_bytes(b"x = 3\n")
    tasks = [_task(i, r, "a.py") for i, r in enumerate(roots[:2])]
    hashes, _ = read_pass(tasks, [], 1 << 20)
    assert set(hashes.values()) == {hashlib.sha256(b"x = 3\n").hexdigest()}


def _run(roots: list[Path], store: Path, reuse: bool) -> object:
    old = os.environ.get("QUARRY_REUSE")
    os.environ["QUARRY_REUSE"] = "1" if reuse else "0"
    try:
        return extract(make_plan(roots, store=store, workers=1))
    finally:
        if old is None:
            del os.environ["QUARRY_REUSE"]
        else:
            os.environ["QUARRY_REUSE"] = old


def test_hard_linked_copies_store_the_same_rows_as_a_run_without_reuse(tmp_path: Path) -> None:
    first = tmp_path / "src" / "alpha"
    (first / "pkg").mkdir(parents=True)
    (first / "pkg" / "__init__.py").write_text("")
    for i in range(6):
        (first / "pkg" / f"m{i}.py").write_text(f"import os\n\n\ndef f{i}(x):\n    return os.sep * {i} + x\n")
    (first / "pkg" / "notes.txt").write_text("plain text\n" * 40)
    repos = [first]
    for name in ("beta", "gamma"):
        dst = tmp_path / "src" / name
        for folder, _dirs, files in os.walk(first):
            rel = Path(folder).relative_to(first)
            (dst / rel).mkdir(parents=True, exist_ok=True)
            for f in files:
                os.link(Path(folder) / f, dst / rel / f)
        repos.append(dst)
    (repos[2] / "pkg" / "m0.py").unlink()  # one name replaced by other bytes: its own rows
    (repos[2] / "pkg" / "m0.py").write_text("def g():\n    return 0\n")
    with_reuse = _run(repos, tmp_path / "reuse", True)
    without = _run(repos, tmp_path / "plain", False)
    assert with_reuse.reused >= 10  # type: ignore[attr-defined]
    assert with_reuse.files_parsed < without.files_parsed  # type: ignore[attr-defined]
    assert dump(tmp_path / "reuse") == dump(tmp_path / "plain")


def test_files_over_max_file_size_are_read_once_and_their_rows_equal_a_run_without_reuse(
    tmp_path: Path,
) -> None:
    """A file over --max-file-size is a candidate too (the worker hashes it and writes its too_large
    errors row): one copy is read, the others take its files and errors rows, and the summary still
    counts every copy as skipped."""
    roots = [tmp_path / "src" / n for n in ("one", "two", "three")]
    for i, r in enumerate(roots):
        (r / "lib").mkdir(parents=True)
        (r / "lib" / "mod.py").write_text(f"X = {i}\n")  # no twins but the big file
    (roots[0] / "lib" / "big.a").write_bytes(b"!<arch>\n" + b"\x00\x01line\n" * 3000)
    os.link(roots[0] / "lib" / "big.a", roots[1] / "lib" / "big.a")
    (roots[2] / "lib" / "big.a").write_bytes((roots[0] / "lib" / "big.a").read_bytes())  # a real copy

    def run(store: Path, reuse: bool) -> object:
        old = os.environ.get("QUARRY_REUSE")
        os.environ["QUARRY_REUSE"] = "1" if reuse else "0"
        try:
            return extract(make_plan(roots, store=store, workers=1, max_file_size=4096))
        finally:
            if old is None:
                del os.environ["QUARRY_REUSE"]
            else:
                os.environ["QUARRY_REUSE"] = old

    with_reuse = run(tmp_path / "reuse", True)
    without = run(tmp_path / "plain", False)
    assert with_reuse.reused == 2  # type: ignore[attr-defined]
    assert with_reuse.skipped == without.skipped == {"too_large": 3}  # type: ignore[attr-defined]
    assert dump(tmp_path / "reuse") == dump(tmp_path / "plain")
    assert len(dump(tmp_path / "reuse")["errors"]) == 3


def test_an_extension_less_file_is_sniffed_once_per_inode(tmp_path: Path, monkeypatch: object) -> None:
    """The worklist reads the head of an extension-less file to tell its language (a shebang): once
    per hard-linked file, the other names taking that language by their lstat; a real copy is read."""
    import pytest

    from codequarry import worklist
    from codequarry.scan import SourceRoot, scan

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    roots = [tmp_path / n for n in ("a", "b", "c")]
    roots[0].mkdir()
    (roots[0] / "tool").write_text("#!/usr/bin/env python3\nprint(1)\n")
    (roots[0] / "data").write_bytes(b"\x00\x01 not a script\n")
    for r in roots[1:]:
        r.mkdir()
        os.link(roots[0] / "tool", r / "tool")
        os.link(roots[0] / "data", r / "data")
    (roots[2] / "data").unlink()
    (roots[2] / "data").write_text("#!/bin/sh\necho hi\n")  # other bytes under the same name
    reads: list[str] = []
    real = worklist.refine_read

    def counted(root: str, path: str, language: str | None) -> object:
        reads.append(f"{Path(root).name}/{path}")
        return real(root, path, language)

    monkeypatch.setattr(worklist, "refine_read", counted)
    manifest = scan([SourceRoot(repo=r.name, root=str(r)) for r in roots])
    tasks = {(t.repo, t.path): t.language for t in worklist.manifest_tasks(manifest)}
    assert tasks[("a", "tool")] == tasks[("b", "tool")] == tasks[("c", "tool")] == "python"
    assert tasks[("a", "data")] == tasks[("b", "data")] != tasks[("c", "data")] == "shell"
    assert sorted(reads) == ["a/data", "a/tool", "c/data"]


def test_the_copies_parts_record_the_keys_of_their_rows(tmp_path: Path) -> None:
    """The parts of copied rows carry the keys of their followers (not found again from their rows):
    the commit's key record of every part names exactly the (repo, path) pairs its rows hold."""
    import pyarrow.parquet as pq

    from codequarry.parts import _keys
    from codequarry.store.keyfile import path_of, read_record

    first = tmp_path / "src" / "one"
    (first / "pkg").mkdir(parents=True)
    (first / "pkg" / "__init__.py").write_text("")
    for i in range(5):
        (first / "pkg" / f"m{i}.py").write_text(f"def f{i}(x):\n    return len(x) + {i}\n")
    repos = [first]
    for name in ("two", "three"):
        dst = tmp_path / "src" / name
        (dst / "pkg").mkdir(parents=True)
        for f in (first / "pkg").iterdir():
            os.link(f, dst / "pkg" / f.name)
        repos.append(dst)
    store = tmp_path / "store"
    assert _run(repos, store, True).reused >= 10  # type: ignore[attr-defined]
    checked = 0
    for name in ("files", "functions", "modules"):
        record = read_record(path_of(store, name))
        for rel, part in record["parts"].items():
            got = _keys(pq.read_table(store / "tables" / name / rel, columns=["repo", "path"]))
            assert got == {(r, p) for r, ps in part["keys"].items() for p in ps}
            checked += 1
    assert checked >= 6

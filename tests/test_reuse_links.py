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

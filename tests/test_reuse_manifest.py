"""Files only the manifest reads get their ``files`` rows from the parent in bulk (manifest_rows.py),
not one worker task each; the store is the one the workers would have written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from codequarry import extract, make_plan, open_store
from codequarry.query import table
from tests.storedump import dump

MAX = 4096  # --max-file-size of these runs: one data file is over it


def _run(
    roots: list[Path], store: Path, reuse: bool, workers: int = 1, select: tuple[str, ...] = ()
) -> object:
    old = os.environ.get("QUARRY_REUSE")
    os.environ["QUARRY_REUSE"] = "1" if reuse else "0"
    try:
        return extract(make_plan(roots, store=store, workers=workers, max_file_size=MAX, select=select))
    finally:
        if old is None:
            del os.environ["QUARRY_REUSE"]
        else:
            os.environ["QUARRY_REUSE"] = old


def _tree(root: Path, salt: str = "") -> None:
    """A repo of many data files of every kind the manifest meets, and a little Python."""
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(f"def f(x):\n    return x  # {salt}\n")
    data = root / "data"
    data.mkdir()
    for i in range(60):
        (data / f"note{i}.txt").write_text(f"line {i}\n" * (i % 7) + ("no newline" if i % 2 else ""))
        (data / f"blob{i}.bin").write_bytes(bytes(range(256)) * (i % 3) + b"\0\x01\x02" * i)
        (data / f"cfg{i}.json").write_text(json.dumps({"i": i, "salt": salt}))
    (data / "empty.dat").write_bytes(b"")
    (data / "big.txt").write_text("x" * (MAX + 10))  # over --max-file-size: the worker's errors row
    (data / "nul_text.txt").write_bytes(b"text\0with a nul\n")
    (root / "README.md").write_text("# readme\n\nwords\n")


def _worker_files(store: Path, run_id: str) -> int:
    """How many files the run's workers processed (from its run report)."""
    report = json.loads((store / "runs" / f"{run_id}.json").read_text())
    return sum(w["files"] for w in report["worker_use"])


def test_data_files_rows_equal_the_workers_rows(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _tree(one)
    _tree(two, salt="other")
    with_rows = _run([one, two], tmp_path / "bulk", True)
    plain = _run([one, two], tmp_path / "plain", False)
    assert dump(tmp_path / "bulk") == dump(tmp_path / "plain")
    # the 366 files only the manifest reads (all but the too large one) never reached a worker
    files = table(open_store(tmp_path / "bulk"), "files").num_rows
    assert files == plain.files_scanned == 2 * 186  # type: ignore[attr-defined]
    assert _worker_files(tmp_path / "plain", plain.run_id) == files  # type: ignore[attr-defined]
    # two Python files a repo, and one big.txt: the other, the same bytes, takes its rows (a file over
    # --max-file-size is a reuse candidate: reuse.BIG_CANDIDATE_BYTES)
    assert _worker_files(tmp_path / "bulk", with_rows.run_id) == 2 * 2 + 1  # type: ignore[attr-defined]
    errors = table(open_store(tmp_path / "bulk"), "errors").to_pylist()
    assert sorted((e["repo"], e["path"], e["kind"]) for e in errors) == [
        ("one", "data/big.txt", "too_large"),
        ("two", "data/big.txt", "too_large"),
    ]
    assert with_rows.reused == 1  # type: ignore[attr-defined]
    assert with_rows.skipped == plain.skipped == {"too_large": 2}  # type: ignore[attr-defined]


def test_edits_and_deletes_of_data_files_match_a_plain_run(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _tree(root)
    for reuse, store in ((True, tmp_path / "bulk"), (False, tmp_path / "plain")):
        _run([root], store, reuse)
    (root / "data" / "note3.txt").write_text("changed\ncontent\n")
    (root / "data" / "blob4.bin").unlink()
    (root / "data" / "new.csv").write_text("a,b\n1,2\n")
    for reuse, store in ((True, tmp_path / "bulk"), (False, tmp_path / "plain")):
        _run([root], store, reuse)
    _run([root], tmp_path / "fresh", False)
    assert dump(tmp_path / "bulk") == dump(tmp_path / "plain") == dump(tmp_path / "fresh")


def test_many_data_files_with_two_workers(tmp_path: Path) -> None:
    roots = []
    for i in range(3):
        roots.append(tmp_path / f"r{i}")
        _tree(roots[-1], salt=str(i % 2))
    _run(roots, tmp_path / "bulk", True, workers=2)
    _run(roots, tmp_path / "plain", False, workers=2)
    assert dump(tmp_path / "bulk") == dump(tmp_path / "plain")


def test_manifest_alone_reads_python_too_and_a_binary_one_keeps_its_error(tmp_path: Path) -> None:
    """With the manifest alone selected every file is the parent's, but a binary ``.py`` file, which
    a worker skips with an errors row, stays a worker's."""
    root = tmp_path / "repo"
    _tree(root)
    (root / "pkg" / "packed.py").write_bytes(b"\0\x01\x02\x03" * 64)
    done = _run([root], tmp_path / "bulk", True, select=("core.files",))
    _run([root], tmp_path / "plain", False, select=("core.files",))
    assert dump(tmp_path / "bulk") == dump(tmp_path / "plain")
    errors = table(open_store(tmp_path / "bulk"), "errors").to_pylist()
    assert sorted((e["path"], e["kind"]) for e in errors) == [
        ("data/big.txt", "too_large"),
        ("pkg/packed.py", "binary"),
    ]
    assert _worker_files(tmp_path / "bulk", done.run_id) == 2  # type: ignore[attr-defined]


def test_the_binary_sniff_counts_control_bytes_as_defined() -> None:
    """``looks_binary`` counts control bytes in C (bytes.translate): the same answer as counting
    them one by one, on heads at both sides of the 10% line, with and without valid UTF-8."""
    import random

    from codequarry.engine.reading import is_utf8, looks_binary

    def by_definition(head: bytes) -> bool:
        if b"\0" not in head:
            return False
        control = sum(1 for b in head if b < 9 or 13 < b < 32)
        return control * 10 > len(head) or not is_utf8(head)

    rng = random.Random(16)
    alphabet = [0, 1, 8, 9, 10, 12, 13, 14, 27, 31, 32, 65, 127, 0xC3, 0xA9, 255]
    seen = set()
    for _ in range(3000):
        head = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        assert looks_binary(head) == by_definition(head), head
        seen.add(looks_binary(head))
    assert seen == {True, False}
    assert not looks_binary(b"text\0" + b"a" * 100)  # one NUL in UTF-8 text: not binary
    assert looks_binary(b"\0\x01\x02" * 10)

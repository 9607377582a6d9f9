"""Files changed between the scan and the read: nothing outside the root is read, nothing blocks.

A run is paused after its scan (QUARRY_PAUSE_AT=execute), the test swaps files, and the run goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.corpus_io import Refused, hash_file, open_corpus

from .conftest import extract_json, make_socket, paused_quarry

SECRET = "root:x:0:0:the secret outside the root\n"


def _tree(tmp: Path) -> tuple[Path, Path]:
    src = tmp / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "victim.py").write_text("def victim():\n    return 1\n")
    (src / "fifo_victim.py").write_text("def fifo_victim():\n    return 1\n")
    (src / "sock_victim.py").write_text("def sock_victim():\n    return 1\n")
    (src / "pkg" / "inner.py").write_text("def inner():\n    return 1\n")
    (src / "real.py").write_text("def real():\n    return 1\n")
    (src / "link.py").symlink_to("real.py")  # a symlink inside the root: followed
    (src / "ok.py").write_text("def ok():\n    return 1\n")
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(SECRET)
    (outside / "inner.py").write_text(SECRET)
    return src, outside


def _swap(src: Path, outside: Path) -> None:
    (src / "victim.py").unlink()
    (src / "victim.py").symlink_to(outside / "secret.py")  # now leads out of the root
    (src / "fifo_victim.py").unlink()
    os.mkfifo(src / "fifo_victim.py")
    (src / "sock_victim.py").unlink()
    make_socket(src / "sock_victim.py")
    os.rename(src / "pkg", src / "pkg.old")  # a folder swapped for a symlink out of the root
    (src / "pkg").symlink_to(outside)


@pytest.mark.parametrize("workers", [1, 2])
def test_files_swapped_after_the_scan_are_refused(tmp_path: Path, workers: int) -> None:
    src, outside = _tree(tmp_path)
    store = tmp_path / "store"
    flag = tmp_path / "paused"
    proc = paused_quarry(
        "execute",
        flag,
        "extract",
        src,
        "--store",
        store,
        "--json",
        "-q",
        "--workers",
        workers,
        "--file-timeout",
        "60",
    )
    _swap(src, outside)
    flag.unlink()
    out, err = proc.communicate(timeout=300)  # a blocking open of the FIFO would hang here
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["published"]
    st = open_store(store)
    errors = {
        r["path"]: r
        for r in sql(st, "SELECT path, kind, message, source_line, sha256 FROM errors").to_pylist()
    }
    assert (
        errors["victim.py"]["kind"] == "unreadable"
        and "outside the source root" in errors["victim.py"]["message"]
    )
    assert "FIFO" in errors["fifo_victim.py"]["message"]
    assert "socket" in errors["sock_victim.py"]["message"]
    assert "outside the source root" in errors["pkg/inner.py"]["message"]
    files = {r["path"]: r["sha256"] for r in sql(st, "SELECT path, sha256 FROM files").to_pylist()}
    assert set(files) == {"real.py", "link.py", "ok.py"}  # the symlink inside the root is still read
    assert files["link.py"] == files["real.py"]
    dump = json.dumps(sql(st, "SELECT * FROM errors").to_pylist(), default=str)
    assert "secret outside" not in dump and "victim" not in {f for f in files}
    funcs = set(sql(st, "SELECT name FROM functions").column(0).to_pylist())
    assert funcs == {"real", "ok"}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_timed_out_file_replaced_by_a_fifo_does_not_hang_the_parent(tmp_path: Path, workers: int) -> None:
    """After a file's timeout the run reads it again for its manifest row: that read cannot block."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "hang_me.py").write_text("X = 1\n")
    (src / "fine.py").write_text("def fine():\n    return 1\n")
    env = {**os.environ, "HOSTILE_ROOT": str(src)}
    summary = extract_json(
        src,
        "--store",
        tmp_path / "store",
        "--workers",
        workers,
        "--file-timeout",
        "8",  # generous: the other file must never time out on a loaded machine
        "--plugin",
        "tests.hostile.plugins",
        env=env,
        timeout=300,
    )
    st = open_store(tmp_path / "store")
    kinds = {(r["path"], r["kind"]) for r in sql(st, "SELECT path, kind FROM errors").to_pylist()}
    assert ("hang_me.py", "timeout") in kinds
    assert summary["skipped"].get("timeout") == 1
    assert "fine" in sql(st, "SELECT name FROM functions").column(0).to_pylist()


def test_open_corpus_refuses_what_is_not_a_regular_file_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.py").write_text("A = 1\n")
    (root / "in_link.py").symlink_to("a.py")
    (root / "out_link.py").symlink_to(tmp_path / "elsewhere.py")
    (tmp_path / "elsewhere.py").write_text(SECRET)
    (root / "loop.py").symlink_to("loop.py")
    os.mkfifo(root / "f.py")
    (root / "d.py").mkdir()
    assert hash_file(str(root), "in_link.py") == hash_file(str(root), "a.py")
    for name, words in [
        ("out_link.py", "outside"),
        ("loop.py", "loop"),
        ("f.py", "FIFO"),
        ("d.py", "folder"),
    ]:
        with pytest.raises(Refused, match=words):
            open_corpus(str(root), name)
    with pytest.raises(FileNotFoundError):
        open_corpus(str(root), "missing.py")


def test_no_corpus_file_is_opened_another_way() -> None:
    """Every read of a corpus file goes through codequarry.corpus_io (workers, parent, scan)."""
    src = Path(__file__).resolve().parents[2] / "src" / "codequarry"
    offenders = []
    for name in [
        "engine/worker.py",
        "engine/supervisor.py",
        "run.py",
        "scan.py",
        "incremental.py",
        "source.py",
        "language.py",
        "extractors/blobs.py",
    ]:
        text = (src / name).read_text()
        for needle in (
            "open(full",
            "open(path",
            "read_bytes(",
            "open(os.path.join(task",
            "open(os.path.join(f.",
            "open(full",
            'open(path, "rb")',
        ):
            if needle in text:
                offenders.append(f"{name}: {needle}")
    assert not offenders
    done = subprocess.run(
        ["grep", "-rn", "subprocess", str(src / "scan.py"), str(src / "git_listing.py")],
        capture_output=True,
        text=True,
    )
    assert done.stdout == ""


def test_a_file_edited_between_scan_and_read_is_described_as_read(tmp_path: Path) -> None:
    """The manifest row carries the size and mtime of the bytes read, so the next run has nothing to do."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def a():\n    return 1\n")
    (src / "b.py").write_text("def b():\n    return 1\n")
    store = tmp_path / "store"
    flag = tmp_path / "paused"
    proc = paused_quarry("execute", flag, "extract", src, "--store", store, "--json", "-q", "--workers", 2)
    (src / "a.py").write_text("def a_edited():\n    return 22\n")
    flag.unlink()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    st = open_store(store)
    row = sql(st, "SELECT size_bytes, mtime_ns FROM files WHERE path = 'a.py'").to_pylist()[0]
    assert (row["size_bytes"], row["mtime_ns"]) == (
        (src / "a.py").stat().st_size,
        (src / "a.py").stat().st_mtime_ns,
    )
    assert "a_edited" in sql(st, "SELECT name FROM functions").column(0).to_pylist()
    again = extract_json(src, "--store", store)
    assert again["changed"] == 0 and not again["published"]

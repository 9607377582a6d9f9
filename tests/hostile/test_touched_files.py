"""Touching files without changing them (touch, a git checkout of the same bytes) is not a change:
nothing is extracted, only the files table's mtime moves, and the next run is a no-op."""

from __future__ import annotations

import os
from pathlib import Path

from codequarry import extract, make_plan, open_store
from codequarry.query import table

from .conftest import git


def _run(src: Path, store: Path, workers: int = 1):  # type: ignore[no-untyped-def]
    return extract(make_plan([src], store=store, workers=workers))


def _versions(store: Path) -> dict[str, int]:
    snap = open_store(store).snapshot()
    assert snap is not None
    return {name: state.version for name, state in snap.tables.items()}


def _later(p: Path) -> None:
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_touch_updates_only_the_mtime_and_the_next_run_is_a_noop(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    store = tmp_path / "store"
    _run(src, store)
    before = _versions(store)
    for i in range(3):
        _later(src / f"m{i}.py")
    s = _run(src, store, workers=2)
    assert (s.modified, s.added, s.touched, s.unchanged, s.files_parsed) == (0, 0, 3, 4, 0)
    after = _versions(store)
    assert {t for t in after if after[t] != before[t]} == {"files"}  # no other table was rewritten
    mtimes = {r["path"]: r["mtime_ns"] for r in table(open_store(store), "files").to_pylist()}
    assert mtimes == {f"m{i}.py": (src / f"m{i}.py").stat().st_mtime_ns for i in range(4)}
    again = _run(src, store)
    assert (again.touched, again.changed, again.published) == (0, 0, False)  # no hashing forever


def test_a_real_edit_with_the_same_size_is_still_a_change(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def aa():\n    return 1\n")
    store = tmp_path / "store"
    _run(src, store)
    (src / "a.py").write_text("def bb():\n    return 2\n")  # same size, new bytes
    _later(src / "a.py")
    s = _run(src, store)
    assert (s.modified, s.touched) == (1, 0)
    assert [r["name"] for r in table(open_store(store), "functions").to_pylist()] == ["bb"]


def test_git_checkout_back_and_forth_is_not_a_change(tmp_path: Path, git_env: dict[str, str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    git(src, git_env, "init", "-q", "-b", "main")
    (src / "a.py").write_text("def a():\n    return 1\n")
    (src / "b.py").write_text("def b():\n    return 1\n")
    git(src, git_env, "add", ".")
    git(src, git_env, "commit", "-qm", "one")
    git(src, git_env, "checkout", "-q", "-b", "other")
    (src / "a.py").write_text("def a():\n    return 2\n")
    git(src, git_env, "commit", "-qam", "two")
    git(src, git_env, "checkout", "-q", "main")
    store = tmp_path / "store"
    _run(src, store)
    git(src, git_env, "checkout", "-q", "other")
    _later(src / "a.py")  # the clock may not have moved since the first write
    git(src, git_env, "checkout", "-q", "main")  # a.py rewritten with the bytes it had
    os.utime(src / "a.py")
    s = _run(src, store)
    assert (s.changed, s.touched, s.files_parsed) == (0, 1, 0)
    assert _run(src, store).published is False

"""Repo identity: moved and renamed trees, git clones, --repo NAME, a single file of a known repo,
and `quarry repos` / `quarry repos remove`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store
from codequarry.errors import UsageError
from codequarry.query import table
from codequarry.repos import git_identity, list_repos, remove_repo
from tests import paths

FIXTURE = paths.FIXTURES / "routes" / "flask_app"


def tree(dest: Path) -> Path:
    shutil.copytree(FIXTURE, dest)
    return dest


def run(src: Path, store: Path, **kw: object):  # type: ignore[no-untyped-def]
    return extract(make_plan([src], store=store, workers=1, **kw))  # type: ignore[arg-type]


def rows(store: Path, name: str) -> list[str]:
    return sorted(
        json.dumps(r, sort_keys=True, default=str) for r in table(open_store(store), name).to_pylist()
    )


def repos_of(store: Path) -> dict[str, int]:
    return {r["repo"]: r["files"] for r in list_repos(open_store(store))}


def test_a_moved_and_renamed_folder_is_the_same_repo_and_nothing_is_extracted(tmp_path: Path) -> None:
    src = tree(tmp_path / "a")
    store = tmp_path / "store"
    run(src, store)
    before = {n: rows(store, n) for n in ("files", "functions", "routes")}
    moved = tmp_path / "elsewhere" / "b"
    moved.parent.mkdir()
    os.rename(src, moved)
    s = run(moved, store)
    assert (s.changed, s.files_parsed) == (0, 0)
    assert set(s.sources) == {"a"}
    assert repos_of(store) == {"a": 7}
    assert {n: rows(store, n) for n in before} == before
    reg = list_repos(open_store(store))[0]
    assert reg["roots"] == [str(moved)]


def test_another_folder_of_the_same_name_is_another_repo(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(tree(tmp_path / "one" / "app"), store)
    other = tmp_path / "two" / "app"
    other.mkdir(parents=True)
    (other / "x.py").write_text("def f():\n    return 1\n")
    s = run(other, store)
    assert set(s.sources) == {"app-2"}
    assert repos_of(store) == {"app": 7, "app-2": 1}


def test_a_moved_folder_whose_content_differs_is_a_new_repo(tmp_path: Path) -> None:
    store = tmp_path / "store"
    src = tree(tmp_path / "a")
    run(src, store)
    shutil.rmtree(src)
    src.mkdir()
    (src / "y.py").write_text("y = 2\n")
    s = run(src, store)  # same root, so the same repo: the files changed
    assert set(s.sources) == {"a"} and s.deleted == 7 and s.added == 1
    fresh = tmp_path / "b"
    fresh.mkdir()
    (fresh / "z.py").write_text("z = 3\n")
    os.rename(src, tmp_path / "gone")
    shutil.rmtree(tmp_path / "gone")
    s = run(fresh, store)  # a's root is gone but its files are not these: a new repo
    assert set(s.sources) == {"b"}


def _git_repo(path: Path) -> None:
    from dulwich import porcelain

    porcelain.init(str(path))
    porcelain.add(str(path), paths=[str(p) for p in path.rglob("*.py")])
    porcelain.commit(str(path), message=b"first", author=b"T <t@example.com>", committer=b"T <t@example.com>")
    (path / "extra.py").write_text("def g():\n    return 2\n")
    porcelain.add(str(path), paths=[str(path / "extra.py")])
    porcelain.commit(
        str(path), message=b"second", author=b"T <t@example.com>", committer=b"T <t@example.com>"
    )


def test_two_clones_of_one_git_repository_are_one_repo(tmp_path: Path) -> None:
    first = tree(tmp_path / "clone1")
    _git_repo(first)
    second = tmp_path / "work" / "clone-two"
    shutil.copytree(first, second, symlinks=True)
    ident = git_identity(str(first))
    assert ident is not None and ident.startswith("git:") and ident == git_identity(str(second))
    assert git_identity(str(first / "shop")) == f"{ident}/shop"
    store = tmp_path / "store"
    run(first, store)
    s = run(second, store)
    assert set(s.sources) == {"clone1"}
    assert repos_of(store) == {"clone1": 8}
    listed = list_repos(open_store(store))[0]
    assert listed["identity"] == ident and listed["roots"] == [str(first), str(second)]


def test_repo_option_names_the_repo(tmp_path: Path) -> None:
    store = tmp_path / "store"
    s = run(tree(tmp_path / "a"), store, repo="shop")
    assert set(s.sources) == {"shop"}
    s = run(tree(tmp_path / "b"), store, repo="shop")  # another copy under the same name: the same repo
    assert set(s.sources) == {"shop"} and (s.changed, s.files_parsed) == (0, 0)
    assert repos_of(store) == {"shop": 7}
    with pytest.raises(UsageError, match="one source"):
        make_plan([tmp_path / "a", tmp_path / "b"], store=store, repo="x")
    with pytest.raises(UsageError, match="plain name"):
        make_plan([tmp_path / "a"], store=store, repo="a/b")


def test_a_single_file_belongs_to_its_repo_and_deletes_nothing(tmp_path: Path) -> None:
    src = tree(tmp_path / "a")
    store = tmp_path / "store"
    run(src, store)
    before = rows(store, "functions")
    target = src / "shop" / "api.py"
    target.write_text(target.read_text() + "\n\ndef added_here():\n    return 1\n")
    s = run(target, store)
    assert set(s.sources) == {"a"} and (s.modified, s.deleted, s.files_parsed) == (1, 0, 1)
    assert repos_of(store) == {"a": 7}
    funcs = table(open_store(store), "functions").to_pylist()
    assert any(f["name"] == "added_here" and f["module"] == "shop.api" for f in funcs)
    assert len(funcs) == len(before) + 1
    # the whole tree afterwards changes nothing more: the file's rows are those of a whole run
    s = run(src, store)
    assert s.changed == 0


def test_repos_remove_removes_one_repo_in_one_snapshot(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(tree(tmp_path / "a"), store)
    run(tree(tmp_path / "b"), store, repo="bee")
    snap = open_store(store).snapshot()
    assert snap is not None
    done = remove_repo(open_store(store), "bee")
    after = open_store(store).snapshot()
    assert after is not None and after.id == snap.id + 1 and done["rows_removed"] > 0
    assert repos_of(store) == {"a": 7}
    assert {r["repo"] for r in table(open_store(store), "routes").to_pylist()} == {"a"}
    with pytest.raises(UsageError, match="no repo 'bee'"):
        remove_repo(open_store(store), "bee")
    # the repo extracted again comes back whole
    s = run(tmp_path / "b", store, repo="bee")
    assert s.added == 7 and repos_of(store) == {"a": 7, "bee": 7}


def test_repos_command_lists_and_removes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(tree(tmp_path / "a"), store)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "codequarry", "repos", "--store", str(store)]
    listed = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, check=True)
    (entry,) = json.loads(listed.stdout)
    assert (entry["repo"], entry["files"], entry["roots"]) == ("a", 7, [str(tmp_path / "a")])
    gone = subprocess.run(
        [*cmd[:-2], "remove", "nope", "--store", str(store)], capture_output=True, text=True, env=env
    )
    assert gone.returncode == 2 and "no repo 'nope'" in gone.stderr and "Traceback" not in gone.stderr
    removed = subprocess.run(
        [*cmd[:-2], "remove", "a", "--store", str(store)], capture_output=True, text=True, env=env
    )
    assert removed.returncode == 0, removed.stderr
    assert "removed a" in removed.stdout
    assert repos_of(store) == {}


def test_a_file_deep_in_a_tree_goes_to_the_store_of_its_repo(tmp_path: Path) -> None:
    src = tree(tmp_path / "a")
    run(src, src / ".quarry")  # the default store of the tree
    target = src / "shop" / "blueprints" / "admin.py"
    target.write_text(target.read_text() + "\n\ndef deep_added():\n    return 1\n")
    plan = make_plan([target], workers=1)
    assert plan.store == src / ".quarry"
    s = extract(plan)
    assert set(s.sources) == {"a"} and s.modified == 1
    assert not (target.parent / ".quarry").exists()
    assert repos_of(src / ".quarry") == {"a": 7}


def test_quarry_plan_counts_work_under_the_stored_repo_name(tmp_path: Path) -> None:
    from codequarry.explain import describe

    src = tree(tmp_path / "a")
    store = tmp_path / "store"
    run(src, store)
    moved = tmp_path / "b"
    os.rename(src, moved)
    info = describe(make_plan([moved], store=store, workers=1))
    assert info["work"]["unchanged"] == 7 and info["work"]["added"] == 0

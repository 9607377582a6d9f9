"""Operations' twins (optwins.py): a whole run derives one repo of each set of repos with the same
input rows and copies its derived rows (and ``errors`` rows) to the others. The judge is the store
of the same run with the copy off (QUARRY_TWINS=0: every repo derived): every table, every row.

On the old code there was no copy (the summary had no ``twins``), so the first test fails there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from codequarry import extract, make_plan
from codequarry.optwins import digest
from tests import paths
from tests.storedump import dump

TREES = ["models/django", "models/validation", "models/testsuite", "routes/flask_app", "routes/fastapi_app"]
TWINNED = ("python.models.resolve", "python.tests.cases", "python.web.routes")


def _tree(root: Path) -> Path:
    for rel in TREES:
        shutil.copytree(paths.FIXTURES / rel, root / rel.replace("/", "_"))
    # a chain deeper than the models' walk: an errors row of the operation, copied with the rows
    lines = ["from pydantic import BaseModel", "class P0(BaseModel):\n    a0: int = 1"]
    lines += [f"class P{i}(P{i - 1}):\n    a{i}: int = 1" for i in range(1, 70)]
    (root / "chain.py").write_text("\n".join(lines) + "\n")
    # a test class whose base is defined in another repo only (a cross-repo lookup of tests.cases)
    (root / "test_cross.py").write_text(
        "from shared.base import SharedCase\n\nclass TestCross(SharedCase):\n    def test_one(self):\n"
        "        pass\n"
    )
    return root


def _run(sources: list[Path], store: Path, twins: bool) -> dict[str, object]:
    old = os.environ.get("QUARRY_TWINS")
    os.environ["QUARRY_TWINS"] = "1" if twins else "0"
    try:
        summary = extract(make_plan(sources, store=store, workers=1))
    finally:
        if old is None:
            del os.environ["QUARRY_TWINS"]
        else:
            os.environ["QUARRY_TWINS"] = old
    return summary.operations


@pytest.fixture()
def corpus(tmp_path: Path) -> list[Path]:
    """alpha and its copies beta and delta (twins), gamma (alpha and one more file: no twin), and
    'aaa', first in repo order, defining the base class test_cross.py names."""
    alpha = _tree(tmp_path / "corpus" / "alpha")
    beta = tmp_path / "corpus" / "beta"
    delta = tmp_path / "corpus" / "delta"
    gamma = tmp_path / "corpus" / "gamma"
    for copy in (beta, delta, gamma):
        shutil.copytree(alpha, copy)
    (gamma / "extra.py").write_text("from pydantic import BaseModel\n\nclass Extra(BaseModel):\n    x: int\n")
    shared = tmp_path / "corpus" / "aaa" / "shared"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text("")
    (shared / "base.py").write_text("import unittest\n\nclass SharedCase(unittest.TestCase):\n    pass\n")
    return [tmp_path / "corpus" / n for n in ("aaa", "alpha", "beta", "delta", "gamma")]


def test_twins_get_the_rows_every_repo_gets_when_each_is_derived(corpus: list[Path], tmp_path: Path) -> None:
    ops = _run(corpus, tmp_path / "twins", twins=True)
    plain = _run(corpus, tmp_path / "plain", twins=False)
    # twins by the operation's own inputs: gamma's extra model is no test, so for the tests it is
    # alpha's twin too (aaa is a repo of its own for both)
    want = {"python.models.resolve": (3, 2), "python.tests.cases": (2, 3)}
    for name, (derived, copied) in want.items():
        info = ops[name]
        assert isinstance(info, dict)
        # a first run knows beta and delta are alpha's copies (reuse.twin_groups): their inputs are
        # not read for digests, aaa's, alpha's and gamma's are
        assert info["twins"] == {"derived": derived, "copied": copied, "read": 3}, name
        assert "twins" not in plain[name]
    got, want = dump(tmp_path / "twins"), dump(tmp_path / "plain")
    assert got == want
    # what the copies carry: model rows, an errors row of the operation, a cross-repo test
    for table in ("validation_models", "orm_models", "tests", "routes", "errors"):
        repos = {r.split('"repo": ')[1].split('"')[1] for r in got[table]}
        assert {"alpha", "beta", "delta", "gamma"} <= repos, table
    assert any('"python.models.resolve"' in r and '"delta"' in r for r in got["errors"])
    assert any('"TestCross' in r and '"unittest"' in r and '"beta"' in r for r in got["tests"])


@pytest.mark.parametrize("reuse", ["1", "0"])
def test_a_repo_copied_under_its_own_name_only_once(
    corpus: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reuse: str
) -> None:
    """Twins but no repo else: one repo derived, the other copied; both as when derived alone. With
    reuse on, the run knows they are twins and reads neither for digests; off, it reads both."""
    monkeypatch.setenv("QUARRY_REUSE", reuse)
    ops = _run(corpus[1:3], tmp_path / "twins", twins=True)
    _run(corpus[1:3], tmp_path / "plain", twins=False)
    info = ops["python.tests.cases"]
    read = 0 if reuse == "1" else 2
    assert isinstance(info, dict) and info["twins"] == {"derived": 1, "copied": 1, "read": read}
    assert dump(tmp_path / "twins") == dump(tmp_path / "plain")


def test_the_digest_is_of_the_rows_not_the_order_of_the_files_nor_the_repo() -> None:
    rows = pa.table(
        {
            "repo": ["a", "a", "a"],
            "path": ["x.py", "x.py", "y.py"],
            "line": [2, 1, 1],
            "names": [["p"], ["q"], []],
        }
    )
    other = rows.take([2, 0, 1]).set_column(0, "repo", pa.array(["b"] * 3))
    assert digest(rows) == digest(other)
    changed = rows.set_column(3, "names", pa.array([["p"], ["r"], []]))
    assert digest(rows) != digest(changed)
    assert digest(rows) != digest(rows.slice(0, 2))


def test_twin_groups_need_the_same_paths_and_keys() -> None:
    """reuse.twin_groups: same paths with the same reuse key, or files only the manifest reads, make
    twins; another path, another key or a file without a key (not hashed) leaves a repo alone."""
    from codequarry.engine.worker import FileTask
    from codequarry.reuse import twin_groups

    files = {
        "a": [("m.py", "k1"), ("data.txt", None)],
        "b": [("m.py", "k1"), ("data.txt", None)],  # a's twin
        "c": [("n.py", "k1"), ("data.txt", None)],  # another path
        "d": [("m.py", "k2"), ("data.txt", None)],  # another key
        "e": [("m.py", "k1"), ("data.txt", "")],  # a file without a key: alone
        "f": [("m.py", "k1"), ("data.txt", None)],  # a's twin
    }
    tasks, keys, only = [], {}, set()
    for repo, entries in files.items():
        for path, key in entries:
            task = FileTask(len(tasks), repo, "/r", path, 1, 0, "python")
            tasks.append(task)
            if key:
                keys[task.key] = (key, "python", path[:-3], False, path)
            elif key is None:
                only.add(id(task))
    assert twin_groups(tasks, keys, only) == (("a", "b", "f"), ("c",), ("d",), ("e",))


def test_the_copies_come_in_file_order_with_the_rows_of_a_plain_copy() -> None:
    """Twins.copy gives each twin its first's rows and puts the whole in (repo, path) order (stable:
    a file's rows keep their order), so that the output's write need not sort millions of rows;
    the rows are those of the derived repos plus one renamed copy per twin, as before."""
    from codequarry.operations import _by_file, _in_file_order
    from codequarry.optwins import Twins

    rows = pa.table(
        {
            "repo": ["c", "a", "c", "a", "a"],
            "path": ["z.py", "y.py", "b.py", "x.py", "y.py"],
            "line": [1, 2, 3, 4, 5],
        }
    )
    twins = Twins(frozenset({"a", "c"}), {"a": ("b", "d"), "c": ("e",)})
    got = twins.copy(rows)
    assert _in_file_order(got)
    assert not _in_file_order(rows)
    want = rows
    for first, others in twins.copies.items():
        mine = rows.filter(pa.compute.equal(rows.column("repo"), first))
        for twin in others:
            want = pa.concat_tables([want, mine.set_column(0, "repo", pa.array([twin] * mine.num_rows))])
    assert got.equals(want.sort_by([("repo", "ascending"), ("path", "ascending")]))
    assert got.column("line").to_pylist()[:3] == [4, 2, 5]  # repo a: x.py, then y.py's two rows in order
    assert pa.concat_tables(_by_file(got)).equals(got)
    alone = Twins(frozenset({"a"}), {"a": ("b",)})
    no_path = pa.table({"repo": ["a", "a"], "n": [2, 1]})
    assert alone.copy(no_path).to_pydict() == {"repo": ["a", "a", "b", "b"], "n": [2, 1, 2, 1]}


def test_file_order_needs_no_null_and_sorted_keys() -> None:
    from codequarry.operations import _in_file_order

    def t(repos: list[str | None], paths: list[str | None]) -> pa.Table:
        return pa.table({"repo": pa.array(repos, pa.string()), "path": pa.array(paths, pa.string())})

    assert _in_file_order(t(["a", "a", "b"], ["x", "x", "a"]))
    assert not _in_file_order(t(["a", "a", "b"], ["y", "x", "a"]))
    assert not _in_file_order(t(["b", "a"], ["a", "b"]))
    assert not _in_file_order(t(["a", None], ["a", "b"]))
    assert not _in_file_order(t(["a", "a"], ["a", None]))
    assert _in_file_order(t(["a"], ["a"])) and not _in_file_order(t([None], ["a"]))

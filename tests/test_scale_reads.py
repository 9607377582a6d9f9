"""The operations' streamed reads (codequarry.opread; ``ctx.read``, ``ctx.by_repo``): the same rows as
the whole table, one repo at a time, whatever the layout of the parts.

``by_repo`` trusts the least ``repo`` of each row group's footer statistics to know when a repo is
complete; these tests write real Parquet files whose row groups mix repos, are sorted or not, or have
no statistics at all, and check that every repo comes exactly once, in order, with exactly its rows.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from codequarry import extract, make_plan, open_store
from codequarry.operations import OperationContext
from codequarry.opread import by_repo
from tests import paths

REPOS = [f"r{i:02d}" for i in range(12)] + ["pkg-a", "pkg-b", "Zed", "ä-repo"]


def _rows(rng: random.Random, n: int) -> pa.Table:
    repos = [rng.choice(REPOS) for _ in range(n)]
    return pa.table(
        {
            "repo": pa.array(repos, pa.string()),
            "path": pa.array([f"p{rng.randrange(50)}.py" for _ in range(n)], pa.string()),
            "n": pa.array(range(n), pa.int64()),
            "flag": pa.array([rng.random() < 0.5 for _ in range(n)], pa.bool_()),
        }
    )


def _write(folder: Path, rng: random.Random, files: int) -> list[str]:
    """Files of random rows: some sorted by repo, some of one repo, some mixed, some without statistics."""
    out = []
    for i in range(files):
        data = _rows(rng, rng.randrange(0, 400))
        shape = rng.choice(["sorted", "one", "mixed", "nostats"])
        if shape == "sorted":
            data = data.sort_by([("repo", "ascending"), ("n", "ascending")])
        elif shape == "one" and data.num_rows:
            data = data.filter(pa.compute.equal(data["repo"], data["repo"][0]))
        path = folder / f"part-{i}.parquet"
        pq.write_table(
            data,
            path,
            row_group_size=rng.choice([7, 50, 1000]),
            write_statistics=shape != "nostats",
        )
        out.append(str(path))
    return out


def _sorted_rows(table: pa.Table) -> list[str]:
    return sorted(map(repr, zip(*(table[c].to_pylist() for c in table.column_names), strict=True)))


@pytest.mark.parametrize("seed", range(8))
def test_every_repo_comes_once_in_order_with_exactly_its_rows(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    files = _write(tmp_path, rng, rng.randrange(1, 12))
    rng.shuffle(files)
    data = ds.dataset(files, format="parquet")
    whole = data.to_table()
    where = ds.field("flag") if seed % 2 else None
    wanted = whole.filter(where) if where is not None else whole
    got = list(by_repo(data, ["path", "n"], where))
    repos = [r for r, _ in got]
    assert repos == sorted(set(wanted["repo"].to_pylist()))  # each repo once, in repo order
    for repo, rows in got:
        assert rows.column_names == ["path", "n"]  # projected: only the asked columns
        mine = wanted.filter(pa.compute.equal(wanted["repo"], repo)).select(["path", "n"])
        assert _sorted_rows(rows) == _sorted_rows(mine)
    assert sum(t.num_rows for _, t in got) == wanted.num_rows


def test_a_repo_is_handed_over_before_the_parts_of_later_repos_are_read(tmp_path: Path) -> None:
    """One repo per part (as the store writes): a repo comes as soon as its own parts are read, so the
    stream holds one repo's rows. Shown by removing the last repo's part after the first repo came:
    the second still comes, and only reading the third fails."""
    files = []
    for i, repo in enumerate(["a", "b", "c"]):
        path = tmp_path / f"{i}.parquet"
        pq.write_table(pa.table({"repo": [repo] * 3, "n": [i, i + 1, i + 2]}), path)
        files.append(path)
    stream = by_repo(ds.dataset([str(f) for f in reversed(files)], format="parquet"), ["n"], None)
    repo, rows = next(stream)
    assert (repo, rows["n"].to_pylist()) == ("a", [0, 1, 2])
    files[2].unlink()
    repo, rows = next(stream)
    assert (repo, rows["n"].to_pylist()) == ("b", [1, 2, 3])
    with pytest.raises(OSError):
        next(stream)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repos")
    sources = []
    for rel in ["models/django", "models/validation", "models/testsuite", "routes/flask_app"]:
        dst = root / rel.replace("/", "_")
        shutil.copytree(paths.FIXTURES / rel, dst)
        sources.append(dst)
    out = root / "store"
    extract(make_plan(sources, store=out, workers=1))
    return out


@pytest.mark.parametrize("name", ["imports", "test_facts", "model_classes", "modules"])
def test_ctx_by_repo_and_read_equal_the_whole_table(store: Path, name: str) -> None:
    st = open_store(store)
    ctx = OperationContext.from_store(st, inputs=(name,))
    whole = ctx.table(name)
    repos = sorted(set(whole["repo"].to_pylist()))
    assert len(repos) >= (1 if name == "test_facts" else 3)
    fresh = OperationContext.from_store(st, inputs=(name,))  # nothing read yet: the streamed path
    got = list(fresh.by_repo(name))
    assert [r for r, _ in got] == repos
    for repo, rows in got:
        assert _sorted_rows(rows) == _sorted_rows(whole.filter(pa.compute.equal(whole["repo"], repo)))
    where = ds.field("repo") != repos[0]
    read = OperationContext.from_store(st, inputs=(name,)).read(name, ["repo", "path"], where)
    assert _sorted_rows(read) == _sorted_rows(whole.filter(where).select(["repo", "path"]))
    # the same answers from a table the run holds already (ctx.table read it whole)
    assert [(r, _sorted_rows(t)) for r, t in ctx.by_repo(name)] == [(r, _sorted_rows(t)) for r, t in got]
    assert _sorted_rows(ctx.read(name, ["repo", "path"], where)) == _sorted_rows(read)


def test_ctx_by_repo_sees_only_the_partitions_of_a_partitioned_run(store: Path) -> None:
    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    repos = sorted(set(OperationContext.from_store(st).table("imports")["repo"].to_pylist()))
    ctx = OperationContext(st, snap.tables, inputs=("imports",), partitions=frozenset(repos[1:3]))
    assert [r for r, _ in ctx.by_repo("imports")] == repos[1:3]
    assert set(ctx.read("imports", ["repo"])["repo"].to_pylist()) == set(repos[1:3])

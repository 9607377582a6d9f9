"""Operations write ``errors`` rows (``ctx.error``), and those rows are exact like every table.

Trust sweep 4: the models operation cuts its walks over a class's inheritance at MAX_ANCESTORS (64)
and says so in one ``errors`` row per model cut (a chain of n pydantic models gave n(n+1)/2
``validation_fields`` rows: tests/test_hostile_inheritance.py). The rows must appear, disappear when
the chain is cut short, survive a change of the file they point at that leaves the operation's
inputs alone, not be duplicated by a run again, and leave with an operation no longer selected:
after any sequence of steps every table equals a fresh extract's (tests/test_exact.py's way).
A plugin operation reports its own rows the same way.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codequarry import extract, make_plan, open_store
from codequarry.extractors.python.models.graph import MAX_ANCESTORS
from codequarry.query import table
from codequarry.report import load_report
from codequarry.testing import examples
from tests.storedump import dump
from tests.test_watch import wait_for

OP = "python.models.resolve"
N = MAX_ANCESTORS + 16  # the chain: P0 .. P79, split over two files at SPLIT
SPLIT = 40

PLUGIN = """
from codequarry import dataset, operation

@dataset("long_names")
class LongName:
    name: str

@operation("acme.long_names", version=1, inputs=["classes"], outputs=[LongName])
def long_names(ctx):
    rows = ctx.table("classes", ["repo", "path", "sha256", "name", "line"]).to_pylist()
    for r in rows:
        if len(r["name"]) > 12:
            ctx.error(r["repo"], r["path"], r["sha256"], "style", f"class name {r['name']} is long",
                      line=r["line"])
    return ctx.sql("SELECT repo, path, sha256, name FROM classes WHERE length(name) > 12")
"""


def _write_chain(src: Path, *, joined: bool = True, comment: int = 0) -> None:
    head = ["from pydantic import BaseModel", "class P0(BaseModel):\n    a0: int = 1"]
    head += [f"class P{i}(P{i - 1}):\n    a{i}: int = 1" for i in range(1, SPLIT)]
    (src / "a.py").write_text("\n".join(head) + "\n")
    first = "P39" if joined else "BaseModel"
    tail = [
        "from pydantic import BaseModel",
        "from a import P39",
        f"class P{SPLIT}({first}):\n    b: int = 1",
    ]
    tail += [f"class P{i}(P{i - 1}):\n    a{i}: int = 1" for i in range(SPLIT + 1, N)]
    tail += [f"# note {k}" for k in range(comment)]
    (src / "b.py").write_text("\n".join(tail) + "\n")


class World:
    def __init__(self, base: Path, plugin_dir: Path) -> None:
        self.src = base / "src"
        self.src.mkdir()
        self.store = base / "store"
        self.fresh_dir = base / "fresh"
        self.fresh_dir.mkdir()
        (plugin_dir / "acme_errs.py").write_text(PLUGIN)
        self.joined, self.comment, self.models, self.counter = True, 0, True, 0
        (self.src / "LongClassNameHere.py").write_text("class AVeryLongClassName:\n    pass\n")
        _write_chain(self.src)

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"workers": 1, "plugins": ["acme_errs"]}
        if not self.models:
            opts["deselect"] = ["python.models"]
        return opts

    def apply(self, step: str) -> None:
        if step == "cut":
            self.joined = False
        elif step == "join":
            self.joined = True
        elif step == "comment":
            self.comment += 1
        elif step == "models":
            self.models = not self.models
        elif step == "long":
            target = self.src / "LongClassNameHere.py"
            if target.exists():
                target.unlink()
            else:
                target.write_text("class AVeryLongClassName:\n    pass\n")
        _write_chain(self.src, joined=self.joined, comment=self.comment)

    def run(self) -> None:
        extract(make_plan([self.src], store=self.store, repo="src", **self.options()))

    def fresh(self) -> dict[str, list[str]]:
        self.counter += 1
        store = self.fresh_dir / f"s{self.counter}"
        extract(make_plan([self.src], store=store, repo="src", **self.options()))
        out = dump(store)
        shutil.rmtree(store)
        return out


def _errors(store: Path, extractor: str) -> list[dict[str, Any]]:
    return [r for r in table(open_store(store), "errors").to_pylist() if r["extractor"] == extractor]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    monkeypatch.syspath_prepend(str(plugin_dir))
    return World(tmp_path, plugin_dir)


def test_a_model_cut_has_an_errors_row_and_it_goes_with_its_cause(world: World) -> None:
    summary = extract(make_plan([world.src], store=world.store, repo="src", **world.options()))
    rows = _errors(world.store, OP)
    # the run counts the operations' rows as its own errors, and its report says by whom
    long = _errors(world.store, "acme.long_names")
    assert summary.errors == len(rows) + len(long) and summary.operations[OP]["error_kinds"] == {
        "limit": len(rows)
    }
    report = load_report(world.store)
    assert report.status == "errors" and report.errors_by("extractor")[OP] == len(rows)
    # P_i has i ancestors: P65 .. P79 are cut
    assert sorted(r["message"].split()[1] for r in rows) == sorted(
        f"b.P{i}" if i >= SPLIT else f"a.P{i}" for i in range(MAX_ANCESTORS + 1, N)
    )
    assert {(r["path"], r["kind"]) for r in rows} == {("b.py", "limit")}
    assert all(r["line"] and r["sha256"] for r in rows)
    assert len(_errors(world.store, "acme.long_names")) == 1
    first = dump(world.store)
    world.run()  # nothing changed: no row twice
    assert dump(world.store) == first
    world.apply("cut")  # the chain is 40 + 40 now: no model is cut
    world.run()
    assert _errors(world.store, OP) == []
    assert dump(world.store) == world.fresh()


STEP = st.sampled_from(["cut", "join", "comment", "models", "long", "noop"])


@settings(
    max_examples=examples(4), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, min_size=2, max_size=5))
def test_errors_rows_of_operations_equal_a_fresh_extract_after_any_steps(  # type: ignore[no-untyped-def]
    tmp_path_factory, monkeypatch, steps
) -> None:
    base = tmp_path_factory.mktemp("operrors")
    plugin_dir = base / "plugins"
    plugin_dir.mkdir()
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    w = World(base, plugin_dir)
    w.run()
    for step in steps:
        w.apply(step)
        w.run()
        assert dump(w.store) == w.fresh(), f"after {step} in {steps}"
    shutil.rmtree(base)


def test_an_operation_reporting_outside_its_repos_fails_clearly(tmp_path: Path) -> None:
    from codequarry.operations import OperationContext, OperationError

    ctx = OperationContext.__new__(OperationContext)
    ctx.name, ctx.error_repos, ctx._errors = "acme.x", frozenset({"a"}), []
    with pytest.raises(OperationError, match="outside the repos"):
        ctx.error("b", "x.py", None, "k", "m")
    with pytest.raises(OperationError, match="repo and path"):
        ctx.error("a", "", None, "k", "m")
    ctx.error("a", "x.py", None, "k", "m", line=3)
    assert ctx._errors[0]["line"] == 3


def test_errors_rows_removed_by_another_writer_are_derived_again(world: World) -> None:
    """Another writer removed the operation's errors rows (here by hand, a Delta delete published
    as a snapshot; in a run, the extraction drops a changed file's rows of every extractor): the
    count recorded in the operation's state tells, and the next run derives them again."""
    from deltalake import DeltaTable

    from codequarry.store.store import TableState

    world.run()
    assert _errors(world.store, OP)
    store = open_store(world.store)
    snap = store.snapshot()
    assert snap is not None
    path = str(store.table_path("errors"))
    DeltaTable(path).delete(f"extractor = '{OP}'")
    rows = table(store, "errors").num_rows
    store.reader = False
    store.publish({**snap.tables, "errors": TableState(DeltaTable(path).version(), rows)}, run=snap.run)
    assert not _errors(world.store, OP)
    world.run()
    assert dump(world.store) == world.fresh()


def test_errors_rows_of_operations_are_exact_in_a_watch(tmp_path: Path) -> None:
    """The same in `quarry watch` (warm tables, the part cache, keyed runs of the models operation)."""
    import os
    import signal
    import subprocess

    src, store, log = tmp_path / "src", tmp_path / "store", tmp_path / "watch.log"
    src.mkdir()
    _write_chain(src)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codequarry", "watch", str(src), "--store", str(store)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )

    try:
        assert wait_for(lambda: "watching" in log.read_text()), log.read_text()
        for n, (joined, comment) in enumerate([(False, 0), (True, 0), (True, 2)], start=1):
            _write_chain(src, joined=joined, comment=comment)
            fresh = tmp_path / f"fresh{n}"
            extract(make_plan([src], store=fresh, repo="src", workers=1))
            want = dump(fresh)
            # a save may come as two batches (truncate, write): the last one must give a fresh store
            assert wait_for(lambda want=want: dump(store) == want), (joined, comment, log.read_text())  # type: ignore[misc]
            assert bool(_errors(store, OP)) == joined
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_an_operations_errors_row_is_cut_and_cleaned_as_a_workers_is() -> None:
    """Text an operation quotes from the corpus (a lone surrogate from a string literal, a huge
    message) still gives a row Arrow can build: the same cuts as a worker's errors row."""
    from codequarry.operations import OperationContext, OperationError
    from codequarry.operrors import table_of

    ctx = OperationContext.__new__(OperationContext)
    ctx.name, ctx.error_repos, ctx._errors = "acme.x", None, []
    ctx.error("a", "x.py", None, "limit", "bad \udc80 name " + "m" * 5000, source_line="s" * 900, line=2**63)
    row = table_of(ctx._errors, "acme.x").to_pylist()[0]
    assert row["message"].startswith("bad \\udc80 name ") and len(row["message"]) == 2000 - 1 + len("\\udc80")
    assert len(row["source_line"]) == 500 and row["line"] is None and row["extractor"] == "acme.x"
    with pytest.raises(OperationError, match="kind and a message"):
        ctx.error("a", "x.py", None, "limit", 42)  # type: ignore[arg-type]

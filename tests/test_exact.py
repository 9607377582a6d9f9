"""Exact, always: after any sequence of edits, adds, deletes, renames, selection changes, plugins added
and removed, entry points installed and removed, extractor version bumps, runs killed at a pause
point and runs with nothing to do, every table of the store (derived ones included) equals a fresh
extract of the same tree with the same selection.

The tree exercises every built-in operation: Flask, FastAPI and Django routes, Django ORM models
spread over several files, and a test suite; a plugin brings an operation (tests.plugins.ops_good)
and a file extractor whose version the test bumps; a distribution installed as a ``.dist-info``
folder on the plugin folder (on ``sys.path``, never site-packages) registers another extractor and
operation through the ``codequarry.extractors`` entry-point group.

Runs go through the `quarry` command (in this process), so the no-op fast path (fastpath.py) is in
the loop: a ``noop`` step runs twice with nothing changed and the second run must be answered by
the fast path; every other step must defeat it when it changes something, among them a ``racy``
edit that keeps both the size and the mtime of a file written in the same timestamp tick.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codequarry import extract, make_plan, open_store
from codequarry.cli import main as quarry_main
from codequarry.corpus_io import RACY_NS
from codequarry.query import table
from codequarry.testing import examples
from tests import paths
from tests.storedump import dump

FIXTURES = paths.FIXTURES
TREES = [
    "routes/flask_app",
    "routes/fastapi_app",
    "routes/django_project",
    "models/django",
    "models/testsuite",
    "exact/import_cycle",
]
#: copied under a name that sorts last, so the file indices of the pinned examples keep their files
COPY_AS = {"exact/import_cycle": "zz_import_cycle"}

SELECTIONS: list[dict[str, list[str]]] = [
    {},
    {"deselect": ["python.core.calls"]},
    {"select": ["python"]},  # brings the opt-in python.call_graph
    {"deselect": ["python.web"]},
    {"deselect": ["python.models", "python.tests"]},
]

SNIPPETS = [
    "\n\n@app.route('/extra/<int:n>', methods=['POST'])\ndef extra(n):\n    return str(n)\n",
    "\n\nclass Extra(models.Model):\n    name = models.CharField(max_length=10)\n    owner = models.ForeignKey('auth.User', on_delete=models.CASCADE)\n",
    "\n\ndef test_extra():\n    assert helper(1) == 1\n",
    "\n\n@router.get('/more')\nasync def more():\n    return await fetch()\n",
    "\nx = 1\n",
]

#: a JavaScript file's two forms: readable, and minified (one line of ~1.8 KB, generated.py)
JS_STATEMENTS = [f"function step{i}(v) {{ return v + {i}; }}" for i in range(40)]
JS_FORMS = ("\n".join(JS_STATEMENTS) + "\n", ";".join(JS_STATEMENTS) + "\n")

PLUGIN = """
import ast
from codequarry import dataset, file_extractor, operation

@dataset("consts")
class Const:
    value: str

@dataset("const_counts")
class ConstCount:
    n: int
    tag: str

@file_extractor("acme.consts", version={version}, needs=["ast"], outputs=[Const])
def consts(src, out):
    for node in src.nodes(ast.Constant):
        if isinstance(node.value, str):
            out.consts.add(value=node.value + "{suffix}")

@operation("acme.const_counts", version={version}, inputs=["consts"], outputs=[ConstCount])
def const_counts(ctx):
    return ctx.sql("SELECT repo, path, sha256, count(*) AS n, '{suffix}' AS tag FROM consts "
                   "GROUP BY repo, path, sha256")
"""


ENTRY_MODULE = """
from codequarry import dataset, file_extractor, operation

@dataset("ep_lines")
class EpLine:
    n: int

@dataset("ep_totals", provenance=False)
class EpTotal:
    files: int

@file_extractor("acme_ep.lines", version=1, outputs=[EpLine])
def lines(src, out):
    out.ep_lines.add(n=src.text.count("\\n"))

@operation("acme_ep.totals", version=1, inputs=["ep_lines"], outputs=[EpTotal])
def totals(ctx):
    return ctx.sql("SELECT CAST(count(*) AS BIGINT) AS files FROM ep_lines")
"""
#: where a run can be killed (run.pause): before the scan, between scan and extraction, between two
#: table commits, before the publish
PAUSE_POINTS = ["scan", "execute", "table:errors", "table:files", "table:functions", "publish"]
#: steps after which the fast path must not answer (a bump only while the plugin is in the run)
DEFEATS = ("edit", "add", "delete", "rename", "move", "entry", "kill", "racy", "generated")
AGE = 3600 * 1_000_000_000  # edits are dated an hour back (older than the racy window), each apart


class World:
    """The tree, the store, and the options of the next run."""

    def __init__(self, base: Path, plugin_dir: Path, workers: int = 1) -> None:
        self.workers = workers  # of the judged runs (with more than one, drops and commits run in threads)
        self.src = base / "src"
        for rel in TREES:
            shutil.copytree(FIXTURES / rel, self.src / COPY_AS.get(rel, rel.replace("/", "_")))
        self.store = base / "store"
        self.fresh_dir = base / "fresh"
        self.fresh_dir.mkdir()
        self.plugin_dir = plugin_dir
        self.selection: dict[str, list[str]] = {}
        self.plugins: list[str] = []
        self.include_generated = False  # --include-generated
        self.minified = 0  # the form of web/bundle.js (JS_FORMS)
        self.version = 1
        self.counter = 0
        self.entry = False
        self.racy_at = 0.0
        self.fast: list[bool] = []  # per CLI run: answered by the fast path
        self.write_plugin()
        (self.src / "web").mkdir()
        for name in ("bundle.js", "vendor.min.js"):
            (self.src / "web" / name).write_text(JS_FORMS[0])
            self.aged(self.src / "web" / name)

    def write_plugin(self) -> None:
        (self.plugin_dir / "acme_exact.py").write_text(
            PLUGIN.format(version=self.version, suffix="!" * self.version)
        )
        sys.modules.pop("acme_exact", None)

    def toggle_entry_point(self) -> None:
        """Install or remove a distribution registering an extractor and an operation by entry point."""
        dist = self.plugin_dir / "acme_ep-1.0.dist-info"
        self.entry = not self.entry
        if self.entry:
            (self.plugin_dir / "acme_ep_mod.py").write_text(ENTRY_MODULE)
            dist.mkdir()
            (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ep\nVersion: 1.0\n")
            (dist / "entry_points.txt").write_text("[codequarry.extractors]\nacme_ep = acme_ep_mod\n")
        else:
            shutil.rmtree(dist)
        sys.modules.pop("acme_ep_mod", None)

    def aged(self, path: Path) -> None:
        """Date a written file an hour back, one millisecond per step apart: older than the racy
        window (so that the fast path may vouch for it), and never the mtime it had before."""
        stamp = time.time_ns() - AGE + self.counter * 1_000_000
        os.utime(path, ns=(stamp, stamp))

    def files(self) -> list[Path]:
        return sorted(p for p in self.src.rglob("*.py") if ".quarry" not in p.parts)

    def apply(self, step: tuple[str, int]) -> None:
        kind, n = step
        files = self.files()
        self.counter += 1
        if kind == "edit" and files:
            target = files[n % len(files)]
            target.write_text(target.read_text() + SNIPPETS[n % len(SNIPPETS)] + f"# {self.counter}\n")
            self.aged(target)
        elif kind == "add":
            folder = files[n % len(files)].parent if files else self.src
            added = folder / f"added_{self.counter}.py"
            added.write_text(
                "from flask import Flask\nfrom django.db import models\napp = Flask(__name__)\n"
                + SNIPPETS[n % len(SNIPPETS)]
            )
            self.aged(added)
        elif kind == "delete" and files:
            files[n % len(files)].unlink()
        elif kind == "rename" and files:
            target = files[n % len(files)]
            target.rename(target.with_name(f"renamed_{self.counter}.py"))
        elif kind == "select":
            self.selection = SELECTIONS[n % len(SELECTIONS)]
        elif kind == "plugin":
            self.plugins = (
                []
                if self.plugins
                else ["tests.plugins.ops_good", "tests.plugins.ops_partitioned", "acme_exact"]
            )
        elif kind == "bump":  # the plugin's extractor and operation versions, and their rows, change
            self.version += 1
            self.write_plugin()
        elif kind == "move":  # the whole tree to another folder name: still the same repo
            target = self.src.parent / f"tree{self.counter}"
            self.src.rename(target)
            self.src = target
        elif kind == "entry":
            self.toggle_entry_point()
        elif kind == "kill" and files:  # an edit, and a run of it killed at a pause point
            target = files[n % len(files)]
            target.write_text(target.read_text() + f"\ndef killed_{self.counter}():\n    return 1\n")
            self.aged(target)
            self.killed_run(PAUSE_POINTS[n % len(PAUSE_POINTS)])
        elif kind == "noop":  # nothing changes: the run after the next one is the fast path's
            time.sleep(max(0.0, self.racy_at + RACY_NS / 1e9 + 0.5 - time.time()))
            self.run()
        elif kind == "racy" and files:
            self.racy_edit(files[n % len(files)])
        elif kind == "generated":  # the option switched, or the bundle minified or made readable
            if n % 2:
                self.include_generated = not self.include_generated
            else:
                self.minified = 1 - self.minified
                bundle = self.src / "web" / "bundle.js"
                bundle.write_text(JS_FORMS[self.minified])
                self.aged(bundle)

    def racy_edit(self, target: Path) -> None:
        """A file written, extracted, and written again within one mtime tick: same size, same mtime."""
        text = target.read_text()
        target.write_text(text + "# a\n")
        st = target.stat()
        self.run()
        target.write_text(text + "# b\n")
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.racy_at = time.time()

    def argv(self) -> list[str]:
        args = ["extract", str(self.src), "--store", str(self.store), "-q", "-w", str(self.workers)]
        for plugin in self.plugins:
            args += ["--plugin", plugin]
        for name in self.selection.get("select", []):
            args += ["--select", name]
        for name in self.selection.get("deselect", []):
            args += ["--skip", name]
        if self.include_generated:
            args.append("--include-generated")
        return args

    def killed_run(self, point: str) -> None:
        """`quarry extract` in a child process, SIGKILLed at ``point`` (or finished, if the run has
        nothing to do there)."""
        flag = self.src.parent / "paused"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "QUARRY_PAUSE_AT": point,
            "QUARRY_PAUSE_FILE": str(flag),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "codequarry", *self.argv()],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 120
        while not flag.exists() and proc.poll() is None:
            assert time.time() < deadline, f"no pause at {point}"
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        flag.unlink(missing_ok=True)

    def options(self) -> dict[str, Any]:
        return {
            "workers": 1,
            "plugins": list(self.plugins),
            "include_generated": self.include_generated,
            **self.selection,
        }

    def run(self) -> Any:
        """`quarry extract` (in this process); records whether the fast path answered it."""
        sys.argv = ["quarry", *self.argv()]
        handler = signal.getsignal(signal.SIGTERM)
        try:
            quarry_main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        finally:
            signal.signal(signal.SIGTERM, handler)
        self.fast.append(_answered_by_the_fast_path(self.store))

    def fresh(self) -> dict[str, list[str]]:
        """A fresh extract of the tree as it is, under the repo name the store knows it by."""
        store = self.fresh_dir / f"s{self.counter}"
        extract(make_plan([self.src], store=store, repo="src", **self.options()))
        out = dump(store)
        shutil.rmtree(store)
        return out


def _answered_by_the_fast_path(store: Path) -> bool:
    """Was the store's last run the fast path's? Its report has the one stage ``fast path`` (a
    command's run also leaves its ``runs`` row pending now: report/runs.py ``save``)."""
    run_id = json.loads((store / "progress.json").read_text())["run_id"]
    report = json.loads((store / "runs" / f"{run_id}.json").read_text())
    return [s["name"] for s in report["stages"]] == ["fast path"]


STEP = st.tuples(
    st.sampled_from(
        [
            "edit",
            "add",
            "delete",
            "rename",
            "select",
            "plugin",
            "bump",
            "move",
            "entry",
            "kill",
            "noop",
            "racy",
            "generated",
        ]
    ),
    st.integers(0, 60),
)


@settings(
    max_examples=examples(6), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, min_size=2, max_size=6), workers=st.sampled_from([1, 2]))
# found by hypothesis on 32dcb8b: a model class added to a test module, then a package's __init__.py
# deleted; orm_models and orm_fields differed from a fresh extract
@example(steps=[("edit", 16), ("delete", 0)], workers=1)
# two workers: the dropped rows cut by threads while the files are extracted, the tables committed by two
@example(steps=[("edit", 3), ("add", 5), ("delete", 7), ("rename", 11), ("kill", 2)], workers=2)
# minified files: the option switched on, the bundle minified under it, the option off, made readable
@example(steps=[("generated", 1), ("generated", 0), ("generated", 1), ("generated", 0)], workers=2)
def test_every_table_equals_a_fresh_extract_after_any_steps(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[str, int]],
    workers: int,
) -> None:
    base = tmp_path_factory.mktemp("exact")
    plugin_dir = base / "plugins"
    plugin_dir.mkdir()
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    judge(World(base, plugin_dir, workers), steps)
    shutil.rmtree(base)


def judge(world: World, steps: list[tuple[str, int]]) -> None:
    """Apply each step, run `quarry extract`, and compare every table with a fresh extract."""
    world.run()
    for step in steps:
        world.apply(step)
        world.run()
        snap = open_store(world.store).snapshot()
        assert snap is not None and set(snap.run["sources"]) == {"src"}
        if step[0] == "move":
            assert snap.run["files_parsed"] == 0
        if step[0] == "noop":
            assert world.fast[-1], f"a second run with nothing changed was not the fast path's ({steps})"
        elif step[0] in DEFEATS or (step[0] == "bump" and world.plugins):
            assert not world.fast[-1], f"the fast path answered a run after {step}"
        assert dump(world.store) == world.fresh(), f"after {step} in {steps}"


def test_kills_entry_points_and_the_fast_path_in_one_sequence(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every new kind of step at least once, whatever hypothesis draws: a killed run at each pause
    point, an entry point installed and removed, no-op runs answered by the fast path, and the
    changes that must defeat it (a racy edit, a plugin's version bump, an entry point)."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    steps = [("noop", 0), ("racy", 1), ("noop", 0), ("entry", 0), ("noop", 0), ("plugin", 0)]
    steps += [("noop", 0), ("bump", 0), ("noop", 0), ("entry", 0), ("move", 0), ("noop", 0)]
    steps += [("kill", i) for i in range(len(PAUSE_POINTS))] + [("noop", 0), ("select", 2), ("noop", 0)]
    judge(World(tmp_path, plugin_dir), steps)


def test_a_run_without_an_extractor_keeps_the_derived_tables(tmp_path: Path) -> None:
    """The reported bug: a run with --skip python.core.calls emptied routes, orm_models and tests."""
    world = World(tmp_path, tmp_path)
    world.run()
    before = dump(world.store)
    assert {"routes", "orm_models", "tests"} <= set(before)
    world.selection = {"deselect": ["python.core.calls"]}
    world.run()
    middle = dump(world.store)
    assert "calls" not in middle
    for name in ("routes", "orm_models", "orm_fields", "tests"):
        assert middle[name] == before[name], name
    world.selection = {}
    world.run()
    assert dump(world.store) == before


def test_an_opt_in_operation_left_out_is_dropped_not_stale(tmp_path: Path) -> None:
    world = World(tmp_path, tmp_path)
    world.selection = {"select": ["python"]}
    world.run()
    assert "call_graph" in dump(world.store)
    world.selection = {}
    world.apply(("edit", 3))
    world.run()
    snap = open_store(world.store).snapshot()
    assert snap is not None and "call_graph" not in snap.tables
    assert dump(world.store) == world.fresh()


def test_an_operation_whose_output_was_emptied_runs_again(tmp_path: Path) -> None:
    """Freshness looks at an operation's outputs too: here a removed plugin extractor had emptied
    nothing of it, but a store written by an older version could have; emptying routes by hand
    (a Delta overwrite outside any run, published as a snapshot) is noticed."""
    from deltalake import DeltaTable, write_deltalake

    from codequarry.store.store import TableState

    world = World(tmp_path, tmp_path)
    world.run()
    store = open_store(world.store)
    snap = store.snapshot()
    assert snap is not None and snap.tables["routes"].rows > 0
    path = str(store.table_path("routes"))
    write_deltalake(path, table(store, "routes").slice(0, 0), mode="overwrite")
    tables = {**snap.tables, "routes": TableState(DeltaTable(path).version(), 0)}
    store.reader = False
    store.publish(tables, run=snap.run)
    world.run()
    assert dump(world.store) == world.fresh()


def _two_repos(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(FIXTURES / "routes" / "flask_app", a)
    shutil.copytree(FIXTURES / "routes" / "fastapi_app", b)
    return a, b


def test_a_partitioned_operation_rederives_only_the_changed_repo(tmp_path: Path) -> None:
    a, b = _two_repos(tmp_path)
    store = tmp_path / "store"
    opts: dict[str, Any] = {"workers": 1, "plugins": ["tests.plugins.ops_partitioned"]}
    first = extract(make_plan([a, b], store=store, **opts))
    assert first.operations["acme.defs"]["stats"]["partitions seen"] == "all"
    api = a / "shop" / "api.py"
    api.write_text(api.read_text() + "\n\ndef one_more():\n    return 1\n")
    s = extract(make_plan([a, b], store=store, **opts))
    assert s.operations["acme.defs"]["partitions"] == 1
    assert s.operations["acme.defs"]["stats"]["partitions seen"] == ["a"]
    assert s.operations["python.web.routes"]["partitions"] == 1
    fresh = tmp_path / "fresh"
    extract(make_plan([a, b], store=fresh, **opts))
    assert dump(store) == dump(fresh)
    # a repo's files all deleted: its partition is derived again, empty
    shutil.rmtree(b / "api")
    (b / "keep.py").write_text("x = 1\n")
    s = extract(make_plan([a, b], store=store, **opts))
    assert s.operations["acme.defs"]["stats"]["partitions seen"] == ["b"]
    fresh2 = tmp_path / "fresh2"
    extract(make_plan([a, b], store=fresh2, **opts))
    assert dump(store) == dump(fresh2)


def test_an_operation_outside_its_partitions_fails_the_run(tmp_path: Path) -> None:
    from codequarry.operations import OperationError

    a, b = _two_repos(tmp_path)
    store = tmp_path / "store"
    opts: dict[str, Any] = {"workers": 1, "plugins": ["tests.plugins.ops_partition_liar"]}
    extract(make_plan([a, b], store=store, **opts))  # whole: any repo is allowed
    before = open_store(store).snapshot()
    (a / "shop" / "api.py").write_text("def changed():\n    return 2\n")
    with pytest.raises(OperationError, match="outside the repos it was given"):
        extract(make_plan([a, b], store=store, **opts))
    after = open_store(store).snapshot()
    assert before is not None and after is not None and after.id == before.id


# ---- f2 (issue 12 item 2): keyed incremental operations in the state machine --------------------------
# The built-in keyed operations (python.tests.cases per file, python.models.resolve per model) are
# judged by the test above already; this block adds a user's keyed operation with an affected() hook
# (the example of codequarry.operation's docstring) to every plugin run, over the same random steps.


class KeyedWorld(World):
    """The world above, whose plugin step also brings the keyed example operation of the API docs."""

    def write_plugin(self) -> None:
        super().write_plugin()
        from tests.test_incops import doc_example

        (self.plugin_dir / "acme_keyed_exact.py").write_text(doc_example())
        sys.modules.pop("acme_keyed_exact", None)

    def options(self) -> dict[str, Any]:
        opts = super().options()
        if opts["plugins"]:
            opts["plugins"] = [*opts["plugins"], "acme_keyed_exact"]
        return opts

    def argv(self) -> list[str]:
        """The CLI runs of the judge (the fast path in the loop) bring the keyed operation too."""
        args = super().argv()
        return [*args, "--plugin", "acme_keyed_exact"] if self.plugins else args


@settings(
    max_examples=examples(4), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, min_size=2, max_size=5))
def test_a_keyed_plugin_operation_equals_a_fresh_extract_after_any_steps(  # type: ignore[no-untyped-def]
    tmp_path_factory, monkeypatch, steps
) -> None:
    base = tmp_path_factory.mktemp("exact_keyed")
    plugin_dir = base / "plugins"
    plugin_dir.mkdir()
    monkeypatch.syspath_prepend(str(plugin_dir))
    world = KeyedWorld(base, plugin_dir)
    world.plugins = ["acme_exact"]  # the keyed operation from the first run on
    world.run()
    for step in steps:
        world.apply(step)
        world.run()
        assert dump(world.store) == world.fresh(), f"after {step} in {steps}"
    shutil.rmtree(base)


# ---- end of f2's block ---------------------------------------------------------------------------------

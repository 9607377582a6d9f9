"""`quarry watch`: a real watch process applies saved changes, logs them, and stops cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from tests import paths

FIXTURE = paths.FIXTURES / "routes" / "flask_app"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
QUARRY = [sys.executable, "-m", "codequarry"]


def sql(store: Path, query: str) -> str:
    done = subprocess.run(
        [*QUARRY, "sql", "--store", str(store), "--format", "csv", query],
        capture_output=True,
        text=True,
        env=ENV,
    )
    return done.stdout if done.returncode == 0 else ""


def wait_for(predicate, seconds: float = 90.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_watch_applies_saved_changes_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    store = tmp_path / "store"
    log = tmp_path / "watch.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [*QUARRY, "watch", str(src), "--store", str(store)], stdout=fh, stderr=subprocess.STDOUT, env=ENV
        )
    try:
        assert wait_for(lambda: "watching" in log.read_text()), log.read_text()
        ps = psutil.Process(proc.pid)
        # an edit, an add and a delete, each becomes visible to a reader
        api = src / "shop" / "api.py"
        api.write_text(api.read_text() + "\n\ndef watched_edit():\n    return 1\n")
        assert wait_for(lambda: "watched_edit" in sql(store, "SELECT name FROM functions")), log.read_text()
        (src / "shop" / "fresh.py").write_text("def watched_add():\n    return 2\n")
        assert wait_for(lambda: "watched_add" in sql(store, "SELECT name FROM functions")), log.read_text()
        (src / "shop" / "extras.py").unlink()
        assert wait_for(lambda: "shop/extras.py" not in sql(store, "SELECT path FROM files")), log.read_text()
        # a burst of 200 files written at once is applied in few runs (coalesced), not 200
        burst = src / "burst"
        burst.mkdir()
        for i in range(200):
            (burst / f"m{i}.py").write_text(f"def burst_{i}():\n    return {i}\n")
        assert wait_for(lambda: "200" in sql(store, "SELECT count(*) FROM files WHERE path LIKE 'burst/%'"))
        children = ps.children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    applied = [line for line in text.splitlines() if " applied " in line and "tables:" in line]
    assert len(applied) <= 3 + 1 + 10, text  # catch-up, edit, add, delete, and the burst in a few runs
    assert "tables:" in applied[-1] and " ms; snapshot " in applied[-1]
    assert "Traceback" not in text
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not (store / "lock").exists() or _lock_free(store)
    # the store is consistent: what a fresh extract gives
    assert "watched_add" in sql(store, "SELECT name FROM functions")
    # every applied batch is a recorded run of kind 'watch', with its report
    kinds = [k.strip('"') for k in sql(store, "SELECT kind FROM runs").split()]
    assert kinds.count("watch") >= 3, kinds


def _lock_free(store: Path) -> bool:
    import fcntl

    with open(store / "lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
    return True


def test_watch_ctrl_c_exits_130(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    store = tmp_path / "store"
    log = tmp_path / "watch.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [*QUARRY, "watch", str(src), "--store", str(store)], stdout=fh, stderr=subprocess.STDOUT, env=ENV
        )
    try:
        assert wait_for(lambda: "watching" in log.read_text()), log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text()


def test_a_batch_patches_the_last_listing_and_equals_a_fresh_extract(tmp_path: Path) -> None:
    """watch's batches reuse the last listing, stat'ing only the paths watchfiles named; every step
    leaves the store equal to a fresh extract, and only steps the patch cannot settle list whole."""
    from codequarry import make_plan, partcache
    from codequarry.watch import ListingCache

    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    (src / ".gitignore").write_text("ignored/\n")
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1)
    listing = ListingCache()
    partcache.enable()  # as watch() does: the operations read parts kept from the batches before
    try:
        _patched_batches(tmp_path, src, store, plan, listing)
    finally:
        partcache.enable(False)


def _patched_batches(tmp_path: Path, src: Path, store: Path, plan: Any, listing: Any) -> None:
    from codequarry import extract, make_plan
    from codequarry.watch import apply
    from tests.storedump import dump

    apply(plan, lambda _line: None, None, listing)
    assert listing.full == 1
    api, extras = src / "shop" / "api.py", src / "shop" / "extras.py"
    steps: list[tuple[list[Path], bool]] = []

    def step(paths_: list[Path], whole: bool) -> None:
        before = listing.full
        listing.changed = {str(p) for p in paths_}
        apply(plan, lambda _line: None, len(paths_), listing)
        assert listing.full == before + (1 if whole else 0), steps
        fresh = tmp_path / f"fresh{len(steps)}"
        extract(make_plan([src], store=fresh, workers=1, repo=plan.sources[0].repo))
        assert dump(store) == dump(fresh), steps
        steps.append((paths_, whole))

    api.write_text(api.read_text() + "\n\ndef patched_edit():\n    return 1\n")
    step([api], whole=False)
    extras.unlink()
    step([extras], whole=False)
    (src / "shop" / "new.py").write_text("def added():\n    return 2\n")
    step([src / "shop" / "new.py"], whole=True)  # not listed before: a new file lists whole
    (src / ".gitignore").write_text("ignored/\nshop/new.py\n")
    step([src / ".gitignore"], whole=True)
    api.write_text(api.read_text() + "\n\ndef second_edit():\n    return 3\n")
    step([api, src / "shop" / "gone-before-the-batch.py"], whole=True)


def test_long_sessions_checkpoint_the_logs_they_grow(tmp_path: Path) -> None:
    """Every open of a Delta table replays the commits since its last checkpoint: a batch checkpoints
    the tables it touched once their logs grew CHECKPOINT_EVERY commits; readers see the same rows."""
    from codequarry import make_plan, open_store
    from codequarry.query import table
    from codequarry.watch import ListingCache, apply, checkpoint_logs

    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1)
    listing = ListingCache()
    apply(plan, lambda _line: None, None, listing)
    api = src / "shop" / "api.py"
    for i in range(3):
        api.write_text(api.read_text() + f"\n\ndef grown_{i}():\n    return {i}\n")
        listing.changed = {str(api)}
        apply(plan, lambda _line: None, 1, listing)
    st = open_store(store)
    rows = sorted(map(str, table(st, "functions").to_pylist()))
    assert checkpoint_logs(st, ["functions", "no_such_table"], every=100) == []
    assert checkpoint_logs(st, ["functions", "no_such_table"], every=1) == ["functions"]
    assert (st.table_path("functions") / "_delta_log" / "_last_checkpoint").exists()
    assert checkpoint_logs(st, ["functions"], every=1) == []  # nothing past the new checkpoint
    assert sorted(map(str, table(open_store(store), "functions").to_pylist())) == rows


def test_warm_batches_equal_a_fresh_extract_with_models_tests_and_other_writers(tmp_path: Path) -> None:
    """A watch process keeps Delta handles, part keys and rows warm between batches (store/warm.py)
    and finds the operations' changed files from its own commits: every batch, over a tree with ORM
    models and unittest suites across files (the keyed operations), equals a fresh extract, also
    after another process wrote the store (a CLI run, a compaction) between two batches."""
    from codequarry import extract, make_plan, partcache
    from codequarry.store import warm
    from codequarry.watch import Idle, ListingCache, apply
    from tests.storedump import dump

    src = tmp_path / "src"
    for tree in ("models/django", "models/testsuite", "routes/flask_app"):
        shutil.copytree(paths.FIXTURES / tree, src / tree.replace("/", "_"))
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1)
    listing, idle = ListingCache(), Idle()
    repo = plan.sources[0].repo
    partcache.enable()
    try:
        apply(plan, lambda _line: None, None, listing, idle)
        idle.run(plan, lambda _line: None, listing)
        py = sorted(p for p in src.rglob("*.py") if p.stat().st_size > 0)
        snippets = [
            "\n\nclass WatchedModel(models.Model):\n    name = models.CharField(max_length=10)\n",
            "\n\nclass WatchedCase(unittest.TestCase):\n    def test_w(self):\n        pass\n",
            "\n\ndef watched():\n    return 1\n",
        ]
        for i, victim in enumerate(py[:: max(1, len(py) // 6)][:6]):
            text = victim.read_text()
            victim.write_text(text[: len(text) // 2] + snippets[i % 3] + text[len(text) // 2 :])
            listing.changed = {str(victim)}
            summary = apply(plan, lambda _line: None, 1, listing, idle)
            assert summary.published
            if i == 2:  # another writer between two batches: the warm handles read its commits
                other = py[-1]
                other.write_text(other.read_text() + "\n\ndef from_elsewhere():\n    return 2\n")
                subprocess.run(
                    [*QUARRY, "extract", str(src), "--store", str(store), "--workers", "1"],
                    check=True,
                    capture_output=True,
                    env=ENV,
                )
            if i == 4:  # a compaction (another process) rewrites every table's parts
                subprocess.run(
                    [*QUARRY, "compact", "--store", str(store)], check=True, capture_output=True, env=ENV
                )
            fresh = tmp_path / f"fresh{i}"
            extract(make_plan([src], store=fresh, workers=1, repo=repo))
            assert dump(store) == dump(fresh), (i, victim)
            idle.run(plan, lambda _line: None, listing)
        victim.unlink()  # a deleted file: its rows leave every table, derived ones included
        listing.changed = {str(victim)}
        apply(plan, lambda _line: None, 1, listing, idle)
        fresh = tmp_path / "fresh-deleted"
        extract(make_plan([src], store=fresh, workers=1, repo=repo))
        assert dump(store) == dump(fresh)
        assert warm.enabled()
    finally:
        partcache.enable(False)
    assert not warm.enabled()


@contextmanager
def _warm_store(tmp_path: Path) -> Iterator[tuple[Path, Any, Any, Any]]:
    """The fixture tree copied, extracted by a first watch batch with the part cache on (as watch()
    runs): (source folder, store, plan, listing) for the batches a test applies next."""
    from codequarry import make_plan, partcache
    from codequarry.store import Store
    from codequarry.watch import ListingCache, apply

    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1)
    listing = ListingCache()
    partcache.enable()
    try:
        apply(plan, lambda _line: None, None, listing)
        yield src, Store.create(store), plan, listing
    finally:
        partcache.enable(False)


def test_warm_change_records_name_the_files_a_batch_changed(tmp_path: Path) -> None:
    """The keys a batch's commit changed are recorded per table version, and are what comparing the
    parts the version removed and added gives (partitions.changed_files without the records)."""
    from codequarry import partcache
    from codequarry.partitions import changed_files
    from codequarry.store import warm
    from codequarry.watch import apply

    with _warm_store(tmp_path) as (src, st, plan, listing):
        before = {k: v.version for k, v in st.snapshot().tables.items()}  # type: ignore[union-attr]
        api = src / "shop" / "api.py"
        api.write_text(api.read_text() + "\n\ndef recorded():\n    return 1\n")
        listing.changed = {str(api)}
        apply(plan, lambda _line: None, 1, listing)
        after = {k: v.version for k, v in st.snapshot().tables.items()}  # type: ignore[union-attr]
        moved = {k for k in after if after[k] != before.get(k)}
        assert {"files", "functions"} <= moved
        inputs = {k: after[k] for k in ("files", "functions", "calls")}
        old = {k: before[k] for k in inputs}
        recorded = changed_files(st, old, inputs)
        for name in inputs:
            assert warm.changes(st.table_path(name), old[name], inputs[name]) is not None
        partcache.enable(False)  # the same question answered from the parts themselves
        assert changed_files(st, old, inputs) == recorded == {(plan.sources[0].repo, "shop/api.py")}


def test_a_crowded_table_is_compacted_when_idle_not_in_the_batch(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A batch that crowds a table publishes without compacting it; the watch's idle step does,
    publishing a snapshot of the same rows that the listing follows (no full listing after it)."""
    from deltalake import DeltaTable

    from codequarry import make_plan, partcache, watch
    from codequarry.store import Store, maintenance
    from codequarry.watch import Idle, ListingCache, apply
    from tests.storedump import dump

    monkeypatch.setattr(maintenance, "AUTO_COMPACT_FILES", 2)
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    (src / "generated.py").write_text("".join(f"def gen_{i}(x):\n    return x + {i}\n" for i in range(3000)))
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1)
    listing, idle = ListingCache(), Idle()
    partcache.enable()
    try:
        apply(plan, lambda _line: None, None, listing, idle)
        idle.run(plan, lambda _line: None, listing)
        api = src / "shop" / "api.py"
        for i, victim in enumerate(sorted((src / "shop").glob("*.py")) * 2):
            victim.write_text(victim.read_text() + f"\n\ndef crowded_{i}():\n    return {i}\n")
            listing.changed = {str(victim)}
            summary = apply(plan, lambda _line: None, 1, listing, idle)
            assert summary.published and not any("compacted" in n for n in summary.notes)
        assert "functions" in idle.crowded, "the batches crowded no table"
        before = Store.create(store).snapshot()
        rows = dump(store)
        # the watch merges only parts under its target (the small parts batches wrote), into parts
        # of about that size: the big part (the generated module's functions) is left as it is
        folder = str(store / "tables" / "functions")
        parts = {Path(u).name: Path(u).stat().st_size for u in DeltaTable(folder).file_uris()}
        biggest = max(parts, key=lambda n: parts[n])
        monkeypatch.setattr(watch, "COMPACT_TARGET_BYTES", parts[biggest] // 2)
        lines: list[str] = []
        idle.run(plan, lines.append, listing)
        after = Store.create(store).snapshot()
        assert before is not None and after is not None and after.id > before.id
        assert any("compacted" in line for line in lines), lines
        now = [Path(u).name for u in DeltaTable(folder).file_uris()]
        assert biggest in now and len(now) < len(parts), (parts, now)
        assert dump(store) == rows and listing.snapshot == after.id
        api.write_text(api.read_text() + "\n\ndef after_compaction():\n    return 9\n")
        listing.changed = {str(api)}
        full = listing.full
        apply(plan, lambda _line: None, 1, listing, idle)
        assert listing.full == full  # the compaction's snapshot did not force a full listing
        assert "after_compaction" in str(dump(store))
    finally:
        partcache.enable(False)


def kept_example(version: int = 1, extra: int = 0) -> str:
    """The state-keeping example of the operations module's docstring, as a plugin module (its
    version and counts shifted, to stand for a bumped release of it)."""
    import textwrap

    from codequarry import operations

    block = textwrap.dedent((operations.__doc__ or "").rsplit("::\n", 1)[1])
    block = block.replace('version=1, inputs=["classes"]', f'version={version}, inputs=["classes"]')
    return block.replace("[counts[n] for n in", f"[counts[n] + {extra} for n in")


def test_kept_operation_states_follow_every_batch_and_are_rebuilt_on_any_doubt(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    """Operations keep state between a watch's batches (ctx.kept: the tests class index, the models'
    base last parts, the docstring example's name counts). A batch updates them from the changed
    rows, never builds them, and equals a fresh extract: an edit, a model base class renamed, a file
    with models deleted. Another writer between two batches (a CLI extract; a CLI run of a bumped
    version of the plugin) makes the next batch build them again, and it still equals a fresh one."""
    from codequarry import extract, make_plan, partcache
    from codequarry.operations import OperationContext
    from codequarry.watch import Idle, ListingCache, apply, prime
    from tests.storedump import dump

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "acme_namesakes.py").write_text(kept_example())
    monkeypatch.syspath_prepend(str(plugins))
    sys.modules.pop("acme_namesakes", None)
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(plugins), ENV["PYTHONPATH"]])}
    builds: list[tuple[str, str]] = []
    real = OperationContext.kept

    def counting(self, tag, build, update):  # type: ignore[no-untyped-def]
        def counted():  # type: ignore[no-untyped-def]
            builds.append((self.name, tag))
            return build()

        return real(self, tag, counted, update)

    monkeypatch.setattr(OperationContext, "kept", counting)
    src = tmp_path / "src"
    for tree in ("models/django", "models/testsuite"):
        shutil.copytree(paths.FIXTURES / tree, src / tree.replace("/", "_"))
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1, plugins=["acme_namesakes"])
    repo = plan.sources[0].repo
    listing, idle = ListingCache(), Idle()
    n = 0

    def batch(*changed: Path) -> list[tuple[str, str]]:
        nonlocal n
        builds.clear()
        listing.changed = {str(p) for p in changed}
        assert apply(plan, lambda _line: None, len(changed), listing, idle).published
        idle.run(plan, lambda _line: None, listing)
        built = sorted(set(builds))
        n += 1
        fresh = tmp_path / f"fresh{n}"
        extract(make_plan([src], store=fresh, workers=1, repo=repo, plugins=["acme_namesakes"]))
        assert dump(store) == dump(fresh), (n, built)
        return built

    def edit(path: Path, old: str, new: str) -> Path:
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
        return path

    def cli(*extra: str) -> None:
        subprocess.run(
            [
                *QUARRY,
                "extract",
                str(src),
                "--store",
                str(store),
                "-w",
                "1",
                "--plugin",
                "acme_namesakes",
                *extra,
            ],
            check=True,
            capture_output=True,
            env=env,
        )

    partcache.enable()
    try:
        apply(plan, lambda _line: None, None, listing, idle)
        idle.run(plan, lambda _line: None, listing)
        dj, ts = src / "models_django", src / "models_testsuite"
        kept = {
            ("acme.namesakes", "names"),
            ("python.models.resolve", "lasts"),
            ("python.tests.cases", "classes"),
        }
        prime(plan)  # as the watch does before it says it is watching: the states are built
        # updated, never built: a test base added and renamed, a model base renamed, a class named
        # like another, a file with models deleted
        assert (
            batch(
                edit(
                    ts / "tests" / "base.py",
                    "class ",
                    "class Extra(unittest.TestCase):\n    pass\n\n\nclass ",
                )
            )
            == []
        )
        assert batch(edit(ts / "tests" / "base.py", "class Extra(", "class Extra2(")) == []
        assert batch(edit(dj / "core" / "models.py", "TimeStamped(models", "Stamped(models")) == []
        assert (
            batch(
                edit(
                    dj / "shop" / "models" / "product.py",
                    "class ",
                    "class Tag(models.Model):\n    pass\n\n\nclass ",
                )
            )
            == []
        )
        gone = dj / "blog" / "models.py"
        gone.unlink()  # a file with models deleted
        assert batch(gone) == []
        # another writer between two batches: its versions are not the states' own, so they are built
        edit(dj / "core" / "models.py", "Stamped(models", "TimeStamped(models")
        edit(ts / "tests" / "base.py", "class Extra2(", "class Extra3(")
        cli()
        assert set(batch(edit(ts / "tests" / "base.py", "class Extra3(", "class Extra4("))) == kept
        # a bumped release of the plugin run by the CLI (other rows): the watch's own version runs
        # whole again, builds its state, and gives its own rows
        (plugins / "acme_namesakes.py").write_text(kept_example(version=2, extra=1000))
        cli()
        (plugins / "acme_namesakes.py").write_text(kept_example())
        assert ("acme.namesakes", "names") in batch(
            edit(dj / "shop" / "models" / "product.py", "class Tag(", "class Tag2(")
        )
        assert batch(edit(dj / "shop" / "models" / "product.py", "class Tag2(", "class Tag3(")) == []
    finally:
        partcache.enable(False)


def test_a_warm_batch_that_meets_a_damaged_table_commits_no_table(tmp_path: Path) -> None:
    """A batch makes every table's commit actions (the rewrites, in threads) before it commits any:
    a part it must rewrite that is gone stops the batch with the damage named, and no table's log
    gained a commit (the cold way commits the tables before it in name order, for the next writer to
    roll back)."""
    import pyarrow.parquet as pq
    import pytest

    from codequarry.errors import StoreError
    from codequarry.watch import apply

    with _warm_store(tmp_path) as (src, st, plan, listing):
        before = st.snapshot()
        assert before is not None
        folder = st.table_path("functions")
        holding = [
            f
            for f in folder.glob("*.parquet")
            if "shop/api.py" in pq.read_table(f, columns=["path"]).column(0).to_pylist()
        ]
        assert len(holding) == 1
        holding[0].unlink()
        api = src / "shop" / "api.py"
        api.write_text(api.read_text() + "\n\ndef after_damage():\n    return 1\n")
        listing.changed = {str(api)}
        with pytest.raises(StoreError, match="functions"):
            apply(plan, lambda _line: None, 1, listing)
        assert st.snapshot().id == before.id  # type: ignore[union-attr]
        for name, state in before.tables.items():
            log = st.table_path(name) / "_delta_log"
            assert not (log / f"{state.version + 1:020d}.json").exists(), name


def test_a_batch_not_applied_names_the_file_escaped(tmp_path: Path) -> None:
    """The "not applied" line quotes the OSError's file name: an escape sequence in it (a name in the
    watched tree) is printed as text, never sent to the terminal."""
    from codequarry.watch import ListingCache, _not_applied, root_ids

    src = tmp_path / "src"
    src.mkdir()
    gone = src / "gone\x1b[31mRED\n.py"
    try:
        gone.open("rb")
    except OSError as exc:
        failed = exc
    lines: list[str] = []
    _not_applied(failed, root_ids([str(src)]), ListingCache(), lines.append)
    assert len(lines) == 1 and "\x1b" not in lines[0] and "\n" not in lines[0]
    assert "gone\\x1b[31mRED\\n.py" in lines[0] and "not applied: No such file or directory" in lines[0]

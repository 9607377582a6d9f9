"""The floor of a run: a no-change `quarry extract` imports neither pandas nor pyarrow.dataset
(0.3 s and more of a run that otherwise costs ~0.1 s), and pandas still works when asked for.

The no-op fast path (fastpath.py, stamp.py): an identical run after a no-op is answered without
importing pyarrow, deltalake, typer, rich or pydantic, prints what the normal path printed, is
recorded like one, and is refused whenever anything it vouches for moved: a file (even within the
racy window), the code, the entry points, the snapshot, a killed run's commit, another writer.

A run with work to do (cli_lean.py) imports neither typer nor rich and prints, stores and fails as
the typer app does; a plain folder's scan does not import dulwich."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from codequarry import extract, make_plan
from tests import paths

FIXTURE = paths.FIXTURES / "routes" / "flask_app"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

NO_CHANGE = """
import sys
sys.argv = ["quarry", "extract", sys.argv[1], "--store", sys.argv[2], "-q", "-w", "1"]
from codequarry.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(sorted(m for m in ("pandas", "pyarrow.dataset", "datafusion") if m in sys.modules))
"""


@contextlib.contextmanager
def threads_started() -> Iterator[list[str]]:
    """The names of the threads started in this process meanwhile (counted, not timed)."""
    started: list[str] = []
    real = threading.Thread.start

    def counting(self: threading.Thread) -> None:
        started.append(self.name)
        real(self)

    threading.Thread.start = counting  # type: ignore[method-assign]
    try:
        yield started
    finally:
        threading.Thread.start = real  # type: ignore[method-assign]


def test_a_no_change_run_imports_neither_pandas_nor_pyarrow_dataset(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    done = subprocess.run(
        [sys.executable, "-c", NO_CHANGE, str(src), str(store)], capture_output=True, text=True, env=ENV
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pandas_still_works_after_the_probe_is_skipped() -> None:
    code = """
import sys
from codequarry.pandas_probe import skip_pandas_probe
skip_pandas_probe()
import pyarrow as pa
t = pa.table({"a": [1, 2]})
assert "pandas" not in sys.modules
df = t.to_pandas()
assert type(df).__name__ == "DataFrame" and pa.table(df).num_rows == 2
assert pa.array(df["a"]).to_pylist() == [1, 2]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


HEAVY = ("pyarrow", "deltalake", "typer", "rich", "pydantic", "numpy", "datafusion")
PROBE = f"""
import sys
sys.argv = ["quarry", *sys.argv[1:]]
from codequarry.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print("HEAVY=" + ",".join(heavy), f"CODE={{code}}")
"""


def _aged_tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    old = time.time() - 3600  # older than the racy window: the fast path may vouch for them
    for p in src.rglob("*"):
        os.utime(p, (old, old))
    return src


def _quarry(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
    )


def _fast(done: subprocess.CompletedProcess[str]) -> bool:
    """Was the run answered by the fast path (nothing heavy imported)?"""
    assert "CODE=0" in done.stdout, done.stdout + done.stderr
    return "HEAVY= " in done.stdout


def _text(done: subprocess.CompletedProcess[str]) -> str:
    body = done.stdout.rsplit("HEAVY=", 1)[0]
    return re.sub(r"\d+\.\d\d s with", "T s with", body)


def test_a_no_op_after_a_no_op_is_the_fast_path_and_prints_the_same(tmp_path: Path) -> None:
    src, store = _aged_tree(tmp_path), tmp_path / "store"
    assert not _fast(_quarry("extract", src, "--store", store, "-w", "1"))  # publishes
    slow = _quarry("extract", src, "--store", store, "-w", "1")  # a no-op: writes the stamp
    fast = _quarry("extract", src, "--store", store, "-w", "1")
    assert not _fast(slow) and _fast(fast)
    assert _text(fast) == _text(slow) and "nothing to do" in _text(fast)
    # --no-fast-path and QUARRY_NO_FAST_PATH take the normal path; other options are another request
    assert not _fast(_quarry("extract", src, "--store", store, "-w", "1", "--no-fast-path"))
    assert not _fast(_quarry("extract", src, "--store", store, "-w", "1", env={"QUARRY_NO_FAST_PATH": "1"}))
    assert not _fast(_quarry("extract", src, "--store", store, "-w", "1", "--skip", "python.web"))


def test_fast_path_runs_are_recorded_and_appended_by_the_next_writer(tmp_path: Path) -> None:
    from codequarry import open_store, sql
    from codequarry.report import list_runs
    from codequarry.report.runs import DEFER_AT

    src, store = _aged_tree(tmp_path), tmp_path / "store"
    for _ in range(2):
        _quarry("extract", src, "--store", store, "-w", "1", "-q")
    assert _fast(_quarry("extract", src, "--store", store, "-w", "1", "-q"))
    assert _fast(_quarry("extract", src, "--store", store, "-w", "1", "-q"))
    pending = list((store / "runs" / "pending").glob("*.json"))
    assert len(pending) == 3  # the second (no-op) command's row waits with them (runs.DEFER_AT)
    runs = list_runs(store)
    assert len(runs) == 4 and [r.published for r in runs] == [True, False, False, False]
    for r in runs[2:]:
        report = json.loads((store / "runs" / f"{r.run_id}.json").read_text())
        assert report["stages"][0]["name"] == "fast path" and report["files"]["scanned"] == r.files
    assert sql(open_store(store), "SELECT count(*) FROM runs").column(0)[0].as_py() == 4
    # the normal runs' rows wait too, until DEFER_AT would: that run appends them all in one commit
    for i in range(DEFER_AT - 3):
        (src / f"extra{i}.py").write_text(f"x = {i}\n")
        assert not _fast(_quarry("extract", src, "--store", store, "-w", "1", "-q"))
        waiting = len(list((store / "runs" / "pending").glob("*.json")))
        assert waiting == (0 if i == DEFER_AT - 4 else 4 + i), (i, waiting)
        assert len(list_runs(store)) == 5 + i
    assert [r.run_id for r in list_runs(store)][:4] == [r.run_id for r in runs]
    assert sql(open_store(store), "SELECT count(DISTINCT run_id), count(*) FROM runs").to_pylist() == [
        {"count(DISTINCT runs.run_id)": DEFER_AT + 1, "count(*)": DEFER_AT + 1}
    ]  # none twice


def _stamped(tmp_path: Path) -> tuple[Path, Path]:
    src, store = _aged_tree(tmp_path), tmp_path / "store"
    for _ in range(2):
        _quarry("extract", src, "--store", store, "-w", "1", "-q")
    assert (store / "fastpath.json").is_file()
    return src, store


def test_a_file_written_in_the_stamps_tick_is_never_vouched_for(tmp_path: Path) -> None:
    src, store = _stamped(tmp_path)
    victim = next(src.rglob("*.py"))
    victim.write_text(victim.read_text().replace("(", "(", 1) + "#\n")  # now: within the racy window
    first = _quarry("extract", src, "--store", store, "-w", "1")
    assert not _fast(first) and "1 changed" in first.stdout
    assert not (store / "fastpath.json").exists()  # the no-op stamp would not vouch for that file
    assert not _fast(_quarry("extract", src, "--store", store, "-w", "1"))


def test_a_killed_runs_commit_another_snapshot_or_writer_defeat_the_stamp(tmp_path: Path) -> None:
    from codequarry.stamp import read, tables_settled

    src, store = _stamped(tmp_path)
    argv = ["extract", str(src), "--store", str(store), "-w", "1", "-q"]
    # a run killed after its commits, before its publish; then the tree is as the stamp saw it
    extra = src / "extra.py"
    extra.write_text("def extra():\n    return 1\n")
    flag = tmp_path / "paused"
    killed = subprocess.Popen(
        [sys.executable, "-m", "codequarry", *argv],
        env={**ENV, "QUARRY_PAUSE_AT": "publish", "QUARRY_PAUSE_FILE": str(flag)},
    )
    while not flag.exists():
        assert killed.poll() is None
        time.sleep(0.02)
    killed.kill()
    killed.wait()
    extra.unlink()
    stamp = read(store)
    assert stamp is not None
    assert any(
        (store / "tables" / n / "_delta_log" / f"{v + 1:020d}.json").exists()
        for n, v in stamp["tables"].items()
    )
    assert not tables_settled(store, stamp["tables"])
    rolled = _quarry(*argv[:-1])  # without -q
    assert not _fast(rolled) and "rolled back unpublished commits" in rolled.stdout
    assert read(store) is None  # a stamp would repeat that note: the next no-op stamps
    assert not _fast(_quarry(*argv))
    again = read(store)
    assert again is not None and tables_settled(store, again["tables"])
    assert _fast(_quarry(*argv))  # a rollback's restore commits do not disable the fast path
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time\nfrom codequarry.store.lock import WriterLock\n"
            "with WriterLock(sys.argv[1]):\n print('held', flush=True)\n time.sleep(60)",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = _quarry(*argv)
        assert "CODE=0" not in done.stdout and "is being written by" in done.stderr
    finally:
        holder.kill()
        holder.wait()
    _quarry(*argv)  # a no-op: stamped again
    snap = (store / "snapshot.json").read_text()
    (store / "snapshot.json").write_text(snap.replace('"run"', ' "run"', 1))  # another snapshot
    assert not _fast(_quarry(*argv))


def test_code_and_entry_points_are_in_the_fingerprint(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from codequarry.stamp import code_fingerprint

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    monkeypatch.syspath_prepend(str(plugins))
    module = plugins / "acme_floor.py"
    module.write_text("VERSION = 1\n")
    before = code_fingerprint([str(module)])
    assert code_fingerprint([str(module)]) == before
    module.write_text("VERSION = 2\n")  # a plugin's version bump, same size
    after = code_fingerprint([str(module)])
    assert after != before
    dist = plugins / "acme_floor-1.0.dist-info"
    dist.mkdir()  # an entry point distribution installed on a sys.path folder
    (dist / "entry_points.txt").write_text("[codequarry.extractors]\nacme = acme_floor\n")
    assert code_fingerprint([str(module)]) != after


def test_the_fast_path_reads_every_option_of_extract() -> None:
    """The fast path's own parser knows each option of `quarry extract` as typer declares it."""
    import typer

    from codequarry.cli import app
    from codequarry.fastpath import OPTIONS, parse

    command = typer.main.get_command(app).commands["extract"]  # type: ignore[attr-defined]
    for param in command.params:
        if param.param_type_name != "option":
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            assert opt in OPTIONS, opt
            name, kind = OPTIONS[opt]
            assert name == param.name, opt
            assert (kind == "flag") == param.is_flag, opt
            assert (kind == "list") == param.multiple, opt
    declared = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
    assert set(OPTIONS) <= declared
    for argv in (["extract"], ["extract", "x", "--help"], ["extract", "x", "--"], ["extract", "x", "-qw1"]):
        assert parse(argv) is None
    req = parse(["extract", "a", "-s", "S", "--select=python", "--select", "core", "-w", "2", "b"])
    assert req is not None and req.sources == ["a", "b"]
    assert req.values == {"store": "S", "select": ["python", "core"], "workers": 2}


# -- `quarry extract` without typer (cli_lean.py) ------------------------------------------------

TYPER_APP = """
import sys
sys.argv = ["quarry", *sys.argv[1:]]
from codequarry.cli_app import main
main()
"""


def _typer_app(*args: object) -> subprocess.CompletedProcess[str]:
    """The same command line through the typer app (what `quarry` ran before cli_lean)."""
    return subprocess.run(
        [sys.executable, "-c", TYPER_APP, *map(str, args)], capture_output=True, text=True, env=ENV
    )


def _changed_twins(tmp_path: Path) -> list[tuple[Path, Path]]:
    """Two identical trees with their stores, each after an extract and then an edit of one file."""
    twins = []
    for name in ("a", "b"):
        src = tmp_path / name / "src"
        shutil.copytree(FIXTURE, src)
        store = tmp_path / name / "store"
        extract(make_plan([src], store=store, workers=1))
        victim = sorted(src.rglob("*.py"))[0]
        victim.write_text(victim.read_text() + "\n\ndef added_by_the_test():\n    return 1\n")
        os.utime(victim, (1_700_000_000, 1_700_000_000))  # the same in both trees (files.mtime_ns)
        twins.append((src, store))
    return twins


def test_a_one_file_run_skips_typer_and_rich_and_prints_what_the_typer_app_prints(tmp_path: Path) -> None:
    from tests.storedump import dump

    (a_src, a_store), (b_src, b_store) = _changed_twins(tmp_path)
    lean = _quarry("extract", a_src, "--store", a_store, "-w", "1")
    typed = _typer_app("extract", b_src, "--store", b_store, "-w", "1")
    assert "CODE=0" in lean.stdout and typed.returncode == 0, lean.stderr + typed.stderr
    heavy = lean.stdout.rsplit("HEAVY=", 1)[1].split()[0].split(",")
    assert "typer" not in heavy and "rich" not in heavy and "pyarrow" in heavy  # a real run, no typer
    assert "1 changed" in lean.stdout
    assert _text(lean).replace(str(a_src), "SRC").replace(str(a_store), "STORE") == re.sub(
        r"\d+\.\d\d s with", "T s with", typed.stdout
    ).replace(str(b_src), "SRC").replace(str(b_store), "STORE")
    assert dump(a_store) == dump(b_store)


def test_the_lean_path_fails_like_the_typer_app(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    store = tmp_path / "store"
    lean = _quarry("extract", missing, "--store", store)
    typed = _typer_app("extract", missing, "--store", store)
    assert "CODE=2" in lean.stdout and typed.returncode == 2
    assert lean.stderr == typed.stderr and lean.stderr.startswith("error: ") and lean.stderr.count("\n") == 1
    bad = _quarry("extract", FIXTURE, "--store", store, "--select", "no.such.extractor")
    assert "CODE=2" in bad.stdout and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    # --json and what the fast path's parser does not read go to the typer app
    from codequarry.cli_lean import main as lean_main

    assert lean_main(["extract", str(FIXTURE), "--json"]) is None
    assert lean_main(["extract", str(FIXTURE), "--help"]) is None
    assert lean_main(["tables"]) is None


def test_plain_console_prints_what_rich_prints_off_a_terminal(capsys) -> None:  # type: ignore[no-untyped-def]
    from io import StringIO

    from rich.console import Console

    from codequarry.cli_lean import PlainConsole, plain_text

    lines = [
        ("[bold]8[/] files scanned: [bold]1[/] changed (0 added, 1 modified)", True),
        ("note: routes: 3", True),
        ("note: a [weird] note with [bold]markup[/bold] in it", True),  # handed to rich
        ("note: :thumbs_up: and :: and a:b:c", True),  # emoji codes: handed to rich
        ("skipped r/x[1].py: too big", False),
        ("C:\\path\\to [x]", False),
    ]
    plain = PlainConsole(stderr=False)
    for text, markup in lines:
        buf = StringIO()
        Console(file=buf, highlight=False, soft_wrap=True).print(text, markup=markup)
        plain.print(text, markup=markup)
        assert capsys.readouterr().out == buf.getvalue(), text
    assert plain_text("[bold]1[/] x") == "1 x"
    assert plain_text("[red]x[/]") is None and plain_text(":smile:") is None


DULWICH_PROBE = """
import sys
from codequarry.scan import resolve_sources, scan
manifest = scan(resolve_sources([sys.argv[1]]))
print(len(manifest.files), "dulwich" in sys.modules)
"""


def test_dulwich_is_imported_only_for_a_git_work_tree(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(FIXTURE, plain)
    done = subprocess.run(
        [sys.executable, "-c", DULWICH_PROBE, str(plain)], capture_output=True, text=True, env=ENV
    )
    plain_count, imported = done.stdout.split()
    assert int(plain_count) > 0 and imported == "False", done.stderr
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    (repo / ".gitignore").write_text("ignored.py\n")
    (repo / "ignored.py").write_text("x = 1\n")
    subprocess.run(
        ["git", "init", "-q", str(repo)], check=True, env={**ENV, "GIT_CONFIG_GLOBAL": "/dev/null"}
    )
    done = subprocess.run(
        [sys.executable, "-c", DULWICH_PROBE, str(repo)], capture_output=True, text=True, env=ENV
    )
    count, imported = done.stdout.split()
    # the ignore rules still apply (dulwich read them): .gitignore is listed, ignored.py is not
    assert imported == "True" and int(count) == int(plain_count) + 1, done.stdout + done.stderr


def test_bookkeeping_reads_list_parts_from_the_key_record_and_fall_back_to_the_log(tmp_path: Path) -> None:
    """read_columns takes a table's live parts from its part-keys record (no Delta log replay) when
    the record still describes the version; a record that is no longer true goes through the log."""
    from codequarry.store import Store, keyfile
    from codequarry.store.store import read_columns

    tree = tmp_path / "app"
    shutil.copytree(FIXTURE, tree)
    store_dir = tmp_path / "store"
    extract(make_plan([tree], store=store_dir, workers=1))
    victim = sorted(tree.rglob("*.py"))[0]
    victim.write_text(victim.read_text() + "\ndef added_here():\n    return 1\n")
    extract(make_plan([tree], store=store_dir, workers=1))
    store = Store(store_dir)
    snap = store.snapshot()
    assert snap is not None
    cols = ["repo", "path", "size_bytes", "sha256"]
    for name in ("files", "modules"):
        version = snap.tables[name].version
        assert version >= 1
        table_path = store.table_path(name)
        listed = keyfile.live_parts(store.path, table_path, name, version)
        assert listed, name  # the record of the run that committed the version
        want = read_columns(store, name, version, cols if name == "files" else ["repo", "path"])
        assert want is not None and want.num_rows == snap.tables[name].rows
        # without the first log entry the log cannot be replayed: only the record can answer
        first = Path(keyfile.log_entry(table_path, 0))
        first.rename(first.with_name("moved.json"))
        got = read_columns(store, name, version, cols if name == "files" else ["repo", "path"])
        assert got is not None and got.sort_by("path").equals(want.sort_by("path"))
        # a part touched since the record was written: the record is refused, the log is read
        part = table_path / listed[0]
        os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 1))
        assert keyfile.live_parts(store.path, table_path, name, version) is None
        try:
            read_columns(store, name, version, ["repo"])
        except Exception as exc:  # noqa: BLE001 - the log, missing its first entry, names the damage
            assert "quarry doctor" in str(exc) or "log" in str(exc), exc
        else:
            raise AssertionError(f"{name}: read without its log although the record was refused")
        first.with_name("moved.json").rename(first)
        assert read_columns(store, name, version, ["repo"]) is not None


def test_a_table_committed_from_its_key_record_is_checkpointed_every_ten_versions(tmp_path: Path) -> None:
    """Each DeltaTable open replays the log since the last checkpoint: one-file runs, which give a
    table a version each, leave a checkpoint every CHECKPOINT_EVERY versions, and the rows stay
    those of a fresh extract."""
    from deltalake import DeltaTable

    from codequarry.store import Store
    from codequarry.store.store import CHECKPOINT_EVERY, read_columns

    tree = tmp_path / "app"
    shutil.copytree(FIXTURE, tree)
    store_dir = tmp_path / "store"
    extract(make_plan([tree], store=store_dir, workers=1))
    victim = sorted(tree.rglob("*.py"))[0]
    log = store_dir / "tables" / "files" / "_delta_log"
    for i in range(CHECKPOINT_EVERY + 1):
        victim.write_text(victim.read_text() + f"\ndef added_{i}():\n    return {i}\n")
        extract(make_plan([tree], store=store_dir, workers=1))
    store = Store(store_dir)
    snap = store.snapshot()
    assert snap is not None
    version = snap.tables["files"].version
    assert version > CHECKPOINT_EVERY
    marks = sorted(int(p.name.split(".")[0]) for p in log.glob("*.checkpoint.parquet"))
    assert marks and all(m % CHECKPOINT_EVERY == 0 for m in marks), marks
    assert version - marks[-1] < CHECKPOINT_EVERY
    files = read_columns(store, "files", version, ["repo", "path", "size_bytes"])
    assert files is not None
    assert (
        dict(zip(files.column("path").to_pylist(), files.column("size_bytes").to_pylist(), strict=True))[
            victim.relative_to(tree).as_posix()
        ]
        == victim.stat().st_size
    )
    assert DeltaTable(str(log.parent)).version() == version


def test_the_command_gives_the_collector_back_as_it_found_it(tmp_path: Path) -> None:
    """`quarry extract` pauses the cyclic GC during start-up and freezes what start-up made (see
    cli_lean._pause_gc); run in a caller's process, it leaves the collector on and nothing frozen."""
    import gc
    import signal

    from codequarry.cli_lean import main as lean_main

    tree = _aged_tree(tmp_path)
    handler = signal.getsignal(signal.SIGTERM)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    try:
        code = lean_main(["extract", str(tree), "--store", str(tmp_path / "store"), "-q", "-w", "1"])
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert code == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller that turned the collector off keeps it off
    try:
        code = lean_main(["extract", str(tree), "--store", str(tmp_path / "store"), "-q", "-w", "1"])
        assert code == 0 and not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
        signal.signal(signal.SIGTERM, handler)


ONE_FILE = """
import sys
sys.argv = ["quarry", "extract", sys.argv[1], "--store", sys.argv[2], *sys.argv[3:]]
from codequarry.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("LOADED=" + ",".join(sorted(m for m in ("pydantic", "importlib.metadata", "pyarrow") if m in sys.modules)))
"""


def test_a_one_file_run_imports_neither_pydantic_nor_importlib_metadata(tmp_path: Path) -> None:
    """The run's request and report are plain dataclasses (plaindata.py) and entry points are read
    only when a distribution may declare one (registry.may_declare_entry_points): a one-file
    `quarry extract`, with one worker or the default ones, imports neither (~0.12 s of CPU)."""
    (src, store), _ = _changed_twins(tmp_path)
    for workers in (["-w", "1"], []):
        done = subprocess.run(
            [sys.executable, "-c", ONE_FILE, str(src), str(store), *workers],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert done.returncode == 0, done.stderr
        assert "1 changed" in done.stdout
        assert done.stdout.rsplit("LOADED=", 1)[1].split() == ["pyarrow"]  # a real run, without either
        victim = sorted(src.rglob("*.py"))[0]
        victim.write_text(victim.read_text() + "\n\ndef added_again():\n    return 2\n")
        os.utime(victim, (1_700_000_100, 1_700_000_100))


ONE_WORKER = """
import sys
sys.argv = ["quarry", "extract", sys.argv[1], "--store", sys.argv[2], "-q", *sys.argv[3:]]
from codequarry.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
names = ("psutil", "multiprocessing", "codequarry.engine.supervisor", "codequarry.cgroup", "pyarrow")
names += ("codequarry.extractors.python.callgraph.pointsto", "codequarry.extractors.python.callgraph.merge", "orjson")
print("LOADED=" + ",".join(sorted(m for m in names if m in sys.modules)))
"""


def _loaded(src: Path, store: Path, workers: str) -> str:
    """The watched modules a `quarry extract -w WORKERS` of ``src`` imported (ONE_WORKER's LOADED line)."""
    done = subprocess.run(
        [sys.executable, "-c", ONE_WORKER, str(src), str(store), "-w", workers],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.rsplit("LOADED=", 1)[1].strip()


def test_a_one_worker_run_imports_neither_psutil_nor_the_supervisor(tmp_path: Path) -> None:
    """`-w 1` forks no worker: its one-file run imports neither the worker supervisor nor
    multiprocessing nor psutil (~0.015 s of CPU; the memory sampler reads /proc, as psutil does),
    nor the opt-in call graph's solver and orjson (the catalog reads its declarations only);
    with the default workers the supervisor is there, and the stores are the same (the twin's
    fresh extract)."""
    from tests.storedump import dump

    (src, store), (fresh_src, _) = _changed_twins(tmp_path)
    fresh_store = tmp_path / "fresh"
    assert _loaded(src, store, "1") == "pyarrow"
    extract(make_plan([fresh_src], store=fresh_store, workers=1))
    assert dump(store) == dump(fresh_store)
    victim = sorted(src.rglob("*.py"))[0]
    victim.write_text(victim.read_text() + "\n\ndef added_again():\n    return 2\n")
    os.utime(victim, (1_700_000_100, 1_700_000_100))
    assert "codequarry.engine.supervisor" in _loaded(src, store, "2")


def test_the_operations_read_tables_through_the_key_record_as_through_the_log(tmp_path: Path) -> None:
    """live_dataset takes a table's parts and schema from its part-keys record when the record is
    still true (no Delta log replay): the same files, schema and rows as through the log; a record
    no longer true goes through the log."""
    from codequarry.store import Store, keyfile
    from codequarry.store.store import dataset_of, live_dataset

    (src, store_dir), _ = _changed_twins(tmp_path)
    extract(make_plan([src], store=store_dir, workers=1))
    store = Store(store_dir)
    snap = store.snapshot()
    assert snap is not None
    served = 0
    for name, state in snap.tables.items():
        table_path = store.table_path(name)
        want = dataset_of(store.open_delta(name, state.version))
        got = live_dataset(store, name, state.version)
        assert got.schema.equals(want.schema) and sorted(got.files) == sorted(want.files), name
        assert got.to_table().num_rows == want.to_table().num_rows == state.rows, name
        listed = keyfile.live_listing(store.path, table_path, name, state.version)
        if listed is None or listed[1] is None or not listed[0] or state.version == 0:
            continue  # (at version 0 the entry moved below is the record's own: it cannot stand)
        served += 1
        first = Path(keyfile.log_entry(table_path, 0))  # the log cannot be replayed without it
        first.rename(first.with_name("moved.json"))
        try:
            assert live_dataset(store, name, state.version).to_table().num_rows == state.rows
            part = table_path / listed[0][0]  # touched since the record: the log is read, and fails
            os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 1))
            assert keyfile.live_listing(store.path, table_path, name, state.version) is None
            failed = False
            try:
                live_dataset(store, name, state.version)
            except Exception:  # noqa: BLE001 - the log, missing its first entry, cannot be read
                failed = True
            assert failed, f"{name}: read without its log although the record was refused"
        finally:
            first.with_name("moved.json").rename(first)
    assert served >= 5  # files, modules and the other per-file tables the run committed


def test_the_runs_table_is_appended_through_one_open_and_checkpointed(tmp_path: Path) -> None:
    """Each run appends its row to the `runs` table (report/runs.save) through one DeltaTable and
    checkpoints the table every 10 appends (each open replayed up to 64 appends before): every row
    stays, once, and readers see them all."""
    from deltalake import DeltaTable

    from codequarry.report import runs

    tree = tmp_path / "app"
    shutil.copytree(FIXTURE, tree)
    store = tmp_path / "store"
    extract(make_plan([tree], store=store, workers=1))
    report = runs.load(store)
    for i in range(12):
        report.run_id = f"feed{i:04d}"
        runs.save(store, report)
    table = DeltaTable(str(runs.table_path(store)))
    assert table.version() == 12
    assert (runs.table_path(store) / "_delta_log" / "_last_checkpoint").is_file()
    ids = [r.run_id for r in runs.list_runs(store)]
    assert len(ids) == 13 and len(set(ids)) == 13 and {f"feed{i:04d}" for i in range(12)} <= set(ids)


def test_the_memory_sampler_finds_the_descendants_psutil_finds() -> None:
    """The run report's memory sampler lists the run's descendants from /proc/PID/task/TID/children
    (psutil reads every process of the machine for it): the same processes, grandchildren included."""
    import psutil

    from codequarry.report.memory import _proc_sample, _psutil_sample, descendants

    code = "import subprocess, sys, time; c = subprocess.Popen(['sleep', '30']); print('up', flush=True); time.sleep(30)"
    kids = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        for kid in kids:
            assert kid.stdout is not None and kid.stdout.readline().strip() == "up"
        me = psutil.Process()
        got = sorted(descendants(me.pid))
        assert got == sorted(p.pid for p in me.children(recursive=True))
        assert len(got) >= 4  # two children, each with its own child
        # the resident sizes psutil reads (statm) for the same processes: the sampler's figures
        parent, sizes = _proc_sample(me.pid)
        assert len(sizes) == len(got) and all(isinstance(s, int) and s > 0 for s in sizes)
        ps = _psutil_sample(me.pid)
        assert ps is not None and len(ps[1]) == len(got)
        assert abs(parent - ps[0]) < 64 << 20  # the same process a moment apart
    finally:
        for kid in kids:
            for p in psutil.Process(kid.pid).children(recursive=True):
                p.kill()
            kid.kill()
            kid.wait()


def test_a_one_file_run_opens_each_table_it_commits_once_and_no_other(tmp_path: Path) -> None:
    """A one-file run reaches every table through its part-keys record: the per-file tables it
    changes and the operations' outputs it replaces (store/outputs.py) are opened once, to commit,
    and the operations' reads, ``ctx.before`` of the version before the commit included, open no
    table (store/keyfile.py remembers the record of that version). The store stays a fresh
    extract's. (Counted, not timed.)"""
    from deltalake import DeltaTable

    from tests.storedump import dump

    (src, store), (fresh_src, fresh_store) = _changed_twins(tmp_path)
    views = src / "app.py" if (src / "app.py").is_file() else sorted(src.rglob("*.py"))[0]
    opened: list[tuple[str, object]] = []
    real = DeltaTable.__init__

    def counting(self, table_uri, version=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append((Path(str(table_uri)).name, version))
        real(self, table_uri, version, *args, **kwargs)

    extract(make_plan([src], store=store, workers=1))  # the edit: operation outputs get their records
    for i in range(2):
        views.write_text(
            views.read_text() + f"\n\n@app.route('/more{i}')\ndef more_{i}():\n    return '{i}'\n"
        )
        os.utime(views, (1_700_000_200 + i, 1_700_000_200 + i))
        opened.clear()
        DeltaTable.__init__ = counting  # type: ignore[method-assign]
        try:
            summary = extract(make_plan([src], store=store, workers=1))
        finally:
            DeltaTable.__init__ = real  # type: ignore[method-assign]
        assert summary.changed == 1 and summary.published
        names = [name for name, _version in opened]
        assert "routes" in names, names  # the route added: the output is replaced
        assert len(names) == len(set(names)), names  # each table once
        assert all(version is None for _name, version in opened), opened  # no read of an older version
    shutil.copy2(views, fresh_src / views.relative_to(src))
    extract(make_plan([fresh_src], store=fresh_store, workers=1))
    assert dump(store) == dump(fresh_store)


def test_the_changed_files_rows_from_the_kept_records_are_those_of_the_tables(tmp_path: Path) -> None:
    """After a one-file run's commit, ``ctx.before`` and ``ctx.changed_rows`` read the changed
    file's rows of the versions before and after from only the parts the kept records name
    (keyindex.keep), not from the whole table: the same rows as the reads without them."""
    from codequarry.operations import OperationContext
    from codequarry.store import Store, keyindex

    (src, store_dir), _ = _changed_twins(tmp_path)
    store = Store(store_dir)
    before = store.snapshot()
    assert before is not None
    extract(make_plan([src], store=store_dir, workers=1))
    after = store.snapshot()
    assert after is not None
    victim = sorted(src.rglob("*.py"))[0].relative_to(src).as_posix()
    moved = [
        n for n in after.tables if n in before.tables and after.tables[n].version != before.tables[n].version
    ]
    assert {"files", "functions"} <= set(moved), moved

    def read(name: str) -> tuple[list[str], list[str], int]:
        ctx = OperationContext(
            store,
            after.tables,
            name="probe",
            inputs=(name,),
            changed=frozenset({("src", victim)}),
            before={name: before.tables[name].version},
        )
        old, new = ctx.before(name), ctx.changed_rows(name)
        return sorted(map(repr, old.to_pylist())), sorted(map(repr, new.to_pylist())), len(ctx._cache)

    kept = {}
    for name in moved:
        assert keyindex.kept(store.table_path(name), after.tables[name].version) is not None, name
        kept[name] = read(name)
        assert kept[name][0] or kept[name][1], name  # the victim's rows, before or after
        assert kept[name][2] == 0, name  # no whole table read
    keyindex.forget_kept()
    for name in moved:
        old, new, _ = read(name)
        assert (old, new) == kept[name][:2], name


def test_a_one_file_run_with_one_worker_starts_no_thread_to_wait_for(tmp_path: Path) -> None:
    """With one worker, a one-file run writes its parts inline (a one-file chunk has nothing to
    overlap) and runs its operations in the calling thread: the only thread it starts is the
    report's memory sampler. (Counted, not timed.)"""
    (src, store), _ = _changed_twins(tmp_path)
    with threads_started() as started:
        summary = extract(make_plan([src], store=store, workers=1))
    assert summary.changed == 1 and summary.published
    assert summary.operations and any(info.get("ran") for info in summary.operations.values())
    assert started == ["quarry-memory"], started


def test_the_models_operation_reads_no_whole_table_for_a_file_without_models(tmp_path: Path) -> None:
    """A changed file with no candidate class or member before or after, and the same module-level
    imports, cannot reach a model: ``affected`` of python.models.resolve says so from the changed
    file's rows alone (read from the parts holding them, the inputs' part-keys records) without
    reading ``model_classes`` whole. An edit of the file's imports takes the whole way. Either way
    the store is a fresh extract's. (Counted, not timed.)"""
    from codequarry.operations import OperationContext
    from tests.storedump import dump

    src = tmp_path / "src"
    shutil.copytree(paths.ROOT / "examples" / "sample", src)
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    victim = src / "shop" / "views.py"
    real = OperationContext.table
    reads: list[tuple[str, str]] = []

    def counting(self, name, columns=None):  # type: ignore[no-untyped-def]
        reads.append((self.name, name))
        return real(self, name, columns)

    edits = ("\n\ndef added_by_the_test():\n    return 1\n", "\nfrom shop.models import Base as Renamed\n")
    for i, text in enumerate(edits):
        victim.write_text(victim.read_text() + text)
        os.utime(victim, (1_700_000_000 + i, 1_700_000_000 + i))
        reads.clear()
        OperationContext.table = counting  # type: ignore[method-assign]
        try:
            extract(make_plan([src], store=store, workers=1))
        finally:
            OperationContext.table = real  # type: ignore[method-assign]
        whole = ("python.models.resolve", "model_classes") in reads
        assert whole == (i == 1), (i, reads)
        fresh = tmp_path / f"fresh{i}"
        extract(make_plan([src], store=fresh, workers=1))
        assert dump(store) == dump(fresh)

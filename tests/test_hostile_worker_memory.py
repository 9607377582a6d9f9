"""A worker has a memory limit by default: a file that parses to gigabytes is one row, not the OOM killer.

A 10 MB dict literal (the default --max-file-size) took a worker to ~1.3-1.7 GB, and a bigger one, or
several at once, could wake the machine's OOM killer, which may pick any process, the run's parent
included (the run is lost). Without --max-memory-per-worker each worker of the local engine is now
held to its share of half the machine's memory (plan.default_worker_memory; the container's memory
when a cgroup holds this process to less), by a cgroup where this process may make one, else by the
address-space limit. ``--max-memory-per-worker off`` turns it off. The run summary and report say
which limit held and how. The operations a worker runs for the parent (Supervisor.call) run without
it, as in the parent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import cgroup, extract, make_plan, open_store, sql
from codequarry.engine.limits import Limits
from codequarry.engine.supervisor import Supervisor
from codequarry.errors import UsageError
from codequarry.plan import (
    MIN_WORKER_MEMORY,
    default_worker_memory,
    parse_memory,
    worker_memory,
)
from tests import paths

MB = 1 << 20
GB = 1 << 30


def _literal(entries: int) -> str:
    """A generated data module: one dict literal of ``entries`` items (~44 bytes each); 100,000
    (4.4 MB) took a worker to 583 MB here."""
    body = "".join(f"    'key{i}': [{i}, {i}.5, 'v{i}'],\n" for i in range(entries))
    return "DATA = {\n" + body + "}\n"


def _tree(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "data.py").write_text(_literal(100_000))
    for i in range(6):
        (root / f"ok{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    return root


def _errors(store: Path) -> dict[str, str]:
    rows = sql(open_store(store), "SELECT path, kind FROM errors").to_pylist()
    return {r["path"]: r["kind"] for r in rows}


def _modules(store: Path) -> set[str]:
    return set(sql(open_store(store), "SELECT path FROM modules").column("path").to_pylist())


def _mechanisms() -> list[bool]:
    return [True, False] if cgroup.available() is not None else [False]


def test_the_default_is_a_share_of_half_the_machine_never_below_the_minimum() -> None:
    assert default_worker_memory(2, 24 * GB) == 6 * GB
    assert default_worker_memory(8, 16 * GB) == 1 * GB
    assert default_worker_memory(64, 1 * GB) == MIN_WORKER_MEMORY  # 8 MB each would not start Python
    assert default_worker_memory(1, 4 * GB) == 2 * GB


def test_which_runs_get_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(cgroup, "machine_memory", lambda: 8 * GB)
    request = make_plan([tmp_path], store=tmp_path / "s", workers=2).request
    got = worker_memory(request)
    assert (got.limit, got.default) == (2 * GB, True)
    assert "8.0 GB over 2 workers" in got.origin
    given = make_plan([tmp_path], store=tmp_path / "s", workers=2, max_memory_per_worker=512 * MB)
    assert worker_memory(given.request).limit == 512 * MB and not worker_memory(given.request).default
    off = make_plan([tmp_path], store=tmp_path / "s", workers=2, max_memory_per_worker=0)
    assert worker_memory(off.request).limit is None
    one = make_plan([tmp_path], store=tmp_path / "s", workers=1)  # the files run in this process
    assert worker_memory(one.request).limit is None
    assert parse_memory("off") == parse_memory("none") == parse_memory("0") == 0
    assert parse_memory("2GB") == 2 * GB
    with pytest.raises(UsageError, match="at least 64MB"):
        make_plan([tmp_path], store=tmp_path / "s", max_memory_per_worker=MB)


def test_the_machine_is_the_container_when_a_cgroup_holds_this_process() -> None:
    """A process in a cgroup of 512 MB sees 512 MB, not the machine's memory."""
    hierarchy = cgroup.available()
    if hierarchy is None or hierarchy.version != 1:
        pytest.skip("needs a writable cgroup v1 memory hierarchy (the thread joins a cgroup)")
    group = cgroup.TaskCgroup(hierarchy, 512 * MB)
    try:
        with group.joined():
            done = subprocess.run(
                [sys.executable, "-c", "from codequarry import cgroup; print(cgroup.machine_memory())"],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(paths.ROOT / "src"), *sys.path])},
            )
    finally:
        group.kill()
        group.remove()
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 512 * MB


@pytest.mark.parametrize("use_cgroup", _mechanisms())
def test_a_huge_literal_under_the_default_limit_is_one_row(
    tmp_path: Path, use_cgroup: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine of 1 GB two workers get 256 MB each: the 4.4 MB literal (583 MB unbounded) stops
    at the limit, as a ``memory_limit`` row, and every other file is extracted."""
    if not use_cgroup:
        monkeypatch.setenv("QUARRY_NO_CGROUP", "1")
    monkeypatch.setattr(cgroup, "machine_memory", lambda: 1 * GB)
    src = _tree(tmp_path / "src")
    store = tmp_path / "store"
    summary = extract(make_plan([src], store=store, workers=2))
    assert _errors(store) == {"data.py": "memory_limit"}
    assert _modules(store) == {f"ok{i}.py" for i in range(6)}
    mechanism = cgroup.available().mechanism if use_cgroup else "rlimit_as"  # type: ignore[union-attr]
    assert summary.worker_memory == (
        f"256.0 MB a worker (default: 50% of 1.0 GB over 2 workers), held by {mechanism}"
    )


@pytest.mark.parametrize("use_cgroup", _mechanisms())
def test_a_huge_literal_under_a_small_explicit_limit_is_one_row(
    tmp_path: Path, use_cgroup: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not use_cgroup:
        monkeypatch.setenv("QUARRY_NO_CGROUP", "1")
    src = _tree(tmp_path / "src")
    store = tmp_path / "store"
    summary = extract(make_plan([src], store=store, workers=2, max_memory_per_worker=200 * MB))
    assert _errors(store) == {"data.py": "memory_limit"}
    assert _modules(store) == {f"ok{i}.py" for i in range(6)}
    assert summary.worker_memory.startswith("200.0 MB a worker (--max-memory-per-worker), held by ")
    # turned off, the same file is extracted (583 MB here)
    fresh = tmp_path / "fresh"
    off = extract(make_plan([src], store=fresh, workers=2, max_memory_per_worker=0))
    assert _errors(fresh) == {} and "data.py" in _modules(fresh)
    assert off.worker_memory == "none (--max-memory-per-worker off)"


def _allocate(mb: int) -> int:
    block = bytearray(mb * MB)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, charged to the cgroup
    return len(block) // MB


@pytest.mark.parametrize("use_cgroup", _mechanisms())
def test_a_call_for_the_parent_runs_without_the_default_limit(
    use_cgroup: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operations the parent offloads to an idle worker run as in the parent: not stopped at the
    files' default limit (which is set again after the call, for the next files)."""
    if not use_cgroup:
        monkeypatch.setenv("QUARRY_NO_CGROUP", "1")
    sup = Supervisor(1, Limits(max_memory=128 * MB, memory_default=True))
    sup.start()
    try:
        w = sup.workers[0]
        assert w is not None
        w.takes_calls = True
        assert sup.call(_allocate, 300) == 300
        w = sup.workers[0]
        assert w is not None
        if w.group is not None:  # the kernel's limit is back for the next file
            name = "memory.limit_in_bytes" if w.group.version == 1 else "memory.max"
            assert int((w.group.path / name).read_text()) == 128 * MB
        else:  # the worker set its address-space limit again
            limits = Path(f"/proc/{w.proc.pid}/limits").read_text()
            line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
            assert line.split()[3] != "unlimited", line
    finally:
        sup.close()


def test_the_cli_takes_off(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "codequarry", "extract", str(src), "--store", str(tmp_path / "s"), "-w", "2"]
        + ["--max-memory-per-worker", "off", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(paths.ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr
    assert '"worker_memory": "none (--max-memory-per-worker off)"' in done.stdout


PARSE_UNDER_LIMIT = """
import resource, sys
import psutil
from codequarry.source import ParseFailure, SourceFile

text = sys.stdin.read()
data = text.encode()
src = SourceFile(repo="r", path="m.py", data=data, sha256="", size=len(data), language="python")
src.text  # decoded before the limit: only the parse is held to it
vms = psutil.Process().memory_info().vms
resource.setrlimit(resource.RLIMIT_AS, (vms + 200 * 2**20, resource.RLIM_INFINITY))
try:
    src.tree
    print("parsed")
except ParseFailure as exc:
    print(exc.kind, exc.message)
"""


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (_literal(100_000), "memory_limit"),  # the limit: it was a syntax error, "nesting too deep"
        ("-" * 10_000 + "1\n", "syntax"),  # the parser's own nesting bound, also a MemoryError in 3.11
        ("x = 1\n", "parsed"),
    ],
    ids=["literal", "nesting", "small"],
)
def test_a_parse_stopped_by_the_address_space_limit_is_a_memory_limit_not_a_syntax_error(
    text: str, kind: str
) -> None:
    """Under the address-space limit (the mechanism where no cgroup can be made, and a fast stop
    under every --max-memory-per-worker) a parse that runs out raised MemoryError, which the parser
    wrapper took for the nesting bound: a valid data module was stored as a syntax error."""
    done = subprocess.run(
        [sys.executable, "-c", PARSE_UNDER_LIMIT],
        input=text,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(paths.ROOT / "src"), *sys.path])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == kind, done.stdout


@pytest.mark.parametrize("size", ["1e20GB", "17179869183GB"])
def test_a_limit_larger_than_any_machine_is_one_line(tmp_path: Path, size: str) -> None:
    """Each worker's address-space limit (its size + the limit) passed the kernel's 64-bit value:
    every worker died at its start, three tracebacks and exit 1."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    store = tmp_path / "s"
    done = subprocess.run(
        [sys.executable, "-m", "codequarry", "extract", str(src), "--store", str(store), "-w", "2"]
        + ["--max-memory-per-worker", size],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(paths.ROOT / "src")},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--max-memory-per-worker must be at most" in done.stderr and not store.exists()


@pytest.mark.parametrize(
    ("where", "value"),
    [("budget", "inf"), ("budget", "nan"), ("budget", '"1e20GB"'), ("task", "inf"), ("task", "nan")],
)
def test_a_recipe_memory_no_machine_holds_is_one_line(tmp_path: Path, where: str, value: str) -> None:
    """TOML's ``inf`` and ``nan`` as a recipe's memory, and ``"1e20GB"``, were tracebacks (no integer;
    one the plan's JSON could not hold)."""
    budget = f"max_memory = {value}" if where == "budget" else ""
    task = f"resources = {{ memory = {value} }}" if where == "task" else ""
    (tmp_path / "recipe.toml").write_text(
        f'[resources]\n{budget}\n[tools.t]\ncommand = ["{{python}}", "-c", "pass"]\ntargets = ["a"]\n{task}\n'
    )
    done = _run_recipe(tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "memory" in done.stderr, done.stderr
    assert not (tmp_path / ".quarry").exists()


@pytest.mark.parametrize("line", ["[resources]\ndefault_timeout = nan", "[tools.t.resources]\ntimeout = nan"])
def test_a_recipe_timeout_of_nan_is_one_line(tmp_path: Path, line: str) -> None:
    """A NaN timeout passed the "positive" check (NaN <= 0 is false) and no task compared with it ever
    timed out: a limit written in the recipe that held nothing."""
    tool = '[tools.t]\ncommand = ["{python}", "-c", "pass"]\ntargets = ["a"]\n'
    text = f"{line}\n{tool}" if line.startswith("[resources]") else f"{tool}{line}\n"
    (tmp_path / "recipe.toml").write_text(text)
    done = _run_recipe(tmp_path)
    assert done.returncode == 2, done.stderr
    assert "timeout: must be a positive number of seconds" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "line", ["sample_interval = nan", "sample_interval = inf", "grace = nan", "grace = inf"]
)
def test_a_recipe_sampling_interval_or_grace_that_is_no_number_is_one_line(tmp_path: Path, line: str) -> None:
    """``sample_interval = nan`` passed ``<= 0`` and the sampler never compared a task with its limit:
    without a cgroup a task used 600 MB under a 200 MB limit and was ``ok``. An infinite grace waited
    for ever on a task that ignores SIGTERM."""
    (tmp_path / "recipe.toml").write_text(
        f'[resources]\n{line}\n[tools.t]\ncommand = ["{{python}}", "-c", "pass"]\ntargets = ["a"]\n'
    )
    done = _run_recipe(tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"resources.{line.split()[0]}: must be a positive number of seconds" in done.stderr


def _run_recipe(folder: Path) -> subprocess.CompletedProcess[str]:
    """``quarry run recipe.toml`` in ``folder``, this checkout's code."""
    return subprocess.run(
        [sys.executable, "-m", "codequarry", "run", "recipe.toml"],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(paths.ROOT / "src")},
    )

"""How fast is a cold `quarry extract`, measured against a bare `ast.parse` loop in the same run?

    python bench/extract.py [FOLDER ...] [--repeat N] [--workers N] [--out FILE]
        [--select GROUP ...] [--plugin MODULE ...] [--compare-select GROUP] [--profile [--cprofile FILE]]
        [--schedule | --schedule-only] [--peer-seconds S [--peer-target X]] [--no-bytecode]

Corpus: the folders given, or the standard library of the interpreter that runs quarry, with
`site-packages` excluded (quarry gets `--exclude site-packages`; the baselines parse the very files
quarry listed as Python, read back from its store, so both see the same file set).

Each repeat runs, interleaved so that drift hits every configuration alike:
  bare_parse         a fresh interpreter reads every Python file and calls ast.parse on its bytes
  bare_parse_gc_off  the same with the cyclic garbage collector off (quarry's workers turn it off)
  bare_parse_walk    the same as bare_parse plus one ast.walk over each tree (context: the least an extractor costs)
  quarry_1_worker    `quarry extract --workers 1` into a fresh temporary store
  quarry_N_workers   the same with --workers N (default: every core)
  quarry_1_worker_select_<G>   with --compare-select G: one worker, only the extractors under G
Every time is wall time around a subprocess, interpreter start-up included on both sides; medians
are quoted, and ratios of the fastest samples too (the machine may be shared), and ratios of CPU
seconds (user+sys of each command and its workers: what to quote on a shared machine,
``ratios_of_cpu``). With --peer-seconds, the N-worker run against another tool's time (``peer``).
The page cache is warm
(a discovery run reads every file first); "cold" means a new store. Every run imports one copy of the
package made at start, so edits made meanwhile cannot leak into the measurement; the copy is compiled
to bytecode once, as `pip install` leaves a package (``--no-bytecode``: not, so that under
PYTHONDONTWRITEBYTECODE=1 every run compiles every module it imports, as figures before 2026-12-07's
fourteenth session did).

With --profile it also runs one in-process, one-worker extract with every pipeline stage timed
(exclusive CPU times: a stage's time excludes the stages it calls) and adds the breakdown to the JSON.
With --schedule it runs one in-process extract with the chunks made for --workers N, takes each
chunk's CPU time and schedules the chunks on N simulated cores, and each DAG layer's operations on the
parent and the N workers (as oplanes.in_parallel runs them): the speed-up N dedicated cores could
give, and what limits it (the parent's serial work, split into imports, catalog, before and after the
extraction; the tail), whatever else shares the machine. ``ideal_speedup_vs_one_worker`` counts the
imports and the catalog, serial in both runs; ``ideal_speedup_without_startup`` leaves them out.

Prints JSON on stdout (and writes it to --out). Exits 0 whether or not the targets are met: it
measures; it does not judge. Exits 1 only if quarry itself fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGETS = {"one_worker_vs_bare_parse": ("<=", 2.0), "all_cores_speedup_vs_one_worker": (">=", 1.7)}
AIM = {"one_worker_vs_bare_parse": 1.5}


# -- the baseline, run in a child interpreter ---------------------------------------------------------
def _bare(list_file: str, walk: bool, gc_off: bool) -> None:
    """Child side of a baseline: read and parse every file of the list; print the work's own seconds."""
    import ast
    import gc

    if gc_off:
        gc.disable()
    started = time.perf_counter()
    with open(list_file, encoding="utf-8") as fh:
        paths = fh.read().split("\0")
    failed = nodes = 0
    for path in paths:
        with open(path, "rb") as src:
            data = src.read()
        try:
            tree = ast.parse(data, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            failed += 1
            continue
        if walk:
            for _ in ast.walk(tree):
                nodes += 1
    print(
        json.dumps(
            {"seconds": time.perf_counter() - started, "files": len(paths), "failed": failed, "nodes": nodes}
        )
    )


class CommandFailed(Exception):
    pass


# -- running commands ---------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quarry = args.quarry or _default_quarry()
        self.python = (
            str(Path(self.quarry).parent / "python")
            if (Path(self.quarry).parent / "python").exists()
            else sys.executable
        )
        self.env = dict(os.environ)
        self.source = self._source_info()
        self.frozen: str | None = None
        if args.freeze:
            # others edit the package while we measure: every run imports one unchanging copy of it
            self.frozen = tempfile.mkdtemp(prefix="quarry-bench-src-")
            shutil.copytree(
                self.source["package"],
                os.path.join(self.frozen, "codequarry"),
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.frozen, self.env.get("PYTHONPATH")]))
            self.source["frozen_copy"] = True
            if args.bytecode:
                # as `pip install` leaves a package: every module compiled once. Without it, a machine
                # with PYTHONDONTWRITEBYTECODE=1 (this one) compiles every module quarry imports from
                # source in every run: ~0.15 s of the parent's start-up on netbox, more in the workers
                import compileall

                compileall.compile_dir(self.frozen, quiet=1)
            self.source["bytecode_compiled"] = bool(args.bytecode)
        if not args.use_enclosing_git:
            # A folder inside an enclosing git work tree that ignores it (pyenv's versions/, a vendored
            # tree) would be listed by git as empty; stop git's search at each folder's parent.
            self.env["GIT_CEILING_DIRECTORIES"] = os.pathsep.join(
                sorted({str(Path(f).resolve().parent) for f in args.folders})
            )

    def _source_info(self) -> dict[str, Any]:
        """Where the package quarry imports lives, its git state, and a digest of its source."""
        import hashlib

        probe = subprocess.run(
            [self.python, "-c", "import codequarry, os; print(os.path.dirname(codequarry.__file__))"],
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
        )
        package = probe.stdout.strip()
        digest = hashlib.sha256()
        for path in sorted(Path(package).rglob("*.py")):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())

        def git(*argv: str) -> str:
            out = subprocess.run(["git", "-C", package, *argv], capture_output=True, text=True)
            return out.stdout.rstrip() if out.returncode == 0 else ""

        return {
            "package": package,
            "sha256_of_py_files": digest.hexdigest()[:16],
            "git_head": git("rev-parse", "HEAD"),
            "git_changes": git("status", "--porcelain", "--", ".").splitlines(),
            "frozen_copy": False,
        }

    def close(self) -> None:
        if self.frozen:
            shutil.rmtree(self.frozen, ignore_errors=True)

    def run(self, argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.last_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if proc.returncode != 0:
            raise CommandFailed(f"command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
        return wall, proc

    def extract(
        self, *, workers: int, select: list[str], store: str | None = None
    ) -> tuple[float, dict[str, Any]]:
        """One cold extract into a fresh store (kept only when ``store`` is given); (wall, summary)."""
        tmp = None
        if store is None:
            tmp = tempfile.mkdtemp(prefix="quarry-bench-")
            store = os.path.join(tmp, "store")
        argv = [
            self.quarry,
            "extract",
            *self.args.folders,
            "--store",
            store,
            "--workers",
            str(workers),
            "--quiet",
            "--json",
        ]
        for pattern in self.args.exclude:
            argv += ["--exclude", pattern]
        for module in self.args.plugin:
            argv += ["--plugin", module]
        for group in select:
            argv += ["--select", group]
        try:
            wall, proc = self.run(argv)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return wall, json.loads(proc.stdout)

    def python_files(self, store: str, summary: dict[str, Any]) -> list[tuple[str, int]]:
        """(absolute path, size) of every file quarry classified as Python, from its files table."""
        query = "SELECT repo, path, size_bytes FROM files WHERE language = 'python' ORDER BY repo, path"
        _, proc = self.run([self.quarry, "sql", "--store", store, "-f", "json", query])
        roots = summary["sources"]
        return [(os.path.join(roots[r["repo"]], r["path"]), r["size_bytes"]) for r in json.loads(proc.stdout)]

    def bare(
        self, list_file: str, *, walk: bool = False, gc_off: bool = False
    ) -> tuple[float, dict[str, Any]]:
        argv = [self.python, os.path.abspath(__file__), "--_child", list_file]
        if walk:
            argv.append("--_walk")
        if gc_off:
            argv.append("--_gc-off")
        wall, proc = self.run(argv)
        return wall, json.loads(proc.stdout)


def _default_quarry() -> str:
    beside = Path(sys.executable).parent / "quarry"
    found = str(beside) if beside.exists() else shutil.which("quarry")
    if not found:
        sys.exit("bench: no `quarry` command found; pass --quarry PATH")
    return found


# -- measuring ----------------------------------------------------------------------------------------
def _stats(samples: list[float], files: int, megabytes: float) -> dict[str, Any]:
    med = statistics.median(samples)
    return {
        "median_s": round(med, 3),
        "min_s": round(min(samples), 3),
        "samples_s": [round(s, 3) for s in samples],
        "files_per_s": round(files / med, 1),
        "mb_per_s": round(megabytes / med, 2),
    }


def measure(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    notes: list[str] = []
    load_before = os.getloadavg()
    all_cores = args.workers
    with tempfile.TemporaryDirectory(prefix="quarry-bench-") as tmp:
        # discovery: the file set, and a warm page cache for every configuration that follows
        _, summary = bench.extract(workers=all_cores, select=args.select, store=os.path.join(tmp, "store"))
        files = bench.python_files(os.path.join(tmp, "store"), summary)
        list_file = os.path.join(tmp, "python-files")
        with open(list_file, "w", encoding="utf-8") as fh:
            fh.write("\0".join(p for p, _ in files))
        n_files = len(files)
        megabytes = sum(s for _, s in files) / 1e6

        configs: dict[str, Callable[[], tuple[float, dict[str, Any]]]] = {
            "bare_parse": lambda: bench.bare(list_file, walk=False),
            "bare_parse_gc_off": lambda: bench.bare(list_file, gc_off=True),
            "bare_parse_walk": lambda: bench.bare(list_file, walk=True),
            "quarry_1_worker": lambda: bench.extract(workers=1, select=args.select),
        }
        if all_cores > 1:
            configs[f"quarry_{all_cores}_workers"] = lambda: bench.extract(
                workers=all_cores, select=args.select
            )
        if args.compare_select:
            configs[f"quarry_1_worker_select_{args.compare_select}"] = lambda: bench.extract(
                workers=1, select=[args.compare_select]
            )
        walls: dict[str, list[float]] = {k: [] for k in configs}
        cpus: dict[str, list[float]] = {k: [] for k in configs}
        inner: dict[str, list[float]] = {k: [] for k in configs}
        last: dict[str, dict[str, Any]] = {}
        for i in range(args.repeat):
            samples = []
            try:
                for name, fn in configs.items():
                    wall, info = fn()
                    samples.append((name, wall, bench.last_cpu, info))
                    print(f"bench: repeat {i + 1}/{args.repeat} {name}: {wall:.2f} s", file=sys.stderr)
            except CommandFailed as exc:  # keep the complete repeats measured so far
                if i == 0:
                    raise
                notes.append(f"repeat {i + 1} stopped: {exc}"[:2000])
                break
            for name, wall, cpu, info in samples:
                walls[name].append(wall)
                cpus[name].append(cpu)
                inner[name].append(info["seconds"])
                last[name] = info

    results: dict[str, Any] = {}
    for name in configs:
        results[name] = _stats(walls[name], n_files, megabytes)
        key = "in_process_median_s" if name.startswith("bare") else "quarry_reported_median_s"
        results[name][key] = round(statistics.median(inner[name]), 3)
        # user+sys of the command and every descendant it reaped: the supervisor forks its workers
        # and joins them (even those it kills), so an N-worker run's CPU includes its workers'
        results[name]["cpu_median_s"] = round(statistics.median(cpus[name]), 3)
        if name.startswith("quarry"):
            results[name]["startup_and_publish_median_s"] = round(
                statistics.median(w - s for w, s in zip(walls[name], inner[name], strict=True)), 3
            )

    def ratios_of(stat: str) -> dict[str, float]:
        q1 = results["quarry_1_worker"][stat]
        out = {
            f"one_worker_vs_{base}": round(q1 / results[base][stat], 3)
            for base in ("bare_parse", "bare_parse_gc_off", "bare_parse_walk")
        }
        if all_cores > 1:
            out["all_cores_speedup_vs_one_worker"] = round(
                q1 / results[f"quarry_{all_cores}_workers"][stat], 3
            )
        if args.compare_select:
            out[f"full_vs_select_{args.compare_select}"] = round(
                q1 / results[f"quarry_1_worker_select_{args.compare_select}"][stat], 3
            )
        return out

    ratios = ratios_of("median_s")
    # the fastest sample of each is the one least disturbed by other jobs on the machine
    ratios_min = ratios_of("min_s")
    # on a shared machine wall time mostly measures the other jobs; CPU seconds move far less (a
    # loaded machine still inflates them somewhat, both sides alike). The N-worker entry is the CPU
    # the N-worker run spends per CPU second of one worker (its parallel overhead), not a speed-up
    ratios_cpu = ratios_of("cpu_median_s")
    if all_cores > 1:
        ratios_cpu[f"cpu_{all_cores}_workers_vs_one_worker"] = round(
            1 / ratios_cpu.pop("all_cores_speedup_vs_one_worker"), 3
        )
    peer = _peer(args, results, all_cores)

    q1_info = last["quarry_1_worker"]
    parsed = q1_info.get("files_parsed", 0)
    if parsed == 0:
        notes.append(
            "quarry parsed no file: no selected extractor needs the AST, so the ratio to bare "
            "parse measures only scanning, hashing and writing"
        )
    elif parsed < n_files - last["bare_parse"]["failed"]:
        notes.append(f"quarry parsed {parsed} of {n_files} Python files (skipped: {q1_info.get('skipped')})")
    targets_met: dict[str, bool | None] = {}
    for key, (op, bound) in TARGETS.items():
        value = ratios.get(key)
        targets_met[key] = None if value is None else (value <= bound if op == "<=" else value >= bound)
    for key, bound in AIM.items():
        targets_met[f"{key}_aim_{bound}"] = ratios[key] <= bound

    return {
        "benchmark": "extract",
        "corpus": [str(Path(f).resolve()) for f in args.folders],
        "exclude": args.exclude,
        "select": args.select,
        "plugins": args.plugin,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "quarry": bench.quarry,
            # another job on the machine shows here first: compare samples, and quote min_s too
            "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "files": {
            "python_files": n_files,
            "python_mb": round(megabytes, 2),
            "bare_parse_failures": last["bare_parse"]["failed"],
            "ast_nodes": last["bare_parse_walk"]["nodes"],
            "quarry_files_scanned": q1_info.get("files_scanned"),
            "quarry_files_parsed": parsed,
            "quarry_skipped": q1_info.get("skipped"),
            "quarry_rows": q1_info.get("rows"),
        },
        "repeat": args.repeat,
        "configs": results,
        "ratios": ratios,
        "ratios_of_min_s": ratios_min,
        "ratios_of_cpu": ratios_cpu,
        **({"peer": peer} if peer else {}),
        "targets": {k: f"{op} {bound}" for k, (op, bound) in TARGETS.items()}
        | {f"{k}_aim": f"<= {v}" for k, v in AIM.items()},
        "targets_met": targets_met,
        "notes": notes,
    }


def _peer(args: argparse.Namespace, results: dict[str, Any], all_cores: int) -> dict[str, Any] | None:
    """With --peer-seconds: how many times faster than another tool's figure for the same corpus the
    N-worker run is (issue 16 item 7: TheAuditor's index phase, 518 s on netbox, 135 s on Django),
    by its median and by its fastest sample, and the wall time the --peer-target ratio needs."""
    if not args.peer_seconds:
        return None
    name = f"quarry_{all_cores}_workers" if all_cores > 1 else "quarry_1_worker"
    got = results[name]
    out: dict[str, Any] = {
        "seconds": args.peer_seconds,
        "config": name,
        "times_faster_median": round(args.peer_seconds / got["median_s"], 1),
        "times_faster_min": round(args.peer_seconds / got["min_s"], 1),
    }
    if args.peer_target:
        out["target_times"] = args.peer_target
        out["wall_needed_s"] = round(args.peer_seconds / args.peer_target, 3)
    return out


# -- the in-process stage profile ---------------------------------------------------------------------
class _Stages:
    """Exclusive time per stage: wrap functions; a wrapped call's time excludes wrapped callees.

    The clock is the process's CPU time (user+sys of every thread), not wall time: on a machine
    shared with other jobs wall time charges their load to whichever stage was running."""

    def __init__(self, clock: Callable[[], float] = time.process_time) -> None:
        self.own: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[float] = []
        self.clock = clock

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        own, calls, stack, clock = self.own, self.calls, self._stack, self.clock

        def timed(*a: Any, **k: Any) -> Any:
            stack.append(0.0)
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                dt = clock() - t0
                inner = stack.pop()
                own[stage] = own.get(stage, 0.0) + dt - inner
                calls[stage] = calls.get(stage, 0) + 1
                if stack:
                    stack[-1] += dt

        return timed

    def overhead_per_call(self) -> float:
        """What one wrapped call costs beyond the call itself (charged to the stages around it)."""
        probe = _Stages(self.clock)
        noop = probe.wrap("x", lambda: None)
        plain = lambda: None  # noqa: E731
        n = 200_000
        t0 = time.perf_counter()
        for _ in range(n):
            noop()
        t1 = time.perf_counter()
        for _ in range(n):
            plain()
        t2 = time.perf_counter()
        return max(0.0, ((t1 - t0) - (t2 - t1)) / n)


#: (module, attribute or Class.attribute, stage); a name the code no longer has is reported, not fatal
STAGES: tuple[tuple[str, str, str], ...] = (
    ("codequarry.plan", "load_catalog", "plan: load extractors"),
    ("codequarry.store.transaction", "rollback_unpublished", "store: open, roll back"),
    ("codequarry.run", "scan_sources", "scan (list files, stat)"),
    ("codequarry.run", "run_operations", "operations (parent)"),
    ("codequarry.run", "stored_errors", "count stored errors (parent)"),
    ("codequarry.worklist", "manifest_tasks", "plan: tasks, module names"),
    ("codequarry.run", "make_chunks", "plan: chunks"),
    ("codequarry.engine.worker", "_read", "read + sha256"),
    ("codequarry.engine.worker", "looks_binary", "line count + binary sniff"),
    ("codequarry.engine.worker", "line_count", "line count + binary sniff"),
    ("codequarry.engine.worker", "_process_file", "per-file bookkeeping + AST teardown (worker)"),
    ("codequarry.engine.local", "process_chunk", "chunk bookkeeping (worker)"),
    ("codequarry.engine.worker", "_ipc", "IPC serialize (worker)"),
    ("codequarry.engine.worker", "write_part", "Parquet part write (worker)"),
    ("codequarry.source", "decode_python", "decode"),
    ("codequarry.source", "SourceFile._parse", "ast.parse"),
    ("codequarry.source", "SourceFile._build_index", "node index (SourceFile._build_index)"),
    ("codequarry.schema", "RowBuffer.build", "RowBuffer.build (Arrow arrays)"),
    ("codequarry.store.writer", "RunWriter.prepare", "store: create tables (RunWriter.prepare)"),
    ("codequarry.store.writer", "RunWriter.commit", "Delta commit (RunWriter.commit)"),
    ("codequarry.store.store", "Store.publish", "publish snapshot"),
)


def _extract_in_process(args: argparse.Namespace, profiler: Any = None) -> tuple[Any, float]:
    from codequarry.run import extract

    with tempfile.TemporaryDirectory(prefix="quarry-bench-") as tmp:
        plan = _one_worker_plan(args, os.path.join(tmp, "store"))
        started = time.process_time()  # CPU seconds, like the stages (see _Stages)
        if profiler is not None:
            profiler.enable()
        try:
            summary = extract(plan)
        finally:
            if profiler is not None:
                profiler.disable()
        return summary, time.process_time() - started


def _use_bench_env(bench: Bench) -> None:
    """In this process: the same environment, and the same frozen copy of the package, as the timed
    runs."""
    for var in ("GIT_CEILING_DIRECTORIES", "PYTHONPATH"):
        if var in bench.env:
            os.environ[var] = bench.env[var]
    if bench.frozen and bench.frozen not in sys.path:
        sys.path.insert(0, bench.frozen)


def _simulate(chunk_cpu: list[float], workers: int) -> tuple[float, list[float]]:
    """The makespan of ``chunk_cpu`` run in order on ``workers`` dedicated cores, each chunk going to
    the first free worker (as the supervisor dispatches), and each worker's busy seconds."""
    free = [0.0] * workers
    for cpu in chunk_cpu:
        i = free.index(min(free))
        free[i] += cpu
    return max(free), free


def _lanes(job_cpu: list[float], workers: int) -> float:
    """The makespan of one DAG layer's operations on ``workers`` cores: a lane in the parent and one
    per worker (oplanes.in_parallel), each taking the next job in order, ``workers`` lanes at a
    time on the cores (the parent's lane and the workers' share them)."""
    if workers <= 1 or len(job_cpu) < 2:
        return sum(job_cpu)
    lanes = min(len(job_cpu), workers + 1)
    free = [0.0] * lanes
    for cpu in job_cpu:
        i = free.index(min(free))
        free[i] += cpu
    # more lanes than cores: the cores' total work bounds it too
    return max(max(free), sum(job_cpu) / workers)


def schedule(args: argparse.Namespace) -> dict[str, Any]:
    """Where an N-worker run's time goes, measured without N cores to spare: one in-process extract
    with the chunks made for N workers, each chunk's CPU seconds taken, then the chunks scheduled on N
    simulated cores. Limits: the parent's serial work (start-up, scan, plan, commit, operations,
    publish) and the tail (one worker finishing the last chunk while the others wait). The
    operations of a DAG layer run in the parent and the idle workers (oplanes.in_parallel):
    simulated per layer from each operation's CPU."""
    started = time.process_time()
    from codequarry import operations as ops_mod
    from codequarry import run as run_mod
    from codequarry.engine import worker as worker_mod

    startup = time.process_time() - started  # importing the package (the catalog loads below)
    workers = args.workers
    chunk_cpu: list[float] = []
    op_cpu: list[tuple[str, float]] = []
    marks: dict[str, float] = {}
    original_chunk, original_make = worker_mod.process_chunk, run_mod.make_chunks
    original_extract, original_op = run_mod._extract_files, ops_mod._run_one

    def timed_chunk(*a: Any, **k: Any) -> Any:
        t0 = time.process_time()
        try:
            return original_chunk(*a, **k)
        finally:
            chunk_cpu.append(time.process_time() - t0)

    def chunks_for_n(tasks: Any, *, workers: int) -> Any:  # noqa: ARG001 - the plan's 1 is replaced
        return original_make(tasks, workers=args.workers)

    def extract_files(*a: Any, **k: Any) -> Any:
        marks.setdefault("extract_start", time.process_time())
        try:
            return original_extract(*a, **k)
        finally:
            marks["extract_end"] = time.process_time()

    def timed_op(*a: Any, **k: Any) -> Any:  # one worker in the plan: the layer runs in one thread
        t0 = time.process_time()
        try:
            return original_op(*a, **k)
        finally:
            op_cpu.append((a[1].name, time.process_time() - t0))

    worker_mod.process_chunk = timed_chunk  # type: ignore[assignment]
    run_mod.make_chunks = chunks_for_n  # type: ignore[assignment]
    run_mod._extract_files = extract_files  # type: ignore[assignment]
    ops_mod._run_one = timed_op  # type: ignore[assignment]
    try:
        t_plan = time.process_time()
        summary, total = _extract_in_process(args)
        t_end = time.process_time()
    finally:
        worker_mod.process_chunk = original_chunk
        run_mod.make_chunks = original_make
        run_mod._extract_files = original_extract
        ops_mod._run_one = original_op
    catalog = (t_end - t_plan) - total  # make_plan (the catalog), outside extract()
    in_chunks = sum(chunk_cpu)
    serial = total - in_chunks
    makespan, busy = _simulate(chunk_cpu, workers)
    layers = [[n for n in layer] for layer in _layers(args)]
    by_name = dict(op_cpu)
    ops_serial = sum(by_name.values())
    ops_parallel = sum(_lanes([by_name[n] for n in layer if n in by_name], workers) for layer in layers)
    before = marks.get("extract_start", 0.0) - (t_end - total) if marks else 0.0
    fixed = startup + catalog
    one = fixed + serial + in_chunks
    n_run = fixed + serial - ops_serial + ops_parallel + makespan
    return {
        "workers": workers,
        "chunks": len(chunk_cpu),
        "chunk_cpu_s": {
            "sum": round(in_chunks, 3),
            "max": round(max(chunk_cpu, default=0.0), 3),
            "last_5": [round(c, 3) for c in chunk_cpu[-5:]],
        },
        "serial_parent_cpu_s": round(serial, 3),
        "serial_parent_parts_cpu_s": {
            "imports": round(startup, 3),
            "catalog (make_plan)": round(catalog, 3),
            "before the extraction (scan, plan, tables)": round(before, 3),
            "operations": {n: round(c, 3) for n, c in op_cpu},
            "operations on N workers (simulated)": round(ops_parallel, 3),
            "after the extraction, without operations (commit, publish)": round(
                serial - before - ops_serial, 3
            ),
        },
        "simulated_makespan_s": round(makespan, 3),
        "simulated_worker_busy_s": [round(b, 3) for b in busy],
        "tail_idle_s": round(sum(makespan - b for b in busy), 3),
        "ideal_speedup_vs_one_worker": round(one / n_run, 3),
        "ideal_speedup_without_startup": round((serial + in_chunks) / (n_run - fixed), 3),
        "note": "CPU seconds of one in-process run; the speed-up assumes N dedicated cores, no IPC and "
        "no parent work during extraction: an upper bound set by serial work and the tail. "
        "ideal_speedup_vs_one_worker counts the imports and the catalog (serial in both runs); "
        "without_startup is the figure earlier sessions quoted",
    }


def _layers(args: argparse.Namespace) -> list[list[str]]:
    """The DAG layers of the operations the bench's selection runs."""
    with tempfile.TemporaryDirectory(prefix="quarry-bench-") as tmp:
        plan = _one_worker_plan(args, os.path.join(tmp, "s"))
    return [list(layer) for layer in plan.graph.layers]


def _one_worker_plan(args: argparse.Namespace, store: str) -> Any:
    """The plan of a one-worker run of the bench's corpus and selection into ``store``."""
    from codequarry.plan import make_plan

    return make_plan(
        args.folders, store=store, workers=1, exclude=args.exclude, plugins=args.plugin, select=args.select
    )


def profile(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    """One in-process, one-worker extract with every stage timed; returns the breakdown."""
    import dataclasses
    import importlib

    from codequarry.engine import worker as worker_mod

    _use_bench_env(bench)
    st = _Stages()
    patches: list[tuple[Any, str, Any]] = []
    missing: list[str] = []
    stages = STAGES + ((("codequarry.schema", "RowBuffer.add", "RowBuffer.add"),) if args.profile_add else ())
    for module, name, stage in stages:
        owner: Any = importlib.import_module(module)
        *cls, attr = name.split(".")
        owner = getattr(owner, cls[0], None) if cls else owner
        original = getattr(owner, attr, None)
        if original is None:
            missing.append(f"{module}.{name}")
            continue
        patches.append((owner, attr, original))
        setattr(owner, attr, st.wrap(stage, original))
    original_load = worker_mod.load_extractors
    wrapped: dict[Any, list[Any]] = {}

    def load_extractors(refs: Any) -> list[Any]:
        if refs not in wrapped:
            wrapped[refs] = [
                dataclasses.replace(ex, func=st.wrap(f"extractor {ex.name}", ex.func))
                for ex in original_load(refs)
            ]
        return wrapped[refs]

    patches.append((worker_mod, "load_extractors", original_load))
    # one thread, so that each stage's exclusive CPU time is its own (the parts are written inline)
    patches.append((worker_mod, "PARTS_IN_THREAD", worker_mod.PARTS_IN_THREAD))
    patches.append((worker_mod, "READ_AHEAD", worker_mod.READ_AHEAD))
    worker_mod.PARTS_IN_THREAD = worker_mod.READ_AHEAD = False
    worker_mod.load_extractors = load_extractors  # type: ignore[assignment]
    try:
        summary, total = _extract_in_process(args)
    finally:
        for owner, attr, original in reversed(patches):
            setattr(owner, attr, original)
    overhead = st.overhead_per_call() * sum(st.calls.values())
    own = dict(st.own)
    own["other (run driver, counters)"] = total - sum(own.values())
    table = {
        k: {"seconds": round(v, 3), "percent": round(100 * v / total, 1), "calls": st.calls.get(k)}
        for k, v in sorted(own.items(), key=lambda kv: -kv[1])
    }
    report: dict[str, Any] = {
        "workers": 1,
        "total_s": round(total, 3),
        "files_parsed": summary.files_parsed,
        "rows": summary.rows,
        "stages": table,
        "not_instrumented": missing,
        "instrumentation_overhead_s": round(overhead, 3),
        "note": "exclusive CPU times (user+sys): a stage excludes the instrumented stages it calls; the overhead is "
        "spread over the stages that call instrumented functions",
    }
    if args.cprofile:  # a second run: cProfile's own overhead would distort the stage times
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        _extract_in_process(args, profiler)
        profiler.dump_stats(args.cprofile)
        stats = pstats.Stats(profiler)
        top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:30]  # type: ignore[attr-defined]
        report["cprofile_top_tottime"] = [
            {"function": f"{os.path.basename(f)}:{line}({fn})", "tottime_s": round(tt, 3), "calls": nc}
            for (f, line, fn), (_cc, nc, tt, _ct, _callers) in top
        ]
        report["cprofile_file"] = str(args.cprofile)
    return report


# -- the command --------------------------------------------------------------------------------------
def _default_corpus() -> list[str]:
    return [sysconfig.get_paths()["stdlib"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", help="corpus folders (default: this Python's standard library)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (default 3)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="workers of the all-cores configuration (default: os.cpu_count())",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--exclude", action="append", help="passed to quarry (default: site-packages)")
    parser.add_argument("--select", action="append", default=[], help="passed to quarry (repeatable)")
    parser.add_argument("--plugin", action="append", default=[], help="passed to quarry (repeatable)")
    parser.add_argument(
        "--compare-select",
        metavar="GROUP",
        help="also time one worker with only GROUP selected; adds ratio full/GROUP",
    )
    parser.add_argument("--profile", action="store_true", help="add an in-process stage breakdown")
    parser.add_argument("--profile-only", action="store_true", help="only the stage breakdown")
    parser.add_argument(
        "--schedule",
        action="store_true",
        help="add a simulated --workers N schedule from per-chunk CPU times (what limits the speed-up)",
    )
    parser.add_argument("--schedule-only", action="store_true", help="only the simulated schedule")
    parser.add_argument(
        "--profile-add",
        action="store_true",
        help="also time every RowBuffer.add call (costs ~0.3 us per row in overhead)",
    )
    parser.add_argument(
        "--cprofile",
        metavar="FILE",
        help="with --profile: also run cProfile, dump its stats here and list the top functions",
    )
    parser.add_argument("--quarry", help="the quarry command (default: beside this Python, or on PATH)")
    parser.add_argument(
        "--peer-seconds",
        type=float,
        help="another tool's seconds on the same corpus: report how many times faster the N-worker run is",
    )
    parser.add_argument(
        "--peer-target", type=float, help="with --peer-seconds: the ratio aimed at (e.g. 300)"
    )
    parser.add_argument(
        "--no-freeze",
        dest="freeze",
        action="store_false",
        help="import the package where it is instead of from a private copy made at start",
    )
    parser.add_argument(
        "--no-bytecode",
        dest="bytecode",
        action="store_false",
        help="leave the frozen copy uncompiled: with PYTHONDONTWRITEBYTECODE=1 every run compiles the package from source",
    )
    parser.add_argument(
        "--use-enclosing-git",
        action="store_true",
        help="let quarry list a folder through an enclosing git work tree",
    )
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_walk", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_gc-off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        _bare(args._child, args._walk, args._gc_off)
        return 0
    args.folders = args.folders or _default_corpus()
    args.exclude = args.exclude if args.exclude is not None else ["site-packages"]
    if args.repeat < 1 or args.workers < 1:
        parser.error("--repeat and --workers must be at least 1")
    bench = Bench(args)
    try:
        timed = not (args.profile_only or args.schedule_only)
        report: dict[str, Any] = measure(args, bench) if timed else {}
        if args.schedule or args.schedule_only:
            _use_bench_env(bench)
            report["schedule"] = schedule(args)
        if args.profile or args.profile_only:
            try:
                report["profile_one_worker"] = profile(args, bench)
            except Exception as exc:  # a broken profile must not lose the timings
                report["profile_one_worker"] = {"failed": f"{type(exc).__name__}: {exc}"}
    except CommandFailed as exc:
        sys.stderr.write(f"bench: {exc}")
        return 1
    finally:
        bench.close()
    report["source"] = bench.source
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

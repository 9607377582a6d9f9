"""Scale on one machine: a corpus of many real packages, each its own repo, against the stdlib alone.

    python bench/scale.py [--multiple M] [--workers W] [--queries N] [--no-reuse] [--keep DIR] [--out FILE]
    python bench/scale.py --operations STORE_1X STORE_MX [--baseline-src SRC] [--repeat N]

Corpus (hard links into a temporary folder, so that every package gets its own repo name and no
source is written to): the standard library of the interpreter that runs quarry (`stdlib`, the 1x
corpus, `site-packages` left out), then every top-level package of its site-packages (each a repo
named `<version>-<package>`; single-file modules of a site-packages together as
`<version>-modules`), then the standard libraries and site-packages of the other Python versions
found beside it and the system's dist-packages, until the corpus holds M times the stdlib's Python
files (default 20). `__pycache__`, `*.pyc` and `*.dist-info` are left out.

Runs, each a cold `quarry extract` in a child:
  one_x   the stdlib alone into a fresh store
  m_x     every repo of the corpus in one command into a fresh store
Then, on the m_x store: `quarry sql` p50 of the typical queries below (each run N times in a new
process, start-up included, with a `SELECT 1` floor beside them), as the run left the store
(auto-compaction only), then after `quarry compact` (every table rewritten sorted by (repo, path)
into ~32 MB files of 64k-row groups, see codequarry.store.layout) and again. Beside them, for the
one-repo join: whether the plan prunes files by their statistics (EXPLAIN ANALYZE through `quarry
sql`'s DataFusion session, and through deltalake's own QueryBuilder, whose native Delta provider
receives the filter), and the QueryBuilder p50 of the same queries.

Reported: files/s (files scanned per wall second; also parsed files per second), the ratio m_x / one_x,
parent peak RSS of each run (the run report's sampled peak; also per stage) and its ratio, store size, live Parquet
parts per table, the per-repo check (the `stdlib` repo of the m_x store has, per file table, the
rows of the one_x store), and the query times. With --no-reuse QUARRY_REUSE=0 (pay-once reuse off:
the corpus holds near-identical standard libraries of several versions). Prints JSON.

--operations: the operations stage alone (python.models.resolve, python.tests.cases,
python.web.routes in two threads, as the run's operations stage runs them, Arrow on the system
allocator as in the extract parent) over two kept stores (e.g. the store_1x and store_mx of a
--keep run), each in a fresh child process: the child's peak RSS (sampled every 20 ms) and CPU,
medians of --repeat, interleaved with the same over --baseline-src (another tree's src, e.g. main's)
when given; the ratios m_x / 1x. The derived rows are those a run writes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
SKIP = ("__pycache__", "*.pyc", "*.dist-info", "*.egg-info")

QUERIES = {
    "count_by_repo": "SELECT repo, count(*) AS n FROM functions GROUP BY repo ORDER BY n DESC LIMIT 10",
    "calls_to_functions_one_repo": (
        "SELECT f.qualname, count(*) AS n FROM calls c JOIN functions f ON c.repo = f.repo "
        "AND c.path = f.path AND c.scope = f.qualname WHERE c.repo = 'stdlib' AND f.repo = 'stdlib' "
        "GROUP BY f.qualname ORDER BY n DESC LIMIT 10"
    ),
    "calls_to_functions_all": (
        "SELECT c.repo, count(*) AS n FROM calls c JOIN functions f ON c.repo = f.repo "
        "AND c.path = f.path AND c.scope = f.qualname GROUP BY c.repo ORDER BY n DESC LIMIT 10"
    ),
    "routes_without_auth": (
        "SELECT framework, full_path, handler, path, line FROM routes "
        "WHERE kind <> 'include' AND cardinality(auth) = 0 ORDER BY full_path LIMIT 50"
    ),
    "floor_select_1": "SELECT 1",
}


def py_count(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.py"))


def candidates() -> list[tuple[str, Path]]:
    """(repo name, folder) in the order the corpus takes them: the stdlib, its site-packages, then
    each other version's stdlib and site-packages, then dist-packages. A folder named ``X-modules``
    stands for the single-file modules of a site-packages (see build_corpus)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    ver = f"py{sys.version_info.major}{sys.version_info.minor}"
    out: list[tuple[str, Path]] = [("stdlib", stdlib), *site_entries(ver, stdlib / "site-packages")]
    versions = stdlib.parent.parent.parent  # .../versions/X/lib/pythonX.Y -> .../versions
    for other in sorted(versions.glob("*/lib/python3.*")):
        if other.resolve() != stdlib.resolve() and other.is_dir():
            name = "py" + other.name.removeprefix("python").replace(".", "")
            out += [(f"{name}-stdlib", other), *site_entries(name, other / "site-packages")]
    return out + site_entries("dist", Path("/usr/lib/python3/dist-packages"))


def site_entries(tag: str, site: Path) -> list[tuple[str, Path]]:
    """Each package folder of a site-packages as a repo, and its single-file modules as one more."""
    if not site.is_dir():
        return []
    out = [
        (f"{tag}-{entry.name}", entry)
        for entry in sorted(site.iterdir())
        if entry.is_dir() and not entry.name.endswith((".dist-info", ".egg-info", "__pycache__"))
    ]
    return [*out, (f"{tag}-modules", site)]


def build_corpus(base: Path, multiple: float) -> tuple[list[Path], int]:
    """Hard-link repos into ``base`` until the corpus holds ``multiple`` x the stdlib's .py files."""
    ignore = shutil.ignore_patterns(*SKIP, "site-packages")
    repos: list[Path] = []
    total = want = 0
    for name, folder in candidates():
        dst = base / name
        if name.endswith("-modules"):
            dst.mkdir(parents=True, exist_ok=True)
            for f in folder.glob("*.py"):
                if not (dst / f.name).exists():
                    os.link(f, dst / f.name)
        elif not dst.exists():
            try:
                shutil.copytree(folder, dst, symlinks=True, ignore=ignore, copy_function=os.link)
            except (shutil.Error, OSError):
                shutil.rmtree(dst, ignore_errors=True)
                continue
        n = py_count(dst)
        if n == 0:
            shutil.rmtree(dst, ignore_errors=True)
            continue
        if name == "stdlib":
            want = int(n * multiple)
        repos.append(dst)
        total += n
        if total >= want:
            break
    return repos, total


def env(reuse: bool) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "QUARRY_REUSE": "1" if reuse else "0"}


def extract(sources: list[Path], store: Path, workers: int, reuse: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "codequarry", "extract", *map(str, sources), "--store", str(store)]
    cmd += ["--workers", str(workers), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env(reuse), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(1)
    summary = json.loads(proc.stdout)
    report = json.loads((store / "runs" / f"{summary['run_id']}.json").read_text())
    files = summary["files_scanned"]
    return {
        "wall": round(wall, 2),
        "cpu": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "files": files,
        "parsed": summary["files_parsed"],
        "reused": summary.get("reused", 0),
        "files_per_s": round(files / wall, 1),
        "files_per_cpu_s": round(
            files / max(0.001, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime), 1
        ),
        "parsed_per_s": round(summary["files_parsed"] / wall, 1),
        "parent_peak_mb": round(report["memory"]["parent_peak"] / 2**20, 1),
        "worker_peak_mb": round(report["memory"]["worker_peak"] / 2**20, 1),
        "stages": {s["name"]: round(s["seconds"], 2) for s in report["stages"]},
        "rows": sum(summary["rows"].values()),
        "parent_peak_mb_by_stage": peak_by_stage(report),
    }


def peak_by_stage(report: dict[str, Any]) -> dict[str, float]:
    """The parent's sampled peak RSS within each stage of the run (MB)."""
    bounds, t = [], 0.0
    for stage in report["stages"]:
        if stage["name"].startswith("reuse_write"):  # within `reuse`, not a stage after it
            continue
        bounds.append((stage["name"], t, t + stage["seconds"]))
        t += stage["seconds"]
    out: dict[str, float] = {}
    for sample in report["memory"]["samples"]:
        for name, start, end in bounds:
            if start <= sample["t"] < end + report["memory"]["interval"]:
                out[name] = max(out.get(name, 0.0), round(sample["parent"] / 2**20, 1))
                break
    return out


def layout(store: Path) -> dict[str, Any]:
    """Store size and live Parquet parts per table."""
    sys.path.insert(0, str(SRC))
    from codequarry import open_store

    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    parts = {n: len(st.open_delta(n, s.version).file_uris()) for n, s in sorted(snap.tables.items())}
    size = sum(f.stat().st_size for f in (store / "tables").rglob("*.parquet"))
    return {"store_mb": round(size / 2**20, 1), "parts": sum(parts.values()), "parts_per_table": parts}


def repo_counts(store: Path, repo: str) -> dict[str, int]:
    """Rows of ``repo`` per table that the file extractors write."""
    sys.path.insert(0, str(SRC))
    from codequarry import open_store
    from codequarry.store.store import read_columns

    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    written = {t for ts in snap.run["outputs"].get(repo, {}).values() for t in ts} | {"errors"}
    out = {}
    for name in sorted(written & set(snap.tables)):
        data = read_columns(st, name, snap.tables[name].version, ["repo"], [repo])
        out[name] = 0 if data is None else data.num_rows
    return out


def queries(store: Path, n: int) -> dict[str, Any]:
    """p50 wall seconds of each query in a fresh `quarry sql` process."""
    out: dict[str, Any] = {}
    for name, sql in QUERIES.items():
        times = []
        for _ in range(n):
            cmd = [sys.executable, "-m", "codequarry", "sql", sql, "--store", str(store), "-f", "csv"]
            started = time.perf_counter()
            proc = subprocess.run(cmd, env=env(True), capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if proc.returncode != 0:
                out[name] = {"error": proc.stderr.strip()[-300:]}
                break
        else:
            out[name] = {"p50": round(statistics.median(times), 3), "samples": [round(t, 3) for t in times]}
    return out


def queries_in_process(store: Path, n: int) -> dict[str, float]:
    """p50 seconds of each query through the Python API in this process (session built per query:
    what `quarry sql` costs after interpreter start-up and imports)."""
    sys.path.insert(0, str(SRC))
    from codequarry import open_store
    from codequarry.query import sql

    st = open_store(store)
    out = {}
    for name, text in QUERIES.items():
        times = []
        for _ in range(n):
            started = time.perf_counter()
            sql(st, text)
            times.append(time.perf_counter() - started)
        out[name] = round(statistics.median(times), 3)
    st.close()
    return out


PRUNED = re.compile(r"files_ranges_pruned_statistics=(\d+) total → (\d+) matched")
ROWS = re.compile(r"DataSourceExec.*?output_rows=([\d.]+ ?[KM]?)")


def pruning(store: Path, n: int) -> dict[str, Any]:
    """Files the one-repo join reads (total -> matched by statistics) and rows out of each scan,
    through `quarry sql`'s session and through deltalake's QueryBuilder; the QueryBuilder p50s."""
    sys.path.insert(0, str(SRC))
    from deltalake import DeltaTable, QueryBuilder

    from codequarry import open_store
    from codequarry.query import session
    from codequarry.store.store import arrow_table

    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    sql = "EXPLAIN ANALYZE " + QUERIES["calls_to_functions_one_repo"]
    ses = session(st)  # kept referenced: the plan's tables live as long as the session
    text = ses.sql(sql).to_arrow_table().column(1)[0].as_py()
    out: dict[str, Any] = {"quarry_sql": {"files": PRUNED.findall(text), "scan_rows": ROWS.findall(text)}}
    qb = QueryBuilder()
    for name in ("calls", "functions", "routes"):
        qb.register(name, DeltaTable(str(st.table_path(name)), version=snap.tables[name].version))
    got = arrow_table(qb.execute(sql))
    text = "\n".join(str(v) for v in got.column(1).to_pylist())
    out["querybuilder"] = {"files": PRUNED.findall(text), "scan_rows": ROWS.findall(text)}
    times: dict[str, float] = {}
    for name, text in QUERIES.items():
        if name == "count_by_repo":
            continue  # its table is not registered here
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            arrow_table(qb.execute(text))
            samples.append(time.perf_counter() - started)
        times[name] = round(statistics.median(samples), 3)
    out["querybuilder_p50"] = times
    st.close()
    return out


def compact(store: Path) -> float:
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "codequarry", "compact", "--store", str(store)]
    subprocess.run(cmd, env=env(True), capture_output=True, text=True, check=True)
    return round(time.perf_counter() - started, 2)


OPERATIONS_CHILD = """
import json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import psutil, pyarrow as pa
pa.set_memory_pool(pa.system_memory_pool())
from codequarry import open_store
from codequarry.operations import OperationContext
from codequarry.extractors.python.models.operations import resolve_models
from codequarry.extractors.python.tasks.testcases import test_cases
from codequarry.extractors.python.web.operation import routes
proc, peak = psutil.Process(), [0]
def sample():
    while True:
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
st = open_store(sys.argv[1])
snap = st.snapshot()
def one(op):
    ctx = OperationContext(st, snap.tables, name=op.name, inputs=tuple(op.inputs))
    out = op.func(ctx)
    return sum(t.num_rows for t in out.values()) if isinstance(out, dict) else out.num_rows
cpu = time.process_time()
with ThreadPoolExecutor(2) as pool:
    rows = list(pool.map(one, [resolve_models, test_cases, routes]))
print(json.dumps({"rows": rows, "cpu": time.process_time() - cpu, "peak_mb": peak[0] / 2**20}))
"""


def operations_only(stores: list[str], sources: dict[str, Path], repeat: int) -> dict[str, Any]:
    """Peak RSS and CPU of the operations stage alone per store and tree (medians, interleaved)."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {t: {s: [] for s in stores} for t in sources}
    for _ in range(repeat):
        for store in stores:
            for tree, src in sources.items():
                env = {**os.environ, "PYTHONPATH": str(src)}
                cmd = [sys.executable, "-c", OPERATIONS_CHILD, store]
                got = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                samples[tree][store].append(json.loads(got.stdout))
    out: dict[str, Any] = {"load": os.getloadavg()[0], "repeat": repeat}
    for tree, by_store in samples.items():
        med = {
            s: {
                "peak_mb": round(statistics.median(x["peak_mb"] for x in xs), 1),
                "cpu": round(statistics.median(x["cpu"] for x in xs), 2),
                "rows": xs[0]["rows"],
            }
            for s, xs in by_store.items()
        }
        one, many = (med[s] for s in stores)
        out[tree] = {"src": str(sources[tree]), "one_x": one, "m_x": many}
        out[tree]["peak_ratio"] = round(many["peak_mb"] / one["peak_mb"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--multiple", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--no-reuse", action="store_true")
    ap.add_argument("--keep")
    ap.add_argument("--out")
    ap.add_argument("--operations", nargs=2, metavar=("STORE_1X", "STORE_MX"))
    ap.add_argument("--baseline-src")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.operations:
        trees = {"this": SRC, **({"baseline": Path(args.baseline_src)} if args.baseline_src else {})}
        print(json.dumps(operations_only(args.operations, trees, args.repeat), indent=2))
        return
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="quarry-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    reuse = not args.no_reuse
    try:
        repos, py_files = build_corpus(base / "corpus", args.multiple)
        one = extract(repos[:1], base / "store_1x", args.workers, reuse)
        many_store = base / "store_mx"
        shutil.rmtree(many_store, ignore_errors=True)
        many = extract(repos, many_store, args.workers, reuse)
        result: dict[str, Any] = {
            "repos": len(repos),
            "py_files": py_files,
            "multiple_of_stdlib_py_files": round(py_files / max(1, py_count(repos[0])), 1),
            "workers": args.workers,
            "reuse": reuse,
            "one_x": one,
            "m_x": many,
            "throughput_ratio": round(many["files_per_s"] / one["files_per_s"], 3),
            "cpu_throughput_ratio": round(many["files_per_cpu_s"] / one["files_per_cpu_s"], 3),
            "parsed_throughput_ratio": round(many["parsed_per_s"] / one["parsed_per_s"], 3),
            "parent_rss_ratio": round(many["parent_peak_mb"] / one["parent_peak_mb"], 3),
            "stdlib_rows_equal_1x": repo_counts(many_store, "stdlib")
            == repo_counts(base / "store_1x", "stdlib"),
            "layout_after_run": layout(many_store),
            "queries_after_run": queries(many_store, args.queries),
            "queries_in_process_after_run": queries_in_process(many_store, args.queries),
            "pruning_after_run": pruning(many_store, args.queries),
        }
        result["compact_seconds"] = compact(many_store)
        result["layout_compacted"] = layout(many_store)
        result["queries_compacted"] = queries(many_store, args.queries)
        result["queries_in_process_compacted"] = queries_in_process(many_store, args.queries)
        result["pruning_compacted"] = pruning(many_store, args.queries)
        result["argv"] = sys.argv[1:]
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How much does the external-tool runner cost, measured against bare loops in the same run?

    python bench/tools.py [--tasks N] [--rows N] [--repeat N] [--out FILE] [--only WHAT]

``--only memory`` measures the parent's peak RSS alone at 10^3, 10^4 and 10^5 tasks (or up to
--tasks); ``--only ingest`` the JSON-lines ingest alone; ``--only tasks`` the task overhead alone.

Three measurements, each against its baseline (interleaved with it per repeat):

  task overhead   N tasks (default 10^4) of a trivial command (/bin/true), as a recipe run by
                  `run_recipe` into a fresh store (planning excluded; limits, monitoring, commit,
                  report included), with one core and with every core, against the same N commands
                  run one after the other by a plain `subprocess.run` loop. Each runs in a fresh
                  child process. Reported as tasks/s, ms per task and the overhead per task.
  parent memory   the peak RSS of the child running the recipe at 10^3 tasks and at N (and at 10^4
                  as well when N is 10^5): flat in the number of tasks means a ratio near 1. It is
                  read when `run_recipe` returns, before the bench deletes its temporary store.
  JSON-lines      one task printing N records (`cat` of a file written beforehand, so the producer
  ingest          is never the bottleneck) into a table, against the same process's stdout read in
                  a bare loop: lines only, lines with `json.loads`, and the whole output read by
                  `pyarrow.json.read_json` (the parser alone, no store). Reported as rows/s, and
                  also as the marginal rate: rows / (the run's time - the same run printing 1 row),
                  which leaves out what any run costs (store, commit, report); each in wall time
                  and in this process's CPU time (user + system, all threads: the ingest and the
                  Parquet writes; `cat` is a child), the figure a shared machine does not skew.

Prints JSON on stdout (and writes it to --out). It measures; it does not judge.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from codequarry.tools.plan import make_tools_plan  # noqa: E402
from codequarry.tools.runner import run_recipe  # noqa: E402

TRUE = shutil.which("true") or "/bin/true"
CAT = shutil.which("cat") or "/bin/cat"


def recipe(folder: Path, body: str, cores: int | str) -> Path:
    path = folder / "recipe.toml"
    path.write_text(
        f"[resources]\nmax_cores = {json.dumps(cores)}\nmax_memory = 4\ndefault_timeout = 60\n{body}"
    )
    return path


def child(what: str, n: int, cores: int | str) -> dict[str, float]:
    """Run one measurement in a fresh Python (its peak RSS is then its own); returns its JSON."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, "--tasks", str(n), "--cores", str(cores)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def child_main(what: str, n: int, cores: str) -> int:
    import resource

    used: list[float] = []
    peak: list[int] = []
    if what == "plain":
        seconds = plain_tasks(n, used)
        peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    else:
        seconds = runner_tasks(n, cores if cores == "max" else int(cores), used, peak)
    rss = peak[0]
    print(json.dumps({"seconds": seconds, "peak_rss": rss, "cpu": sum(used)}))
    return 0


def runner_tasks(
    n: int, cores: int | str, used: list[float] | None = None, peak: list[int] | None = None
) -> float:
    """Run n trivial tasks; ``peak`` gets this process's peak RSS when the run has returned, before
    the bench removes the temporary store (10^5 cache files: not the run's memory)."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        targets = json.dumps([str(i) for i in range(n)])
        path = recipe(
            Path(tmp),
            f'[tools.t]\ncommand = ["{TRUE}", "{{target}}"]\ntargets = {targets}\n'
            "resources = { cores = 1, memory = 0.1 }\n",
            cores,
        )
        plan = make_tools_plan(path)
        c0, t0 = cpu_seconds(), time.perf_counter()
        summary = run_recipe(plan)
        seconds = time.perf_counter() - t0
        if used is not None:
            used.append(cpu_seconds() - c0)
        if peak is not None:
            peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        assert summary.statuses == {"ok": n}, summary.statuses
        return seconds


def plain_tasks(n: int, used: list[float] | None = None) -> float:
    c0, t0 = cpu_seconds(), time.perf_counter()
    for i in range(n):
        subprocess.run([TRUE, str(i)], check=True)
    if used is not None:
        used.append(cpu_seconds() - c0)
    return time.perf_counter() - t0


def make_records(path: Path, rows: int) -> None:
    with open(path, "w") as fh:
        for i in range(rows):
            fh.write(
                json.dumps(
                    {
                        "name": f"Mathlib.Decl{i}",
                        "module": f"Mathlib.M{i % 97}",
                        "line": i,
                        "type": "∀ {α : Type u} [inst : Group α] (a b : α), a * b = b * a" if i % 3 else None,
                        "deps": [f"d{i % 7}", f"d{i % 11}"],
                    }
                )
                + "\n"
            )


def runner_ingest(data: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        body = (
            f'[tools.decls]\ncommand = ["{CAT}", "{{file}}"]\nfiles = ["{data}"]\n'
            'schema = { name = "str", module = "str", line = "int", type = "str?", deps = "list[str]" }\n'
            "resources = { cores = 1, memory = 2 }\n"
        )
        plan = make_tools_plan(recipe(Path(tmp), body, 1))
        t0 = time.perf_counter()
        summary = run_recipe(plan)
        seconds = time.perf_counter() - t0
        assert summary.statuses == {"ok": 1}, summary.statuses
        return seconds


def bare_ingest(data: Path, decode: bool) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen([CAT, str(data)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    n = 0
    if decode:
        loads = json.loads
        for line in proc.stdout:
            loads(line)
            n += 1
    else:
        for _line in proc.stdout:
            n += 1
    proc.wait()
    return time.perf_counter() - t0


def bare_arrow(data: Path) -> float:
    """pyarrow's JSON reader over the same process's whole output, with the recipe's schema."""
    import pyarrow as pa
    import pyarrow.json as pj

    schema = pa.schema(
        [
            ("name", pa.string()),
            ("module", pa.string()),
            ("line", pa.int64()),
            ("type", pa.string()),
            ("deps", pa.list_(pa.string())),
        ]
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen([CAT, str(data)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    pj.read_json(proc.stdout, parse_options=pj.ParseOptions(explicit_schema=schema))
    proc.wait()
    return time.perf_counter() - t0


def memory_only(args: argparse.Namespace) -> dict[str, Any]:
    """The parent's peak RSS at 10^3, 10^4, 10^5 tasks (up to --tasks), each in a fresh child."""
    sizes = [n for n in (1000, 10_000, 100_000) if n <= max(args.tasks, 1000)]
    rss: dict[int, list[int]] = {n: [] for n in sizes}
    for _ in range(args.repeat):
        for n in sizes:
            rss[n].append(int(child("runner", n, 1)["peak_rss"]))
    med = {n: statistics.median(v) for n, v in rss.items()}
    return {
        "peak_rss_mb": {str(n): round(med[n] / 1e6, 1) for n in sizes},
        "samples_mb": {str(n): [round(x / 1e6, 1) for x in v] for n, v in rss.items()},
        **{f"peak_rss_{n}_vs_{sizes[0]}": round(med[n] / med[sizes[0]], 3) for n in sizes[1:]},
        "kb_per_task_beyond_1000": round(
            (med[sizes[-1]] - med[sizes[0]]) / 1024 / max(1, sizes[-1] - sizes[0]), 3
        ),
    }


def cpu_seconds() -> float:
    """User + system CPU of this process, every thread (the parent's side of a run; `cat` is a child)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn: Any, *a: Any, **kw: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    fn(*a, **kw)
    return time.perf_counter() - t0, cpu_seconds() - c0


def ingest_only(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-lines ingest against its bare loops, interleaved per repeat: wall time and this
    process's CPU time (on a shared machine the wall time mostly measures the other processes)."""
    keys = ("bare_lines", "bare_lines_json", "bare_arrow", "runner_ingest", "runner_one_row")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    with tempfile.TemporaryDirectory() as tmp:
        data, one = Path(tmp) / "records.jsonl", Path(tmp) / "one.jsonl"
        make_records(data, args.rows)
        make_records(one, 1)
        runner_ingest(one)  # warm up imports and the page cache
        for _ in range(args.repeat):
            for key, fn, arg in (
                ("bare_lines", lambda d: bare_ingest(d, decode=False), data),
                ("bare_lines_json", lambda d: bare_ingest(d, decode=True), data),
                ("bare_arrow", bare_arrow, data),
                ("runner_ingest", runner_ingest, data),
                ("runner_one_row", runner_ingest, one),
            ):
                wall, used = timed(fn, arg)
                samples[key].append(wall)
                cpu[key].append(used)
        mb = data.stat().st_size / 1e6
    return ingest_result(args.rows, mb, samples, cpu)


def ingest_result(
    rows: int, mb: float, samples: dict[str, list[float]], cpu: dict[str, list[float]] | None = None
) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in samples.items() if v}
    out: dict[str, Any] = {"rows": rows, "mb": round(mb, 1)}
    out.update({k: summarize(samples[k], rows, "rows") for k in med if k != "runner_one_row"})
    out["runner_vs_bare_lines_json"] = round(med["runner_ingest"] / med["bare_lines_json"], 2)
    out["runner_vs_bare_lines"] = round(med["runner_ingest"] / med["bare_lines"], 2)
    if "bare_arrow" in med:
        out["runner_vs_bare_arrow"] = round(med["runner_ingest"] / med["bare_arrow"], 2)
    if "runner_one_row" in med:
        fixed = med["runner_one_row"]
        out["runner_one_row_s"] = round(fixed, 4)
        out["runner_marginal_rows_per_s"] = round(rows / max(1e-9, med["runner_ingest"] - fixed), 1)
    if cpu:
        c = {k: statistics.median(v) for k, v in cpu.items() if v}
        out["cpu_median_s"] = {k: round(v, 4) for k, v in c.items()}
        out["cpu_runner_vs_bare_lines_json"] = round(c["runner_ingest"] / c["bare_lines_json"], 2)
        marginal = max(1e-9, c["runner_ingest"] - c["runner_one_row"])
        out["cpu_runner_marginal_rows_per_s"] = round(rows / marginal, 1)
        out["cpu_bare_lines_json_rows_per_s"] = round(rows / c["bare_lines_json"], 1)
        out["headline"] = headline(rows, med, c)
    return out


def headline(rows: int, wall: dict[str, float], cpu: dict[str, float]) -> dict[str, Any]:
    """The ingest rate four ways, side by side with the bare `json.loads` loop's (same rows, same
    run): the whole run (store, commit and report included) and its margin (the one-row run taken
    off), each in wall time (what a shared machine skews) and in this process's CPU time."""

    def rate(n: float, seconds: float) -> float:
        return round(n / max(1e-9, seconds), 1)

    return {
        "rows": rows,
        "run_rows_per_wall_s": rate(rows, wall["runner_ingest"]),
        "run_marginal_rows_per_wall_s": rate(rows, wall["runner_ingest"] - wall["runner_one_row"]),
        "run_rows_per_cpu_s": rate(rows, cpu["runner_ingest"]),
        "run_marginal_rows_per_cpu_s": rate(rows, cpu["runner_ingest"] - cpu["runner_one_row"]),
        "bare_json_loads_rows_per_wall_s": rate(rows, wall["bare_lines_json"]),
        "bare_json_loads_rows_per_cpu_s": rate(rows, cpu["bare_lines_json"]),
        "run_cpu_vs_bare_json_loads": round(cpu["runner_ingest"] / cpu["bare_lines_json"], 3),
    }


def summarize(samples: list[float], units: int, unit: str) -> dict[str, Any]:
    med = statistics.median(samples)
    return {
        "median_s": round(med, 4),
        "min_s": round(min(samples), 4),
        "samples_s": [round(s, 4) for s in samples],
        f"{unit}_per_s": round(units / med, 1),
        f"ms_per_{unit[:-1]}": round(1000 * med / units, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", choices=("tasks", "memory", "ingest"), help="one measurement alone")
    ap.add_argument("--child", choices=("plain", "runner"), help=argparse.SUPPRESS)
    ap.add_argument("--cores", default="1", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args.child, args.tasks, args.cores)
    if args.only in ("memory", "ingest"):
        part = memory_only(args) if args.only == "memory" else ingest_only(args)
        key = "parent_memory" if args.only == "memory" else "jsonl_ingest"
        return emit({key: part, "repeat": args.repeat, "machine": machine()}, args.out)
    result: dict[str, Any] = {"machine": machine(), **tasks_and_memory(args)}
    if args.only is None:
        result["jsonl_ingest"] = ingest_only(args)
    result["repeat"] = args.repeat
    return emit(result, args.out)


def machine() -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    return {"cores": cores, "python": sys.version.split()[0], "platform": platform.platform()}


def emit(result: dict[str, Any], out: Path | None) -> int:
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")
    return 0


def tasks_and_memory(args: argparse.Namespace) -> dict[str, Any]:
    """The task overhead against the plain loop, and the peak RSS of the children that ran it."""
    samples: dict[str, list[float]] = {k: [] for k in ("plain_loop", "runner_1_core", "runner_all_cores")}
    cpu: dict[str, list[float]] = {"plain_loop": [], "runner_1_core": []}  # the parent's own CPU
    runner_tasks(5, 1)  # warm up imports and the page cache
    sizes = sorted({1000, args.tasks} | ({10_000} if args.tasks >= 100_000 else set()))
    rss: dict[int, list[int]] = {n: [] for n in sizes}
    for _ in range(args.repeat):
        plain = child("plain", args.tasks, 1)
        samples["plain_loop"].append(plain["seconds"])
        cpu["plain_loop"].append(plain["cpu"])
        got = child("runner", args.tasks, 1)
        samples["runner_1_core"].append(got["seconds"])
        cpu["runner_1_core"].append(got["cpu"])
        rss[args.tasks].append(int(got["peak_rss"]))
        samples["runner_all_cores"].append(child("runner", args.tasks, "max")["seconds"])
        for n in sizes[:-1]:
            rss[n].append(int(child("runner", n, 1)["peak_rss"]))
    tasks = {k: summarize(v, args.tasks, "tasks") for k, v in samples.items()}
    med = {k: statistics.median(v) for k, v in samples.items()}
    mem = {n: statistics.median(v) for n, v in rss.items()}
    return {
        "task_overhead": {
            "tasks": args.tasks,
            "command": TRUE,
            **tasks,
            "runner_1_core_vs_plain_loop": round(med["runner_1_core"] / med["plain_loop"], 2),
            "runner_all_cores_vs_plain_loop": round(med["runner_all_cores"] / med["plain_loop"], 2),
            "overhead_ms_per_task_1_core": round(
                1000 * (med["runner_1_core"] - med["plain_loop"]) / args.tasks, 3
            ),
            # the parent's CPU (user + system, its tasks excluded) a task: what load does not skew
            "parent_cpu_ms_per_task": {
                k: round(1000 * statistics.median(v) / args.tasks, 3) for k, v in cpu.items()
            },
            "parent_cpu_overhead_ms_per_task": round(
                1000
                * (statistics.median(cpu["runner_1_core"]) - statistics.median(cpu["plain_loop"]))
                / args.tasks,
                3,
            ),
        },
        "parent_memory": {
            "peak_rss_mb": {str(n): round(mem[n] / 1e6, 1) for n in sizes},
            **{f"peak_rss_{n}_vs_{sizes[0]}": round(mem[n] / mem[sizes[0]], 3) for n in sizes[1:]},
            "kb_per_task_beyond_1000": round(
                (mem[sizes[-1]] - mem[sizes[0]]) / 1024 / max(1, sizes[-1] - sizes[0]), 3
            ),
        },
    }


if __name__ == "__main__":
    sys.exit(main())

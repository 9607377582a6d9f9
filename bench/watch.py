"""Save-to-visible latency of `quarry watch`, against a cold extract measured in the same run.

    python bench/watch.py [FOLDER] [--edits 20] [--workers N] [--out FILE] [--store STORE]

FOLDER defaults to a copy of the standard library. The script extracts the copy cold (through the
Python API, --workers N), then starts the real `quarry watch` on the same copy and store, waits for
it to say it is watching, and makes --edits one-line edits, one at a time, to files spread over the
tree. The latency of an edit is the time from the write until `snapshot.json` names a new snapshot
whose `functions` table holds the function just added (what `quarry sql` then sees). Prints JSON:
p50, p95 and max latency, the cold extract, and their ratios, the watch process's CPU time per edit
(user + system, its idle-time work included: on a shared machine wall times inflate, CPU much less)
and the load average. ``--store`` starts from a store of FOLDER extracted before (copied with
it), so that before/after pairs can be run one after the other without a cold extract each. Targets (issue 12): p50 < 0.3 s, p95 < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


def copy_corpus(src: Path, dst: Path) -> None:
    shutil.copytree(
        src, dst, symlinks=True, ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.a", "*.so")
    )


def snapshot_id(store: Path) -> int:
    try:
        return int(json.loads((store / "snapshot.json").read_text())["id"])
    except (OSError, ValueError, KeyError):
        return 0


def visible(store: Path, name: str) -> bool:
    from codequarry import open_store
    from codequarry.query import sql

    st = open_store(store)
    try:
        return bool(sql(st, f"SELECT 1 FROM functions WHERE name = '{name}'").num_rows)
    finally:
        st.close()


def wait_published(store: Path, after: int, timeout: float = 120.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if snapshot_id(store) > after:
            return time.perf_counter()
        time.sleep(0.002)
    raise TimeoutError("no snapshot published")


def measure(
    corpus: Path, store: Path, edits: int, workers: int, cpu: list[float]
) -> tuple[list[float], list[str]]:
    """Latencies of ``edits`` one-line edits and the log lines; ``cpu`` gets the watch process's
    CPU time (user + system) per edit, idle work included."""
    env = {**os.environ}
    log = store.parent / "watch.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "codequarry",
                "watch",
                str(corpus),
                "--store",
                str(store),
                "--workers",
                str(workers),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    import psutil

    try:
        deadline = time.monotonic() + 600
        while "watching" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"watch did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.5)  # the watcher's inotify registrations
        watcher = psutil.Process(proc.pid)
        cpu0 = sum(watcher.cpu_times()[:2])
        files = sorted(p for p in corpus.rglob("*.py") if p.stat().st_size > 500)
        step = max(1, len(files) // max(1, edits))
        latencies = []
        for i in range(edits):
            victim = files[(i * step) % len(files)]
            name = f"_watch_bench_{i}"
            before = snapshot_id(store)
            with open(victim, "a") as fh:
                fh.write(f"\ndef {name}(): return {i}\n")
            t0 = time.perf_counter()
            t1 = wait_published(store, before)
            if not visible(store, name):  # published, but not this edit yet (a run already under way)
                t1 = wait_published(store, snapshot_id(store))
            latencies.append(t1 - t0)
            time.sleep(0.2)
        time.sleep(0.5)  # the last batch's idle work
        cpu.append((sum(watcher.cpu_times()[:2]) - cpu0) / max(1, edits))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    lines = [x for x in log.read_text().splitlines() if " applied " in x and "tables:" in x]
    if code != 143:
        raise RuntimeError(f"watch exited {code}")
    return latencies, lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--workers", type=int, default=1, help="workers of the watch process (and the cold run)")
    ap.add_argument("--out")
    ap.add_argument(
        "--store", help="an extracted store of FOLDER to start from (copied; no cold extract is timed)"
    )
    args = ap.parse_args()
    from codequarry import extract, make_plan

    with tempfile.TemporaryDirectory(prefix="quarry-watch-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        copy_corpus(Path(args.folder), corpus)
        store = Path(tmp) / "store"
        t = time.perf_counter()
        if args.store:  # the copy keeps mtimes: the watch's catch-up finds nothing to extract
            shutil.copytree(args.store, store)
            files, cold = len([p for p in corpus.rglob("*") if p.is_file()]), None
        else:
            files = extract(make_plan([corpus], store=store, workers=args.workers)).files_scanned
            cold = time.perf_counter() - t
        cpu: list[float] = []
        latencies, lines = measure(corpus, store, args.edits, args.workers, cpu)
        maintenance = (store.parent / "watch.log").read_text().splitlines()
    q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 else latencies * 19
    p50, p95 = statistics.median(latencies), q[18]
    report = {
        "corpus": args.folder,
        "files": files,
        "workers": args.workers,
        "edits": len(latencies),
        "cold_extract_s": round(cold, 3) if cold else None,
        "latency_s": {
            "p50": round(p50, 3),
            "p95": round(p95, 3),
            "max": round(max(latencies), 3),
            "all": [round(x, 3) for x in latencies],
        },
        "watch_cpu_s_per_edit": round(cpu[0], 3) if cpu else None,
        "load_average": round(os.getloadavg()[0], 1),
        "ratios": {"p50_vs_cold": round(p50 / cold, 4), "p95_vs_cold": round(p95 / cold, 4)}
        if cold
        else None,
        "targets_met": {"p50_under_0.3s": p50 < 0.3, "p95_under_1s": p95 < 1.0},
        "last_log_line": lines[-1] if lines else None,
        "batch_ms": [int(x.split(" ms; ")[0].rsplit(" ", 1)[1]) for x in lines if " ms; " in x],
        "maintenance": [x for x in maintenance if "compact" in x or "skipped" in x],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

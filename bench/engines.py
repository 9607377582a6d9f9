"""Engines on the standard library: throughput of local (1 and N workers) and Ray on localhost, and
the parent's peak memory on a 1x and a 10x corpus.

    python bench/engines.py [--repeat 3] [--copies 10] [--no-ray] [--out FILE]

Each configuration is a cold `quarry extract` subprocess into a fresh store; the parent's resident
memory is sampled every 20 ms (workers excluded). Prints JSON with medians, files/s, MB/s, speedups
against one worker (the baseline, measured in the same run), and the 10x/1x peak-RSS ratio
(target: < 1.25).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import psutil

IGNORE = shutil.ignore_patterns("site-packages", "__pycache__", "*.a", "*.so", "*.o")


def run(corpus: Path, store: Path, *args: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "codequarry",
        "extract",
        str(corpus),
        "--store",
        str(store),
        "--quiet",
        "--json",
        *args,
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    me = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, me.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"quarry failed ({proc.returncode}): {err[-2000:]}")
    summary = json.loads(out)
    return {"seconds": wall, "parent_peak_rss_mb": peak / 2**20, "files": summary["files_scanned"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    try:
        import ray  # noqa: F401

        have_ray = not args.no_ray
    except ImportError:
        have_ray = False
    with tempfile.TemporaryDirectory(prefix="quarry-engines-") as tmp:
        one = Path(tmp) / "x1"
        shutil.copytree(args.folder, one / "lib", symlinks=True, ignore=IGNORE)
        ten = Path(tmp) / f"x{args.copies}"
        for i in range(args.copies):
            shutil.copytree(one / "lib", ten / f"lib{i}", symlinks=True)
        mb = sum(p.stat().st_size for p in one.rglob("*") if p.is_file()) / 2**20
        configs = {"local_1_worker": ["--workers", "1"], f"local_{cores}_workers": ["--workers", str(cores)]}
        if have_ray:
            configs[f"ray_{cores}_cpus"] = ["--engine", "ray", "--workers", str(cores)]
        samples: dict[str, list[dict[str, float]]] = {k: [] for k in configs}
        for r in range(args.repeat):
            for name, extra in configs.items():
                samples[name].append(run(one, Path(tmp) / f"s-{name}-{r}", *extra))
        big = [
            run(ten, Path(tmp) / f"s-big-{r}", "--workers", str(cores))
            for r in range(max(1, args.repeat // 2))
        ]
    med = {k: statistics.median(s["seconds"] for s in v) for k, v in samples.items()}
    files = samples["local_1_worker"][0]["files"]
    base = med["local_1_worker"]
    rss1 = statistics.median(s["parent_peak_rss_mb"] for s in samples[f"local_{cores}_workers"])
    rss10 = statistics.median(s["parent_peak_rss_mb"] for s in big)
    report = {
        "corpus": args.folder,
        "files": files,
        "mb": round(mb, 1),
        "cores": cores,
        "repeat": args.repeat,
        "median_seconds": med,
        "files_per_second": {k: files / v for k, v in med.items()},
        "mb_per_second": {k: mb / v for k, v in med.items()},
        "speedup_vs_one_worker": {k: base / v for k, v in med.items()},
        "samples": samples,
        "parent_peak_rss_mb": {
            "1x": rss1,
            f"{args.copies}x": rss10,
            "ratio": rss10 / rss1,
            f"{args.copies}x_seconds": statistics.median(s["seconds"] for s in big),
        },
        "targets_met": {"parent_rss_10x_under_1.25x": rss10 / rss1 < 1.25},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

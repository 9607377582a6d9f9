"""What does Ray add per file, on a real two-node cluster, against the local engine in the same run?

    python bench/ray_cluster.py [FOLDER] [--multiple K ...] [--repeat N] [--out FILE]

Starts a cluster with the ordinary commands (``ray start --head`` on 127.0.0.1 plus a second
``ray start --address=...`` node, one CPU each, see codequarry.engine.ray_local), then, per corpus
size and repeat, interleaved:

  local   ``quarry extract --workers 2`` (the process-pool engine, 2 workers) into a fresh store
  ray     ``quarry extract --engine ray --address 127.0.0.1:PORT --workers 2`` into a fresh store

Corpus: FOLDER (default: the standard library, site-packages excluded), at 1x and at each
``--multiple K`` (K copies of it, each its own source folder, i.e. its own repo). Times are wall time
around the CLI subprocess (interpreter start and, for Ray, joining the cluster included). Reported:
medians, files/s, ``ray_vs_local`` and the overhead per file in ms; the row counts per table of
both stores must agree (else it exits 1). The cluster's start time is reported apart. Every node
is stopped by pid at the end. Prints JSON on stdout (and writes it to --out).
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
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from codequarry.engine.ray_local import LocalCluster  # noqa: E402


def quarry(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "codequarry", *args, "--quiet", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise SystemExit(f"quarry {' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds, json.loads(out.stdout)


def corpus(folder: Path, copies: int, work: Path) -> list[str]:
    """``copies`` copies of ``folder`` (1: the folder itself), each a source of its own."""
    if copies == 1:
        return [str(folder)]
    out = []
    for i in range(copies):
        dest = work / "copies" / f"{folder.name}-{i:03d}"
        if not dest.exists():
            shutil.copytree(
                folder, dest, ignore=shutil.ignore_patterns("site-packages", "__pycache__"), symlinks=True
            )
        out.append(str(dest))
    return out


def rows_of(summary: dict[str, Any]) -> dict[str, int]:
    rows = summary.get("rows") or summary.get("tables") or {}
    return {k: int(v) for k, v in rows.items()} if isinstance(rows, dict) else {}


def measure(sources: list[str], cluster: LocalCluster, work: Path, repeat: int) -> dict[str, Any]:
    env = cluster.env()
    samples: dict[str, list[float]] = {"local": [], "ray": []}
    files = 0
    counts: dict[str, dict[str, int]] = {}
    for r in range(repeat):
        for engine in ("local", "ray"):
            store = work / f"store-{engine}-{r}"
            extra = ["--engine", "ray", "--address", cluster.address] if engine == "ray" else []
            seconds, summary = quarry(
                [
                    "extract",
                    *sources,
                    "--store",
                    str(store),
                    "--workers",
                    "2",
                    "--exclude",
                    "site-packages",
                    *extra,
                ],
                env,
            )
            samples[engine].append(seconds)
            files = int(summary.get("files_scanned", 0))
            counts[engine] = rows_of(summary)
            shutil.rmtree(store, ignore_errors=True)
    if counts["local"] != counts["ray"]:
        raise SystemExit(f"row counts differ: local {counts['local']} ray {counts['ray']}")
    med = {k: statistics.median(v) for k, v in samples.items()}
    low = {k: min(v) for k, v in samples.items()}  # the machine may be shared: the fastest samples too
    return {
        "sources": len(sources),
        "files": files,
        "rows": counts["local"],
        **{
            k: {
                "median_s": round(med[k], 3),
                "samples_s": [round(s, 3) for s in v],
                "files_per_s": round(files / med[k], 1),
            }
            for k, v in samples.items()
        },
        "ray_vs_local": round(med["ray"] / med["local"], 3),
        "ray_overhead_ms_per_file": round(1000 * (med["ray"] - med["local"]) / max(1, files), 3),
        "ray_vs_local_fastest": round(low["ray"] / low["local"], 3),
        "ray_overhead_ms_per_file_fastest": round(1000 * (low["ray"] - low["local"]) / max(1, files), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    ap.add_argument("--multiple", type=int, action="append", default=[], help="also at K copies (repeatable)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result: dict[str, Any] = {
        "machine": {
            "cores": len(os.sched_getaffinity(0)),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "corpus": str(args.folder),
        "repeat": args.repeat,
        "cluster": {},
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="quarry-ray-bench-") as tmp:
        work = Path(tmp)
        cluster = LocalCluster(work / "ray")
        try:
            t0 = time.perf_counter()
            cluster.start_head(cpus=1)
            cluster.add_node("node2", cpus=1, resources='{"node2": 1}')
            cluster.wait_for(2)
            result["cluster"] = {
                "nodes": 2,
                "cpus_per_node": 1,
                "address": cluster.address,
                "start_s": round(time.perf_counter() - t0, 2),
            }
            for k in [1, *args.multiple]:
                result["runs"][f"{k}x"] = measure(corpus(args.folder, k, work), cluster, work, args.repeat)
        finally:
            left = cluster.stop()
            result["cluster"]["left_processes"] = left
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

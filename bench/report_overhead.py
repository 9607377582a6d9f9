"""What do the run report's figures cost a worker? CPU time of process_chunk, this checkout against another.

    python bench/report_overhead.py --baseline-src /path/to/other/checkout/src [FOLDER ...] [--repeat N]

Each sample is a fresh interpreter that imports codequarry from one of the two ``src`` folders, reads
every Python file of the corpus (default: the standard library without its tests and site-packages), and runs every
built-in extractor on them in-process (``process_chunk``, one chunk per 256 files), timing only that
with ``time.process_time`` (CPU, so that other load on the machine counts less than in wall time).
Samples of the two alternate; medians and their ratio are printed as JSON. It measures; it does not
judge (exit 0 either way).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

CHILD = r"""
import json, os, sys, time
from codequarry.engine.worker import FileTask, WorkerConfig, process_chunk
from codequarry.registry import load_catalog
paths = json.loads(sys.argv[1])
cat = load_catalog(())
config = WorkerConfig(extractors=tuple((e.module, e.attribute) for e in cat.extractors.values()))
tasks = [FileTask(key=i, repo="r", root="/", path=p.lstrip("/"), size=os.path.getsize(p), mtime_ns=0,
                  language="python", module=os.path.basename(p)[:-3]) for i, p in enumerate(paths)]
process_chunk(config, tasks[:8])  # warm: imports and caches
started = time.process_time()
for i in range(0, len(tasks), 256):
    process_chunk(config, tasks[i:i + 256])
print(json.dumps({"cpu": time.process_time() - started, "files": len(tasks)}))
"""


def sample(src: str, paths: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(paths)], capture_output=True, text=True, env=env, check=True
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["cpu"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="*")
    parser.add_argument(
        "--baseline-src", required=True, help="the src folder of the checkout to compare with"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folders = [Path(f) for f in args.folders] or [Path(sysconfig.get_paths()["stdlib"])]
    skip = {"site-packages", "test", "tests"}
    paths = sorted(str(p) for f in folders for p in f.rglob("*.py") if not skip & set(p.parts))
    here = str(Path(__file__).resolve().parents[1] / "src")
    runs: dict[str, list[float]] = {"this": [], "baseline": []}
    for _ in range(args.repeat):
        runs["baseline"].append(sample(args.baseline_src, paths))
        runs["this"].append(sample(here, paths))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "report_overhead",
                "files": len(paths),
                "repeat": args.repeat,
                "cpu_s": runs,
                "median_cpu_s": med,
                "ratio_this_vs_baseline": round(med["this"] / med["baseline"], 4),
                "ratio_of_min": round(min(runs["this"]) / min(runs["baseline"]), 4),
                "loadavg": os.getloadavg(),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

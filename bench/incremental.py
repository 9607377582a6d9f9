"""Incremental re-runs against a cold extract, on a copy of the standard library (or FOLDER).

    python bench/incremental.py [FOLDER] [--repeat 3] [--workers N] [--out FILE]

Prints JSON: cold extract, no-change re-run and one-file-change re-run (median seconds of --repeat
runs, through the Python API in one process, so interpreter start-up is not counted), and their ratios
to the cold extract. Targets: no-change < 5% of cold, one-file change < 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from codequarry import extract, make_plan


def copy_corpus(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.a", "*.so"))


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out")
    args = ap.parse_args()
    cold, nochange, onefile = [], [], []
    with tempfile.TemporaryDirectory(prefix="quarry-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        copy_corpus(Path(args.folder), corpus)
        victim = next(p for p in sorted(corpus.rglob("*.py")) if p.stat().st_size > 2000)
        n_files = sum(1 for _ in corpus.rglob("*.py"))
        for i in range(args.repeat):
            store = Path(tmp) / f"store{i}"
            plan = make_plan([corpus], store=store, workers=args.workers)
            dt, _ = timed(lambda plan=plan: extract(plan))
            cold.append(dt)
            dt, s = timed(lambda plan=plan: extract(plan))
            assert s.changed == 0 and not s.published, "a no-change run must publish nothing"  # type: ignore[attr-defined]
            nochange.append(dt)
            with open(victim, "a") as fh:
                fh.write(f"\n\ndef _bench_added_{i}():\n    return {i}\n")
            st = victim.stat()
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
            dt, s = timed(lambda plan=plan: extract(plan))
            assert s.changed == 1, s  # type: ignore[attr-defined]
            onefile.append(dt)
    med = {k: statistics.median(v) for k, v in (("cold", cold), ("no_change", nochange), ("one_file", onefile))}
    report = {
        "corpus": args.folder,
        "python_files": n_files,
        "workers": args.workers,
        "repeat": args.repeat,
        "seconds": {"cold": cold, "no_change": nochange, "one_file_change": onefile},
        "median_seconds": med,
        "ratios": {"no_change_vs_cold": med["no_change"] / med["cold"],
                   "one_file_change_vs_cold": med["one_file"] / med["cold"]},
        "targets_met": {"no_change_under_5pct": med["no_change"] / med["cold"] < 0.05,
                        "one_file_change_under_10pct": med["one_file"] / med["cold"] < 0.10},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

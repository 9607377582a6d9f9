"""CPU of warm `quarry watch` batches in process, per batch and per operation (thread CPU time).

    python bench/watch_ops.py [FOLDER] [--edits 12] [--kinds def,model,test] [--store STORE]

FOLDER defaults to a copy of the standard library. The copy is extracted cold (``--workers 2``; or
an extracted copy is reused: ``--store`` names a store of FOLDER, copied with it), then one process
does what `quarry watch` does (part cache on, catch-up, idle work, ``prime``) and applies
``--edits`` one-file edits in turn, each appending a function (``def``), a Django model (``model``)
or a unittest case (``test``) to a file spread over the tree. Prints JSON: the median CPU time of a
batch (process time: every thread) and, per operation, the median and mean CPU of its runs (the
thread's CPU time, ``affected`` included), with the load average. On a shared machine CPU time
moves much less than wall time; compare two versions run one after the other
(``PYTHONPATH=<other>/src``).
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
from typing import Any

SNIPPETS = {
    "def": "\ndef _watch_bench_{i}(): return {i}\n",
    "model": "\nclass WB{i}(models.Model):\n    x = models.CharField()\n",
    "test": "\nclass WBT{i}(unittest.TestCase):\n    def test_a(self): pass\n",
}


def timed_operations(cpu: dict[str, list[float]]) -> None:
    """Record each operation run's thread CPU time in ``cpu`` (operations run in threads)."""
    from codequarry import operations

    real = operations._run_one

    def run_one(store: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return real(store, op, *args, **kwargs)
        finally:
            cpu.setdefault(op.name, []).append(time.thread_time() - started)

    operations._run_one = run_one  # type: ignore[assignment]


def batches(corpus: Path, store: Path, edits: int, kinds: list[str]) -> dict[str, Any]:
    from codequarry import make_plan, partcache
    from codequarry.watch import Idle, ListingCache, apply, prime

    ops: dict[str, list[float]] = {}
    timed_operations(ops)
    plan = make_plan([corpus], store=store, workers=1)
    partcache.enable()
    listing, idle = ListingCache(), Idle()
    apply(plan, lambda _line: None, None, listing, idle)
    idle.run(plan, lambda _line: None, listing)
    prime(plan)
    ops.clear()
    files = sorted(p for p in corpus.rglob("*.py") if p.stat().st_size > 500)
    step = max(1, len(files) // max(1, edits))
    cpu = []
    for i in range(edits):
        victim = files[(i * step) % len(files)]
        with open(victim, "a") as fh:
            fh.write(SNIPPETS[kinds[i % len(kinds)]].format(i=i))
        listing.changed = {str(victim)}
        started = time.process_time()
        apply(plan, lambda _line: None, 1, listing, idle)
        cpu.append(time.process_time() - started)
        idle.run(plan, lambda _line: None, listing)
    partcache.enable(False)
    return {
        "batch_cpu_s_median": round(statistics.median(cpu), 3),
        "batch_cpu_s": [round(c, 3) for c in cpu],
        "operations_cpu_s": {
            name: {"median": round(statistics.median(v), 4), "mean_per_batch": round(sum(v) / edits, 4)}
            for name, v in sorted(ops.items())
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--edits", type=int, default=12)
    ap.add_argument("--kinds", default="def,model,test", help="comma-separated: def, model, test")
    ap.add_argument("--store", help="an extracted store of FOLDER to start from (copied)")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    if not set(kinds) <= set(SNIPPETS):
        ap.error(f"--kinds: choose among {sorted(SNIPPETS)}")
    from codequarry import extract, make_plan

    with tempfile.TemporaryDirectory(prefix="quarry-watch-ops-") as tmp:
        corpus, store = Path(tmp) / "corpus", Path(tmp) / "store"
        shutil.copytree(
            args.folder,
            corpus,
            symlinks=True,
            ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.a", "*.so", ".quarry"),
        )
        if args.store:
            shutil.copytree(args.store, store)
        else:
            extract(make_plan([corpus], store=store, workers=2))
        report = {"corpus": args.folder, "edits": args.edits, "kinds": kinds}
        report |= batches(corpus, store, args.edits, kinds)
    report["load_average"] = round(os.getloadavg()[0], 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

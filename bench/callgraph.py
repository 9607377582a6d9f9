"""What does the call graph add to a default extract, and how much of a real corpus does it resolve?

    python bench/callgraph.py [FOLDER] [--workers N] [--store DIR] [--skip-cost]

Corpus: FOLDER, or the standard library of the interpreter that runs quarry (`site-packages`
excluded). Runs, each a fresh subprocess:
  default      `quarry extract FOLDER` into a fresh store (the default selection)
  call_graph   `quarry extract FOLDER --select python.call_graph` on that same store: only the facts
               extractor and the operation run (the rest is up to date), so its time is what the call
               graph adds
Then reads the store: the share of call sites resolved, by the form of the callee (a plain name,
`self.m` / `cls.m`, another dotted name, anything else: calls of calls, subscripts), the kinds of rows,
and the targets that are not a `functions` / `classes` row (must be 0). Prints JSON; exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time

SHARE = """
    WITH sites AS (
        SELECT path, line, col,
               CASE WHEN callee ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN 'name'
                    WHEN callee ~ '^(self|cls)[.][A-Za-z_][A-Za-z0-9_]*$' THEN 'self_method'
                    WHEN callee ~ '^[A-Za-z_][A-Za-z0-9_]*([.][A-Za-z_][A-Za-z0-9_]*)+$' THEN 'dotted'
                    ELSE 'other' END AS form,
               max(CASE WHEN kind <> 'unresolved' THEN 1 ELSE 0 END) AS resolved
        FROM call_graph GROUP BY path, line, col, callee)
    SELECT form, count(*) AS sites, round(avg(resolved), 4) AS resolved FROM sites GROUP BY form ORDER BY form
"""
MISSING = """
    SELECT count(*) AS n FROM call_graph g
    WHERE g.kind IN ('function', 'method', 'class')
      AND NOT EXISTS (SELECT 1 FROM functions f WHERE f.repo = g.target_repo
                      AND f.module || '.' || f.qualname = g.target)
      AND NOT EXISTS (SELECT 1 FROM classes c WHERE c.repo = g.target_repo
                      AND c.module || '.' || c.qualname = g.target)
"""


def run(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codequarry", *argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def sql(store: str, query: str) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "codequarry", "sql", "-s", store, "-f", "json", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--store")
    parser.add_argument("--skip-cost", action="store_true", help="the store is extracted already")
    args = parser.parse_args()
    store = args.store or tempfile.mkdtemp(prefix="cgbench-") + "/store"
    base = [
        "extract",
        args.folder,
        "--exclude",
        "site-packages",
        "--workers",
        str(args.workers),
        "--store",
        store,
    ]
    report: dict[str, object] = {"corpus": args.folder, "workers": args.workers}
    if not args.skip_cost:
        default = run(base)
        added = run([*base, "--select", "python.call_graph"])
        report.update(
            default_s=round(default, 2), call_graph_s=round(added, 2), ratio=round(added / default, 3)
        )
    report["resolved_by_form"] = sql(store, SHARE)
    report["kinds"] = sql(store, "SELECT kind, count(*) AS n FROM call_graph GROUP BY kind ORDER BY kind")
    report["confidence"] = sql(store, "SELECT confidence, count(*) AS n FROM call_graph GROUP BY confidence")
    report["unresolved_reasons"] = sql(
        store,
        "SELECT reason, count(*) AS n FROM call_graph "
        "WHERE kind = 'unresolved' GROUP BY reason ORDER BY n DESC",
    )
    report["targets_not_defined"] = sql(store, MISSING)[0]["n"]
    report["references"] = sql(
        store, 'SELECT kind, count(*) AS n FROM "references" GROUP BY kind ORDER BY kind'
    )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

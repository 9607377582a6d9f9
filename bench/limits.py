"""How far past their limits tool tasks get, with a cgroup and with the sampling fallback: prints JSON.

    python bench/limits.py [--repeat 3]

Memory: a tool growing in 20 MB steps, and four forked children of 80 MB each, against a 200 MB
limit; the overrun is (peak / limit - 1), the peak being the cgroup's own counter, or the sampled
summed RSS of the tree. Timeout: a tool sleeping 30 s under a 1 s timeout (it obeys SIGTERM), and
one ignoring SIGTERM (killed after a 0.5 s grace); the overrun is wall time minus the timeout
(minus the grace for the second). Escapes: processes left after tasks whose children detached
(setsid, setpgid, double fork, daemon, nohup). Medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TOOL = str(ROOT / "tests" / "tools" / "bin" / "tool.py")

from codequarry import cgroup  # noqa: E402
from codequarry.tools.process import Limits, Outcome, TaskProcess  # noqa: E402

MB = 1 << 20
LIMIT = 200 * MB


def run(args: list[str], *, use_cgroup: bool, timeout: float = 30, grace: float = 0.5) -> Outcome:
    return TaskProcess(
        [sys.executable, TOOL, *args],
        cwd=os.getcwd(),
        env=dict(os.environ),
        limits=Limits(timeout=timeout, memory=LIMIT, grace=grace, cgroup=use_cgroup),
        on_stdout=lambda _line: None,
    ).run()


def left(tag: str) -> int:
    return sum(
        1
        for p in psutil.process_iter(["cmdline", "status"])
        if tag in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
    )


def measure(use_cgroup: bool, repeat: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, args in {
        "steps_20mb": ["steps", "600", "20"],
        "four_children_80mb": ["fork_hog", "4", "80"],
    }.items():
        got = [run(args, use_cgroup=use_cgroup) for _ in range(repeat)]
        out[f"memory_{name}"] = {
            "statuses": sorted({o.status for o in got}),
            "mechanism": got[0].limit_mechanism,
            "overrun_pct": round(100 * statistics.median(o.peak_memory / LIMIT - 1 for o in got), 1),
            "worst_pct": round(100 * max(o.peak_memory / LIMIT - 1 for o in got), 1),
        }
    obeys = [run(["sleep", "30"], use_cgroup=use_cgroup, timeout=1) for _ in range(repeat)]
    ignores = [run(["ignore_term", "30"], use_cgroup=use_cgroup, timeout=1) for _ in range(repeat)]
    out["timeout_overrun_s"] = round(statistics.median(o.wall_seconds - 1 for o in obeys), 3)
    out["timeout_overrun_ignoring_sigterm_s"] = round(
        statistics.median(o.wall_seconds - 1.5 for o in ignores), 3
    )
    survivors = 0
    for how in ("setsid", "setpgid", "double_fork", "daemon", "nohup"):
        tag = uuid.uuid4().hex
        run(["escape", how, tag], use_cgroup=use_cgroup)
        survivors += left(tag)
    out["processes_left_after_escapes"] = survivors
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, object] = {"cores": len(os.sched_getaffinity(0)), "limit_mb": LIMIT // MB}
    if cgroup.available() is not None:
        result["cgroup"] = measure(True, args.repeat)
    else:
        result["cgroup"] = "no usable cgroup on this machine"
    result["sampling"] = measure(False, args.repeat)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""What does the call graph add to a default extract, and how much of a real corpus does it resolve?

    python bench/callgraph.py [FOLDER] [--workers N] [--repeat N] [--store DIR] [--skip-cost] [--reach N] [--moves N] [--order N]
                              [--baseline SRC]

Corpus: FOLDER, or the standard library of the interpreter that runs quarry (`site-packages`
excluded). Each repeat runs, interleaved, each a fresh subprocess into a fresh store:
  default      `quarry extract FOLDER` (the default selection)
  call_graph   the same with `python.call_graph` selected too (every default extractor and
               operation named with --select, and python.call_graph), so its excess over `default`
               is what the call graph costs (facts in the workers, the operation after them)
then, on the last call_graph store:
  one_edit     one file of the corpus copied into the store's tree gains a function, and the
               extract runs again (the facts of one file, one repo solved again, names redone)
  one_move     then a comment line is prepended to that file: every position in it moves, no fact
               changes its meaning, so the repo's stored answers are moved, not solved again
  solve        in this process: the solver alone over the stored facts, and its evaluations
Times are CPU (user + sys of the child, or of this process for `solve`): the machine may be
shared; medians of the repeats are quoted, and `ratio` = call_graph / default. With ``--baseline SRC``
(the ``src`` folder of a frozen copy: ``git archive main src | tar -x -C DIR``), each repeat also runs
``default`` and ``call_graph`` with that code (``PYTHONPATH=SRC``), interleaved with this code's
runs (which goes first alternates), and reports ``baseline_ratio`` beside ``ratio``. `facts_mb` is the
size of the facts text, `facts_store_mb` the callgraph_facts table on disk. Then it reads the store:
the share of call sites resolved, by the form of the callee (a plain name, `self.m` / `cls.m`,
another dotted name, a corpus decorator applied (`@deco`: always resolved, so apart), a method
Python calls for a statement (`for ... in x`, `with x`, `raise E`: rows only where found, so apart too),
anything else:
calls of calls, subscripts), the kinds of rows, and the targets
that are not a `functions` / `classes` row (must be 0). With ``--reach N``: for N files drawn at
random (seed 1), the share of the repo's solver tasks a change to the file can reach through what the
solve recorded (a task that made a key grow, every task that read that key, and so on): a lower
bound of what an exact re-solve of "what the change can reach" would redo. With ``--moves N``: in
this process, the operation's per-repo step (facts to ``callgraph_solutions`` rows) of the biggest
repo solved, then with a line prepended to each of N files in turn (their facts' positions moved),
the CPU of each such step (the stored answers moved, no solve) and whether the rows then equal a
fresh solve's. With ``--order N``: in this process, the biggest repo solved with its tasks in file
order and then shuffled (seeds 1..N, within and across files), each once (``order_single``: a set
past the cap becomes TOP where it is) and pinned (``order_pinned``: solved again, from nothing, with
every set that grew past the cap TOP from the start, until no other set does): per run the
evaluations, CPU, rounds, and how many files' answers differ from file order's. Prints JSON; exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
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

SHARE = """
    WITH sites AS (
        SELECT path, line, col,
               CASE WHEN starts_with(callee, '@') THEN 'decorator'
                    WHEN callee ~ '^(async )?(for [.][.][.] in|with|raise) ' THEN 'statement'
                    WHEN callee ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN 'name'
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
      AND NOT EXISTS (SELECT 1 FROM classes c WHERE c.repo = g.target_repo AND g.target IS NULL
                      AND c.module || '.' || c.qualname = g.target_module || '.' || g.target_qualname)
"""


def run(argv: list[str], code: str | None = None) -> float:
    """CPU seconds (user + sys) of one quarry subprocess (``code``: the package's folder to run)."""
    env = None if code is None else {**os.environ, "PYTHONPATH": code}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "codequarry", *argv], check=True, stdout=subprocess.DEVNULL, env=env
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def sql(store: str, query: str) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "codequarry", "sql", "-s", store, "-f", "json", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def default_selection() -> list[str]:
    """``--select`` arguments naming every extractor and operation a default extract runs."""
    from codequarry.registry import load_catalog

    catalog = load_catalog()
    nodes = {**catalog.extractors, **catalog.operations}
    return [
        arg for name in sorted(nodes) if getattr(nodes[name], "default", True) for arg in ("--select", name)
    ]


def cost(
    folder: str, workers: int, repeat: int, store: str, baseline: str | None = None
) -> dict[str, object]:
    """CPU of default vs call-graph extracts (interleaved, medians), and of a one-file edit after;
    with ``baseline``, the same two extracts with that code, interleaved with this code's."""
    with_graph = [*default_selection(), "--select", "python.call_graph"]
    tmp = tempfile.mkdtemp(prefix="cgbench-")
    tree = os.path.join(tmp, "tree")  # a copy, so that the one-file edit touches nothing of the user's
    shutil.copytree(folder, tree, ignore=shutil.ignore_patterns("site-packages", "__pycache__"))
    samples: dict[str, list[float]] = {"default": [], "call_graph": []}
    codes: list[str | None] = [None]
    if baseline is not None:
        samples.update({"baseline_default": [], "baseline_call_graph": []})
        codes.append(os.path.abspath(baseline))
    for n in range(repeat):
        for name, extra in (("default", []), ("call_graph", with_graph)):
            for code in codes if n % 2 == 0 else codes[::-1]:
                key = name if code is None else f"baseline_{name}"
                last = name == "call_graph" and code is None and n == repeat - 1
                out = store if last else os.path.join(tmp, f"{key}{n}")
                shutil.rmtree(out, ignore_errors=True)
                argv = [
                    "extract",
                    tree,
                    "--exclude",
                    "site-packages",
                    "--workers",
                    str(workers),
                    "--store",
                    out,
                ]
                samples[key].append(run([*argv, *extra], code))
                print(f"{key} {n}: {samples[key][-1]:.2f} s CPU", file=sys.stderr, flush=True)  # progress
                if out != store:
                    shutil.rmtree(out, ignore_errors=True)
    edited = sorted(Path(tree).rglob("*.py"))[len(list(Path(tree).rglob("*.py"))) // 2]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\ndef _cgbench_added():\n    return len([])\n")
    argv = ["extract", tree, "--exclude", "site-packages", "--workers", str(workers), "--store", store]
    one_edit = run([*argv, *with_graph])
    # a line prepended to the same file moves every position in it and changes no fact's meaning:
    # the stored answers are moved, the repo is not solved again
    edited.write_text("# moved\n" + edited.read_text(encoding="utf-8"))
    one_move = run([*argv, *with_graph])
    shutil.rmtree(tmp, ignore_errors=True)
    default, added = statistics.median(samples["default"]), statistics.median(samples["call_graph"])
    compared: dict[str, object] = {}
    if baseline is not None:
        base_default = statistics.median(samples["baseline_default"])
        base_added = statistics.median(samples["baseline_call_graph"])
        compared = {
            "baseline_default_cpu_s": round(base_default, 2),
            "baseline_call_graph_cpu_s": round(base_added, 2),
            "baseline_ratio": round(base_added / base_default, 3),
        }
    return {
        "cpu_s": {k: [round(x, 2) for x in v] for k, v in samples.items()},
        "load": [round(x, 1) for x in os.getloadavg()],
        "default_cpu_s": round(default, 2),
        "call_graph_cpu_s": round(added, 2),
        "ratio": round(added / default, 3),
        **compared,
        "one_edit_cpu_s": round(one_edit, 2),
        "one_move_cpu_s": round(one_move, 2),
        "one_edit_file": str(edited.relative_to(tree)),
    }


def solve(store: str) -> dict[str, object]:
    """The solver alone over the stored facts (CPU of this process), and the facts' size."""
    import gc

    from codequarry import open_store
    from codequarry import sql as run_sql
    from codequarry.extractors.python.callgraph import codec, pointsto

    facts = run_sql(open_store(store), "SELECT repo, module, facts FROM callgraph_facts ORDER BY repo, path")
    repos, modules, texts = (facts.column(c).to_pylist() for c in facts.column_names)
    size = sum(len(t) for t in texts)
    gc.disable()  # as the operation runs it
    started = time.process_time()
    by_repo: dict[str, list[tuple[str, str]]] = {}
    for repo, module, text in zip(repos, modules, texts, strict=True):
        by_repo.setdefault(repo, []).append((module, text))
    decoded = [[(m, codec.decode(t)) for m, t in files] for files in by_repo.values()]
    loaded = time.process_time()  # decoding the facts; the solvers are made and run after it
    solvers = [pointsto.Solver(files) for files in decoded]
    evaluations = sum(s.solve() for s in solvers)
    solved = time.process_time()
    gc.enable()
    on_disk = sum(p.stat().st_size for p in (Path(store) / "tables" / "callgraph_facts").rglob("*.parquet"))
    return {
        "load_cpu_s": round(loaded - started, 2),
        "solve_cpu_s": round(solved - loaded, 2),
        "evaluations": evaluations,
        "tasks": sum(len(s.tasks) for s in solvers),
        "over_cap": sum(len(s.over) for s in solvers),
        "facts_mb": round(size / 1e6, 1),
        "facts_store_mb": round(on_disk / 1e6, 1),
    }


def reach(store: str, sample: int) -> dict[str, object]:
    """The share of the solver's tasks a change to each of ``sample`` files can reach (see above)."""
    import gc
    import random

    from codequarry import open_store
    from codequarry import sql as run_sql
    from codequarry.extractors.python.callgraph.pointsto import Solver

    class Recording(Solver):
        wrote: dict[object, set[object]]

        def grew(self, key: object) -> None:
            if self.cur is not None:
                self.wrote.setdefault(self.cur, set()).add(key)
            super().grew(key)

    q = "SELECT repo, path, module, facts FROM callgraph_facts ORDER BY repo, path"
    facts = run_sql(open_store(store), q)
    repos, paths, modules, texts = (facts.column(c).to_pylist() for c in facts.column_names)
    biggest = max(set(repos), key=repos.count)  # the repo with the most files
    rows = [(p, m, t) for r, p, m, t in zip(repos, paths, modules, texts, strict=True) if r == biggest]
    gc.disable()
    solver = Recording([(m, t) for _, m, t in rows])
    solver.wrote = {}
    solver.solve()
    gc.enable()
    by_file: dict[int, list[int]] = {}
    for t, task in enumerate(solver.tasks):
        by_file.setdefault(task[1], []).append(t)
    shares = {}
    for i in sorted(random.Random(1).sample(range(len(rows)), min(sample, len(rows)))):
        seen = set(by_file.get(i, ()))
        todo = list(seen)
        while todo:
            for key in solver.wrote.get(todo.pop(), ()):
                for reader in solver.deps.get(key, ()):
                    if reader not in seen:
                        seen.add(reader)
                        todo.append(reader)
        shares[rows[i][0]] = round(sum(isinstance(x, int) for x in seen) / len(solver.tasks), 4)
    values = sorted(shares.values())
    return {
        "reach_repo": biggest,
        "reach_tasks": len(solver.tasks),
        "reach_median": values[len(values) // 2] if values else 0.0,
        "reach_max": values[-1] if values else 0.0,
        "reach_by_file": shares,
    }


def moves(store: str, count: int) -> dict[str, object]:
    """CPU of the per-repo step: a full solve, then ``count`` one-file moves (see above)."""
    import gc

    from codequarry import open_store
    from codequarry import sql as run_sql
    from codequarry.extractors.python.callgraph import codec, solutions
    from codequarry.extractors.python.callgraph.merge import _solved

    q = "SELECT repo, path, sha256, module, facts FROM callgraph_facts ORDER BY repo, path"
    table = run_sql(open_store(store), q)
    rows = list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
    biggest = max({r[0] for r in rows}, key=[r[0] for r in rows].count)
    files = [(p, m, f, s) for r, p, s, m, f in rows if r == biggest]

    def step(old: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        out: list[dict[str, Any]] = []
        started = time.process_time()
        _solved(biggest, files, solutions.digest((f[0], f[2]) for f in files), old, out)
        return time.process_time() - started, {r["path"]: r for r in out}

    def moved_down(text: str) -> str:  # the facts of the file with a line prepended
        facts = codec.decode(text)
        for c in facts["calls"]:
            c[0], c[2] = c[0] + 1, c[2] + 1
        for r in facts.get("refs", ()):
            r[0] += 1
        for d in facts["def"]:
            d[6] += 1
        for k in facts["class"]:
            k[4] += 1
        return codec.encode(facts)

    gc.disable()
    solve_cpu, old = step({})
    cpu = []
    for k in range(count):
        i = len(files) * (k + 1) // (count + 1)
        path, module, text, sha = files[i]
        files[i] = (path, module, moved_down(text), sha)
        took, old = step(old)
        cpu.append(round(took, 3))
    _, fresh = step({})
    gc.enable()
    return {
        "moves_repo": biggest,
        "moves_solve_cpu_s": round(solve_cpu, 2),
        "moves_cpu_s": cpu,
        "moves_rows_equal_fresh": sum(fresh[p] == old[p] for p in fresh),
        "moves_rows": len(fresh),
    }


def order(store: str, seeds: int) -> dict[str, object]:
    """Does the solve depend on the order of evaluation? (see the module docstring: ``--order``)"""
    import gc
    import random

    from codequarry import open_store
    from codequarry import sql as run_sql
    from codequarry.extractors.python.callgraph import codec
    from codequarry.extractors.python.callgraph.pointsto import Solver

    q = "SELECT repo, module, facts FROM callgraph_facts ORDER BY repo, path"
    table = run_sql(open_store(store), q)
    rows = list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
    biggest = max({r[0] for r in rows}, key=[r[0] for r in rows].count)
    files = [(m, codec.decode(f)) for r, m, f in rows if r == biggest]

    def run(seed: int, pin: bool) -> dict[str, Any]:
        pinned: frozenset[Any] = frozenset()
        evaluations = rounds = 0
        started = time.process_time()
        while True:
            solver = Solver(files, pinned)
            if seed:
                random.Random(seed).shuffle(solver.tasks)
            evaluations, rounds = evaluations + solver.solve(), rounds + 1
            if not pin or not solver.over:
                break
            pinned |= solver.over
        cpu = time.process_time() - started
        found = [solver.answers(i) for i in range(len(files))]
        return {"found": found, "evaluations": evaluations, "cpu_s": round(cpu, 2), "rounds": rounds}

    gc.disable()
    out: dict[str, Any] = {"order_repo": biggest, "order_files": len(files)}
    for pin in (False, True):
        base = run(0, pin)
        runs = [base] + [run(seed, pin) for seed in range(1, seeds + 1)]
        out["order_pinned" if pin else "order_single"] = [
            {
                **{k: v for k, v in r.items() if k != "found"},
                "files_differ": sum(a != b for a, b in zip(r["found"], base["found"], strict=True)),
            }
            for r in runs
        ]
    gc.enable()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store")
    parser.add_argument("--skip-cost", action="store_true", help="the store is extracted already")
    parser.add_argument("--reach", type=int, default=0, help="files whose reach to measure")
    parser.add_argument("--moves", type=int, default=0, help="one-file moves to measure")
    parser.add_argument("--order", type=int, default=0, help="shuffled task orders to compare")
    parser.add_argument("--baseline", help="src folder of a frozen copy to compare with, interleaved")
    args = parser.parse_args()
    store = args.store or tempfile.mkdtemp(prefix="cgbench-store-") + "/store"
    report: dict[str, object] = {"corpus": args.folder, "workers": args.workers, "repeat": args.repeat}
    if not args.skip_cost:
        report.update(cost(args.folder, args.workers, args.repeat, store, args.baseline))
    report.update(solve(store))
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
    if args.reach:
        report.update(reach(store, args.reach))
    if args.moves:
        report.update(moves(store, args.moves))
    if args.order:
        report.update(order(store, args.order))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

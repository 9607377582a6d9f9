"""Incremental re-runs against a cold extract, on a copy of the standard library (or FOLDER), and
the floor of a `quarry extract` command on a small tree.

    python bench/incremental.py [FOLDER] [--repeat 3] [--workers N] [--out FILE] [--only floor|corpus|mixed]
                                [--steps 6] [--baseline-src OTHER/src]

Prints JSON: cold extract, no-change re-run, one-file-change re-run, a mixed run (one edit, one
add, one delete and one rename in one run) and a move of the whole tree to another folder name
(median wall and CPU seconds of --repeat runs, CPU of the process and its workers, through the
Python API in one process, so interpreter start-up is not counted), and their ratios to the cold
extract. Targets: no-change < 5% of cold, one-file change <= 5% (issue 12 on the standard library),
mixed <= 10%; a move re-extracts nothing (files_parsed 0). With ``--baseline-src`` each round runs
in a new interpreter, once with this checkout's code and once with OTHER's, alternating which goes
first, and ``vs_baseline`` gives the ratios of the medians.

``mixed``: the mixed run alone, ``--steps`` times one after the other on one store (each step another
edit, add, delete and rename), after a cold extract and a one-file change of the same round, so
that the ratio to the cold run is a median of many mixed runs against a cold run of the same load:
``--repeat`` rounds, each on a fresh copy (each round in a new interpreter with ``--baseline-src``,
the sides alternating). The same keys as ``corpus`` for the phases it times (``median_seconds``,
``ratios``, ``cpu_ratios``, ``targets_met``, ``vs_baseline``); ``seconds`` holds every mixed step.

``floor``: the `quarry extract` command (``python -m codequarry``, a new interpreter each time, as a
user runs it) on a copy of examples/sample (8 files): a cold run, a no-op answered by the fast path,
a no-op with ``--no-fast-path``, a one-file change (``-w 1``, and again with the default workers, one
forked process per core), and bare ``python -c pass``; wall and CPU
(user+sys of the child) seconds, medians of --repeat interleaved rounds, ratios to the cold run of
the same rounds, and whether the interpreter found .pyc files (PYTHONDONTWRITEBYTECODE unset and
codequarry's __pycache__ present). Targets: no-op <= 0.3 s, one-file change <= 0.5 s. With
``--baseline-src DIR`` each round also times the cold run and the one-file change with the code in DIR
(another checkout's ``src``, e.g. main's), so that a change is compared under the same load.
"""

from __future__ import annotations

import argparse
import importlib.util
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

from codequarry import extract, make_plan


def copy_corpus(src: Path, dst: Path) -> None:
    shutil.copytree(
        src, dst, symlinks=True, ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.a", "*.so")
    )


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def mixed_change(corpus: Path, i: int) -> None:
    """One edit, one add, one delete and one rename, in files far apart in the tree."""
    files = sorted(p for p in corpus.rglob("*.py") if p.stat().st_size > 1000 and "_bench_" not in p.name)
    edit, gone, renamed = files[len(files) // 5], files[2 * len(files) // 5], files[3 * len(files) // 5]
    with open(edit, "a") as fh:
        fh.write(f"\n\ndef _bench_mixed_{i}():\n    return {i}\n")
    st = edit.stat()
    os.utime(edit, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    (edit.parent / f"_bench_added_{i}.py").write_text(f"def added_{i}():\n    return {i}\n")
    gone.unlink()
    renamed.rename(renamed.with_name(f"_bench_renamed_{i}.py"))


SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"


def command(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall, CPU of the child, stdout) of one command in a new interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def pyc_present() -> bool:
    import codequarry.cli

    cached = importlib.util.cache_from_source(codequarry.cli.__file__)
    return not os.environ.get("PYTHONDONTWRITEBYTECODE") and os.path.exists(cached)


def floor(repeat: int, baseline_src: str | None = None) -> dict[str, object]:
    """The command's floor on a small tree (see the module docstring)."""
    quarry = [sys.executable, "-m", "codequarry", "extract"]
    kinds = (
        "cold",
        "no_op_fast_path",
        "no_op_no_fast_path",
        "one_file_change",
        "one_file_change_default_workers",
        "python_c_pass",
        *(("baseline_cold", "baseline_one_file_change") if baseline_src else ()),
    )
    wall: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    fast_answered = []
    with tempfile.TemporaryDirectory(prefix="quarry-floor-") as tmp:
        tree = Path(tmp) / "sample"
        shutil.copytree(SAMPLE, tree)
        hour_ago = time.time() - 3600  # older than the fast path's racy window
        for p in tree.rglob("*"):
            os.utime(p, (hour_ago, hour_ago))
        victim = tree / "shop" / "views.py"
        for i in range(repeat):
            store = Path(tmp) / f"store{i}"
            base = [*quarry, str(tree), "--store", str(store), "-w", "1"]
            runs = {
                "cold": base,
                "no_op_no_fast_path": [*base, "--no-fast-path"],  # also writes the stamp
                "no_op_fast_path": base,
            }
            for kind, args in runs.items():
                w, c, out = command(args)
                wall[kind].append(w)
                cpu[kind].append(c)
                if kind == "no_op_fast_path":
                    fast_answered.append("nothing to do" in out)
            with open(victim, "a") as fh:
                fh.write(f"\ndef bench_{i}():\n    return {i}\n")
            os.utime(victim, (hour_ago + i + 1, hour_ago + i + 1))
            w, c, out = command(base)
            assert "1 changed" in out, out
            wall["one_file_change"].append(w)
            cpu["one_file_change"].append(c)
            # the same without -w: one worker process per core, forked before the scan
            with open(victim, "a") as fh:
                fh.write(f"\ndef bench_default_{i}():\n    return {i}\n")
            os.utime(victim, (hour_ago + i + 1.5, hour_ago + i + 1.5))
            w, c, out = command(base[:-2])
            assert "1 changed" in out, out
            wall["one_file_change_default_workers"].append(w)
            cpu["one_file_change_default_workers"].append(c)
            w, c, _ = command([sys.executable, "-c", "pass"])
            wall["python_c_pass"].append(w)
            cpu["python_c_pass"].append(c)
            if baseline_src:
                for kind, (w, c) in _baseline_round(Path(tmp), i, baseline_src, hour_ago).items():
                    wall[kind].append(w)
                    cpu[kind].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "tree": "examples/sample (8 files)",
        "pyc_present": pyc_present(),
        "repeat": repeat,
        "fast_path_answered": fast_answered,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "median_wall_seconds": med,
        "median_cpu_seconds": med_cpu,
        "ratios_vs_cold_wall": {k: med[k] / med["cold"] for k in kinds if k != "cold"},
        "ratios_vs_cold_cpu": {k: med_cpu[k] / med_cpu["cold"] for k in kinds if k != "cold"},
        "targets_met": {
            "no_op_under_0_3_s": med["no_op_fast_path"] <= 0.3,
            "one_file_change_under_0_5_s": med["one_file_change"] <= 0.5,
        },
    }


def _baseline_round(tmp: Path, i: int, src: str, hour_ago: float) -> dict[str, tuple[float, float]]:
    """The cold run and the one-file change of one round with another checkout's code (``--baseline-src``,
    e.g. main's ``src``) on a tree and store of its own, in the same round as this code's."""
    tree = tmp / f"baseline{i}" / "sample"
    shutil.copytree(SAMPLE, tree)
    for p in tree.rglob("*"):
        os.utime(p, (hour_ago, hour_ago))
    env = {**os.environ, "PYTHONPATH": src}
    base = [sys.executable, "-m", "codequarry", "extract", str(tree), "--store", str(tree.parent / "store")]
    base += ["-w", "1"]
    cold = command(base, env)[:2]
    command([*base, "--no-fast-path"], env)  # the stamp, as in the round of this code
    victim = tree / "shop" / "views.py"
    with open(victim, "a") as fh:
        fh.write(f"\ndef bench_{i}():\n    return {i}\n")
    os.utime(victim, (hour_ago + i + 1, hour_ago + i + 1))
    w, c, out = command(base, env)
    assert "1 changed" in out, out
    return {"baseline_cold": cold, "baseline_one_file_change": (w, c)}


PHASES = ("cold", "no_change", "one_file_change", "edit_add_delete_rename", "move_whole_tree")


def cpu_now() -> float:
    """CPU seconds of this process (every thread) and of its children waited for (the workers a run
    forks are waited for before ``extract`` returns)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """(wall, CPU, result) of ``fn()``."""
    c, t = cpu_now(), time.perf_counter()
    result = fn()
    return time.perf_counter() - t, cpu_now() - c, result


def one_file_victim(corpus: Path) -> Path:
    """The file the one-file change edits: the first Python file of over 2 KB."""
    return next(p for p in sorted(corpus.rglob("*.py")) if p.stat().st_size > 2000)


def one_file_change(victim: Path, i: int) -> None:
    """A function appended to ``victim``, its mtime a second later (never the racy window's)."""
    with open(victim, "a") as fh:
        fh.write(f"\n\ndef _bench_added_{i}():\n    return {i}\n")
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def corpus_round(corpus: Path, tmp: Path, i: int, workers: int) -> dict[str, object]:
    """One round on ``corpus`` (a copy, changed by the round): wall and CPU seconds per phase, and the
    files parsed by the move."""
    victim = one_file_victim(corpus)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    store = tmp / f"store{i}"
    plan = make_plan([corpus], store=store, workers=workers)

    def take(kind: str, fn) -> object:  # type: ignore[no-untyped-def]
        wall[kind], cpu[kind], result = measured(fn)
        return result

    take("cold", lambda: extract(plan))
    s = take("no_change", lambda: extract(plan))
    assert s.changed == 0 and not s.published, "a no-change run must publish nothing"  # type: ignore[attr-defined]
    one_file_change(victim, i)
    s = take("one_file_change", lambda: extract(plan))
    assert s.changed == 1, s  # type: ignore[attr-defined]
    mixed_change(corpus, i)
    s = take("edit_add_delete_rename", lambda: extract(plan))
    assert s.changed >= 4, s  # type: ignore[attr-defined]
    # the whole tree moved to another parent folder: the same repo, nothing extracted again (under
    # another name too, unless the root is itself a package: its name is then part of every module name)
    target = tmp / f"moved{i}" / "tree"
    target.parent.mkdir()
    os.rename(corpus, target)
    moved_plan = make_plan([target], store=store, workers=workers)
    s = take("move_whole_tree", lambda: extract(moved_plan))
    os.rename(target, corpus)
    extract(plan)  # back where it was (its root is registered: again nothing extracted)
    return {"wall": wall, "cpu": cpu, "move_files_parsed": s.files_parsed}  # type: ignore[attr-defined]


MIXED_PHASES = ("cold", "one_file_change", "edit_add_delete_rename")


def mixed_round(corpus: Path, tmp: Path, i: int, workers: int, steps: int) -> dict[str, object]:
    """One ``--only mixed`` round on ``corpus`` (a copy): the cold extract, a one-file change, then
    ``steps`` mixed runs on the same store; wall and CPU seconds, a list per phase."""
    wall: dict[str, list[float]] = {k: [] for k in MIXED_PHASES}
    cpu: dict[str, list[float]] = {k: [] for k in MIXED_PHASES}
    plan = make_plan([corpus], store=tmp / f"store{i}", workers=workers)

    def take(kind: str, fn) -> object:  # type: ignore[no-untyped-def]
        w, c, result = measured(fn)
        wall[kind].append(w)
        cpu[kind].append(c)
        return result

    take("cold", lambda: extract(plan))
    s = extract(plan)  # (nothing changed: as in a corpus round, the first re-run is not a mixed one)
    assert s.changed == 0, s  # type: ignore[attr-defined]
    one_file_change(one_file_victim(corpus), i)
    s = take("one_file_change", lambda: extract(plan))
    assert s.changed == 1, s  # type: ignore[attr-defined]
    for step in range(steps):
        mixed_change(corpus, i * 1000 + step)
        s = take("edit_add_delete_rename", lambda: extract(plan))
        assert s.changed >= 4, s  # type: ignore[attr-defined]
    return {"wall": wall, "cpu": cpu}


def round_in_child(folder: str, workers: int, src: str, i: int, steps: int = 0) -> dict[str, object]:
    """``corpus_round`` (or ``mixed_round`` with ``steps``) on a fresh copy of ``folder`` in a new
    interpreter importing codequarry from ``src`` (``--baseline-src``, or this code's)."""
    env = {**os.environ, "PYTHONPATH": src}
    args = [sys.executable, __file__, folder, "--workers", str(workers), "--round", str(i)]
    if steps:
        args += ["--only", "mixed", "--steps", str(steps)]
    done = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(done.stdout))


def summarise(rounds: list[dict[str, Any]]) -> dict[str, object]:
    """Medians of wall and CPU seconds per phase over ``rounds``, and their ratios to the cold run
    (a phase a round timed several times, as ``mixed_round`` does, counts every time)."""
    phases = [k for k in PHASES if k in rounds[0]["wall"]]

    def every(r: dict[str, Any], k: str) -> list[float]:
        got = r[k]
        return list(got) if isinstance(got, list) else [got]

    walls = {k: [x for r in rounds for x in every(r["wall"], k)] for k in phases}
    cpus = {k: [x for r in rounds for x in every(r["cpu"], k)] for k in phases}
    med = {k: statistics.median(v) for k, v in walls.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpus.items()}
    parsed = [r["move_files_parsed"] for r in rounds if "move_files_parsed" in r]
    met = {
        "no_change_under_5pct": ("no_change", 0.05),
        "one_file_change_under_5pct": ("one_file_change", 0.05),
        "edit_add_delete_rename_under_10pct": ("edit_add_delete_rename", 0.10),
    }
    targets: dict[str, bool] = {k: med[p] / med["cold"] <= t for k, (p, t) in met.items() if p in med}
    if "no_change" in med:
        targets["no_change_under_5pct"] = med["no_change"] / med["cold"] < 0.05
    if "move_whole_tree" in med:
        targets["move_extracts_nothing"] = not any(parsed)
    out: dict[str, object] = {"seconds": walls, "cpu_seconds": cpus}
    if parsed:
        out["move_files_parsed"] = parsed
    out.update(
        median_seconds=med,
        median_cpu_seconds=med_cpu,
        ratios={f"{k}_vs_cold": med[k] / med["cold"] for k in phases if k != "cold"},
        cpu_ratios={f"{k}_vs_cold": med_cpu[k] / med_cpu["cold"] for k in phases if k != "cold"},
        targets_met=targets,
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out")
    ap.add_argument("--only", choices=("floor", "corpus", "mixed"))
    ap.add_argument("--steps", type=int, default=6, help="mixed runs per round of --only mixed")
    ap.add_argument(
        "--baseline-src",
        help="also time another checkout's src folder (PYTHONPATH), interleaved: the floor's cold run and "
        "one-file change, or every corpus phase (each round of each side in a new interpreter)",
    )
    ap.add_argument("--round", type=int, help=argparse.SUPPRESS)  # internal: one corpus round, as JSON
    args = ap.parse_args()
    if args.round is not None:
        with tempfile.TemporaryDirectory(prefix="quarry-bench-") as tmp:
            corpus = Path(tmp) / "corpus" / "tree"
            corpus.parent.mkdir()
            copy_corpus(Path(args.folder), corpus)
            if args.only == "mixed":
                print(json.dumps(mixed_round(corpus, Path(tmp), args.round, args.workers, args.steps)))
            else:
                print(json.dumps(corpus_round(corpus, Path(tmp), args.round, args.workers)))
        return 0
    if args.only == "floor":
        return emit({"floor": floor(args.repeat, args.baseline_src)}, args.out)
    report: dict[str, object] = {"corpus": args.folder, "workers": args.workers, "repeat": args.repeat}
    steps = args.steps if args.only == "mixed" else 0
    if steps:
        report["steps"] = steps
    report["python_files"] = sum(1 for p in Path(args.folder).rglob("*.py") if "site-packages" not in p.parts)
    if args.baseline_src:
        # each side's rounds in new interpreters, alternating which goes first, under the same load
        here = str(Path(importlib.util.find_spec("codequarry").origin).parent.parent)  # type: ignore[arg-type, union-attr]
        mine: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        loads = []
        for i in range(args.repeat):
            loads.append(os.getloadavg()[0])
            sides = [(here, mine), (args.baseline_src, theirs)]
            for src, into in sides if i % 2 == 0 else sides[::-1]:
                into.append(round_in_child(args.folder, args.workers, src, i, steps))
        report.update(summarise(mine))
        report["baseline_src"] = args.baseline_src
        report["baseline"] = summarise(theirs)
        base = report["baseline"]
        timed = MIXED_PHASES if steps else PHASES
        report["vs_baseline"] = {
            "wall": {k: report["median_seconds"][k] / base["median_seconds"][k] for k in timed},  # type: ignore[index]
            "cpu": {k: report["median_cpu_seconds"][k] / base["median_cpu_seconds"][k] for k in timed},  # type: ignore[index]
        }
        report["load_average_1min"] = loads
    else:
        rounds = []
        with tempfile.TemporaryDirectory(prefix="quarry-bench-") as tmp:
            corpus = Path(tmp) / "corpus" / "tree"
            corpus.parent.mkdir()
            copy_corpus(Path(args.folder), corpus)
            for i in range(args.repeat):
                if steps:  # a fresh copy for each round, as with --baseline-src
                    fresh = Path(tmp) / f"copy{i}" / "tree"
                    fresh.parent.mkdir()
                    copy_corpus(Path(args.folder), fresh)
                    rounds.append(mixed_round(fresh, Path(tmp), i, args.workers, steps))
                    shutil.rmtree(fresh.parent)
                else:
                    rounds.append(corpus_round(corpus, Path(tmp), i, args.workers))
        report.update(summarise(rounds))
        report["load_average_1min"] = [os.getloadavg()[0]]  # (at the end; per round with --baseline-src)
    if args.only not in ("corpus", "mixed"):
        report["floor"] = floor(args.repeat)
    return emit(report, args.out)


def emit(report: dict[str, object], out: str | None) -> int:
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pay once per unique content: a cold extract of N copies of the standard library against one copy.

    python bench/reuse.py [--copies N] [--repeat R] [--workers W] [--plain] [--out FILE] [--keep DIR]

Corpus: N hard-linked copies of the standard library of the interpreter that runs quarry (no
`site-packages`, no `__pycache__`, symlinks left out), each its own repo (`stdlib_000`, ...). Hard links
cost no disk for the sources; the stores are deleted after each run unless --keep names a folder.

Each repeat runs, interleaved:
  one_copy     `quarry extract stdlib_000` into a fresh store
  n_copies     `quarry extract stdlib_000 ... stdlib_N-1` into a fresh store (reuse on: the default)
  n_plain      with --plain: the same with QUARRY_REUSE=0 (every file parsed; N times the parse cost)

Reported per configuration: wall and CPU (user+sys of the child) seconds, the run report's stages
(`plan` holds the parent's hashing, `reuse` the row copies), files parsed and reused, rows, store
size and Parquet part counts. The checks: `n_copies` rows per table per repo equal `one_copy`'s rows
per table in number (each repo of the N equals the 1x store: `all_tables_equal_per_repo`), and in
content for three repos of the N (`sampled_repos_rows`: the first, a middle and the last repo's rows
of every table, as multisets, against the 1x store's), and the cost ratios
  cost_ratio          n_copies wall / one_copy wall
  cost_ratio_no_rows  (n_copies wall - the copied rows' write) / one_copy wall
  cpu_ratio           n_copies CPU / one_copy CPU
  cpu_ratio_no_rows   (n_copies CPU - the copied rows' write CPU) / one_copy CPU: the target (<= 1.3)
                      on the steadier figure; the write is the run's own `reuse_write` and
                      `reuse_write_cpu` stages (the Parquet parts of the copied rows, within `reuse`)
  rows_write          those two, wall and CPU seconds (medians)
Medians over the repeats. Prints JSON (and writes it to --out). Exits 1 only if quarry fails.
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

SRC = Path(__file__).resolve().parent.parent / "src"


def make_copies(base: Path, n: int) -> list[Path]:
    """N hard-linked copies of the stdlib; a hard link keeps bytes and mtime, the name is new."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    ignore = shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc")
    out = []
    for i in range(n):
        dst = base / f"stdlib_{i:03d}"
        if not dst.exists():
            shutil.copytree(stdlib, dst, symlinks=True, ignore=ignore, copy_function=os.link)
            for root, dirs, files in os.walk(dst):  # symlinks would be skipped by the scan anyway
                for name in files + dirs:
                    if os.path.islink(os.path.join(root, name)):
                        os.unlink(os.path.join(root, name))
        out.append(dst)
    return out


def run_quarry(sources: list[Path], store: Path, workers: int, reuse: bool) -> dict[str, Any]:
    """One cold `quarry extract` in a child; its wall and CPU time and its run report."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "QUARRY_REUSE": "1" if reuse else "0"}
    cmd = [sys.executable, "-m", "codequarry", "extract", *map(str, sources), "--store", str(store)]
    cmd += ["--workers", str(workers), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(1)
    summary = json.loads(proc.stdout)
    report = json.loads((store / "runs" / f"{summary['run_id']}.json").read_text())
    return {
        "wall": round(wall, 3),
        "cpu": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
        "stages": {s["name"]: round(s["seconds"], 3) for s in report["stages"]},
        "files_scanned": summary["files_scanned"],
        "files_parsed": summary["files_parsed"],
        "reused": summary.get("reused", 0),
        "parent_peak_mb": round(report["memory"]["parent_peak"] / 2**20, 1),
        **store_facts(store),
    }


def store_facts(store: Path) -> dict[str, Any]:
    """Rows per table per repo, store size and Parquet part counts of the live snapshot."""
    sys.path.insert(0, str(SRC))
    from codequarry import open_store
    from codequarry.store.store import read_columns

    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    counts: dict[str, dict[str, int]] = {}
    parts: dict[str, int] = {}
    for name, state in sorted(snap.tables.items()):
        parts[name] = len(st.open_delta(name, state.version).file_uris())
        data = read_columns(st, name, state.version, ["repo"])
        if data is None:
            continue
        per: dict[str, int] = {}
        for repo in data.column("repo").to_pylist():
            per[repo] = per.get(repo, 0) + 1
        counts[name] = per
    size = sum(f.stat().st_size for f in (store / "tables").rglob("*") if f.is_file())
    written = {t for per in snap.run.get("outputs", {}).values() for ts in per.values() for t in ts}
    return {
        "file_tables": sorted(written | {"errors"}),
        "rows": {k: sum(v.values()) for k, v in counts.items()},
        "rows_per_repo": counts,
        "store_mb": round(size / 2**20, 1),
        "parts": sum(parts.values()),
        "parts_per_table": parts,
    }


def repo_digests(store: Path, repos: list[str]) -> dict[str, dict[str, str]]:
    """table -> repo -> the sha256 of the repo's rows (``repo`` left out, sorted by every flat column,
    as one Arrow IPC stream): two repos' rows are equal as multisets when their digests are."""
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    sys.path.insert(0, str(SRC))
    from codequarry import open_store
    from codequarry.store.store import live_dataset

    st = open_store(store)
    snap = st.snapshot()
    assert snap is not None
    out: dict[str, dict[str, str]] = {}
    for name, state in sorted(snap.tables.items()):
        data = live_dataset(st, name, state.version)
        if "repo" not in data.schema.names:
            continue
        for repo in repos:
            rows = data.to_table(filter=ds.field("repo") == repo).drop_columns(["repo"])
            keys = [(f.name, "ascending") for f in rows.schema if not pa.types.is_nested(f.type)]
            if rows.num_rows > 1:
                rows = rows.take(pc.sort_indices(rows, sort_keys=keys))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, rows.schema) as writer:
                writer.write_table(rows.combine_chunks())
            out.setdefault(name, {})[repo] = hashlib.sha256(sink.getvalue()).hexdigest()[:16]
    return out


def check_rows(one_store: Path, many_store: Path, n: int) -> dict[str, Any]:
    """The rows themselves (not only their counts) of three repos of the N-copy store (the first, a
    middle and the last) against the 1x store's, every table with a repo column."""
    sample = sorted({"stdlib_000", f"stdlib_{n // 2:03d}", f"stdlib_{n - 1:03d}"})
    want = repo_digests(one_store, ["stdlib_000"])
    got = repo_digests(many_store, sample)
    differ = {
        t: sorted(r for r, d in got.get(t, {}).items() if d != per["stdlib_000"])
        for t, per in want.items()
        if any(d != per["stdlib_000"] for d in got.get(t, {}).values()) or set(got.get(t, {})) != set(sample)
    }
    return {"repos": sample, "tables": len(want), "rows_equal": not differ, "differing": differ}


def check(one: dict[str, Any], many: dict[str, Any], n: int) -> dict[str, Any]:
    """Every repo of the N-copy store against the 1x store, table by table."""
    base = {t: per.get("stdlib_000", 0) for t, per in one["rows_per_repo"].items()}
    differ = {}
    for table, want in base.items():
        got = many["rows_per_repo"].get(table, {})
        bad = {r: c for r, c in got.items() if c != want}
        missing = n - len(got) if want else 0
        if bad or missing:
            differ[table] = {"want": want, "different": dict(list(bad.items())[:5]), "repos_missing": missing}
    derived = sorted(t for t in differ if t not in one["file_tables"])
    return {
        # the tables the file extractors write (where reuse copies rows)
        "file_tables_equal_per_repo": not [t for t in differ if t in one["file_tables"]],
        # operations' tables too: an operation that resolves names across repos (the models) may
        # keep one of N identical classes, with or without reuse
        "all_tables_equal_per_repo": not differ,
        "derived_tables_differing": derived,
        "differences": differ,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--plain", action="store_true", help="also run the N copies with reuse off")
    ap.add_argument("--out")
    ap.add_argument("--keep", help="keep the copies and the last stores in this folder")
    args = ap.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="quarry-reuse-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        copies = make_copies(base / "corpus", args.copies)
        samples: dict[str, list[dict[str, Any]]] = {"one_copy": [], "n_copies": [], "n_plain": []}
        configs = [("one_copy", copies[:1], True), ("n_copies", copies, True)]
        if args.plain:
            configs.append(("n_plain", copies, False))
        for _ in range(args.repeat):
            for name, sources, reuse in configs:
                store = base / f"store_{name}"
                shutil.rmtree(store, ignore_errors=True)
                samples[name].append(run_quarry(sources, store, args.workers, reuse))
        rows_check = check_rows(base / "store_one_copy", base / "store_n_copies", args.copies)
        if not args.keep:
            for name, _sources, _reuse in configs:
                shutil.rmtree(base / f"store_{name}", ignore_errors=True)
        summary = summarize(samples, args)
        summary["check"]["sampled_repos_rows"] = rows_check
        text = json.dumps(summary, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def summarize(samples: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    med = {k: statistics.median(s["wall"] for s in v) for k, v in samples.items() if v}
    one, many = samples["one_copy"][-1], samples["n_copies"][-1]
    ratios = []
    for o, m in zip(samples["one_copy"], samples["n_copies"], strict=True):
        # the copied rows' write (Parquet parts of the reuse stage), timed by the run itself
        write, write_cpu = m["stages"].get("reuse_write", 0.0), m["stages"].get("reuse_write_cpu", 0.0)
        ratios.append(
            (
                m["wall"] / o["wall"],
                (m["wall"] - write) / o["wall"],
                m["cpu"] / o["cpu"],
                (m["cpu"] - write_cpu) / o["cpu"],
            )
        )
    out: dict[str, Any] = {
        "copies": args.copies,
        "files": many["files_scanned"],
        "workers": args.workers,
        "median_wall": med,
        "cost_ratio": round(statistics.median(r[0] for r in ratios), 3),
        "cost_ratio_no_rows": round(statistics.median(r[1] for r in ratios), 3),
        # CPU (user+sys of quarry and its workers): steadier than wall time on a shared machine
        "cpu_ratio": round(statistics.median(r[2] for r in ratios), 3),
        # the target's figure: N copies' CPU without the copied rows' write, over one copy's CPU
        "cpu_ratio_no_rows": round(statistics.median(r[3] for r in ratios), 3),
        "rows_write": {
            "wall": round(
                statistics.median(m["stages"].get("reuse_write", 0.0) for m in samples["n_copies"]), 3
            ),
            "cpu": round(
                statistics.median(m["stages"].get("reuse_write_cpu", 0.0) for m in samples["n_copies"]), 3
            ),
        },
        "check": check(one, many, args.copies),
    }
    for name, runs in samples.items():
        if runs:
            last = dict(runs[-1])
            last.pop("rows_per_repo")
            out[name] = {
                "samples": [{k: r[k] for k in ("wall", "cpu", "stages")} for r in runs],
                "last": last,
            }
    if samples["n_plain"]:
        out["speedup_vs_plain"] = round(med["n_plain"] / med["n_copies"], 2)
    out["argv"] = sys.argv[1:]
    return out


if __name__ == "__main__":
    main()

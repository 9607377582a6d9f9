"""What each Python structural layer costs, as a ratio of a bare `ast.parse` of the same files.

    python bench/layers.py [FOLDER ...] [--repeat N] [--layers symtable,bytecode,...] [--cst-step K]
        [--out FILE]

Corpus: the folders given, or the standard library of this interpreter with `site-packages` left out.
Each repeat runs every layer once, interleaved, each in a fresh child interpreter (cyclic GC off, as
quarry's workers run) that first times the baseline and then the layer on the same files:

  bare_parse   ast.parse of every file's decoded text (the baseline; measured in every child)
  product      the layer's parse product, computed once per file and shared with every extractor
               that needs it: symtable.symtable, compile(tree), libcst.parse_module; none for `ast`
  rows         the extractor writing its rows into the columnar buffers
  arrow        the buffers turned into Arrow record batches (what a worker ships)

The layer's cost is product + rows + arrow: its marginal cost in a run that parses the file anyway
(the tree is parsed, untimed, before the layer runs). Ratios are taken per child (layer / that child's
own bare parse) so that load on a shared machine hits both sides alike; the JSON gives the median and
the minimum of those ratios, every sample, the same in CPU seconds of the child (steadier than wall
time when other jobs share the cores), and the load average before and after. The LibCST layer
costs about ten parses: it runs on every K-th file (--cst-step, default 10), with its own baseline on
those files. Prints JSON (and writes --out); exits 0 whether or not targets are met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: layer -> (module, extractor attribute, parse product it adds or None)
LAYERS: dict[str, tuple[str, str, str | None]] = {
    "parse_manifest": ("codequarry.extractors.layers.manifest", "parse_manifest", None),
    "symtable": ("codequarry.extractors.layers.symtables", "symtables", "symtable"),
    "bytecode": ("codequarry.extractors.layers.bytecode", "bytecode", "bytecode"),
    "ast": ("codequarry.extractors.layers.ast_nodes", "ast_layer", None),
    "cst": ("codequarry.extractors.layers.libcst_layer", "cst_layer", "cst"),
}
TARGETS = {"symtable": 1.5, "bytecode": 1.5}


def _child(layer: str, list_file: str) -> None:
    """Child side: time the bare parse, then the layer, over the same files; print JSON."""
    import ast
    import gc
    import importlib
    import resource
    import warnings

    from codequarry.api import Outputs
    from codequarry.schema import RowBuffer
    from codequarry.source import ParseFailure, SourceFile

    warnings.simplefilter("ignore")
    gc.disable()
    _warm_arrow()
    module, attribute, product = LAYERS[layer]
    extractor = getattr(importlib.import_module(module), attribute)
    paths = Path(list_file).read_text(encoding="utf-8").split("\0")
    files = []
    for path in paths:
        data = Path(path).read_bytes()
        src = SourceFile(repo="bench", path=path, data=data, sha256="-", size=len(data), language="python")
        try:
            src.text  # noqa: B018 - decoding is not what is measured
        except ParseFailure:
            continue
        files.append(src)
    started, cpu = time.perf_counter(), time.process_time()
    parsed = []
    for src in files:
        try:
            ast.parse(src.text, filename=src.path)
            parsed.append(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    bare, bare_cpu = time.perf_counter() - started, time.process_time() - cpu
    for src in parsed:
        src.tree  # noqa: B018 - the shared parse, untimed: every layer reuses it in a real run
    buffers = {spec.name: RowBuffer(spec) for spec in extractor.outputs}
    out = Outputs(buffers)
    started, cpu = time.perf_counter(), time.process_time()
    refused = 0
    if product is not None:
        for src in parsed:
            try:
                getattr(src, product)
            except ParseFailure:
                refused += 1
    product_s, product_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    for key, src in enumerate(parsed):
        marks = []
        for buf in buffers.values():
            buf.begin_file(key, ("bench", src.path, "-"))
            marks.append(buf.n)
        try:
            extractor.func(src, out)
        except ParseFailure:
            for buf, mark in zip(buffers.values(), marks, strict=True):
                buf.truncate(mark)
    rows_s, rows_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    rows = {}
    for name, buf in buffers.items():
        batch, _ = buf.build()
        rows[name] = batch.num_rows if batch is not None else 0
    arrow_s, arrow_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "files": len(parsed),
                "bare_parse_s": bare,
                "product_s": product_s,
                "rows_s": rows_s,
                "arrow_s": arrow_s,
                "bare_parse_cpu_s": bare_cpu,
                "product_cpu_s": product_cpu,
                "rows_cpu_s": rows_cpu,
                "arrow_cpu_s": arrow_cpu,
                "refused": refused,
                "rows": rows,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def _warm_arrow() -> None:
    """Pay pyarrow's one-time set-up (type and kernel registries) before anything is timed."""
    import pyarrow as pa

    arrays = [pa.array([1, None]), pa.array(["a", None]), pa.array([True, False]), pa.array([["x"], []])]
    batch = pa.RecordBatch.from_arrays(arrays, names=["i", "s", "b", "l"])
    batch.column(1).take(pa.array([0, 0], pa.int32()))


def _python_files(folders: list[Path]) -> list[str]:
    found: list[str] = []
    for folder in folders:
        for base, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "site-packages" and not d.startswith("."))
            found.extend(str(Path(base, n)) for n in sorted(names) if n.endswith(".py"))
    return found


def _run_child(layer: str, list_file: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, __file__, "--child", layer, list_file],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"layer {layer} failed in its child:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for clock in ("s", "cpu_s"):
        result[f"layer_{clock}"] = sum(result[f"{part}_{clock}"] for part in ("product", "rows", "arrow"))
    result["ratio"] = result["layer_s"] / result["bare_parse_s"]
    result["ratio_cpu"] = result["layer_cpu_s"] / result["bare_parse_cpu_s"]
    return result


def _summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [s["ratio"] for s in samples]
    cpu_ratios = [s["ratio_cpu"] for s in samples]
    keys = ("bare_parse", "product", "rows", "arrow", "layer")
    return {
        "files": samples[0]["files"],
        "rows": samples[0]["rows"],
        "refused_by_product": samples[0]["refused"],
        "median_wall_s": {k: round(statistics.median(s[f"{k}_s"] for s in samples), 3) for k in keys},
        "median_cpu_s": {k: round(statistics.median(s[f"{k}_cpu_s"] for s in samples), 3) for k in keys},
        "ratio_vs_bare_parse": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_cpu_vs_bare_parse": round(statistics.median(cpu_ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "ratios_cpu": [round(r, 3) for r in cpu_ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--cst-step", type=int, default=10)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    layers = [name for name in args.layers.split(",") if name]
    unknown = [name for name in layers if name not in LAYERS]
    if unknown or args.repeat < 1 or args.cst_step < 1:
        parser.error(
            f"unknown layer(s) {unknown}; known: {', '.join(LAYERS)}"
            if unknown
            else "--repeat and --cst-step must be at least 1"
        )
    folders = args.folders or [Path(sysconfig.get_paths()["stdlib"])]
    files = _python_files(folders)
    if not files:
        parser.error("no Python files under " + ", ".join(map(str, folders)))
    with tempfile.TemporaryDirectory() as tmp:
        lists = {}
        for name in layers:
            chosen = files[:: args.cst_step] if name == "cst" else files
            lists[name] = Path(tmp, f"{name}.list")
            lists[name].write_text("\0".join(chosen), encoding="utf-8")
        load_before = os.getloadavg()
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in layers}
        for _ in range(args.repeat):
            for name in layers:
                samples[name].append(_run_child(name, str(lists[name])))
        load_after = os.getloadavg()
    results = {name: _summary(s) for name, s in samples.items()}
    report = {
        "corpus": [str(f) for f in folders],
        "python_files": len(files),
        "megabytes": round(sum(os.path.getsize(f) for f in files) / 1e6, 2),
        "repeat": args.repeat,
        "cst_step": args.cst_step,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "layers": results,
        "targets": {
            name: {
                "ratio_at_most": bound,
                "median_wall": results[name]["ratio_vs_bare_parse"],
                "median_cpu": results[name]["ratio_cpu_vs_bare_parse"],
                "met": results[name]["ratio_vs_bare_parse"] <= bound,
            }
            for name, bound in TARGETS.items()
            if name in results
        },
        "git_head": _git_head(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


def _git_head() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()

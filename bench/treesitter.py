"""Tree-sitter throughput per language, against a bare parse and Universal Ctags on the same files.

    python bench/treesitter.py [--corpora DIR] [--max-mb 8] [--repeat 3] [--out FILE] [--language L ...]

Corpora (real code installed from the package registries; see bench/README.md for the commands):
  javascript  npm pack typescript, lodash, express (their .js files)      -> DIR/npm/*/package
  typescript  the .d.ts / .ts files of the same npm packages
  go          Debian golang-*-dev packages                                 -> /usr/share/gocode/src
  rust        Debian librust-*-dev packages                                -> /usr/share/cargo/registry
  c           this Python's C headers (sysconfig include dir)
  cpp         Debian libgtest-dev (googletest sources)                     -> /usr/src/googletest
  ruby        Debian ruby-rack                                             -> /usr/lib/ruby/vendor_ruby
  php         Debian php-symfony-console (and its dependencies)           -> /usr/share/php
  java        the JDK's src.zip from Debian's openjdk-17-source .deb      -> DIR/jdk
  csharp      the C# sources of the npm package edge-js (about 110 KB: the only C# we found in a registry)

For each language, on the same files (capped at --max-mb, in a stable order), in one process:
  bare_parse        tree_sitter.Parser.parse of every file (the floor)
  definitions       parse + the pack's definitions query + qualified names (what ctags does)
  extractor         the whole tree-sitter extractor: definitions, imports, calls, error nodes
  ctags             `ctags -L list -o tags --languages=L` (Universal Ctags, a subprocess, one core)
Each repeat runs every configuration once, interleaved; times are medians (and minimums, `_min_s`, as
the machine may be shared). Ratios of medians and of minimums: definitions / ctags (target <= 3),
bare_parse / ctags (the floor of that ratio), extractor / bare_parse. Counts: our definitions and ctags' tags, for context (they
index different things: ctags also lists variables, fields, members).

Prints JSON (and writes it to --out). Exits 0 whether or not the target is met.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from codequarry.extractors.treesitter import facts as facts_module  # noqa: E402
from codequarry.extractors.treesitter.grammars import compiled, grammar_function  # noqa: E402
from codequarry.language import language_of, sniff_header  # noqa: E402
from codequarry.source import SourceFile  # noqa: E402

CTAGS_NAMES = {
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "go": "Go",
    "rust": "Rust",
    "java": "Java",
    "c": "C",
    "cpp": "C++",
    "csharp": "C#",
    "ruby": "Ruby",
    "php": "PHP",
}


def corpus_roots(corpora: Path) -> dict[str, list[Path]]:
    npm = sorted((corpora / "npm").glob("*/package")) if (corpora / "npm").is_dir() else []
    return {
        "javascript": npm,
        "typescript": npm,
        "go": [Path("/usr/share/gocode/src")],
        "rust": [Path("/usr/share/cargo/registry")],
        "c": [Path(sysconfig.get_paths()["include"])],
        "cpp": [Path("/usr/src/googletest")],
        "ruby": [Path("/usr/lib/ruby/vendor_ruby")],
        "php": [Path("/usr/share/php")],
        "java": [corpora / "jdk"],
        "csharp": npm,
    }


def files_of(language: str, roots: list[Path], max_bytes: int) -> list[Path]:
    """The language's files under ``roots`` (by quarry's own detection), in a stable order, up to a cap."""
    found: list[Path] = []
    total = 0
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", ".git")]
            for name in sorted(filenames):
                path = Path(dirpath) / name
                lang = language_of(name)
                if lang == "c" and name.endswith(".h"):
                    lang = sniff_header(path.read_bytes()[:16384])
                if lang != language or path.is_symlink() or name.endswith(".min.js"):
                    continue
                size = path.stat().st_size
                if size > 2 * 1024 * 1024:
                    continue  # bundles: one file would be the whole corpus
                found.append(path)
                total += size
                if total >= max_bytes:
                    return found
    return found


def measure(language: str, files: list[Path], repeat: int, ctags: str | None) -> dict[str, Any]:
    blobs = [(str(p), p.read_bytes()) for p in files]
    size = sum(len(b) for _, b in blobs)
    mb = size / 1e6

    def bare() -> int:
        n = 0
        for path, data in blobs:
            parser = compiled(language, grammar_function(language, path)).parser
            n += parser.parse(data).root_node.child_count
        return n

    def sources() -> list[SourceFile]:
        return [
            SourceFile(
                repo="b",
                path=p,
                data=d,
                sha256=None,
                size=len(d),
                language=language,
                line_count=d.count(b"\n") + 1,
            )
            for p, d in blobs
        ]

    def definitions_only() -> int:
        import tree_sitter

        n = 0
        for src in sources():
            pack = compiled(language, grammar_function(language, src.path))
            tree = pack.parser.parse(src.data)
            f = facts_module.Facts(language=language, data=src.data or b"", ascii=(src.data or b"").isascii())
            facts_module._definitions_and_imports(
                f, tree_sitter.QueryCursor(pack.definitions).matches(tree.root_node)
            )
            n += len(f.definitions)
        return n

    def extractor() -> tuple[int, int, int, int]:
        d = i = c = e = 0
        for src in sources():
            f = facts_module.facts_of(src)
            if f is not None:
                d, i, c, e = d + len(f.definitions), i + len(f.imports), c + len(f.calls), e + len(f.problems)
        return d, i, c, e

    configs: dict[str, Any] = {"bare_parse": bare, "definitions": definitions_only, "extractor": extractor}
    if ctags and language in CTAGS_NAMES:
        configs["ctags"] = lambda: run_ctags(ctags, language, [p for p, _ in blobs])
    bare()  # warm: grammars loaded, queries compiled, files in memory
    samples: dict[str, list[float]] = {name: [] for name in configs}
    results: dict[str, Any] = {}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(repeat):  # interleaved, so that load from other jobs hits every configuration alike
        for name, fn in configs.items():
            start, own, kids = time.perf_counter(), time.process_time(), _children_cpu()
            results[name] = fn()
            samples[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - own + _children_cpu() - kids)
    med = {name: statistics.median(v) for name, v in samples.items()}
    low = {name: min(v) for name, v in samples.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    out: dict[str, Any] = {"files": len(blobs), "mb": round(mb, 2)}
    for name in configs:
        out[f"{name}_s"] = round(med[name], 3)
        out[f"{name}_min_s"] = round(low[name], 3)
        out[f"{name}_cpu_s"] = round(med_cpu[name], 3)
        out[f"{name}_mb_s"] = round(mb / med[name], 2)
    counts = results["extractor"]
    out.update(definitions=results["definitions"], imports=counts[1], calls=counts[2], error_rows=counts[3])
    pairs = [("extractor", "bare_parse"), ("definitions", "bare_parse")]
    if "ctags" in configs:
        out["ctags_tags"] = results["ctags"]
        pairs += [("definitions", "ctags"), ("extractor", "ctags"), ("bare_parse", "ctags")]
    for a, b in pairs:
        out[f"ratio_{a}_vs_{b}"] = round(med[a] / med[b], 2)
        out[f"ratio_{a}_vs_{b}_of_min"] = round(low[a] / low[b], 2)
        out[f"ratio_{a}_vs_{b}_cpu"] = round(med_cpu[a] / med_cpu[b], 2)
    if "ctags" in configs:
        out["definitions_within_3x_ctags"] = med_cpu["definitions"] <= 3 * med_cpu["ctags"]
    return out


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes (ctags) so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ctags(ctags: str, language: str, paths: list[str]) -> int:
    """Universal Ctags over the files (listed in a file: no argv limit, no shell); returns its tag count."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "files"
        listing.write_text("\n".join(paths) + "\n")
        tags = Path(tmp) / "tags"
        name = CTAGS_NAMES[language]
        subprocess.run(
            [ctags, f"--language-force={name}", "-L", str(listing), "-o", str(tags)],
            check=True,
            capture_output=True,
        )
        return sum(1 for line in tags.read_text(errors="replace").splitlines() if not line.startswith("!_"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default=str(ROOT / "bench" / ".corpora"))
    ap.add_argument("--max-mb", type=float, default=8.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--language", action="append", default=[])
    ap.add_argument("--out")
    args = ap.parse_args()
    roots = corpus_roots(Path(args.corpora))
    ctags = shutil.which("ctags")
    result: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "ctags": _ctags_version(ctags),
            "loadavg_before": os.getloadavg(),
        },
        "languages": {},
        "skipped": {},
    }
    for language in args.language or list(roots):
        files = files_of(language, roots[language], int(args.max_mb * 1e6))
        if not files:
            result["skipped"][language] = f"no corpus found under {[str(r) for r in roots[language]]}"
            continue
        result["languages"][language] = measure(language, files, args.repeat, ctags)
        print(f"{language}: {result['languages'][language]}", file=sys.stderr)
    result["machine"]["loadavg_after"] = os.getloadavg()
    measured = result["languages"].values()
    result["all_definitions_within_3x_ctags"] = all(
        v.get("definitions_within_3x_ctags", False) for v in measured
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def _ctags_version(ctags: str | None) -> str | None:
    if not ctags:
        return None
    return subprocess.run([ctags, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


if __name__ == "__main__":
    sys.exit(main())

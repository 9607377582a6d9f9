"""Cost of the fallback parser for syntax newer than the interpreter, against ``ast.parse``.

    python bench/newer_syntax.py [--every 4] [--repeat 3] [--out FILE]

On a sample of the standard library (every Nth file), times, per phase and in total: the bare
``ast.parse`` (the baseline, measured in the same run), the tree-sitter-python parse, the query that
recognises newer constructs, and the conversion into an ``ast.Module``. Prints JSON with seconds
(best of ``--repeat``), MB/s and ratios against ``ast.parse``. The fallback runs only for files
that ``ast.parse`` rejects, so a file of newer syntax costs one failed ``ast.parse`` plus the
fallback (``fallback_total_ratio``); every other file costs nothing more.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import sysconfig
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codequarry.pyparse.base import Context
from codequarry.pyparse.convert import Converter
from codequarry.pyparse.fallback import _parser, parser_name
from codequarry.pyparse.features import recognise
from codequarry.source import ParseFailure, decode_python


def corpus(every: int) -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    texts = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True))[::every]:
        if "site-packages" in path:
            continue
        try:
            text = decode_python(Path(path).read_bytes())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(text)
        except (ParseFailure, SyntaxError, ValueError):
            continue
        if not _parser().parse(text.encode()).root_node.has_error:
            texts.append(text)
    return texts


def best(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    texts = corpus(args.every)
    datas = [t.encode() for t in texts]
    ts = _parser()

    def parse_ast() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in texts:
                ast.parse(t)

    def parse_ts() -> list[Any]:
        return [ts.parse(d).root_node for d in datas]

    roots = parse_ts()

    def query() -> None:
        for r in roots:
            recognise(r)

    def convert() -> None:
        for r, d in zip(roots, datas, strict=True):
            Converter(Context(d)).module(r)

    timing = {
        "ast_parse": best(args.repeat, parse_ast),
        "tree_sitter_parse": best(args.repeat, parse_ts),
        "recognise_query": best(args.repeat, query),
        "convert_to_ast": best(args.repeat, convert),
    }
    fallback = timing["tree_sitter_parse"] + timing["recognise_query"] + timing["convert_to_ast"]
    megabytes = sum(map(len, datas)) / 1e6
    result = {
        "parser": parser_name(),
        "files": len(texts),
        "megabytes": round(megabytes, 2),
        "seconds": {k: round(v, 3) for k, v in timing.items()},
        "mb_per_s": {k: round(megabytes / v, 2) for k, v in timing.items()},
        "ratio_vs_ast_parse": {k: round(v / timing["ast_parse"], 2) for k, v in timing.items()},
        "fallback_ratio": round(fallback / timing["ast_parse"], 2),
        "fallback_total_ratio": round((fallback + timing["ast_parse"]) / timing["ast_parse"], 2),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

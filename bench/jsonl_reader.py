"""The JSON-lines reader alone (decode, check, build Arrow batches, write parts) against a bare
``json.loads`` loop over the same lines, in one process: prints JSON.

    python bench/jsonl_reader.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pyarrow as pa  # noqa: E402

from codequarry.schema import DatasetSpec  # noqa: E402
from codequarry.tools.jsonl import ERRORS, LineReader, TableSink  # noqa: E402
from codequarry.tools.schema import RecordChecker, fields_from_table  # noqa: E402


def reader_seconds(lines: list[bytes]) -> float:
    fields = fields_from_table({"name": "str", "n": "int", "tags": "list[str]?"})
    spec = DatasetSpec(name="t", fields=tuple(fields))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("t", "errors"):
            Path(tmp, name).mkdir()
        sink, errors = TableSink(tmp, "bench", spec), TableSink(tmp, "bench", ERRORS)
        reader = LineReader(
            tool="x",
            path="p",
            sha256=None,
            checker=RecordChecker(fields),
            sink=sink,
            errors=errors,
            strict=False,
            fail=lambda *_: None,
        )
        t0 = time.perf_counter()
        for line in lines:
            reader(line)
        reader.close()
        sink.finish()
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lines = [
        (json.dumps({"name": f"r{i}", "n": i, "tags": ["a", "b"] if i % 2 else []}) + "\n").encode()
        for i in range(args.rows)
    ]
    pa.array([1])  # pyarrow's one-time imports are not the reader's cost
    bare, ours = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for line in lines:
            json.loads(line)
        bare.append(time.perf_counter() - t0)
        ours.append(reader_seconds(lines))
    b, o = statistics.median(bare), statistics.median(ours)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "bare_json_loads_rows_per_s": round(args.rows / b),
                "reader_rows_per_s": round(args.rows / o),
                "reader_vs_bare_json_loads": round(o / b, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

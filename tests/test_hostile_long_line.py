"""A long one-line bundle with non-ASCII text costs each node a bounded decode, and columns stay exact.

The column of a tree-sitter node on a non-ASCII line is a character count. It was computed from
marks kept in a sorted list, inserted as spans were asked: with nested definitions and then calls,
most inserts landed mid-list, each a memmove of the whole list. A 9.6 MB one-line bundle (150,000
functions with an 'é' each) spent 30 s CPU in the spans alone and the worker was killed at the 60 s
file timeout, so the file gave nothing. Columns now come from checkpoints laid once per line.
"""

from __future__ import annotations

import time

from codequarry.extractors.treesitter.facts import Facts, facts_of
from codequarry.source import SourceFile


def _bundle(n: int) -> bytes:
    return "".join(f'function f{i}(a){{return g{i}(a,["é"])}};' for i in range(n)).encode()


def _spans_cpu(n: int) -> tuple[float, int]:
    data = _bundle(n)
    src = SourceFile(
        repo="r", path="b.js", data=data, sha256="", size=len(data), language="javascript", line_count=1
    )
    facts = facts_of(src)
    assert facts is not None and len(facts.definitions) == n and len(facts.calls) == n
    started = time.process_time()
    spans = [facts.span(d.node) for d in facts.definitions] + [facts.span(c[0]) for c in facts.calls]
    spent = time.process_time() - started
    last = spans[n - 1]  # the last definition: its column counts each 'é' as one character
    text = data.decode()
    assert last[1] == text.rindex(f"function f{n - 1}(")
    return spent, len(spans)


def test_spans_of_a_long_non_ascii_line_cost_in_proportion_to_the_nodes() -> None:
    small = min(_spans_cpu(5_000)[0] for _ in range(2))
    large = min(_spans_cpu(40_000)[0] for _ in range(2))
    # 8x the nodes: linear is ~8x; the sorted-list inserts were ~30x here (0.11 s -> 3.4 s)
    assert large < 16 * max(small, 0.01), (small, large)


def test_columns_equal_a_decode_from_the_line_start_for_any_bytes() -> None:
    pieces = [
        b"a",
        b"(",
        b"\n",
        "é".encode(),
        "€".encode(),
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b" ",
        "😀".encode(),
    ]
    data = b"\xef\xbb\xbf" + b"".join(
        b"\n" if i % 9_000 == 8_999 else pieces[(i * 7 + i // 3) % len(pieces)] for i in range(20_000)
    )  # lines of ~20 KB: the checkpoints are used
    facts = Facts(language="javascript", data=data, ascii=False, parsed=data)
    for at in range(0, len(data) + 1, 7):
        line_start = data.rfind(b"\n", 0, at) + 1
        start = 3 if line_start == 0 else line_start  # the BOM is no column
        want = len(data[start:at].decode("utf-8", "replace")) if at >= start else 0
        assert facts.col(at - line_start, at) == want, at

"""Character columns of tree-sitter nodes on non-ASCII lines: the same numbers a "replace" decode of
the line's start gives, whatever the bytes (valid or broken UTF-8) and the order nodes are asked in.
The columns are computed from marks kept per line (a decode from the line start per node was
quadratic on a long minified line); these tests hold them to the plain definition."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from codequarry.extractors.treesitter.facts import Facts, facts_of
from codequarry.source import SourceFile
from codequarry.testing import examples

PIECES = [
    b"a",
    b" ",
    b"\n",
    b"(",
    "é".encode(),
    "€".encode(),
    "😀".encode(),
    b"\xe2\x82",
    b"\xff",
    b"\x80",
    b"\xc3",
]


def plain(data: bytes, byte_col: int, start_byte: int) -> int:
    return len(data[start_byte - byte_col : start_byte].decode("utf-8", "replace"))


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=80), st.lists(st.integers(0, 10**6), max_size=60)
)
def test_columns_equal_a_decode_of_the_line_start(pieces: list[bytes], picks: list[int]) -> None:
    data = b"".join(pieces)
    facts = Facts(language="javascript", data=data, ascii=data.isascii())
    for pick in picks:
        start_byte = pick % (len(data) + 1)
        byte_col = start_byte - (data.rfind(b"\n", 0, start_byte) + 1)
        assert facts.col(byte_col, start_byte) == plain(data, byte_col, start_byte)


def test_spans_of_a_long_minified_line_match_the_decode() -> None:
    body = ";".join(f"function f{i}(){{return g{i}('é{i}')}}" for i in range(3000))
    data = ("/* ünïcode */" + body + "\n").encode()
    src = SourceFile(
        repo="r", path="m.min.js", data=data, sha256="x", size=len(data), language="javascript", line_count=2
    )
    facts = facts_of(src)
    assert facts is not None and len(facts.definitions) == 3000 and len(facts.calls) == 3000
    for node in [d.node for d in facts.definitions] + [c[0] for c in facts.calls]:
        (line, col, end_line, end_col) = facts.span(node)
        assert (line, end_line) == (1, 1)
        assert col == plain(data, node.start_point[1], node.start_byte)
        assert end_col == plain(data, node.end_point[1], node.end_byte)
    assert facts.text(facts.definitions[-1].node).startswith("function f2999")

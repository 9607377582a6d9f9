"""Telling a ``.h`` file's C from C++ reads 16 KB of it in the parent process: that must stay linear.

Found by trust sweep 3: ``language._CPP_ONLY`` began ``^\\s*`` under MULTILINE, and ``\\s`` takes
newlines, so from every line start of a head of blank lines the scan ran to the end of the 16 KB: 1.4 s
of CPU per such ``.h`` file, spent by the run's parent (where no ``--file-timeout`` applies) on every
run. 20 of them: 29 s CPU before, 1.2 s after (`quarry extract` of 20 files of 16,384 newlines).
Now a line's own indentation only is skipped, ``^[^\\S\\n]*``: the same answers (a match after blank
lines is also a match from its own line's start).
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

from codequarry.language import sniff_header
from tests.hostile.conftest import quarry

#: the pattern before the fix: the reference for the answers
_OLD = re.compile(
    rb"^\s*(?:namespace\s+\w*\s*\{|template\s*<|(?:public|private|protected)\s*:|using\s+namespace\b"
    rb"|class\s+\w+(?:\s+final)?\s*(?::[^:]|\{))|\bstd::|#\s*include\s*<(?:iostream|string|vector|memory|map)>",
    re.MULTILINE,
)
_TOKENS = [b"\n", b" ", b"\t", b"\r", b"\x0b", b"class", b"x", b":", b"::", b"{", b"namespace", b"template"]
_TOKENS += [b"<", b"public", b"final", b"std::", b"#", b"include", b"<string>", b"using", b"\n\n", b"  "]


def _cpu(head: bytes) -> float:
    """The least CPU time of a few rounds of 5 sniffs of ``head``."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(5):
            sniff_header(head)
        best = min(best, time.process_time() - start)
    return best


def test_a_head_of_blank_lines_costs_what_ordinary_c_costs() -> None:
    ordinary = (b"int f(int x) { return x + 1; }\n" * 600)[:16384]
    for hostile in (b"\n" * 16384, b" \n" * 8192, b"\t\n\n" * 5461):
        # before the fix the ratio was ~1,000 (1.4 s against ~1 ms); a bound far from both
        assert _cpu(hostile) < 30 * _cpu(ordinary) + 0.05, hostile[:8]


def test_the_answers_are_the_old_patterns() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        head = b"".join(rng.choice(_TOKENS) for _ in range(rng.randint(0, 14)))
        assert sniff_header(head) == ("cpp" if _OLD.search(head) else "c"), head


def test_blank_lines_before_cpp_syntax_still_say_cpp(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "blank.h").write_bytes(b"\n" * 16384 + b"int x;\n")
    (root / "late.h").write_bytes(b"\n\n  \n" * 50 + b"  namespace app {\n}\n")
    (root / "plain.h").write_bytes(b"\n\n\nstruct s { int a; };\n")
    quarry("extract", root, "-w", "1", "-q")
    done = quarry(
        "sql", "-s", root / ".quarry", "--format", "csv", "select path, language from files order by path"
    )
    assert done.stdout.split() == ['"path","language"', '"blank.h","c"', '"late.h","cpp"', '"plain.h","c"']

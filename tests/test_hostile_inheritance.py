"""A deep inheritance chain must not make the models operation's output quadratic.

Found by trust sweep 3 (a strict xfail then). Each pydantic model got one ``validation_fields``
row per field of every ancestor, so one file of n models each subclassing the previous one (2n
lines) gave n(n+1)/2 rows, all built in the run's parent process, where no ``--file-timeout``
applies: 3,000 classes (6,000 lines, 150 KB) gave 4,501,500 rows and 49 s of CPU.

Fixed by trust sweep 4: every walk over a class's inheritance in the models operation stops at
MAX_ANCESTORS (64) ancestors, and each model cut there has an ``errors`` row saying so (written
through the operations' errors output, ``ctx.error``; tests/test_hostile_operation_errors.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.conftest import quarry

N = 600  # 180,300 rows today, three times the bound asserted


def test_a_deep_pydantic_chain_gives_rows_in_proportion_to_its_classes(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    lines = ["from pydantic import BaseModel", "class P0(BaseModel):\n    a0: int = 1"]
    lines += [f"class P{i}(P{i - 1}):\n    a{i}: int = 1" for i in range(1, N)]
    (root / "chain.py").write_text("\n".join(lines) + "\n")
    quarry("extract", root, "-w", "1", "-q", "--select", "python")
    done = quarry(
        "sql", "-s", root / ".quarry", "--format", "jsonl", "select count(*) AS n FROM validation_models"
    )
    assert json.loads(done.stdout)["n"] == N  # the models themselves are all there
    done = quarry(
        "sql", "-s", root / ".quarry", "--format", "jsonl", "select count(*) AS n FROM validation_fields"
    )
    assert json.loads(done.stdout)["n"] <= 100 * N

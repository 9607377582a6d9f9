"""A few small duplicates of the run's own files are parsed, not copied (reuse.REPARSE_BYTES): the
copy would make the parent read back every part the run wrote. The store is the same either way."""

from __future__ import annotations

import os
from pathlib import Path

from codequarry import extract, make_plan
from codequarry.reuse import REPARSE_SHARE
from tests.storedump import dump


def _run(root: Path, store: Path, reuse: bool) -> object:
    old = os.environ.get("QUARRY_REUSE")
    os.environ["QUARRY_REUSE"] = "1" if reuse else "0"
    try:
        return extract(make_plan([root], store=store, workers=1))
    finally:
        if old is None:
            del os.environ["QUARRY_REUSE"]
        else:
            os.environ["QUARRY_REUSE"] = old


def test_a_few_small_duplicates_are_parsed_and_the_store_is_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    unique = int(2 / REPARSE_SHARE)  # enough other files that two followers are a small share
    for i in range(unique):
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    for folder in ("tools/one", "tools/two", "tools/three"):  # same module name 'helper': twins
        (root / folder).mkdir(parents=True)
        (root / folder / "helper.py").write_text(
            "import os\n\ndef helper(x):\n    return os.path.join(x, 'a')\n"
        )
    with_reuse = _run(root, tmp_path / "reuse", True)
    without = _run(root, tmp_path / "plain", False)
    assert with_reuse.reused == 0  # type: ignore[attr-defined]
    assert with_reuse.files_parsed == without.files_parsed == unique + 3  # type: ignore[attr-defined]
    assert dump(tmp_path / "reuse") == dump(tmp_path / "plain")

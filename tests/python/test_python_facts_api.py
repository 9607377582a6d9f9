"""The public fact API (``codequarry.python``): the plugin of docs/python-facts-api.md runs as shown,
and the built-in extractors import no private helper of another extractor package."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from codequarry import extract, make_plan
from codequarry.query import open_store, sql
from codequarry.sqlout import grid_text
from tests.paths import ROOT

DOC = ROOT / "docs" / "python-facts-api.md"


def _block(text: str, lang: str) -> str:
    found = re.findall(rf"```{lang}\n(.*?)```\n", text, re.S)
    assert len(found) == 1, f"{DOC.name}: expected one ```{lang} block, found {len(found)}"
    return found[0]


def test_the_documented_plugin_prints_the_rows_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    session = _block(text, "console").splitlines(keepends=True)
    query_line = next(i for i, line in enumerate(session) if line.startswith('$ quarry sql "'))
    query = session[query_line].removeprefix('$ quarry sql "').rstrip().removesuffix('"')
    shown = "".join(session[query_line + 1 :])
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "acme_literal_calls.py").write_text(_block(text, "python"))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "plugins"), prepend=":")  # worker processes too
    sample = shutil.copytree(ROOT / "examples" / "sample", tmp_path / "sample")
    plan = make_plan(
        [sample], store=tmp_path / "store", workers=1, plugins=["acme_literal_calls"], select=["acme"]
    )
    extract(plan)
    assert grid_text(sql(open_store(tmp_path / "store"), query)) == shown


_PRIVATE_IMPORT = re.compile(r"^\s*from codequarry\.extractors\.python\.(\w+)", re.M)


def test_built_in_python_extractors_import_only_public_modules_across_packages() -> None:
    """Inside extractors/python, a module may use its own package's helpers, never another's."""
    base = ROOT / "src" / "codequarry" / "extractors" / "python"
    crossing = []
    for path in sorted(base.rglob("*.py")):
        own = path.relative_to(base).parts[0]
        for other in _PRIVATE_IMPORT.findall(path.read_text(encoding="utf-8")):
            if other != own:
                crossing.append(f"{path.relative_to(base)} imports extractors.python.{other}")
    assert not crossing, crossing

"""Parse products are lazy (never computed unless a selected extractor needs them) and shared (once a
file however many extractors need them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import extract, make_plan
from codequarry.source import SourceFile


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    for i in range(5):
        (root / f"m{i}.py").write_text(f"def f{i}():\n    pass\n\nclass C{i}:\n    pass\n")
    return root


def test_an_ast_only_selection_never_runs_symtable_or_libcst(src: Path, tmp_path: Path) -> None:
    SourceFile.computed.clear()
    extract(
        make_plan(
            [src], store=tmp_path / "s", workers=1, plugins=["tests.plugins.products"], select=["python.core"]
        )
    )
    assert SourceFile.computed["ast"] == 5
    assert SourceFile.computed["symtable"] == 0 and SourceFile.computed["cst"] == 0


def test_products_needed_by_several_extractors_are_computed_once_per_file(src: Path, tmp_path: Path) -> None:
    pytest.importorskip("libcst")
    SourceFile.computed.clear()
    SourceFile.traversals = 0
    s = extract(make_plan([src], store=tmp_path / "s", workers=1, plugins=["tests.plugins.products"]))
    assert SourceFile.computed["symtable"] == 5  # two extractors, one symtable a file
    assert SourceFile.computed["cst"] == 5
    assert SourceFile.computed["ast"] == 5 and SourceFile.traversals == 5
    assert s.rows["scopes"] == 10 and s.rows["cst_lines"] == 5

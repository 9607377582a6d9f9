"""Minified build outputs: recognised from the manifest, left to it, parsed with --include-generated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store
from codequarry.api import GENERATED_SKIPPED, effective_version
from codequarry.generated import MINIFIED, NAME, generated_kind
from codequarry.query import table
from codequarry.registry import load_catalog
from tests import paths
from tests.storedump import dump

#: one statement per line, as people write it; minified, the same statements on one line
STATEMENTS = [f"function step{i}(value) {{ return value + {i}; }}" for i in range(40)]
READABLE = "\n".join(STATEMENTS) + "\n"
BUNDLE = ";".join(STATEMENTS) + "\n"
#: hand-written, with long lines: a lookup table and a long message among ordinary code
LONG_LINED = (
    "// colours of the status badges\n"
    "export const COLOURS = {" + ", ".join(f'"state{i}": "#{i:06x}"' for i in range(60)) + "};\n"
    "export function badge(state) {\n"
    "  const colour = COLOURS[state];\n"
    "  if (colour === undefined) {\n"
    "    throw new Error("
    + '"'
    + "unknown state: expected one of the states the server reports, " * 8
    + '" + state);\n'
    "  }\n"
    "  return colour;\n"
    "}\n"
    + "\n".join(f"export function helper{i}(x) {{\n  return badge(x) + {i};\n}}" for i in range(12))
    + "\n"
)


def test_a_minified_bundle_is_recognised_by_its_lines() -> None:
    data = BUNDLE.encode()
    assert len(data) > 1024
    assert generated_kind("dist/app.js", "javascript", len(data), 1) == MINIFIED
    assert generated_kind("dist/app.css", "css", 5000, 2) == MINIFIED


@pytest.mark.parametrize(
    "path",
    ["vendor/jquery.min.js", "x/react-dom.production.min.js", "a/lib-min.js", "s/site.min.css", "t.MIN.JS"],
)
def test_a_minified_name_is_recognised_whatever_the_content(path: str) -> None:
    language = "css" if path.lower().endswith(".css") else "javascript"
    assert generated_kind(path, language, 100, 10) == NAME


def test_hand_written_files_are_not_caught() -> None:
    data = LONG_LINED.encode()
    longest = max(len(line) for line in data.split(b"\n"))
    assert longest > 500 and len(data) > 1024  # long lines, yet written by hand
    lines = data.count(b"\n")
    assert generated_kind("src/badge.js", "javascript", len(data), lines) is None
    assert generated_kind("src/app.js", "javascript", len(READABLE), READABLE.count("\n")) is None
    # a tiny file of one long line: too small to tell, and too cheap to matter
    assert generated_kind("src/one.ts", "typescript", 600, 1) is None
    # other languages are never looked at: a Python file of long lines, a minified-looking name
    assert generated_kind("gen/table.py", "python", 100_000, 2) is None
    assert generated_kind("admin.min.py", "python", 10, 1) is None
    assert generated_kind("docs/admin.js", "javascript", 10, 1) is None  # 'admin' is no '-min'


def test_the_recorded_version_says_whether_minified_files_were_parsed() -> None:
    catalog = load_catalog(())
    js = catalog.extractors["treesitter.javascript"]
    manifest = catalog.extractors["core.files"]
    python = catalog.extractors["python.core.functions"]
    assert js.skips_generated and not manifest.skips_generated and not python.skips_generated
    plan = make_plan(
        [paths.FIXTURES / "routes/flask_app"], store=Path("/nonexistent/s"), include_generated=True
    )
    included = {ex.name: ex for ex in plan.extractors}["treesitter.javascript"]
    # with the option, the version every run recorded before minified files were recognised
    assert effective_version(included) == js.version
    assert effective_version(js) == js.version + GENERATED_SKIPPED
    assert effective_version(manifest) == manifest.version


def _tree(root: Path) -> Path:
    (root / "dist").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "dist" / "bundle.js").write_text(BUNDLE)
    (root / "dist" / "vendor.min.js").write_text(READABLE)  # minified or not, its name says so
    (root / "src" / "app.js").write_text(READABLE)
    (root / "src" / "badge.js").write_text(LONG_LINED)
    (root / "src" / "main.py").write_text("def main():\n    return 1\n")
    return root


def _files(store: Path) -> dict[str, str | None]:
    return {r["path"]: r["generated"] for r in table(open_store(store), "files").to_pylist()}


def _definitions(store: Path) -> set[str]:
    return {r["path"] for r in table(open_store(store), "definitions").to_pylist()}


@pytest.mark.parametrize("workers", [1, 2])
def test_extract_keeps_the_files_row_and_skips_the_structure(tmp_path: Path, workers: int) -> None:
    root = _tree(tmp_path / "tree")
    store = tmp_path / "store"
    summary = extract(make_plan([root], store=store, workers=workers))
    assert _files(store) == {
        "dist/bundle.js": "minified",
        "dist/vendor.min.js": "name",
        "src/app.js": None,
        "src/badge.js": None,
        "src/main.py": None,
    }
    assert _definitions(store) == {"src/app.js", "src/badge.js"}
    assert summary.skipped == {"generated": 2}
    every = tmp_path / "every"
    extract(make_plan([root], store=every, workers=workers, include_generated=True))
    assert _files(every) == _files(store)  # the row says the same either way
    assert _definitions(every) == {"dist/bundle.js", "dist/vendor.min.js", "src/app.js", "src/badge.js"}


def test_switching_the_option_equals_a_fresh_extract(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    store = tmp_path / "store"

    def fresh(include: bool) -> dict[str, list[str]]:
        where = tmp_path / f"fresh{include}"
        extract(make_plan([root], store=where, repo="tree", include_generated=include))
        out = dump(where)
        shutil.rmtree(where)
        return out

    for include in (False, True, False, True):
        extract(make_plan([root], store=store, include_generated=include))
        assert dump(store) == fresh(include)
    # the bundle rewritten readable, then minified again: its row and its rows follow the content
    (root / "dist" / "bundle.js").write_text(READABLE)
    extract(make_plan([root], store=store))
    assert _files(store)["dist/bundle.js"] is None and "dist/bundle.js" in _definitions(store)
    assert dump(store) == fresh(False)


def test_the_cli_option(tmp_path: Path) -> None:
    from codequarry.cli_lean import main

    root = _tree(tmp_path / "tree")
    store = tmp_path / "store"
    assert main(["extract", str(root), "--store", str(store), "-q", "-w", "1", "--include-generated"]) == 0
    assert "dist/bundle.js" in _definitions(store)
    assert (
        main(["extract", str(root), "--store", str(store), "-q", "-w", "1"]) == 0
    )  # not the fast path's no-op
    assert "dist/bundle.js" not in _definitions(store)


def test_the_plan_previews_the_option(tmp_path: Path) -> None:
    """`quarry plan --include-generated` against a store made without it: the extractors of the
    minified files' languages would run again."""
    root = _tree(tmp_path / "tree")
    store = tmp_path / "store"
    extract(make_plan([root], store=store, workers=1))
    from codequarry.explain import describe

    work = describe(make_plan([root], store=store, include_generated=True))["work"]
    assert work["rerun"] == {"tree": ["treesitter.javascript", "treesitter.typescript"]}
    assert describe(make_plan([root], store=store))["work"]["rerun"] == {}

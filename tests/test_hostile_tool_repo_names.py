"""A tool and a corpus repo never share a name in one store.

Found by trust sweep 12: a tool's name is the `repo` of its rows, and a tool's rows share the
`errors` table with the extractors', keyed by (repo, path). A tool named like a corpus repo (`lint`
over the files of the folder `lint`, its recipe beside them) replaced, on each run of a task, the
corpus's `errors` rows of the same path: the syntax error of `bad.py` vanished and no later extract
brought it back (the file was unchanged), so the store said a file that does not parse had no error.
Now `quarry run` refuses such a tool, and `quarry extract` names a new repo around a tool's name
(`lint-2`) and refuses `--repo` naming one (one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path

from codequarry import open_store, sql
from tests.hostile.conftest import quarry

RECIPE = """[tools.lint]
command = ["{py}", "-c", "import json, sys; print(json.dumps({{'msg': sys.argv[1]}}))", "{{file}}"]
files = ["*.py"]
schema = {{ msg = "str" }}
"""


def _tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    import sys

    folder = tmp_path / "lint"
    folder.mkdir()
    (folder / "bad.py").write_text("def broken(:\n")
    (folder / "good.py").write_text("X = 1\n")
    recipe = folder / "recipe.toml"
    recipe.write_text(RECIPE.format(py=sys.executable))
    return folder, recipe, tmp_path / "store"


def _rows(store: Path, query: str) -> list[dict[str, object]]:
    return sql(open_store(store), query).to_pylist()


def _one_line(done, text: str) -> None:  # type: ignore[no-untyped-def]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and text in done.stderr, done.stderr


def test_a_tool_named_like_a_repo_is_refused_and_the_repo_keeps_its_errors(tmp_path: Path) -> None:
    folder, recipe, store = _tree(tmp_path)
    quarry("extract", folder, "--store", store, "-w", "1", "-q")
    errors = "SELECT repo, path, kind FROM errors"
    assert _rows(store, errors) == [{"repo": "lint", "path": "bad.py", "kind": "syntax"}]
    _one_line(quarry("run", recipe, "--store", store, "--no-cache", check=False), "tool 'lint'")
    assert _rows(store, errors) == [{"repo": "lint", "path": "bad.py", "kind": "syntax"}]


def test_a_repo_is_not_named_like_a_tool(tmp_path: Path) -> None:
    folder, recipe, store = _tree(tmp_path)
    quarry("run", recipe, "--store", store)
    quarry("extract", folder, "--store", store, "-w", "1", "-q")
    assert _rows(store, "SELECT repo, path, kind FROM errors") == [
        {"repo": "lint-2", "path": "bad.py", "kind": "syntax"}
    ]
    assert len(_rows(store, "SELECT * FROM lint WHERE repo = 'lint'")) == 2  # the tool's rows stay
    _one_line(
        quarry("extract", folder, "--store", store, "--repo", "lint", "-w", "1", check=False),
        "repo 'lint' has the name of a tool",
    )

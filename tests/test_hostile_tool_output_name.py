"""A tool's output table is the one the recipe names now, and one SQL can name.

Found by trust sweep 12:
- renaming a JSON-lines tool's `output` left every task cached (the output table was not part of the
  cache key): `quarry run` said "nothing to write: up to date", the new table did not exist and the
  rows stayed in the old one;
- an output with capitals (`output = "Files"`, or a tool `[tools.Lint]` whose output defaults to its
  name) was stored, but SQL folds an unquoted name to lowercase: `SELECT * FROM Files` answered from
  the `files` table of the corpus, the wrong facts with no warning, and `FROM "Files"` was "no table".
  Such a name is now refused when the recipe is read (one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.errors import QuarryError
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.hostile.conftest import quarry
from tests.tools.conftest import emit_tool, write_recipe


def _count(store: Path, table: str) -> int:
    return int(sql(open_store(store), f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"])


def test_renaming_the_output_writes_the_new_table(tmp_path: Path) -> None:
    tool = emit_tool(["emit", "3", "{target}_"], targets=["a"])
    first = run_recipe(make_tools_plan(write_recipe(tmp_path, {"rec": {**tool, "output": "old_rows"}})))
    assert first.published
    second = run_recipe(make_tools_plan(write_recipe(tmp_path, {"rec": {**tool, "output": "new_rows"}})))
    assert second.published, "the renamed output was taken as cached: no table new_rows"
    assert _count(tmp_path / ".quarry", "new_rows") == 3
    again = run_recipe(make_tools_plan(write_recipe(tmp_path, {"rec": {**tool, "output": "new_rows"}})))
    assert not again.published  # unchanged: cached again


@pytest.mark.parametrize(
    ("tools", "named"),
    [
        ({"rec": {"output": "Files"}}, "'Files' has capitals"),
        ({"Lint": {}}, "'Lint' has capitals"),
    ],
)
def test_an_output_sql_cannot_name_is_refused(tmp_path: Path, tools: dict, named: str) -> None:
    recipe = write_recipe(
        tmp_path,
        {name: {**emit_tool(["emit", "3", "x"], targets=["a"]), **more} for name, more in tools.items()},
    )
    with pytest.raises(QuarryError, match=named):
        make_tools_plan(recipe)
    done = quarry("run", recipe, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and named in done.stderr
    assert not (tmp_path / ".quarry").exists()

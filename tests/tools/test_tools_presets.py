"""Presets as objects: the generic tool modules name no preset, every preset hook is reached through
the registry, and a preset's own recipe keys, result table and summary lines come from its object."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import codequarry.tools as tools_pkg
from codequarry.tools import presets
from codequarry.tools.plan import RESERVED_TABLES, make_tools_plan
from codequarry.tools.presets.base import GENERIC, Preset
from codequarry.tools.recipe import RecipeError, ToolIn
from codequarry.tools.report import render
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, write_recipe

TOOLS = Path(tools_pkg.__file__).parent
GENERIC_MODULES = [
    "plan.py",
    "resolve.py",
    "planned.py",
    "runner.py",
    "task.py",
    "progress.py",
    "results.py",
    "report.py",
    "recipe.py",
    "cli.py",
    "summary.py",
]


def _code_words(path: Path) -> set[str]:
    """Identifiers and string constants of a module, its docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.alias):
            words.update(node.name.split("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.add(node.value)
    return words


@pytest.mark.parametrize("module", GENERIC_MODULES)
def test_generic_tool_modules_name_no_preset(module: str) -> None:
    words = _code_words(TOOLS / module)
    named = {w for w in words if set(re.findall(r"[a-z]+", w.lower())) & set(presets.PRESETS)}
    assert named == set(), f"tools/{module} names a preset: {sorted(named)}"


def test_registry_holds_each_preset_with_its_keys_and_table() -> None:
    assert presets.PRESETS == ("tamarin", "lean")  # the order error messages list them in
    assert presets.get(None) is GENERIC and type(GENERIC) is Preset
    owners = presets.option_owners()
    assert owners["theories"] == "tamarin" and owners["imports"] == "lean"
    for key in owners:  # a preset's keys are keys of [tools.NAME]
        assert key in ToolIn.model_fields
    assert "tamarin_results" in RESERVED_TABLES
    assert presets.result_tables() == ("tamarin_results",)


def test_a_preset_key_on_a_tool_of_another_preset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.lean").write_text("")
    tool = {"preset": "lean", "extractor": "types", "read": ["a.lean"], "theories": ["x.spthy"]}
    with pytest.raises(RecipeError, match=r'tools\.t\.theories: only for preset "tamarin"'):
        make_tools_plan(write_recipe(tmp_path, {"t": tool}))


def test_summary_lines_come_from_the_preset_of_each_tool(tmp_path: Path) -> None:
    """A generic tool's results add no preset line; the report names each tool's preset."""
    summary = run_recipe(
        make_tools_plan(write_recipe(tmp_path, {"t": {"command": [PY, "-c", "pass"], "targets": ["a"]}}))
    )
    lines = render(summary.report)
    assert summary.exit_code == 0 and not any("lemmas:" in line for line in lines)
    fake = dict(summary.report)
    fake["config"] = {**fake["config"], "tools": [{**fake["config"]["tools"][0], "preset": "tamarin"}]}
    fake["results"] = [{**fake["results"][0], "result": {"result": "verified"}}]
    assert "  lemmas: 1 verified" in render(fake)

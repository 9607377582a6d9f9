"""A recipe resolves once into a frozen plan; every mistake is an error naming the file and the key."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from codequarry.tools.plan import make_tools_plan
from codequarry.tools.recipe import RecipeError
from tests.tools.conftest import PY, TOOL, emit_tool, write_recipe


def error_of(recipe: Path) -> str:
    with pytest.raises(RecipeError) as got:
        make_tools_plan(recipe)
    return str(got.value)


def test_plan_expands_targets_placeholders_limits_and_budgets(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    for name in ("b.py", "a.py"):
        (tmp_path / "src" / name).write_text("x = 1\n")
    recipe = write_recipe(
        tmp_path,
        {
            "files_tool": {
                "command": [PY, TOOL, "echo", "{file}", "{stem}", "{target}", "-N{cores}", "{memory_mb}"],
                "files": ["src/*.py"],
                "schema": {"argv": "list[str]"},
                "resources": {"cores": 2, "memory": 0.5, "timeout": 3},
            },
            "names_tool": {
                "command": [PY, TOOL, "echo", "{target}"],
                "targets": ["Mathlib.Order.Basic", "Lean"],
            },
        },
        resources={"max_cores": "max", "max_memory": "50%", "default_timeout": 7},
    )
    plan = make_tools_plan(recipe)
    assert plan.budget.cores == len(psutil.Process().cpu_affinity())
    assert abs(plan.budget.memory - psutil.virtual_memory().total // 2) < 2
    assert plan.store == str(tmp_path / ".quarry")
    files = [t for t in plan.tasks if t.tool == "files_tool"]
    assert [t.target for t in files] == ["src/a.py", "src/b.py"]  # sorted, relative to cwd
    a = files[0]
    assert a.argv == (
        os.path.abspath(PY),
        TOOL,
        "echo",
        str(tmp_path / "src/a.py"),
        "a",
        "src/a.py",
        "-N2",
        "512",
    )
    assert (a.cores, a.memory, a.timeout) == (2, 512 << 20, 3.0)
    assert a.sha256 is not None and any(p == TOOL for p, _ in a.inputs)  # the script is an input too
    names = [t for t in plan.tasks if t.tool == "names_tool"]
    assert [t.id for t in names] == ["names_tool:Mathlib.Order.Basic", "names_tool:Lean"]
    assert names[0].timeout == 7.0 and names[0].file is None
    assert plan.tool("names_tool").protocol == "exit"
    with pytest.raises(ValidationError):
        plan.tasks[0].argv = ()  # type: ignore[misc]  # the plan is frozen


def test_cache_key_changes_with_inputs_argv_and_limits(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("one")
    recipe = write_recipe(tmp_path, {"t": {"command": [PY, TOOL, "echo", "{file}"], "files": ["in.txt"]}})
    first = make_tools_plan(recipe).tasks[0].key
    assert make_tools_plan(recipe).tasks[0].key == first
    (tmp_path / "in.txt").write_text("two")
    second = make_tools_plan(recipe).tasks[0].key
    assert second != first
    write_recipe(
        tmp_path,
        {"t": {"command": [PY, TOOL, "echo", "{file}"], "files": ["in.txt"], "resources": {"timeout": 5}}},
    )
    assert make_tools_plan(recipe).tasks[0].key != second


def test_json_recipes_are_accepted(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                "resources": {"max_cores": 1, "max_memory": "1GB"},
                "tools": {"t": emit_tool(["emit", "3"], targets=["x"])},
            }
        )
    )
    plan = make_tools_plan(recipe)
    assert plan.budget.memory == 1 << 30 and plan.tool("t").output == "t"


@pytest.mark.parametrize(
    "tools, resources, expected",
    [
        (
            {"t": {"comand": ["x"], "targets": ["a"]}},
            None,
            "tools.t.comand: unknown key. Did you mean 'command'?",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "resources": {"cores": 4}}},
            {"max_cores": 2},
            "tools.t.resources.cores: a task needs 4 cores but resources.max_cores allows 2",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "resources": {"memory": 64}}},
            {"max_memory": 4},
            "tools.t.resources.memory: a task needs 64.00 GB but resources.max_memory allows 4.00 GB",
        ),
        (
            {"t": {"command": ["no-such-tool-xyz"], "targets": ["a"]}},
            None,
            "tools.t.command[0]: executable 'no-such-tool-xyz' not found on PATH",
        ),
        ({"t": {"command": [PY], "targets": []}}, None, "tools.t.targets: no targets"),
        (
            {"t": {"command": [PY], "files": ["nothing/*.py"]}},
            None,
            "tools.t.files[0]: 'nothing/*.py' matched no file",
        ),
        (
            {"t": {"command": [PY, "{taget}"], "targets": ["a"]}},
            None,
            "tools.t.command[1]: unknown placeholder '{taget}'. Did you mean 'target'?",
        ),
        (
            {"t": {"command": [PY, "{file}"], "targets": ["a"]}},
            None,
            "tools.t.command[1]: '{file}' has no value for target 'a' (it needs file targets",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "protocol": "jsonl"}},
            None,
            'tools.t.schema: protocol "jsonl" needs',
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "schema": {"n": "integr"}}},
            None,
            "tools.t.schema: field 'n': unknown type 'integr'",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "schema": {"path": "str"}}},
            None,
            "tools.t.schema: ['path'] are columns codequarry adds",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "schema": {"n": "int"}, "output": "errors"}},
            None,
            "tools.t.output: 'errors' is a table codequarry writes itself",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "lemmas": ["x*"]}},
            None,
            'tools.t.lemmas: only for preset "tamarin"',
        ),
        (
            {"t": {"preset": "tamrin", "targets": ["a"]}},
            None,
            "tools.t.preset: unknown preset 'tamrin'. Did you mean 'tamarin'?",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"]}},
            {"max_memory": "120%"},
            "resources.max_memory: a share of the machine's memory is between 0% and 100%",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"]}},
            {"max_memory": "lots"},
            "resources.max_memory: cannot read 'lots'",
        ),
        (
            {"t": {"command": [PY], "targets": ["a"], "resources": {"timeout": "long"}}},
            None,
            "tools.t.resources.timeout: Input should be a valid number",
        ),
        ({"t": {"command": [PY], "targets": ["a"], "cwd": "nowhere"}}, None, "tools.t.cwd: no such folder"),
    ],
)
def test_bad_recipes_name_the_file_and_the_key(
    tmp_path: Path, tools: dict[str, dict[str, object]], resources: dict[str, object] | None, expected: str
) -> None:
    recipe = write_recipe(tmp_path, tools, resources)
    message = error_of(recipe)
    assert message.startswith(f"{recipe}: "), message
    assert expected in message, message


def test_unknown_section_and_toml_syntax(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("[resource]\nmax_cores = 1\n")
    assert "resource: unknown key. Did you mean 'resources'?" in error_of(recipe)
    recipe.write_text("[resources\n")
    assert "not valid TOML" in error_of(recipe)
    recipe.write_text("[resources]\n")
    assert "nothing to run" in error_of(recipe)


def test_schema_command_runs_once_at_planning(tmp_path: Path) -> None:
    script = tmp_path / "schema.py"
    script.write_text(
        "import json\nprint(json.dumps({'fields': [{'name': 'name', 'nullable': False, "
        "'type': {'datatype': 'string'}}, {'name': 'deps', 'nullable': True, 'type': "
        "{'datatype': 'list', 'item': {'datatype': 'string'}}}], 'key': 'name'}))\n"
    )
    recipe = write_recipe(
        tmp_path,
        {
            "lean_like": {
                "command": [PY, TOOL, "echo", "{target}"],
                "targets": ["A"],
                "schema_command": [PY, str(script)],
                "output": "decls",
            }
        },
    )
    plan = make_tools_plan(recipe)
    fields = plan.tool("lean_like").fields
    assert [(f.name, str(f.type), f.nullable) for f in fields] == [
        ("name", "string", False),
        ("deps", "list<item: string>", True),
    ]


def test_lean_preset_fills_in_lean_scout_commands(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.write_text(
        f"#!{PY}\nimport json, sys\nif '--schema' in sys.argv:\n    print(json.dumps({{'fields': "
        "[{'name': 'name', 'type': {'datatype': 'string'}}]}))\n"
    )
    lake.chmod(0o755)
    recipe = write_recipe(
        tmp_path,
        {
            "lean": {
                "preset": "lean",
                "extractor": "types",
                "imports": ["Mathlib.Order.Basic"],
                "env": {"PATH": f"{tmp_path}:/usr/bin:/bin"},
            }
        },
    )
    plan = make_tools_plan(recipe)
    task = plan.tasks[0]
    assert task.argv[1:] == (
        "exe",
        "-q",
        "lean_scout",
        "--command",
        "types",
        "--imports",
        "Mathlib.Order.Basic",
    )
    assert plan.tool("lean").output == "types" and plan.tool("lean").protocol == "jsonl"


def test_check_prints_every_task_and_exits_2_on_a_bad_recipe(tmp_path: Path) -> None:
    quarry = str(Path(PY).parent / "quarry")
    recipe = write_recipe(tmp_path, {"t": emit_tool(["emit", "2", "{target}"], targets=["x", "y"])})
    done = subprocess.run([quarry, "check", str(recipe)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "t:x  [run]" in done.stdout and "t:y  [run]" in done.stdout
    assert json.dumps([os.path.abspath(PY), TOOL, "emit", "2", "x"]) in done.stdout
    assert "memory 0.29 GB, timeout 10 s" in done.stdout
    as_json = json.loads(
        subprocess.run([quarry, "check", str(recipe), "--json"], capture_output=True, text=True).stdout
    )
    assert [t["cache"] for t in as_json["tasks"]] == ["run", "run"]
    bad = write_recipe(tmp_path, {"t": {"command": [PY], "targets": ["a"], "timeout": 3}}, name="bad.toml")
    done = subprocess.run([quarry, "check", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2
    # (the main CLI's console wraps long lines at 80 columns when stderr is not a terminal)
    assert "".join(done.stderr.split()).startswith(
        "".join(f"error: {bad}: tools.t.timeout: unknown key.".split())
    )
    assert "Traceback" not in done.stderr

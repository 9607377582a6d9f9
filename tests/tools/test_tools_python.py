"""`{python}` is the interpreter running quarry (a venv's, even when the venv is not activated), and
`quarry check` says which executable every command resolves to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.tools.conftest import write_recipe

SRC = str(Path(__file__).resolve().parents[2] / "src")
PRINT_PREFIX = "import json, sys; print(json.dumps({'prefix': sys.prefix, 'exe': sys.executable}))"


@pytest.fixture(scope="module")
def env_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv (seeing this interpreter's packages), never activated: only its bin/python is used."""
    folder = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(folder)
    return folder / "bin" / "python"


def quarry(python: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "PATH": path if path is not None else os.environ["PATH"]}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(python), "-m", "codequarry", *args], capture_output=True, text=True, env=env, check=False
    )


def test_python_placeholder_runs_the_venv_interpreter_not_the_one_on_path(
    tmp_path: Path, env_python: Path
) -> None:
    tools = {
        "here": {"command": ["{python}", "-c", PRINT_PREFIX], "targets": ["a"], "schema": {"prefix": "str"}},
        "path": {"command": ["python3", "-c", PRINT_PREFIX], "targets": ["a"], "schema": {"prefix": "str"}},
    }
    recipe = write_recipe(tmp_path, tools)
    check = quarry(env_python, "check", str(recipe))
    assert check.returncode == 0, check.stderr
    lines = check.stdout.splitlines()
    assert f"  executable {{python}} -> {env_python}" in lines  # the venv's, its symlink kept
    on_path = next(line for line in lines if line.startswith("  executable python3 -> "))
    assert os.path.isabs(on_path.split(" -> ")[1])
    assert any(
        line.startswith("note: tools.path.command[0]: 'python3' resolves to") and "{python}" in line
        for line in lines
    )
    plan = json.loads(quarry(env_python, "check", str(recipe), "--json").stdout)
    assert {t["name"]: t["resolved"] for t in plan["tools"]}["here"] == {"{python}": str(env_python)}
    run = quarry(env_python, "run", str(recipe), "--quiet")
    assert run.returncode == 0, run.stderr
    rows = quarry(
        env_python, "sql", "SELECT prefix FROM here", "--store", str(tmp_path / ".quarry"), "-f", "json"
    )
    assert str(env_python.parent.parent) in rows.stdout, rows.stdout + rows.stderr


def test_check_names_the_absolute_path_of_every_command(tmp_path: Path) -> None:
    exe = tmp_path / "bin" / "mytool"
    exe.parent.mkdir()
    exe.write_text('#!/bin/sh\necho \'{"prefix": "x"}\'\n')
    exe.chmod(0o755)
    recipe = write_recipe(
        tmp_path, {"t": {"command": ["mytool"], "targets": ["a"], "schema": {"prefix": "str"}}}
    )
    check = quarry(Path(sys.executable), "check", str(recipe), path=f"{exe.parent}:{os.environ['PATH']}")
    assert check.returncode == 0, check.stderr
    assert f"  executable mytool -> {exe}" in check.stdout.splitlines()

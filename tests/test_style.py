"""The style and type checks, run by the README's test command (so by .ci/run) and by `pytest -m style`.

Each runs as the developer runs it, from the repository root with pyproject.toml's settings:
`ruff check`, `ruff format --check` (over src, tests and bench) and `mypy` (src; strict on the core
modules listed in [tool.mypy]). A failure shows the tool's own output.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["src", "tests", "bench"]

pytestmark = pytest.mark.style


def _tool(module: str) -> list[str]:
    """The command that runs ``module``: this interpreter's copy first (the test extra installs it)."""
    if importlib.util.find_spec(module) is not None:
        return [sys.executable, "-m", module]
    found = shutil.which(module)
    if found is None:
        pytest.skip(f"{module} is not installed: pip install -e '.[test]'")
    return [found]


def _check(cmd: list[str]) -> None:
    # mypy imports its plugin (codequarry.mypy_plugin) from this tree, whatever copy is installed
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{' '.join(cmd[2:] if cmd[0] == sys.executable else cmd)} failed:\n" + (
        done.stdout + done.stderr
    )


def test_ruff_check() -> None:
    _check([*_tool("ruff"), "check", *PATHS])


def test_ruff_format() -> None:
    _check([*_tool("ruff"), "format", "--check", *PATHS])


def test_mypy() -> None:
    _check([*_tool("mypy")])

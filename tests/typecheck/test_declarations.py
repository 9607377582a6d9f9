"""Declarations type-check: a plugin file mypy must pass, and one with deliberate errors it must fail.

mypy runs as a real subprocess from the repository root, so it reads pyproject.toml's [tool.mypy] (the
codequarry.mypy_plugin that types a @dataset class as a DatasetSpec) the way a developer's run does.
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[test]')"
)


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    """Strict mypy over one file; codequarry itself is read from src/ but its own errors are not ours."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary"]
    return subprocess.run(
        [*cmd, str(path.relative_to(ROOT))], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_plugin_file_passes_strict_mypy() -> None:
    done = _mypy(HERE / "plugin_ok.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_what_mypy_was_told_holds_at_run_time() -> None:
    """The plugin's claim is true: the declared classes are DatasetSpecs, the extractor's outputs."""
    from codequarry import DatasetSpec

    module = runpy.run_path(str(HERE / "plugin_ok.py"))
    specs = module["specs"]()
    assert all(isinstance(s, DatasetSpec) for s in specs)
    assert [s.name for s in specs] == ["acme_env_reads", "acme_env_counts", "acme_env_files"]
    assert module["EXTRACTOR"].outputs == (specs[0], specs[2])


def test_deliberate_type_errors_are_reported() -> None:
    """Each ``# error: code`` line is reported with that code, and nothing else is: an outputs list
    with an undeclared class, a wrong version type, a DatasetSpec attribute used with the wrong type
    (only the plugin knows its type), an extractor taking the wrong source type."""
    path = HERE / "plugin_bad.py"
    expected = {
        (n, m.group(1))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if (m := re.search(r"# error: ([\w-]+)$", line))
    }
    assert len(expected) == 4
    done = _mypy(path)
    assert done.returncode == 1, done.stdout + done.stderr
    found = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"plugin_bad\.py:(\d+): error: .*\[([\w-]+)\]$", done.stdout, re.M)
    }
    assert found == expected, done.stdout

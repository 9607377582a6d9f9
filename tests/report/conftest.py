"""Fixtures of the report tests: a source tree with findings, a broken file under a hostile name, and
the stores that extract and tool runs leave."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codequarry import extract, make_plan
from tests import paths
from tests.tools.conftest import emit_tool, fake_tamarin, write_recipe  # noqa: F401 (fake_tamarin: a fixture)

FIXTURE = paths.FIXTURES / "security" / "shop"
#: a file name that is also markup: a report must show it, never run it
HOSTILE = "<img src=x onerror=alert(1)>\"'.py"
QUARRY = [sys.executable, "-m", "codequarry"]


def quarry(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUARRY, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def make_tree(root: Path) -> Path:
    """The security fixture, plus a file with a syntax error under a hostile name."""
    shutil.copytree(FIXTURE, root)
    (root / HOSTILE).write_text("def broken(:\n    pass\n")
    (root / "notes.md").write_text("# notes\n")
    return root


@pytest.fixture
def extracted(tmp_path: Path) -> Path:
    """A store after one extract of make_tree's tree (two workers); returns the store folder."""
    src = make_tree(tmp_path / "shop")
    extract(make_plan([src], store=tmp_path / "store", workers=2))
    return tmp_path / "store"


def tools_recipe(folder: Path, targets: list[str] | None = None) -> Path:
    """A recipe whose tasks end ok, failed and timeout (targets may carry hostile names)."""
    names = targets or ["a", "b"]
    return write_recipe(
        folder,
        {
            "ok": emit_tool(["emit", "50", "{target}_"], targets=names),
            "bad": emit_tool(["exit", "3", "<b>boom</b>"], targets=names[:1]),
            "slow": emit_tool(
                ["sleep", "30"], targets=names[:1], resources={"timeout": 1, "memory": "200MB"}
            ),
        },
    )

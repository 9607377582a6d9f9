"""Each task sees quarry's environment as it is when the run starts, plus its tool's ``env`` (the
merged environment is made once per tool env of a run, not once per task, nor once per process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codequarry.tools.plan import make_tools_plan
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import PY, write_recipe


def test_tool_env_and_the_environment_of_each_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log"
    script = tmp_path / "env.py"
    script.write_text(
        "import os, sys\n"
        "with open(os.environ['LOG'], 'a') as fh:\n"
        "    fh.write(' '.join([sys.argv[1], os.environ.get('WHICH', '-'), os.environ['OUTER']]) + '\\n')\n"
    )
    tools = {
        name: {"command": [PY, str(script), "{target}"], "targets": [f"{name}1", f"{name}2"], "env": env}
        for name, env in (("a", {"LOG": str(log), "WHICH": "a"}), ("b", {"LOG": str(log)}))
    }
    recipe = write_recipe(tmp_path, tools)
    for outer in ("one", "two"):
        monkeypatch.setenv("OUTER", outer)
        log.unlink(missing_ok=True)
        summary = run_recipe(make_tools_plan(recipe), no_cache=True)
        assert summary.counts == {"ok": 4}
        assert sorted(log.read_text().split("\n")[:-1]) == [
            f"a1 a {outer}",
            f"a2 a {outer}",
            f"b1 - {outer}",
            f"b2 - {outer}",
        ]

"""A corpus file named like an option reaches a `quarry run` tool as a path (trust sweep 7).

``{target}``, ``{name}`` and ``{stem}`` of a file target are the file's name relative to the recipe's
``cwd``: a file ``-h`` (or ``--output=x``, ``-rf``) was passed as ``-h``, and the tool read it as an
option (argparse printed its help: no row, the task not ok, exit 1). An argument that such a
placeholder begins and that then starts with ``-`` is now passed as ``./-h``, the same relative path.
Checked against the old code: the ``-h`` row was missing and the run exited 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.conftest import quarry

TOOL = """import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("path")
args = parser.parse_args()
print(json.dumps({"arg": args.path, "text": open(args.path).read()}))
"""


@pytest.mark.parametrize("placeholder", ["{name}", "{target}", "{stem}"])
def test_a_file_named_like_an_option_is_passed_as_a_path(tmp_path: Path, placeholder: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "-h").write_text("secret\n")
    (src / "a").write_text("plain\n")
    (tmp_path / "tool.py").write_text(TOOL)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f"""[tools.cat]
command = ["{{python}}", "../tool.py", "{placeholder}"]
cwd = "src"
files = ["*"]
protocol = "jsonl"
schema = {{ arg = "string", text = "string" }}
"""
    )
    quarry("run", recipe, "-q", timeout=300)
    done = quarry(
        "sql", "-s", tmp_path / ".quarry", "-f", "json", "SELECT path, arg, text FROM cat ORDER BY path"
    )
    rows = json.loads(done.stdout)
    assert rows == [
        {"path": "-h", "arg": "./-h", "text": "secret\n"},
        {"path": "a", "arg": "a", "text": "plain\n"},
    ]

"""Helpers for the external-tool tests: a recipe writer and the stand-in tools of ``bin/``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BIN = Path(__file__).parent / "bin"
FIXTURES = Path(__file__).parent / "fixtures"
PY = sys.executable
TOOL = str(BIN / "tool.py")


def toml_key(key: str) -> str:
    """A bare key, or a quoted one ("location.row" stays one key: unquoted it would nest)."""
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def toml_value(value: object) -> str:
    """A Python value as TOML (strings, numbers, bools, lists and inline tables are enough here)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def write_recipe(
    folder: Path,
    tools: dict[str, dict[str, object]],
    resources: dict[str, object] | None = None,
    name: str = "recipe.toml",
    extra: str = "",
) -> Path:
    lines = ["[resources]"]
    for k, v in {
        "max_cores": 2,
        "max_memory": 4,
        "default_timeout": 20,
        "grace": 0.5,
        **(resources or {}),
    }.items():
        lines.append(f"{k} = {toml_value(v)}")
    for tool, settings in tools.items():
        lines.append(f"\n[tools.{tool}]")
        for k, v in settings.items():
            lines.append(f"{k} = {toml_value(v)}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


RECORDS = {"name": "str", "n": "int", "tags": "list[str]?"}


def emit_tool(mode: list[str], **more: object) -> dict[str, object]:
    """A JSON-lines tool running bin/tool.py with the records schema of its `emit` mode."""
    return {
        "command": [PY, TOOL, *mode],
        "schema": RECORDS,
        "resources": {"memory": "300MB", "timeout": 10},
        **more,
    }


@pytest.fixture
def fake_tamarin(tmp_path: Path) -> Path:
    """bin/fake_tamarin.py as an executable named tamarin-prover, run by this interpreter."""
    exe = tmp_path / "bin" / "tamarin-prover"
    exe.parent.mkdir(parents=True, exist_ok=True)
    body = (BIN / "fake_tamarin.py").read_text().split("\n", 1)[1]
    exe.write_text(f"#!{PY}\n{body}")
    exe.chmod(0o755)
    return exe

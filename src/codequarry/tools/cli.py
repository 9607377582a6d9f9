"""The `quarry run`, `quarry check` and `quarry cache` commands (registered on the main app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the external-tool commands to the `quarry` app (they land with the tools package)."""
    return None

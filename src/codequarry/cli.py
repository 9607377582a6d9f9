"""The `quarry` command's entry point. Exit codes: 0 ok, 1 the run finished with errors under
--strict, 2 usage or input error, 130 interrupted.

It imports nothing heavy: a `quarry extract` that has nothing to do is answered by the fast path
(fastpath.py) before typer, rich, pyarrow or deltalake are imported; any other `quarry extract` line
the fast path's parser reads runs without typer (cli_lean.py); every other command line goes to the
typer app (cli_app.py), importable here as ``codequarry.cli.app``.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Entry point: the no-op fast path when it can answer, else `extract` without typer, else the
    typer app."""
    from codequarry.fastpath import try_fast_path

    code = try_fast_path(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from codequarry.cli_lean import main as run_lean

    code = run_lean(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from codequarry.cli_app import main as run_app

    run_app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from codequarry.cli_app import app

        return app
    raise AttributeError(f"module 'codequarry.cli' has no attribute {name!r}")


if __name__ == "__main__":
    main()

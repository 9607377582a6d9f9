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
    import os

    # Arrow's C++ default pool (what Parquet readers, the dataset scanner and compute kernels use,
    # whatever pa.set_memory_pool says) is chosen once, before pyarrow is imported: the system
    # allocator gives freed buffers back, where mimalloc kept ~150 MB of a 3-stdlib run's reuse
    # copies resident to the end of the run (docs/scale.md). ARROW_DEFAULT_MEMORY_POOL set by the
    # user wins; the forked workers inherit it (their CPU was unchanged within the noise)
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    try:
        from codequarry.fastpath import try_fast_path

        code = try_fast_path(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        from codequarry.cli_lean import main as run_lean

        code = run_lean(sys.argv[1:])
    except BrokenPipeError:
        # the reader of stdout went away (`quarry extract ... | head -1`) after the run: what it did
        # stands; exit 1 as the typer commands do (click), with neither a traceback nor a second
        # error when Python flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
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

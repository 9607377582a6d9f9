"""What every `quarry` command module shares: the consoles, the ``--store`` option and how a
command finds its store, the process state (``--debug``, SIGTERM) and the exit code of a run cut
short.

It sits below :mod:`codequarry.cli` and the command modules it registers (``tools/cli.py``,
``report/cli.py``, ``serve/cli.py``, ``repos_cli.py``, ``watch.py``), so none of them imports the
main CLI module back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from codequarry.errors import StoreError

if TYPE_CHECKING:
    from codequarry.store import Store

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # an error is one line, even when piped
state: dict[str, bool] = {"debug": False, "sigterm": False}  # set by the app's callback and SIGTERM

StoreOpt = Annotated[
    Path | None, typer.Option("--store", "-s", help="Store folder (default: nearest .quarry/).")
]
"""--store of a command that reads or changes an existing store."""

SourceStoreOpt = Annotated[
    Path | None, typer.Option("--store", "-s", help="Store folder (default: SOURCE/.quarry).")
]
"""--store of a command that extracts sources (the store is made beside the first one)."""


def _own_store(found: Path) -> Path:
    """A store found above the current folder, refused when a repository brought it: a symbolic link
    (to any store) or a folder its git index tracks. Its facts were written by whoever committed it;
    `quarry extract` refuses such a store, and a query found it by itself and answered from it."""
    if found.is_symlink():
        raise StoreError(f"the store found at '{found}' is a symbolic link: name the store with --store")
    from codequarry.repos import refuse_shipped_store

    refuse_shipped_store(found)
    return found


def find_store(store: Path | None) -> Path:
    """--store, else the nearest .quarry/ in the current folder or a parent folder."""
    if store is not None:
        return store
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / ".quarry" / "store.json").is_file():
            return _own_store(folder / ".quarry")
    raise StoreError(
        "no store here: no .quarry/ in this folder or its parents; pass --store or run 'quarry extract .'"
    )


def open_store(store: Path | None) -> Store:
    """The store --store names (or the nearest one), opened: a folder that is not a store is an error."""
    from codequarry.store import Store

    return Store.open(find_store(store))


def interrupt_code() -> int:
    """The exit code of a run stopped by Ctrl-C (130) or SIGTERM (143)."""
    return 143 if state.get("sigterm") else 130


def wide() -> Console:
    """The console for tables: the terminal, or an unbounded width when piped (never wrapped)."""
    return out if out.is_terminal else Console(highlight=False, width=100_000)

"""The one check before a report or export replaces the file a user named: nothing is lost by it.

An OUT is refused (one line, exit 2) inside the store (it could replace store.json or a table's
part), as a folder, as anything that is not a regular file (a FIFO would block, a device or link be
replaced), and as a file that is not an earlier output of the same kind (a user's own file).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from codequarry.errors import UsageError


def check_replaceable(
    out: str | Path,
    store_path: str | Path | None,
    *,
    kind: str,
    example: str,
    ours: Callable[[Path], bool],
) -> None:
    """Refuse ``out`` (see the module) for an output of ``kind`` ("HTML report", "SARIF export"),
    ``example`` being a file name to suggest in a folder and ``ours`` telling an earlier output of
    this kind from any other file (it is handed a regular file, and may raise OSError)."""
    path = Path(out).expanduser()
    resolved = path.resolve()
    store = Path(store_path).resolve() if store_path else None
    if store is not None and (resolved == store or store in resolved.parents):
        raise UsageError(f"'{out}' is inside the store '{store_path}'; write the {kind} somewhere else")
    if path.is_dir():
        raise UsageError(f"'{out}' is a folder: the {kind} is one file (e.g. {Path(out) / example})")
    if not os.path.lexists(path):
        return
    if not path.is_file():
        raise UsageError(f"'{out}' exists and is not a regular file; choose a new file name")
    try:
        mine = ours(path)
    except OSError as exc:
        raise UsageError(f"cannot read '{out}' to check it: {exc.strerror or exc}") from None
    if not mine:
        raise UsageError(f"'{out}' exists and is not a codequarry {kind}; choose a new file name")

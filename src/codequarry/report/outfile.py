"""The one check before a report or export replaces the file a user named: nothing is lost by it.

Every such output is written by :func:`replace_file`. An OUT is refused (one line, exit 2) inside the store (it could replace store.json or a table's
part), as a folder, as anything that is not a regular file (a FIFO would block, a device or link be
replaced), and as a file that is not an earlier output of the same kind (a user's own file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

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


def replace_file(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` with ``write`` through a new file renamed over it: a new, unguessable name
    opened O_EXCL (a link planted at a fixed name is never written through), mode 0644 as a plain
    write would leave it (not mkstemp's 0600), and a reader sees the old file or the whole new one.
    The temporary file is removed when anything fails; the error is the caller's to word."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

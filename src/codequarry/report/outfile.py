"""The one check before a command replaces a file a user named: nothing is lost by it.

Every such output (``report --html``, ``export -f sarif``, ``sql -o``, ``run --report``) is checked by
:func:`check_replaceable` and written by :func:`replace_file`. An OUT is refused (one line, exit 2)
inside the store (it could replace store.json or a table's part) and when it exists and is not a
regular file (a FIFO would block, a device or link be replaced). Two switches tell the outputs apart:
``folder_must_exist`` (``sql -o`` does not create folders) and ``ours`` (a report or an export
replaces only an earlier output of its kind, never a user's own file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from codequarry.errors import UsageError


def check_replaceable(
    out: str | Path,
    store_path: str | Path | None,
    *,
    kind: str,
    example: str | None = None,
    ours: Callable[[Path], bool] | None = None,
    folder_must_exist: bool = False,
    fix: str = "choose a new file name",
    also: Iterable[Path] = (),
) -> None:
    """Refuse ``out`` (see the module) for an output of ``kind`` ("HTML report", "result", ...).
    ``example``: a file name to suggest when ``out`` is a folder (None: a folder is refused as not
    a regular file). ``ours``: tells an earlier output of this kind from any other file (it is
    handed a regular file, and may raise OSError); None: any regular file may be replaced.
    ``folder_must_exist``: refuse an ``out`` whose folder is missing. ``fix``: what to do instead,
    after "exists and is not a regular file". ``also``: more paths the command writes beside
    ``out`` (checked as not regular files too)."""
    path = Path(out).expanduser()
    resolved = path.resolve()
    store = Path(store_path).resolve() if store_path else None
    if store is not None and (resolved == store or store in resolved.parents):
        raise UsageError(f"'{out}' is inside the store '{store_path}'; write the {kind} somewhere else")
    if example is not None and path.is_dir():
        raise UsageError(f"'{out}' is a folder: the {kind} is one file (e.g. '{Path(out) / example}')")
    parent = path.parent if str(path.parent) else Path(".")
    if folder_must_exist and not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise UsageError(
            f"cannot write '{out}': its folder '{parent}' {what}; create it first (mkdir -p '{parent}')"
        )
    for each in (path, *also):
        if os.path.lexists(each) and not each.is_file():
            raise UsageError(f"'{each}' exists and is not a regular file; {fix}")
    if ours is None or not os.path.lexists(path):
        return
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

"""Turning a failure met inside the store into one line: which table, what is wrong, what to do.

A truncated Parquet part, a missing Delta log, a full disk or a read-only mount surface as errors of
pyarrow, deltalake (sometimes a Rust panic) or the OS, deep inside a read or a commit. ``store_errors``
wraps a phase of work on a store and re-raises any of them as a StoreError (exit code 2) naming the
damaged table (found from the path in the message) and the fix; errors that are none of these pass
through unchanged, so that real bugs still show their traceback.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from codequarry.errors import QuarryError, StoreError
from codequarry.store.store import FIX, TABLE_NAME, Store, TableState, arrow_table, damaged, first_line

_FULL = ("no space left on device", "disk quota exceeded", f"errno {errno.ENOSPC}]")
_READ_ONLY = ("read-only file system", f"errno {errno.EROFS}]")


def table_in(store: Store, text: str) -> str | None:
    """The table whose folder a message names, if any (``.../tables/<name>/...``)."""
    for root in (str(store.tables_dir), "tables"):
        m = re.search(re.escape(root) + r"/([^/\s'\"]+)", text)
        if m and TABLE_NAME.fullmatch(m.group(1)):
            return m.group(1)
    return None


def _reason(table: str, text: str) -> str:
    """'its file part-x.parquet cannot be read (what the reader said last)' from a nested message."""
    line = first_line(text)
    m = re.search(r"tables/" + re.escape(table) + r"/([^/\s'\":]+)", line)
    last = line.rsplit(": ", 1)[-1].strip() or line
    if m:
        return f"its file {m.group(1)} cannot be read ({last[:160]})"
    return line[:240]


def _kind(exc: BaseException, text: str) -> str | None:
    low = text.lower()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) or any(k in low for k in _FULL):
        return "full"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS or any(k in low for k in _READ_ONLY):
        return "read-only"
    if isinstance(exc, PermissionError) or "permission denied" in low:
        return "forbidden"
    return None


def translate(store: Store, exc: BaseException, doing: str, live: int | None = None) -> StoreError | None:
    """The StoreError that explains ``exc``, or None when it is not a store problem."""
    cause = exc.__cause__ if isinstance(exc, QuarryError) and exc.__cause__ is not None else exc
    text = f"{exc}\n{cause}" if cause is not exc else str(exc)
    kind = _kind(cause, text)
    table = table_in(store, text)
    where = f" (table '{table}')" if table else ""
    kept = f"snapshot {live} is still live and readable" if live else "nothing was published"
    if kind == "full":
        return StoreError(
            f"store '{store.path}': no space left on the device while {doing}{where}; {kept}; "
            "free some space (or pass --store on another disk) and run again"
        )
    if kind in ("read-only", "forbidden"):
        what = (
            "is on a read-only file system"
            if kind == "read-only"
            else "cannot be written (permission denied)"
        )
        return StoreError(
            f"store '{store.path}' {what} while {doing}{where}; readers such as 'quarry sql' "
            "still work; to write, make it writable or pass --store elsewhere"
        )
    if table is not None:
        return damaged(store, table, _reason(table, text))
    if _from_deltalake(cause):  # deltalake failed (or its Rust code panicked) on something it read
        table = _unreadable_table(store)
        if table is not None:
            return damaged(store, table, f"{table_problem(store, table) or first_line(cause)}")
        return StoreError(
            f"store '{store.path}' could not be read while {doing} ({first_line(cause)}); {FIX}"
        )
    return None


def _from_deltalake(exc: BaseException) -> bool:
    """An error of deltalake's own (DeltaError and its kinds) or a panic of its Rust code."""
    if type(exc).__name__ == "PanicException":
        return True
    try:
        from deltalake.exceptions import DeltaError
    except ImportError:  # pragma: no cover - deltalake is a core dependency
        return False
    return isinstance(exc, DeltaError)


def _unreadable_table(store: Store) -> str | None:
    """The first table of the live snapshot whose log cannot be read (on an error's path only)."""
    try:
        snap = store.snapshot()
    except StoreError:
        return None
    for name in sorted(snap.tables if snap else {}):
        if table_problem(store, name) is not None:
            return name
    return None


def table_problem(store: Store, name: str) -> str | None:
    """What makes the log of table ``name`` unreadable beyond its published version, or None.

    A commit after the published version is a run that died before publishing: the next writer
    reads it to roll it back. A hand-made or truncated one (a ``{}`` line, half a JSON object) makes
    deltalake fail there, so it is damage to name (and for ``quarry doctor --repair`` to rebuild),
    not a traceback."""
    snap = store.snapshot()
    state = snap.tables.get(name) if snap else None
    if state is None:
        return None
    return unpublished_tail_problem(store, name, state)


def unpublished_tail_problem(store: Store, name: str, state: TableState) -> str | None:
    """See ``table_problem``: None when no commit follows ``state.version`` or they all read."""
    import os

    log = store.table_path(name) / "_delta_log"
    if not os.path.lexists(log / f"{state.version + 1:020d}.json"):
        return None
    try:
        from deltalake import DeltaTable

        table = DeltaTable(str(log.parent))
        table.history(limit=max(1, table.version() - state.version))
    except BaseException as exc:  # deltalake may panic on a damaged log
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return f"a commit after the published version {state.version} cannot be read ({first_line(exc)})"
    return None


def recorded_rows(table: Any) -> int | None:
    """The rows the live files of a DeltaTable hold by their log's statistics (None if unknown)."""
    actions = arrow_table(table.get_add_actions(flatten=False))
    if not actions.num_rows:
        return 0
    if "num_records" not in actions.column_names or actions.column("num_records").null_count:
        return None
    return sum(int(n) for n in actions.column("num_records").to_pylist())


def open_live(store: Store, name: str, state: TableState) -> Any:
    """Table ``name`` at its published version, checked against the snapshot: a log that replays to
    other rows than the snapshot recorded (a commit replaced by ``{}`` or emptied reads as a valid,
    emptier table) is damage, never a silently different answer. A StoreError names it."""
    table = store.open_delta(name, state.version)
    rows = recorded_rows(table)
    if rows is not None and rows != state.rows:
        raise damaged(
            store,
            name,
            f"the snapshot records {state.rows} rows at version {state.version} but its log names "
            f"files holding {rows}",
        )
    return table


@contextmanager
def store_errors(store: Store, doing: str, live: int | None = None) -> Iterator[None]:
    """Re-raise store failures inside the block as one-line StoreErrors (see ``translate``)."""
    try:
        yield
    except StoreError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a Rust panic is a BaseException
        better = translate(store, exc, doing, live)
        if better is None:
            raise
        raise better from exc

"""State an operation keeps between its runs in one long-lived process (``quarry watch``).

An operation that builds a costly structure from its inputs (a class graph, an index of bases) can
keep it between runs and update it from the rows that changed instead of rebuilding it:
:meth:`codequarry.operations.OperationContext.kept`. This module holds those states, each under
(store, operation name and version, the operation's function, a tag), with the exact inputs it was
built from: the Delta version of every declared input and which file the log entry of that version
is (inode, mtime, size; as store/warm.py checks a handle).

A state is handed to an update only when the inputs it was built from are exactly the versions the
operation last ran on (``ctx.before``), each log entry still the same file, or versions before them
followed only by commits that change no row (a compaction); the update then sees the
rows of the files that changed since (``ctx.changed``, ``ctx.changed_rows``, ``ctx.before``). On any
doubt the state is dropped and built again from the inputs: another writer ran the operation
meanwhile (its recorded versions are not this state's), a run failed after the update (the snapshot
still names the old versions), a table was rebuilt (another log file), the operation's version or
function changed, the changed files cannot be told, or a new process. A state being updated is taken
out of the registry first, so an update that raises leaves nothing half-updated behind. Correctness
never depends on a state: a rebuild gives what the update would.

Off unless the warm store is on (store/warm.py, enabled by ``partcache.enable``): a one-run CLI
process would only hold memory longer. Thread-safe: operations of one DAG layer run in threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codequarry.store import warm

#: a table version and which file its log entry is
Stamp = tuple[int, warm.Ident | None]

_lock = threading.Lock()
_states: dict[tuple[str, str, int, str], Kept] = {}


@dataclass
class Kept:
    """One operation's state and the inputs it stands for."""

    func: Any  # the operation's function: a re-imported plugin is another operation
    inputs: dict[str, Stamp]
    value: Any


def enabled() -> bool:
    return warm.enabled()


def clear() -> None:
    """Forget every state (the warm store is switched off)."""
    with _lock:
        _states.clear()


def stamps(folders: Mapping[str, str], versions: Mapping[str, int]) -> dict[str, Stamp] | None:
    """Each input's version and log entry file (``folders``: table -> its folder); None when a log
    entry is gone (cleaned up after a checkpoint): such versions cannot be vouched for."""
    out: dict[str, Stamp] = {}
    for name, version in versions.items():
        at = warm.ident(folders[name], version)
        if at is None:
            return None
        out[name] = (version, at)
    return out


def stands_for(kept: Kept, folders: Mapping[str, str], versions: Mapping[str, int]) -> bool:
    """Does ``kept`` stand for the inputs at ``versions``: built from exactly those versions, or from
    earlier ones followed only by versions that change no row (a compaction's OPTIMIZE, a VACUUM,
    recorded by store/warm.py as this process read them), each log entry still the same file?"""
    if set(kept.inputs) != set(versions):
        return False
    for name, version in versions.items():
        at, ident = kept.inputs[name]
        if at > version or warm.ident(folders[name], at) != ident:
            return False
        if at < version and warm.changes(folders[name], at, version) != frozenset():
            return False
    return True


def take(key: tuple[str, str, int, str], func: Any) -> Kept | None:
    """Remove and return the state under ``key`` (None: there is none, or another function's)."""
    with _lock:
        got = _states.pop(key, None)
    return got if got is not None and got.func is func else None


def put(key: tuple[str, str, int, str], kept: Kept) -> None:
    if not enabled():
        return
    with _lock:
        _states[key] = kept


def count() -> int:
    """How many states are kept (for tests)."""
    with _lock:
        return len(_states)

"""Finding every process of a task without a cgroup: a child subreaper and a token in the environment.

A task's children may leave its session (``setsid``), its process group (``setpgid``) or its
tree (a double fork: the grandchild is orphaned). Without a cgroup (``cgroup.py``) the runner
finds them this way:

- the runner process becomes a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``) while such tasks
  run, so an orphan is re-parented to it instead of to init: it stays in the runner's process tree;
- each task's environment carries ``QUARRY_TASK_TOKEN=<random>``, inherited by every descendant,
  so an orphan among the runner's children is attributed to its task by reading its environment.

A task's processes are then: the descendants of its main process, plus the orphans carrying its
token and their descendants. The runner reaps the orphans it kills (they are its children now).
A process that both detaches and clears its environment before its parent dies escapes this
fallback (not a cgroup): documented in docs/tools.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from typing import Any

TOKEN_VAR = "QUARRY_TASK_TOKEN"
PR_SET_CHILD_SUBREAPER = 36

_lock = threading.Lock()
_users = 0  # running tasks that need this process to be a subreaper


def _prctl(on: int) -> bool:
    try:
        libc: Any = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def acquire() -> bool:
    """Make this process a child subreaper while a task needs it; False where the system refuses.
    Each True must be followed by one :func:`release`, after the task's processes are gone."""
    global _users
    with _lock:
        if _users == 0 and not _prctl(1):
            return False
        _users += 1
        return True


def release() -> None:
    """The last task that needed it has ended: orphans go to init again, as for any other process."""
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            _prctl(0)


def _children_files() -> bool:
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


HAVE_CHILDREN_FILES = _children_files()


def children_of(pid: int) -> list[int]:
    """The children of one process, from /proc/PID/task/*/children (no scan of every process)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def parents() -> dict[int, list[int]]:
    """ppid -> child pids, from one pass over /proc (zombies included)."""
    out: dict[int, list[int]] = {}
    try:
        entries = os.scandir("/proc")
    except OSError:
        return out
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            rest = stat[stat.rfind(b")") + 2 :].split()
            if len(rest) > 1:
                out.setdefault(int(rest[1]), []).append(int(entry.name))
    return out


class _Lazy(dict[int, list[int]]):
    """ppid -> children, read per process on demand (what :func:`subtree` visits, nothing more)."""

    def get(self, pid: int, default: object = None) -> list[int]:  # type: ignore[override]
        if pid not in self:
            self[pid] = children_of(pid)
        return self[pid]


def child_map() -> dict[int, list[int]]:
    return _Lazy() if HAVE_CHILDREN_FILES else parents()


def subtree(children: dict[int, list[int]], roots: list[int]) -> set[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
    return seen


def has_token(pid: int, token: bytes) -> bool | None:
    """Does the process carry the token? None when its environment cannot be read right now (a
    process in the middle of an exec, or just forked): the caller asks again rather than guess."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if not data:
        return None
    return token in data.split(b"\0")


class TaskTree:
    """The processes of one task: its main process's tree, and orphans carrying its token."""

    def __init__(self, root: int, token: str) -> None:
        self.root = root
        self.token = f"{TOKEN_VAR}={token}".encode()
        self.orphans: set[int] = set()  # pids re-parented to us that are this task's
        self._judged: dict[int, bool] = {}
        self.born: int | None = None  # the main process's start time (clock ticks since boot)
        self.unknown: set[int] = set()  # children of ours whose token could not be read on the last pass

    def members(self) -> set[int]:
        """Every live process of the task now (one /proc pass)."""
        children = child_map()
        me = os.getpid()
        self.unknown = set()
        for pid in children.get(me, []):
            if pid == self.root or pid in self.orphans:
                continue
            verdict = self._judged.get(pid)
            if verdict is None:
                verdict = has_token(pid, self.token)
                if verdict is None:  # unreadable this instant: judged again on the next pass
                    if not _zombie(pid):
                        self.unknown.add(pid)
                    continue
                self._judged[pid] = verdict
            if verdict:
                self.orphans.add(pid)
        return subtree(children, [self.root, *self.orphans])

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process of the task but the main one (the caller reaps that), reap the orphans,
        and repeat until none is left; True when none is."""
        end = time.monotonic() + timeout
        while True:
            left = self.members() - {self.root}
            left = {p for p in left if not _zombie(p)}
            self._reap()
            if not left and not self.unknown:
                return True
            if time.monotonic() > end:
                return False
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def _reap(self) -> None:
        for pid in list(self.orphans):
            try:
                got, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                self.orphans.discard(pid)
                continue
            if got == pid:
                self.orphans.discard(pid)


def reap(pids: set[int] | list[int], timeout: float = 1.0) -> None:
    """Reap those of ``pids`` that are dead children of this process (orphans re-parented to it while it
    is a subreaper); pids that are not its children are left alone."""
    todo = set(pids)
    end = time.monotonic() + timeout
    while todo:
        for pid in list(todo):
            try:
                got, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                todo.discard(pid)
                continue
            if got == pid:
                todo.discard(pid)
        if not todo or time.monotonic() > end:
            return
        time.sleep(0.005)


_roots: set[int] = set()  # main processes of running tasks: their own thread waits for them


def register(pid: int, running: bool) -> None:
    with _lock:
        (_roots.add if running else _roots.discard)(pid)


def _stat(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return []
    return stat[stat.rfind(b")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot), from /proc."""
    fields = _stat(pid)
    return int(fields[19]) if len(fields) > 19 else None


def reap_strays(root: int, since: int | None) -> None:
    """Reap the dead orphans of a task that were re-parented here: zombie children of this process that
    are no running task's main process and were born after the task's main process (e.g. the middle
    process of a double fork, which died before anyone could read its token)."""
    with _lock:
        active = _users > 0
    if since is None or not active:  # not a subreaper now: no orphan comes here, and the process's
        return  # other dead children belong to whoever started them
    mine = []
    for pid in children_of(os.getpid()) if HAVE_CHILDREN_FILES else parents().get(os.getpid(), []):
        fields = _stat(pid)
        with _lock:
            running = pid in _roots
        if (
            len(fields) > 19
            and fields[0] == b"Z"
            and not running
            and pid != root
            and int(fields[19]) >= since
        ):
            mine.append(pid)
    reap(mine, timeout=0)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"Z", b"X")

"""One writer per store: an advisory lock (flock) on ``lock``, holding the owner's pid for messages.

The kernel drops a flock when its holder dies, so a lock left behind by a killed run is simply taken
over by the next one; the pid written inside serves only to name the running process. The lock is
re-entrant within a thread, so that library functions that write (``compact``, clearing the tool
cache) take it themselves and still work when called by a run that already holds it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from types import TracebackType

from codequarry.errors import StoreError, StoreLockedError
from codequarry.store.store import os_fix, os_reason

#: how long a process that lost the race waits for the winner to write its pid into the lock file
HOLDER_WAIT = 5.0
#: the lock file is opened without following a symlink (it is written) nor blocking (a FIFO)
_NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_held = threading.local()  # per thread: {lock path: depth}


def _alive(holder: dict[str, object]) -> bool:
    """Does the record name a live process? (A record left by a killed run names a dead one.)"""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WriterLock:
    def __init__(self, store_path: Path) -> None:
        self.path = Path(store_path) / "lock"
        self._fd: int | None = None
        self._nested = False

    def _depths(self) -> dict[str, int]:
        if not hasattr(_held, "depths"):
            _held.depths = {}
        depths: dict[str, int] = _held.depths
        return depths

    def acquire(self) -> None:
        key = os.path.realpath(self.path)
        depths = self._depths()
        if depths.get(key):
            depths[key] += 1
            self._nested = True
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO):
                raise StoreError(
                    self._not_a_file("a symlink" if exc.errno == errno.ELOOP else "a socket")
                ) from None
            raise StoreError(
                f"store '{self.path.parent}' cannot be written: {os_reason(exc)}; {os_fix(exc)}"
            ) from None
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            regular = False
        if not regular:  # a FIFO or a device: never written to, nor read from
            os.close(fd)
            raise StoreError(self._not_a_file("not a regular file"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._wait_for_holder()
            os.close(fd)
            raise StoreLockedError(self._busy(holder)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(
                fd,
                json.dumps(
                    {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
                ).encode(),
                0,
            )
            # not synced: the record only names the holder to a process that finds the lock taken,
            # and no lock outlives a crash of the machine (an fsync cost a run ~3-25 ms of wall)
        except OSError:
            pass  # a full disk: the lock holds all the same; only the holder's name is missing
        self._fd = fd
        depths[key] = 1

    def _wait_for_holder(self) -> dict[str, object]:
        """The holder's record. A process that won the lock an instant ago may not have written it
        yet: wait for it (briefly), so that the message always names the holder."""
        deadline = time.monotonic() + HOLDER_WAIT
        while True:
            holder = self.holder()
            if _alive(holder) or time.monotonic() > deadline:
                return holder
            time.sleep(0.01)

    def _busy(self, holder: dict[str, object]) -> str:
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder.get("pid") else "another process"
        since = holder.get("started")
        when = (
            f", running since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(since)))}"
            if isinstance(since, int | float)
            else ""
        )
        return (
            f"store '{self.path.parent}' is being written by {who}{when}; wait for it to finish "
            "(readers such as 'quarry sql' work meanwhile)"
        )

    def _not_a_file(self, what: str) -> str:
        # the lock is written (the holder's pid): through a symlink that wrote a file outside the store
        return (
            f"store '{self.path.parent}': its lock file '{self.path.name}' is {what}, which the store "
            "never makes; remove it (it holds only the writer's pid) and run again"
        )

    def holder(self) -> dict[str, object]:
        from codequarry.store.metafile import read_text

        try:
            data = json.loads(read_text(self.path) or "{}")
        except (OSError, ValueError):
            return {}
        return dict(data) if isinstance(data, dict) else {}

    def release(self) -> None:
        key = os.path.realpath(self.path)
        depths = self._depths()
        if self._nested:
            depths[key] -= 1
            self._nested = False
            return
        if self._fd is not None:
            depths.pop(key, None)
            try:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

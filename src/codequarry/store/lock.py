"""One writer per store: an advisory lock (flock) on ``lock``, holding the owner's pid for messages.

The kernel drops a flock when its holder dies, so a lock left behind by a killed run is simply taken
over by the next one; the pid written inside serves only to name the running process.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from codequarry.errors import StoreLockedError


class WriterLock:
    def __init__(self, store_path: Path) -> None:
        self.path = store_path / "lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.holder()
            os.close(fd)
            who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "another process"
            since = holder.get("started") if holder else None
            when = f", running since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}" if since else ""
            raise StoreLockedError(
                f"store '{self.path.parent}' is being written by {who}{when}; wait for it to finish "
                "(readers such as 'quarry sql' work meanwhile)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode())
        os.fsync(fd)
        self._fd = fd

    def holder(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.path.read_text() or "{}"))
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

"""A task's stdout and stderr read in bounded chunks and split into lines: a line longer than
``MAX_LINE`` bytes is cut (its head and length reported as a ``Cut``), so a tool printing gigabytes
without a newline costs the runner at most that much."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_LINE = 8 << 20  # bytes: a longer stdout line is cut (and reported), so the runner's memory stays bounded
READ_CHUNK = 1 << 20  # bytes read from a pipe at a time


@dataclass(frozen=True)
class Cut:
    """A stdout line longer than MAX_LINE: its first bytes, and how long it was."""

    head: bytes
    length: int


PIPE_SIZE = 1 << 20  # bytes a task's pipe holds (Linux's default is 64 kB)


def widen(fd: int) -> None:
    """Let the pipe hold PIPE_SIZE bytes (Linux; best effort): a tool printing a flood of lines then
    wakes the runner every megabyte instead of every 64 kB, and on a busy machine each wake-up of
    the tool and of the runner waits its turn for a core."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setsize, PIPE_SIZE)


class Pipe:
    """One pipe read in bounded chunks, its lines handed out; read by the task's own thread when the
    monitor's poll says it is readable (no reader threads: two thread starts a task cost more than a
    trivial task itself on a loaded machine)."""

    def __init__(
        self,
        stream: Any,
        on_lines: Callable[[list[bytes]], None],
        on_cut: Callable[[Cut], None],
        on_error: Callable[[str], None],
        on_block: Callable[[bytes | memoryview, int, bytes], None] | None = None,
    ) -> None:
        self.stream, self.fd = stream, stream.fileno()
        widen(self.fd)
        self.on_lines, self.on_cut, self.on_error = on_lines, on_cut, on_error
        # given: whole lines handed out as one block (no object per line): on_block(block, its number
        # of lines, the head of its first line read before), the head and the block whole lines together
        self.on_block = on_block
        self.partial = bytearray()
        self.overlong = 0  # bytes of a line being skipped past MAX_LINE (0: not skipping)
        self.head = b""
        self.open = True

    def read(self) -> None:
        """Read once (the fd is readable); at EOF hand out the last partial line and mark it done."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except OSError:
            data = b""
        try:
            if data:
                self._feed(data)
            else:
                self.open = False
                if self.overlong:
                    self.on_cut(Cut(self.head, self.overlong))
                elif self.partial:
                    self.on_lines([bytes(self.partial)])
        except Exception as exc:  # a bug in a line handler must not leave the task hanging
            self.open = False
            self.on_error(f"reading the output failed: {type(exc).__name__}: {exc}")

    def _feed(self, data: bytes) -> None:
        """Split a chunk into lines, handed out together (one call per chunk, not per line)."""
        partial = self.partial
        if self.on_block is not None and not self.overlong and len(partial) + len(data) <= MAX_LINE:
            end = data.rfind(b"\n") + 1  # no line here can be longer than MAX_LINE: no cut to look for
            if end:  # no copy of the chunk: a view of its whole lines, after the partial line before it
                head = bytes(partial)
                partial.clear()
                self.on_block(
                    memoryview(data)[:end] if end < len(data) else data, data.count(b"\n", 0, end), head
                )
            partial += data[end:]
            return
        pieces = data.split(b"\n")
        if not partial and not self.overlong and max(map(len, pieces)) < MAX_LINE:  # the usual case
            tail = pieces.pop()
            if pieces:
                self.on_lines([p + b"\n" for p in pieces])
            partial += tail
            return
        lines: list[bytes] = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            if self.overlong:
                self.overlong += len(piece) + (0 if last else 1)
            elif len(partial) + len(piece) > MAX_LINE:
                self.head = bytes(partial[:1024]) if partial else piece[:1024]
                self.overlong = len(partial) + len(piece) + (0 if last else 1)
                partial.clear()
            elif last:
                partial += piece
                continue
            if last:
                continue
            if self.overlong:
                if lines:  # in order: the lines before the cut first
                    self.on_lines(lines)
                    lines = []
                self.on_cut(Cut(self.head, self.overlong))
                self.overlong = 0
            elif partial:
                partial += piece
                partial += b"\n"
                lines.append(bytes(partial))
                partial.clear()
            else:
                lines.append(piece + b"\n")
        if lines:
            self.on_lines(lines)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.close()

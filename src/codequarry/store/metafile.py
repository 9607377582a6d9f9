"""How the store's own small files are read: ``store.json``, ``snapshot.json``, ``snapshots/*.json``,
``keys/*.json``, ``progress.json``.

A store can come from elsewhere (an archive, a copy, a repository that shipped one): each of these was
read with a plain ``open``, so a symlink to ``/dev/zero`` in its place filled memory (a MemoryError
traceback, or the whole machine), a FIFO held every command forever, and a symlink to a file outside
the store was read as the store's. They are opened without following a symlink and without blocking,
must be regular files, and are read no further than a bound; anything else is an ``OSError`` saying
what it is, which each caller already reports as a damaged or missing file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from codequarry.corpus_io import OPEN_FLAGS

#: the bound of a snapshot, the store's marker or a progress record (each a few KB)
SMALL = 64 << 20


def read_bytes(path: str | Path, limit: int = SMALL) -> bytes:
    """The bytes of the store file ``path``; OSError when it is missing (FileNotFoundError), a
    symlink, not a regular file, or over ``limit`` bytes (also when it grew past it while read)."""
    try:
        fd = os.open(path, OPEN_FLAGS)  # as corpus files: no link followed, no blocking
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symlink, which the store never writes") from None
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "not a regular file (a socket or a FIFO)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size:,} bytes, over {limit:,}")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"grew past {limit:,} bytes while read")
    return data


def read_text(path: str | Path, limit: int = SMALL) -> str:
    """:func:`read_bytes` decoded as UTF-8 (a UnicodeDecodeError is a ValueError, as JSON's are)."""
    return read_bytes(path, limit).decode("utf-8")

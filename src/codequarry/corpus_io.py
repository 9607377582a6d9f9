"""How quarry names and opens a file of the corpus: one way, used by the scan, the workers and the parent.

Names. A POSIX file name is bytes; the tables need valid UTF-8. A name is stored as its
``os.fsdecode`` text with every byte that is not UTF-8 (a lone surrogate U+DC80..U+DCFF under
``surrogateescape``) written ``\\xNN`` and every backslash written ``\\\\``: ``caf\\xe9.py`` (Latin-1
bytes) is stored as the 11 characters ``caf\\xe9.py``. :func:`escape_name` and :func:`unescape_name`
are exact inverses, so the stored ``path`` always leads back to the file (``os_path``).

Opening. A file listed by the scan may have been replaced since by a symlink out of the source root,
a FIFO that would block a reader forever, or a socket. :func:`open_corpus` makes the check and the
open one operation: ``O_NOFOLLOW | O_NONBLOCK`` on the name (a symlink the scan accepted is opened by
its resolved path, checked to be inside the root), then ``fstat`` and ``/proc/self/fd`` on the open
descriptor itself: anything but a regular file inside the root is refused with :class:`Refused`.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import stat
from typing import BinaryIO

#: how every file quarry reads from a scanned tree is opened: no symlink followed at open, no blocking
#: open of a FIFO, not inherited by children, never a controlling terminal
OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
#: a file modified less than this before a scan could be written again within the same mtime tick
#: (1 s on some file systems, 2 s on FAT) without its size or mtime changing (git's "racily clean"
#: files): neither the next run (incremental.py) nor the no-op fast path (stamp.py) trusts its mtime
RACY_NS = 2_000_000_000
_ESCAPE = re.compile("[\\\\\udc80-\udcff]")
_UNESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})")
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_BLOCK = 1 << 20


#: the largest mtime a table holds (int64 nanoseconds: 2262-04-11); see :func:`mtime_ns`
MTIME_MAX = (1 << 63) - 1


def mtime_ns(st: os.stat_result) -> int:
    """A file's mtime as the tables store it: ``st_mtime_ns``, at most MTIME_MAX. ext4 and tmpfs
    keep mtimes to the year 2446, and an archive can set one: such a file lost its ``files`` row (a
    schema error) and was extracted again by every run, its mtime never equal to the stored one."""
    return min(st.st_mtime_ns, MTIME_MAX)


def escape_name(name: str) -> str:
    """The stored form of an ``os.fsdecode`` name: undecodable bytes as ``\\xNN``, ``\\`` as ``\\\\``."""
    if "\\" not in name and name.isascii():
        return name
    return _ESCAPE.sub(lambda m: "\\\\" if m.group() == "\\" else f"\\x{ord(m.group()) - 0xDC00:02x}", name)


def unescape_name(stored: str) -> str:
    """The ``os.fsdecode`` name of a stored path (the inverse of :func:`escape_name`)."""
    if "\\" not in stored:
        return stored
    return _UNESCAPE.sub(
        lambda m: "\\" if m.group(1) == "\\" else chr(0xDC00 + int(m.group(1)[1:], 16)), stored
    )


def name_bytes(stored: str) -> bytes:
    """The file name's bytes on disk, from its stored form."""
    return os.fsencode(unescape_name(stored))


def os_path(root: str, path: str) -> str:
    """The path to open for a stored ``path`` relative to ``root``."""
    return os.path.join(root, unescape_name(path))


class Refused(OSError):
    """A listed file that quarry will not read: its message says why (one line)."""


@functools.lru_cache(maxsize=256)
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def inside(real: str, root: str) -> bool:
    """Is the real path ``real`` the folder ``root`` or below it?"""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def file_kind(mode: int) -> str:
    """'a FIFO', 'a socket', ... for a mode that is not a regular file."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_fd(root: str, path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` (stored form, relative to ``root``) for reading; return (fd, fstat of the fd).

    Raises :class:`Refused` for anything that is not a regular file inside the root, and the usual
    OSError (FileNotFoundError, PermissionError, ...) when the file cannot be opened.
    """
    base = _real_root(root)
    if base != os.path.abspath(root):
        # every root reaching here is the real path the scan found (SourceRoot.root): one that resolves
        # elsewhere now was swapped for a symlink since, and its files are not the ones listed
        raise Refused(errno.EXDEV, "the source root was replaced by a symlink since the scan")
    full = os_path(root, path)
    try:
        fd = os.open(full, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EMLINK):
            if exc.errno == errno.ENXIO:  # a socket (or a FIFO refused for lack of a writer)
                raise Refused(exc.errno, "not a regular file (a socket or a FIFO)") from None
            raise
        real = os.path.realpath(full)  # a symlink: followed only while it stays inside the root
        if not inside(real, base):
            raise Refused(errno.ELOOP, "a symlink that leads outside the source root") from None
        if real == full or os.path.islink(real):
            raise Refused(errno.ELOOP, "a symlink loop") from None
        fd = os.open(real, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(errno.EINVAL, f"not a regular file ({file_kind(st.st_mode)})")
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = None  # no /proc: the O_NOFOLLOW open above is the check
        if where is not None and where.startswith("/") and not inside(where.removesuffix(" (deleted)"), base):
            raise Refused(
                errno.EXDEV, "reached outside the source root through a folder replaced by a symlink"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_corpus(root: str, path: str) -> tuple[BinaryIO, os.stat_result]:
    """:func:`open_fd` as a binary file object (closed by the caller, e.g. in a ``with``)."""
    fd, st = open_fd(root, path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), st


def hash_file(root: str, path: str) -> tuple[str, int]:
    """(sha256, size) of a corpus file, read through :func:`open_corpus`."""
    fh, _st = open_corpus(root, path)
    with fh:
        return hash_stream(fh)


def hash_stream(fh: BinaryIO) -> tuple[str, int]:
    """(sha256, size) of what is left to read of ``fh``, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    while block := fh.read(_BLOCK):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


__all__ = [
    "escape_name",
    "unescape_name",
    "name_bytes",
    "os_path",
    "Refused",
    "inside",
    "file_kind",
    "open_fd",
    "open_corpus",
    "hash_file",
]

"""The root commit of a work tree's ``HEAD``, read from a scanned repository that may be hostile.

A repository's identity (``git:<root commit>``, see repos.py) walks first parents from ``HEAD``. The
repository is the corpus, so every file of it is opened as corpus files are (no symlink followed, no
blocking open, a regular file only, a bounded size): dulwich's ``DiskRefsContainer`` and
``DiskObjectStore`` opened them with a plain ``open``, so a FIFO named ``refs/heads/main``,
``packed-refs`` or a loose object held ``quarry extract`` forever, and ``objects/info/alternates``
sent the reads into any folder on the machine. Here:

- refs are read by this module: ``HEAD`` in the git dir, then the ``refs/...`` it names (a clean name
  under ``refs/``, at most a few symbolic hops) as a loose ref in the common dir or a line of
  ``packed-refs``;
- a loose object is inflated no further than :data:`MAX_OBJECT_BYTES`;
- a packed object is read with dulwich's pack classes from a descriptor opened here, after its entry
  header says it is a commit of at most :data:`MAX_OBJECT_BYTES` (a delta is resolved by dulwich,
  each step bounded by the sizes the pack declares);
- alternates are not followed: a clone made with ``--shared`` or ``--reference`` whose root commit
  lives only in another repository has no git identity (it is matched as a folder).

Anything unexpected (missing, damaged, too big, not a regular file) means no identity: None.
"""

from __future__ import annotations

import os
import re
import zlib
from typing import Any, BinaryIO

from codequarry.git_listing import open_regular, read_regular

#: a loose ref or HEAD holds one line
MAX_REF_BYTES = 4096
#: packed-refs of the largest repositories are tens of MB
MAX_PACKED_REFS_BYTES = 256 << 20
#: a commit object larger than this (its message, in practice) gives no identity
MAX_OBJECT_BYTES = 16 << 20
#: symbolic refs followed from HEAD (git itself stops at 5)
MAX_SYMREF_HOPS = 5
#: first-parent commits walked to find a root commit
MAX_HISTORY = 1_000_000

_SHA = re.compile(rb"[0-9a-f]{40}")
#: what git's check-ref-format refuses in a ref name (control bytes, space, ~^:?*[\\, DEL, '@{')
_REF_BAD = re.compile(rb"[\x00-\x20~^:?*\[\\\x7f]|@\{")
_COMMIT = 1  # git's object type number of a commit
_DELTAS = (6, 7)  # OFS_DELTA, REF_DELTA


def _ref_name_ok(name: bytes) -> bool:
    """A name git could have written under ``refs/``: no empty, ``.``-led or ``.lock`` component (so
    never ``..``: the name cannot climb out of the git dir), none of the bytes git refuses. Any other
    byte, UTF-8 included, is git's to allow (``refs/heads/fix#12/ümlaut``)."""
    parts = name.split(b"/")
    return (
        len(parts) >= 2
        and parts[0] == b"refs"
        and all(p and not p.startswith(b".") and not p.endswith(b".lock") for p in parts)
        and _REF_BAD.search(name) is None
    )


def _packed_ref(common: str, name: bytes) -> bytes | None:
    data = read_regular(os.path.join(common, "packed-refs"), MAX_PACKED_REFS_BYTES)
    if data is None:
        return None
    for line in data.split(b"\n"):
        sha, _, ref = line.partition(b" ")
        if ref.rstrip(b"\r") == name and _SHA.fullmatch(sha):
            return sha
    return None


def head_commit(gitdir: str, common: str) -> bytes | None:
    """The hex sha ``HEAD`` names, or None (unborn, damaged, a ref name out of ``refs/``)."""
    data = read_regular(os.path.join(gitdir, "HEAD"), MAX_REF_BYTES)
    for _ in range(MAX_SYMREF_HOPS + 1):
        if data is None:
            return None
        data = data.strip()
        if _SHA.fullmatch(data):
            return data
        if not data.startswith(b"ref:"):
            return None
        name = data[4:].strip()
        if not _ref_name_ok(name):
            return None
        data = read_regular(os.path.join(common, *map(os.fsdecode, name.split(b"/"))), MAX_REF_BYTES)
        if data is None:
            data = _packed_ref(common, name)
    return None


class _Objects:
    """Commits of one repository's object folder: loose ones, then its packs (opened once each)."""

    def __init__(self, common: str) -> None:
        self.folder = os.path.join(common, "objects")
        self._packs: list[tuple[Any, BinaryIO]] | None = None
        self._files: list[BinaryIO] = []

    def close(self) -> None:
        for fh in self._files:
            fh.close()

    def parents(self, sha: bytes) -> list[bytes] | None:
        """The parents of commit ``sha``, or None when it is missing, not a commit, or too big."""
        body = self._loose(sha)
        if body is None:
            body = self._packed(sha)
        if body is None:
            return None
        out: list[bytes] = []
        for line in body.split(b"\n"):
            if not line:
                break  # the end of the headers
            key, _, value = line.partition(b" ")
            if key == b"parent":
                if not _SHA.fullmatch(value):
                    return None
                out.append(value)
        return out

    def _loose(self, sha: bytes) -> bytes | None:
        hexsha = sha.decode()
        data = read_regular(os.path.join(self.folder, hexsha[:2], hexsha[2:]), MAX_OBJECT_BYTES)
        if data is None:
            return None
        try:
            inflate = zlib.decompressobj()
            raw = inflate.decompress(data, MAX_OBJECT_BYTES + 64)
        except zlib.error:
            return None
        if inflate.unconsumed_tail:
            return None  # inflates past the bound: a deflate bomb or a huge object
        head, nul, body = raw.partition(b"\0")
        kind, _, size = head.partition(b" ")
        if not nul or kind != b"commit" or not size.isdigit() or int(size) != len(body):
            return None
        return body

    def _pack_list(self) -> list[tuple[Any, BinaryIO]]:
        if self._packs is not None:
            return self._packs
        self._packs = []
        folder = os.path.join(self.folder, "pack")
        try:
            names = sorted(n for n in os.listdir(folder) if n.startswith("pack-") and n.endswith(".idx"))
        except OSError:
            return self._packs
        from dulwich.object_format import DEFAULT_OBJECT_FORMAT
        from dulwich.pack import Pack, PackData, load_pack_index_file

        for name in names:
            idx_path = os.path.join(folder, name)
            pack_path = idx_path[: -len(".idx")] + ".pack"
            idx_fh = open_regular(idx_path, 1 << 40)
            pack_fh = open_regular(pack_path, 1 << 40)
            for fh in (idx_fh, pack_fh):
                if fh is not None:
                    self._files.append(fh)
            if idx_fh is None or pack_fh is None:
                continue
            try:
                idx = load_pack_index_file(idx_path, idx_fh, DEFAULT_OBJECT_FORMAT)
                data = PackData(pack_path, DEFAULT_OBJECT_FORMAT, file=pack_fh)
                self._packs.append((Pack.from_objects(data, idx), pack_fh))
            except Exception:  # a damaged pack or index: its objects are not found  # noqa: S112
                continue
        return self._packs

    def _packed(self, sha: bytes) -> bytes | None:
        for pack, fh in self._pack_list():
            try:
                offset = pack.index.object_offset(sha)
            except KeyError:
                continue
            except Exception:
                return None
            kind, size = _entry_header(fh, offset)
            if kind != _COMMIT and kind not in _DELTAS or size > MAX_OBJECT_BYTES:
                return None
            try:
                type_num, raw = pack.get_raw(sha)
            except Exception:  # a damaged entry, a delta whose base is missing
                return None
            return bytes(raw) if type_num == _COMMIT and len(raw) <= MAX_OBJECT_BYTES else None
        return None


def _entry_header(fh: BinaryIO, offset: int) -> tuple[int, int]:
    """(type, declared size) of the pack entry at ``offset`` (-1, 0 when unreadable)."""
    try:
        head = os.pread(fh.fileno(), 16, offset)
    except OSError:
        return -1, 0
    if not head:
        return -1, 0
    kind = (head[0] >> 4) & 7
    size = head[0] & 15
    shift = 4
    i = 0
    while head[i] & 0x80:
        i += 1
        if i >= len(head):
            return -1, 0
        size |= (head[i] & 0x7F) << shift
        shift += 7
    return kind, size


def root_commit(gitdir: str, common: str) -> bytes | None:
    """The hex sha of the root commit reached from ``HEAD`` by first parents, or None."""
    sha = head_commit(gitdir, common)
    if sha is None:
        return None
    objects = _Objects(common)
    try:
        for _ in range(MAX_HISTORY):
            parents = objects.parents(sha)
            if parents is None:
                return None
            if not parents:
                return sha
            sha = parents[0]
        return None
    finally:
        objects.close()

"""How a worker reads a corpus file: once, through the guarded opener, with its sha256, size, line
count and mtime taken from the open file; and the sniff that tells text from binary content."""

from __future__ import annotations

import hashlib

from codequarry.corpus_io import Refused, mtime_ns, open_corpus

HASH_BLOCK = 1 << 20  # a file over --max-file-size is hashed and its lines counted in blocks of this

#: (data or None if too large, sha256, size, line count of a large file, mtime_ns)
Read = tuple[bytes | None, str | None, int, int | None, int]


def read_file(root: str, path: str, max_size: int) -> Read:
    """Read ``path`` under ``root`` once; a file over ``max_size`` is hashed and its lines counted, not
    kept. Size and mtime are those of the open file, so the manifest row describes the bytes read
    even if the file changed since the scan. Raises OSError (``unreadable`` says why in one line).

    The read is bounded, whatever a writer does meanwhile: a file no larger than ``max_size`` when
    opened is read up to ``max_size + 1`` bytes (one that grew past the limit while read is then
    taken as a large file of the bytes read), a larger one up to the size it had when opened. Both
    read to EOF before, so a file appended to while read was held whole in memory, or hashed for as
    long as its writer went on."""
    fh, st = open_corpus(root, path)
    with fh:
        size = st.st_size
        if size <= max_size:
            data = fh.read(size + 1)  # as opened, and one byte more that tells it grew since
            if len(data) > size:  # (a buffered read returns short only at EOF)
                data += fh.read(max_size + 1 - len(data))
            if len(data) <= max_size:
                return data, hashlib.sha256(data).hexdigest(), len(data), None, mtime_ns(st)
            return None, hashlib.sha256(data).hexdigest(), len(data), line_count(data), mtime_ns(st)
        digest = hashlib.sha256()
        lines = 0
        last = b""
        left = size
        while left > 0 and (block := fh.read(min(HASH_BLOCK, left))):
            left -= len(block)
            digest.update(block)
            lines += line_ends(block)
            if last.endswith(b"\r") and block.startswith(b"\n"):
                lines -= 1  # one CRLF cut by the block boundary, counted on both sides
            last = block
        if last and not last.endswith(_ENDS):
            lines += 1
        return None, digest.hexdigest(), size - left, lines, mtime_ns(st)


def unreadable(exc: OSError) -> str:
    """The errors row's message for a file ``read_file`` could not read."""
    if isinstance(exc, FileNotFoundError):
        return "file disappeared between scan and read"
    if isinstance(exc, Refused):
        return exc.strerror or str(exc)
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return f"not a regular file: {exc.strerror}"
    return f"{exc.strerror or exc}"


#: the control bytes :func:`looks_binary` counts (not tab, newline, vertical tab, form feed, return)
_CONTROL = bytes(b for b in range(32) if b < 9 or 13 < b < 32)


def looks_binary(head: bytes) -> bool:
    """NUL bytes, and many control bytes or invalid UTF-8, in the first bytes of a file."""
    if b"\0" not in head:
        return False
    control = len(head) - len(head.translate(None, _CONTROL))  # counted in C, not byte by byte
    return control * 10 > len(head) or not is_utf8(head)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(data) - 4  # a character cut at the end of the sample is fine
    return True


_ENDS = (b"\n", b"\r")


def line_ends(data: bytes) -> int:
    """How many lines end in ``data``: at LF, CRLF or a lone CR, as Python reads source (universal
    newlines) and as the tree-sitter extractors parse it (a lone CR is read as LF)."""
    ends = data.count(b"\n")
    if b"\r" in data:  # rare: one more pass over the bytes only then
        ends += data.count(b"\r") - data.count(b"\r\n")
    return ends


def line_count(data: bytes) -> int:
    """The lines of ``data``: line ends, plus a last line without one."""
    if not data:
        return 0
    return line_ends(data) + (0 if data.endswith(_ENDS) else 1)


def text_lines(data: bytes) -> int | None:
    """What the manifest records as a file's ``lines``: its line count, None when it looks binary."""
    return None if looks_binary(data[:8192]) else line_count(data)

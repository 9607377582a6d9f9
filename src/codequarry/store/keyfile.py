"""The file of a table's part-keys record (store/keyindex.py) and the checks that it still describes
the table: below the store's readers, so that ``read_columns`` can list a table's live parts from
it without opening the table's Delta log.

A one-file run reads the last snapshot's ``files``, ``modules`` and ``errors`` rows before it
commits; each read opened a ``DeltaTable`` (a replay of the table's log, ~0.01-0.02 s of CPU each,
more as the log grows) only to learn the names of the live Parquet files. The record written by the
run that committed the version names them, and is trusted only under the same conditions as for the
commit (see keyindex.py): the version it names, that version's log entry still the same file and
no later entry, and every part on disk with its recorded size and mtime.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from codequarry.store import metafile

FORMAT = 1
FOLDER = "keys"
#: a larger record is not parsed just for its part list: the keys it also holds would cost more to
#: read than opening the table (its size follows the number of files, the log's does not)
MAX_LISTED_BYTES = 256 * 1024
#: no record is read past this (a record holds every key of its table: ~100 bytes a file)
MAX_RECORD_BYTES = 1 << 30

Ident = tuple[int, int, int]  # inode, mtime_ns, size of one log entry


#: a record starts with the digest of the rest of its text: a record edited by hand or by another tool
#: (a part's keys dropped, a part left out of the list) still parsed and still matched the log and the
#: parts on disk, and the next run left the rows of the dropped keys in place, silently wrong
_DIGEST_HEAD = '{"digest":"'
_DIGEST_CHARS = 32


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_DIGEST_CHARS // 2).hexdigest()


def encode(doc: dict[str, Any]) -> str:
    """The text of record ``doc`` (a non-empty dict without a ``digest`` key), its digest first."""
    rest = json.dumps(doc, separators=(",", ":"))[1:]
    return f'{_DIGEST_HEAD}{_digest(rest)}",{rest}'


def read_record(path: Path) -> Any:
    """The record at ``path`` as JSON, or None when its text is not what :func:`encode` wrote (its
    digest does not match: damaged or edited). Raises OSError and ValueError as reading and parsing do."""
    text = metafile.read_text(path, MAX_RECORD_BYTES)
    start = len(_DIGEST_HEAD) + _DIGEST_CHARS
    if not text.startswith(_DIGEST_HEAD) or text[start : start + 2] != '",':
        return None
    if _digest(text[start + 2 :]) != text[len(_DIGEST_HEAD) : start]:
        return None
    return json.loads(text)


def path_of(store_path: Path, name: str) -> Path:
    return store_path / FOLDER / f"{name}.json"


def log_entry(path: Path | str, version: int) -> str:
    return f"{path}/_delta_log/{version:020d}.json"


def ident(path: Path | str, version: int) -> Ident | None:
    """Which file the log entry of ``version`` is now (None: there is none)."""
    try:
        st = os.stat(log_entry(path, version))
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def is_current(table_path: Path, version: int, log: Ident) -> bool:
    """Is ``version``'s log entry still the file ``log`` identifies, with no later entry?"""
    return ident(table_path, version) == log and not os.path.lexists(log_entry(table_path, version + 1))


def parts_unchanged(table_path: Path, parts: dict[str, tuple[int, int]]) -> bool:
    """Is every part (name -> (size, mtime_ns)) a plain file name of the table folder, on disk as
    recorded?"""
    for rel, (size, mtime) in parts.items():
        if "/" in rel or rel.startswith("."):  # names a file outside the table folder
            return False
        try:
            st = os.stat(table_path / rel)
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


def live_parts(store_path: Path, table_path: Path, name: str, version: int) -> list[str] | None:
    """The live part files of ``version`` of table ``name``, sorted, from its record when the record
    is small, well formed and still true (see the module docstring); None otherwise."""
    listed = live_listing(store_path, table_path, name, version)
    return None if listed is None else listed[0]


def live_listing(
    store_path: Path, table_path: Path, name: str, version: int
) -> tuple[list[str], bytes | None] | None:
    """(the live part files, sorted; the table's Arrow schema as IPC bytes, or None when the record
    has none) of ``version`` of table ``name``, from its record under the conditions of
    :func:`live_parts`; None otherwise."""
    path = path_of(store_path, name)
    try:
        if os.stat(path).st_size > MAX_LISTED_BYTES:
            return _recalled_listing(table_path, version)
        doc = read_record(path)
        if doc is None:
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != version:
            return _recalled_listing(table_path, version)
        log, parts = doc["log"], doc["parts"]
        if not (isinstance(log, list) and len(log) == 3 and all(isinstance(x, int) for x in log)):
            return None
        listed = {str(rel): (int(p["size"]), int(p["mtime"])) for rel, p in parts.items()}
        schema = doc.get("schema")
        raw = base64.b64decode(schema, validate=True) if isinstance(schema, str) else None
    except FileNotFoundError:
        return _recalled_listing(table_path, version)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not is_current(table_path, version, (log[0], log[1], log[2])):
        return None
    return (sorted(listed), raw) if parts_unchanged(table_path, listed) else None


def live_files_and_schema(
    store_path: Path, table_path: Path, name: str, version: int
) -> tuple[list[str], Any] | None:
    """:func:`live_listing` with its schema as a pyarrow schema; None when there is no listing, it
    holds no schema, or the schema does not read (a damaged record: the Delta log says)."""
    listed = live_listing(store_path, table_path, name, version)
    if listed is None or listed[1] is None:
        return None
    import pyarrow as pa

    try:
        return listed[0], pa.ipc.read_schema(pa.py_buffer(listed[1]))
    except (pa.ArrowException, ValueError):
        return None


def _recalled_listing(table_path: Path, version: int) -> tuple[list[str], bytes | None] | None:
    got = recall(table_path, version)
    return None if got is None else (got[0], got[1])


#: what this run's commit knew of the versions it replaced and made, by (table folder, version):
#: their log entry, parts (size, mtime), schema (Arrow IPC) and the writer's own record of them
#: (store/keyindex.py), so that the run's later reads of either version (``ctx.before``,
#: ``ctx.changed_rows``, ``live_dataset``) need no log replay; dropped when the next commit starts
_recalled: dict[tuple[str, int], tuple[Ident, dict[str, tuple[int, int]], bytes | None, Any]] = {}


def remember(
    table_path: Path,
    version: int,
    log: Ident,
    parts: dict[str, tuple[int, int]],
    schema: bytes | None,
    record: Any = None,
) -> None:
    """Keep what is true of ``version`` now (its log entry, parts, schema, and ``record``)."""
    _recalled[(str(table_path), version)] = (log, dict(parts), schema, record)


def recall(table_path: Path, version: int) -> tuple[list[str], bytes | None, Any] | None:
    """(the live part files, the schema, the record) kept for ``version`` of ``table_path``, if
    that version's log entry is still the same file and every part is on disk as recorded (a
    version's files never change in Delta: only a log made anew, or a part rewritten in place,
    would make them untrue, and both are caught); None otherwise."""
    got = _recalled.get((str(table_path), version))
    if got is None:
        return None
    log, parts, raw, record = got
    if ident(table_path, version) != log or not parts_unchanged(table_path, parts):
        return None
    return sorted(parts), raw, record


def forget_remembered() -> None:
    _recalled.clear()

"""The store: a folder of Delta Lake tables plus the snapshot that says which version of each is live.

Layout::

    .quarry/
      store.json            marks the folder as a store (format version)
      snapshot.json         the last published snapshot: every table's Delta version (atomic rename)
      snapshots/NNNNNN.json every snapshot ever published (status, history)
      tables/<dataset>/     one Delta table per dataset
      keys/<dataset>.json   the (repo, path) keys of each live part, a cache (store/keyindex.py)
      staging/<run>/        a run's spooled batches; removed after the run
      lock                  the writer lock (flock, holding the owner's pid)
      readers               reader leases (shared flocks; see store.lease)

A run commits each table it changed and then publishes a snapshot by renaming one file; readers
read ``snapshot.json`` and open each table at its version, so a run killed before publishing is
invisible to them, and the next run rolls the unpublished commits back before it writes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codequarry.errors import StoreError
from codequarry.store import metafile

FORMAT = 1
FIX = "run 'quarry doctor' to check every table, and 'quarry doctor --repair' to rebuild the damaged ones"
MARKER = "store.json"
#: a table name is one plain folder name: no separator, no leading dot, nothing that climbs out
TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")


def damaged(store: Store, name: str, reason: str) -> StoreError:
    """The one-line error for a damaged table: which, what is wrong, and the fix (quarry doctor)."""
    return StoreError(f"table '{name}' of store '{store.path}' is damaged: {reason}; {FIX}")


@contextlib.contextmanager
def unreadable_part(store: Store, name: str, what: str) -> Iterator[None]:
    """Reads of a part of table ``name`` (``what`` says which: "its file F"): one that cannot be read
    (truncated, missing, failing its page checksums) is damage named with the fix; a permission error
    is not damage and passes through (``store_errors`` says "permission denied")."""
    import pyarrow as pa

    try:
        yield
    except PermissionError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise damaged(store, name, f"{what} cannot be read ({first_line(exc)})") from None


def check_table_name(name: object, where: str) -> str:
    """``name`` if it can only name a folder inside ``tables/``; a StoreError otherwise.

    Names come from snapshot files and plugins, which are input like any other: a name such as
    ``../../elsewhere`` would make readers read, and compaction delete, files outside the store."""
    if not isinstance(name, str) or not TABLE_NAME.fullmatch(name):
        raise StoreError(
            f"{where} names a table {name!r}, which is not a plain table name "
            "(letters, digits, '_', '.', '-'; no '/' and no leading '.')"
        )
    return name


@dataclass(frozen=True)
class TableState:
    version: int
    rows: int


@dataclass(frozen=True)
class Snapshot:
    id: int
    created: float
    tables: dict[str, TableState]
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "tables": {k: {"version": v.version, "rows": v.rows} for k, v in sorted(self.tables.items())},
            "run": self.run,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "snapshot") -> Snapshot:
        """Parse and validate a snapshot; anything malformed is a StoreError saying what."""

        def need(ok: bool, what: str) -> None:
            if not ok:
                raise StoreError(f"{where} is not a valid snapshot: {what}")

        need(isinstance(data, dict), "not a JSON object")
        need(_is_int(data.get("id")) and data["id"] >= 1, "'id' is not a positive integer")
        need(
            isinstance(data.get("created"), int | float) and not isinstance(data.get("created"), bool),
            "'created' is not a time",
        )
        need(isinstance(data.get("tables"), dict), "'tables' is not an object")
        need(isinstance(data.get("run", {}), dict), "'run' is not an object")
        tables = {}
        for name, state in data["tables"].items():
            check_table_name(name, where)
            need(
                isinstance(state, dict) and _is_int(state.get("version")) and state["version"] >= 0,
                f"table '{name}' has no valid 'version'",
            )
            need(
                _is_int(state.get("rows", 0)) and state.get("rows", 0) >= 0,
                f"table '{name}' has no valid 'rows'",
            )
            tables[name] = TableState(state["version"], state.get("rows", 0))
        return cls(id=data["id"], created=float(data["created"]), tables=tables, run=data.get("run", {}))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` by renaming a synced temporary file over it; on failure (a full
    disk) the old file is untouched and the temporary one removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _claim(folder: Path, shown: str | Path) -> None:
    """Make ``folder`` a store by linking its marker into place, the first thing put inside it.

    ``link`` fails if the marker exists, so of two processes creating the same store at the same
    instant one makes it and the other simply finds it; a folder holding anything but another
    process's half-written marker is never taken over."""
    others = [e for e in os.listdir(folder) if not (e.startswith(f".{MARKER}.") and e.endswith(".tmp"))]
    if MARKER in others:
        return
    if others:
        raise StoreError(
            f"'{shown}' is a non-empty folder that is not a codequarry store; choose another --store"
        )
    from codequarry.version import __version__

    tmp = folder / f".{MARKER}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    meta = {"format": FORMAT, "created_by": f"codequarry {__version__}", "created": time.time()}
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(meta, indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, folder / MARKER)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


#: what Delta Lake's object store and DataFusion's table listing cannot take in a store's path: control
#: characters, '\\' and a percent escape such as '%41' (a parse error, reported as a damaged table),
#: '[', ']' and '|' (a panic, a traceback), '?' and '*' (a glob pattern: a query read every table
#: through it as empty, with no error)
_UNADDRESSABLE = re.compile(r"[\x00-\x1f\x7f\\?*\[\]|]|%[0-9A-Fa-f]{2}")


def _check_addressable(real: Path, given: str | Path) -> None:
    """A store whose real path Delta Lake and DataFusion cannot address is refused in one line."""
    found = _UNADDRESSABLE.search(str(real))
    if found:
        where = f"'{given}'" if str(given) == str(real) else f"'{given}' ({real})"
        raise StoreError(
            f"the store path {where} holds {found.group()!r}, which Delta Lake and DataFusion cannot "
            "address (its tables would read as damaged or empty); give another with --store DIR"
        )


class Store:
    """A store on disk. ``Store.open`` for readers, ``Store.create`` for writers."""

    def __init__(self, path: Path, *, reader: bool = False) -> None:
        self.path = path
        self.reader = reader
        self._lease: Any = None

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Store:
        """A store to read: its snapshots are read under a reader lease (see ``lease``)."""
        p = Path(path).expanduser()
        if not p.exists():
            raise StoreError(f"no store at '{path}': run 'quarry extract SOURCE' first, or pass --store")
        _check_addressable(p.resolve(), path)
        if not (p / MARKER).is_file():
            raise StoreError(f"'{path}' is not a codequarry store (it has no {MARKER})")
        try:
            meta = json.loads(metafile.read_text(p / MARKER))
        except (OSError, ValueError) as exc:
            raise StoreError(f"'{path}' has an unreadable {MARKER}: {exc}") from None
        # ``type(...) is int``: true == 1 and 1.0 == 1 in Python, and neither is a format this code wrote
        if not isinstance(meta, dict) or type(meta.get("format")) is not int or meta["format"] != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else meta
            raise StoreError(_format_mismatch(path, found))
        return cls(p.resolve(), reader=True)

    @classmethod
    def create(cls, path: str | Path) -> Store:
        """Open the store at ``path`` for writing, creating it when the folder is missing or empty."""
        p = Path(path).expanduser()
        if p.exists() and not p.is_dir():
            raise StoreError(f"store path '{path}' exists and is not a folder")
        _check_addressable(p.resolve(), path)
        if (p / MARKER).is_file():  # an existing store (perhaps read-only: the writer lock says so)
            store = cls.open(p)
            store.reader = False
            return store
        try:
            p.mkdir(parents=True, exist_ok=True)
            _claim(p, path)
            for sub in ("tables", "snapshots"):
                (p / sub).mkdir(exist_ok=True)
            if not (
                p / ".gitignore"
            ).exists():  # keep the store out of the enclosing repository's `git status`
                (p / ".gitignore").write_text("*\n")
            (p / "readers").touch()
        except OSError as exc:
            raise StoreError(f"cannot create a store at '{path}': {os_reason(exc)}") from None
        store = cls.open(p)
        store.reader = False
        return store

    # -- paths --------------------------------------------------------------------------------------
    @property
    def tables_dir(self) -> Path:
        return self.path / "tables"

    def table_path(self, name: str) -> Path:
        return self.tables_dir / check_table_name(name, f"store '{self.path}'")

    def staging_dir(self, run_id: str) -> Path:
        return self.path / "staging" / run_id

    def open_delta(self, name: str, version: int | None = None) -> Any:
        """The Delta table ``name`` (at ``version``), or a StoreError naming the table and the fix."""
        from deltalake import DeltaTable

        path = self.table_path(name)
        odd = odd_log_entry(path)
        if odd:
            raise damaged(self, name, odd)
        try:
            table = DeltaTable(str(path), version=version)
        except Exception as exc:
            if not (path / "_delta_log").is_dir():
                raise damaged(self, name, "its _delta_log folder is missing") from None
            at = f" at version {version}" if version is not None else ""
            raise damaged(self, name, f"its log cannot be read{at}: {first_line(exc)}") from None
        outside = files_outside(table)
        if outside:
            raise damaged(self, name, f"its log names a file outside the table ({outside[0]})")
        return table

    # -- reader leases --------------------------------------------------------------------------------
    def lease(self) -> None:
        """Hold a shared lease on ``readers`` until this Store is closed or collected.

        Compaction deletes files at once only when it can take this lock exclusively, that is when
        no reader holds a lease; otherwise it keeps every file removed within the retention window
        (see maintenance.compact). A store that cannot be written (a read-only mount) cannot be
        compacted either, so a reader that cannot create the file goes without."""
        if self._lease is not None:
            return
        path = self.path / "readers"
        for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
            try:
                fd = os.open(path, flags, 0o644)
                break
            except OSError:
                continue
        else:
            return
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a compaction deletes files
        self._lease = os.fdopen(fd, "rb")

    def close(self) -> None:
        """Drop this Store's reader lease (a collected Store drops it too)."""
        if self._lease is not None:
            self._lease.close()
            self._lease = None

    # -- snapshots ----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot | None:
        """The last published snapshot, or None for a store no run has completed in."""
        if self.reader:
            self.lease()
        path = self.path / "snapshot.json"
        try:
            text = metafile.read_text(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"store '{self.path}': cannot read snapshot.json: {os_reason(exc)}") from None
        try:
            return Snapshot.from_json(json.loads(text), where=f"{path}")
        except (ValueError, StoreError) as exc:
            last = self.last_good()
            back = f"snapshot {last.id}" if last else "an empty store"
            raise StoreError(
                f"store '{self.path}' has a damaged snapshot.json ({first_line(exc)}); run "
                f"'quarry doctor --repair' to make the last good one live again ({back})"
            ) from None

    def history(self) -> list[Snapshot]:
        """Every readable, valid snapshot kept in ``snapshots/``, oldest first."""
        out = []
        for p in sorted((self.path / "snapshots").glob("*.json")):
            try:
                out.append(Snapshot.from_json(json.loads(metafile.read_text(p)), where=str(p)))
            except (OSError, ValueError, StoreError):
                continue
        return out

    def last_good(self) -> Snapshot | None:
        """The newest valid snapshot of the history (what a damaged snapshot.json is repaired to)."""
        history = self.history()
        return history[-1] if history else None

    def publish(self, tables: dict[str, TableState], run: dict[str, Any]) -> Snapshot:
        """Make a set of table versions the live snapshot, atomically."""
        prev = self.snapshot()
        snap = Snapshot(id=(prev.id + 1) if prev else 1, created=time.time(), tables=dict(tables), run=run)
        self.write_live(snap)
        return snap

    def write_live(self, snap: Snapshot) -> None:
        """Record ``snap`` in the history, then make it live by one rename."""
        text = json.dumps(snap.to_json(), indent=2, sort_keys=True)
        try:
            _write_atomic(self.path / "snapshots" / f"{snap.id:06d}.json", text)
            _write_atomic(self.path / "snapshot.json", text)
        except OSError as exc:
            raise StoreError(
                f"store '{self.path}': cannot publish snapshot {snap.id}: {os_reason(exc)}; the "
                f"previous snapshot is still live; {os_fix(exc)}"
            ) from None

    def clear_staging(self) -> None:
        shutil.rmtree(self.path / "staging", ignore_errors=True)


def _format_mismatch(path: str | Path, found: Any) -> str:
    """What to do about a store written in another format: upgrade codequarry, or extract anew."""
    from codequarry.version import __version__

    if isinstance(found, int) and not isinstance(found, bool) and found > FORMAT:
        fix = (
            "a newer codequarry wrote it: upgrade (python3 -m pip install -U codequarry), or extract into "
            "a new store with --store"
        )
    else:
        fix = (
            f"extract into a new store (quarry extract SOURCE --store NEW), or move '{path}' aside and "
            "extract again: the store is made from the sources"
        )
    return (
        f"store '{path}' has format {found!r}; this codequarry ({__version__}) reads format {FORMAT}: {fix}"
    )


#: a Delta checkpoint every this many versions of a table the store commits often (a table committed
#: from its key record, the `runs` table, a table `quarry watch` keeps committing). Every
#: ``DeltaTable`` open replays the log entries since the last checkpoint, and Delta's default is one
#: every 100 commits: a table a one-file run commits gets a version per run, so after some dozens of
#: runs each open replayed dozens of entries (~0.2 ms each here; 70 entries: 18 ms an open instead
#: of 7), and a one-file run, which opens ~16 tables, cost up to 0.5 s of CPU more on a store with a
#: long history (docs/fast-path.md). A checkpoint of a small table costs a few ms.
CHECKPOINT_EVERY = 10

RUNS_DIR = "runs"  # the run log beside the tables: one JSON report per run and the `runs` Delta table


def runs_table_path(store_path: str | Path) -> Path:
    """Where the `runs` Delta table lives (written by codequarry.report.runs, read by query)."""
    return Path(store_path) / RUNS_DIR / "table"


def first_line(exc: BaseException | str) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def os_reason(exc: OSError) -> str:
    """An OSError in words, naming the three conditions users meet: full, read-only, forbidden."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({exc.filename or 'the store'})"
    return exc.strerror or str(exc)


def os_fix(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space (or pass --store on another disk) and run again"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "readers such as 'quarry sql' still work; to write, make the store writable or pass --store"
    return "fix the cause and run again"


def live_dataset(store: Store, name: str, version: int) -> Any:
    """A pyarrow dataset over the Parquet files of one table version (see dataset_of).

    The files and the schema come from the table's part-keys record when it is still true and holds
    the schema (store/keyfile.py), without opening the Delta log (a ``DeltaTable`` costs a few ms of
    CPU, more as the log grows, and a one-file run's operations read about a dozen tables);
    otherwise from the log."""
    import pyarrow.dataset as ds

    from codequarry.store.keyfile import live_files_and_schema

    table_path = store.table_path(name)
    got = live_files_and_schema(store.path, table_path, name, version)
    if got is not None:
        files, schema = got
        return ds.dataset([str(table_path / rel) for rel in files], format="parquet", schema=schema)
    return dataset_of(store.open_delta(name, version))


def read_columns(
    store: Store, name: str, version: int, columns: list[str], repos: list[str] | None = None
) -> Any:
    """Some columns of one table version (only the rows of ``repos`` when given), read part by part
    with pyarrow.parquet; None if the table lacks a column.

    The run's own bookkeeping reads (the manifest, stored errors) go this way rather than through
    pyarrow.dataset, whose import pulls in pandas (~0.3 s): more than a no-change run costs. The
    live parts come from the table's part-keys record when it is still true (store/keyfile.py),
    without opening the Delta log; otherwise, or when a part lacks a column, from the log."""
    import pyarrow.parquet as pq

    from codequarry.store.keyfile import live_parts

    table_path = store.table_path(name)
    listed = live_parts(store.path, table_path, name, version)
    if listed:
        paths = [str(table_path / rel) for rel in listed]
        try:  # each part opened once: its footer gives the schema, then the columns are read
            files = [pq.ParquetFile(p) for p in paths]
            schemas = [f.schema_arrow for f in files]
        except (OSError, ValueError):  # read again through the log, which names the damage
            schemas = []
        if schemas and all(set(columns) <= set(s.names) for s in schemas):
            want = _columns_of(schemas[0], columns)
            if all(_columns_of(s, columns).equals(want) for s in schemas[1:]):
                return _read_parts(store, name, paths, columns, repos, want, files)
    import pyarrow as pa

    table = store.open_delta(name, version)
    outside = files_outside(table)
    if outside:
        raise StoreError(
            f"the Delta log of '{table.table_uri}' names a file outside the table ({outside[0]}); "
            "run 'quarry doctor --repair' to rebuild the table"
        )
    schema = pa.schema(table.schema().to_arrow())
    if not set(columns) <= set(schema.names):
        return None
    paths = [uri.removeprefix("file://") for uri in table.file_uris()]
    return _read_parts(store, name, paths, columns, repos, _columns_of(schema, columns))


def _columns_of(schema: Any, columns: list[str]) -> Any:
    import pyarrow as pa

    return pa.schema([schema.field(c) for c in columns])


def _read_parts(
    store: Store,
    name: str,
    paths: list[str],
    columns: list[str],
    repos: list[str] | None,
    want: Any,
    opened: list[Any] | None = None,
) -> Any:
    """``columns`` of the Parquet files ``paths`` of table ``name`` as one table of schema ``want``
    (``opened``: their ``ParquetFile``s, when the caller opened them already)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pieces = []
    for i, path in enumerate(paths):
        with (
            unreadable_part(store, name, f"its file {os.path.basename(path)}"),
            opened[i] if opened is not None else pq.ParquetFile(path) as part_file,
        ):
            part = part_file.read(columns=columns)
        if repos is not None:
            part = part.filter(pc.is_in(part.column("repo"), value_set=pa.array(repos, pa.string())))
        pieces.append(part.cast(want))
    return pa.concat_tables(pieces) if pieces else want.empty_table()


def dataset_of(table: Any) -> Any:
    """A pyarrow dataset over a DeltaTable's live Parquet files, read with Arrow's own filesystem.

    deltalake's to_pyarrow_dataset routes reads through a Python filesystem handler whose I/O threads
    can abort the interpreter at exit ("terminate called without an active exception"). The store
    never uses deletion vectors or column mapping, so the files are the table.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    outside = files_outside(table)
    if outside:  # a log naming a file outside its table is damage (or an attack): never read through it
        raise StoreError(
            f"the Delta log of '{table.table_uri}' names a file outside the table ({outside[0]}); "
            "run 'quarry doctor --repair' to rebuild the table"
        )
    paths = [u.removeprefix("file://") for u in table.file_uris()]
    return ds.dataset(paths, format="parquet", schema=pa.schema(table.schema().to_arrow()))


def part_inside(raw: str) -> bool:
    """Is a file path from a Delta log a plain relative path inside the table folder?

    Delta paths are URIs relative to the table: an absolute path, a scheme (``file:``), a '..'
    segment (also percent-encoded, which readers decode) would make readers read, and maintenance
    rewrite, a file anywhere."""
    from urllib.parse import unquote

    path = unquote(raw)
    if not path or path.startswith("/") or ":" in path or "\\" in path:
        return False
    return all(seg not in ("", ".", "..") for seg in path.split("/"))


def arrow_table(data: Any) -> Any:
    """A pyarrow Table from deltalake's arro3 tables, through the Arrow C stream interface.

    ``pa.table(x)`` on a foreign object first asks whether it is a pandas DataFrame, which imports
    pandas (~0.2 s): more than a whole no-change run costs."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    return pa.table(data)


def odd_log_entry(table_path: str | Path) -> str | None:
    """What is wrong with the first entry of the table's ``_delta_log`` that is not a plain file or
    folder (a FIFO, a device, a symlink), or None. deltalake opens ``_last_checkpoint`` and the
    commits with a plain blocking open that follows links: a FIFO there held every command (sql,
    doctor, extract, watch) forever, deaf to SIGTERM, and a link was read from outside the store. The
    store never writes one; a listing (no stat per entry) finds them before deltalake opens any."""
    try:
        entries = os.scandir(os.path.join(table_path, "_delta_log"))
    except OSError:
        return None  # missing: each caller names that itself
    with entries:
        for entry in entries:
            try:
                if entry.is_symlink():
                    return f"its log entry _delta_log/{entry.name} is a symlink, which the store never writes"
                if not (entry.is_file() or entry.is_dir()):
                    return f"its log entry _delta_log/{entry.name} is not a regular file (a FIFO or a device)"
            except OSError:
                continue
    return None


def small_live_parts(table: Any) -> int:
    """How many of the live parts of the DeltaTable ``table`` are small (parts.SMALL_PART_BYTES): what
    the automatic compaction counts (maintenance.needs_compaction)."""
    from codequarry.parts import small_parts

    return small_parts(arrow_table(table.get_add_actions(flatten=True)).column("size_bytes").to_pylist())


def files_outside(table: Any) -> list[str]:
    """The live files of a DeltaTable whose log paths leave the table folder (see part_inside), or
    whose file (or partition folder) on disk is a symlink: the store never writes one, and a reader
    would follow it out of the store (a part linked to a Parquet file elsewhere, padded to the size
    the log records, was read as the table; one linked to /etc/passwd was read as damage)."""

    actions = arrow_table(table.get_add_actions(flatten=False))  # unflattened: 4x cheaper, same paths
    if not actions.num_rows:
        return []
    paths = actions.column("path").to_pylist()
    outside = [p for p in paths if not part_inside(p)]
    return outside or _linked_parts(table.table_uri, paths)


def _linked_parts(uri: str, paths: list[str]) -> list[str]:
    """Those of ``paths`` (inside the table by name) that reach out of it on disk through a symlink."""
    from urllib.parse import unquote

    folder = uri.removeprefix("file://").rstrip("/")
    if not os.path.isabs(folder):
        return []  # not a local table
    if os.path.islink(folder):
        return [f"{paths[0]} (the table folder is a symlink)"]
    real = os.path.realpath(folder)
    folders: dict[str, bool] = {"": True}
    out = []
    for raw in paths:
        rel = unquote(raw)
        parent = os.path.dirname(rel)
        if parent not in folders:  # a partition folder (repo=...): checked once
            folders[parent] = os.path.realpath(os.path.join(folder, parent)) == os.path.join(real, parent)
        if not folders[parent] or os.path.islink(os.path.join(folder, rel)):
            out.append(f"{raw} (a symlink)")
    return out

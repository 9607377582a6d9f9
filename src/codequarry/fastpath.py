"""The no-op fast path of `quarry extract`: a run with nothing to do, answered in a fraction of one.

A `quarry extract` that changes nothing costs ~0.65 s, nearly all of it imports (pyarrow, deltalake,
pydantic, typer, every extractor module) and opening tables. :func:`try_fast_path` runs before any
of those is imported. It reads the stamp the last identical no-op run left (stamp.py) and, holding
the store's writer lock, checks that nothing it depends on moved:

1. the command line is an ``extract`` this parser reads exactly as typer would (anything else,
   ``--json``, ``--no-fast-path``, ``QUARRY_NO_FAST_PATH=1`` or a test pause point: the normal path);
2. the same request (options, working folder, sources resolved, store, cores, environment);
3. the writer lock is free (it is then held until the run is recorded), the published snapshot is
   byte for byte the stamped one, no table has a commit after its snapshot version and no run left
   staging files;
4. the same code: every module file the stamped run had loaded, every folder of ``sys.path`` and
   every ``entry_points.txt`` on it have the same size, mtime and inode;
5. the same files: the sources scanned again by the scan's own code (git index, ignore rules) give
   the stamped digest of path, size, mtime_ns, inode and mode, and no file is newer than
   ``corpus_io.RACY_NS`` before the stamped scan (a file written in the same timestamp tick could have
   changed without its mtime moving).

Then it prints what the stamped run printed (with its own time), records the run (its report in
``runs/<id>.json``, its ``runs`` row in ``runs/pending/``, see store/runlog.py, and the progress
file) and exits 0 (1 under ``--strict`` when error rows stand). Whatever is unknown or different,
it returns None and the normal path runs, which writes a new stamp when it changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codequarry import stamp as stamps
from codequarry.corpus_io import RACY_NS
from codequarry.scan import SourceRoot, resolve_sources

#: the options of `quarry extract` (cli_extract.extract): name -> (parameter, kind)
OPTIONS: dict[str, tuple[str, str]] = {
    "--store": ("store", "value"),
    "-s": ("store", "value"),
    "--workers": ("workers", "int"),
    "-w": ("workers", "int"),
    "--exclude": ("exclude", "list"),
    "-x": ("exclude", "list"),
    "--select": ("select", "list"),
    "--skip": ("deselect", "list"),
    "--plugin": ("plugin", "list"),
    "-p": ("plugin", "list"),
    "--max-file-size": ("max_file_size", "value"),
    "--file-timeout": ("file_timeout", "float"),
    "--max-memory-per-worker": ("max_memory", "value"),
    "--engine": ("engine", "value"),
    "--address": ("address", "value"),
    "--strict": ("strict", "flag"),
    "--quiet": ("quiet", "flag"),
    "-q": ("quiet", "flag"),
    "--json": ("as_json", "flag"),
    "--repo": ("repo", "value"),
    "--no-fast-path": ("no_fast_path", "flag"),
    "--include-generated": ("include_generated", "flag"),
}
#: the rich console decides on a terminal by these too: with any of them set, the normal path prints
_CONSOLE_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")


@dataclass
class Request:
    """A parsed `quarry extract` command line (values as typer would give them)."""

    sources: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def options_of(
    sources: list[Any],
    *,
    store: Any,
    workers: int | None,
    exclude: list[str] | None,
    select: list[str] | None,
    deselect: list[str] | None,
    plugin: list[str] | None,
    max_file_size: str,
    file_timeout: float,
    max_memory: str | None,
    engine: str,
    address: str | None,
    repo: str | None,
    include_generated: bool = False,
) -> dict[str, Any]:
    """The options that decide a run, normalised (what both the CLI and the fast path key on)."""
    return {
        "sources": [str(Path(s)) for s in sources],
        "store": None if store is None else str(Path(store)),
        "workers": workers,
        "exclude": list(exclude or ()),
        "select": list(select or ()),
        "deselect": list(deselect or ()),
        "plugin": list(plugin or ()),
        "max_file_size": max_file_size,
        "file_timeout": float(file_timeout),
        "max_memory": max_memory,
        "engine": engine,
        "address": address,
        "repo": repo,
        "include_generated": include_generated,
    }


def parse(argv: list[str]) -> Request | None:
    """``extract ...`` as typer reads it, or None for anything this parser is not sure of."""
    if not argv or argv[0] != "extract":
        return None
    req = Request()
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            req.sources.append(arg)
            continue
        name, eq, inline = arg.partition("=")
        if name not in OPTIONS or (eq and not name.startswith("--")):
            return None  # --help, --, '-qw1', '-s=X' (click reads that as the value '=X'), a typo
        param, kind = OPTIONS[name]
        if kind == "flag":
            if eq:
                return None
            req.values[param] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            inline = args[i]
            i += 1
        try:
            value: Any = int(inline) if kind == "int" else float(inline) if kind == "float" else inline
        except ValueError:
            return None
        if kind == "list":
            req.values.setdefault(param, []).append(value)
        else:
            req.values[param] = value
    return req if req.sources else None


def _options(req: Request) -> dict[str, Any]:
    return options_of(
        req.sources,
        store=req.get("store"),
        workers=req.get("workers"),
        exclude=req.get("exclude"),
        select=req.get("select"),
        deselect=req.get("deselect"),
        plugin=req.get("plugin"),
        max_file_size=req.get("max_file_size", "10MB"),
        file_timeout=req.get("file_timeout", 60.0),
        max_memory=req.get("max_memory"),
        engine=req.get("engine", "local"),
        address=req.get("address"),
        repo=req.get("repo"),
        include_generated=bool(req.get("include_generated")),
    )


def store_of(store: str | None, roots: list[SourceRoot]) -> Path:
    """The store a run writes (plan.make_plan's rule: --store, else SOURCE/.quarry, and for a single
    file the nearest existing store above it)."""
    if store:
        return Path(store).expanduser().resolve()
    here = Path(roots[0].root)
    if roots[0].only is not None:
        for folder in (here, *here.parents):
            if (folder / ".quarry" / "store.json").is_file():
                here = folder
                break
    if (here / ".quarry").is_symlink():
        raise ValueError("a default store that is a symlink: the normal path refuses it")
    return here / ".quarry"


def cores() -> int:
    from codequarry.cores import default_workers

    return default_workers()


def try_fast_path(argv: list[str]) -> int | None:
    """Answer a no-op `quarry extract` from its stamp (see the module docstring): the exit code, or
    None when the normal path must run."""
    started, wall = time.perf_counter(), time.time()
    if os.environ.get("QUARRY_NO_FAST_PATH") or os.environ.get("QUARRY_PAUSE_AT"):
        return None
    if any(k in os.environ for k in _CONSOLE_ENV):
        return None
    req = parse(argv)
    if req is None or req.get("no_fast_path") or req.get("as_json"):
        return None
    try:
        return _answer(req, started, wall)
    except KeyboardInterrupt:
        return None  # the normal path starts, and Ctrl-C stops it the usual way
    except Exception:  # noqa: BLE001 - anything unforeseen: the normal path decides
        return None


def _answer(req: Request, started: float, wall: float) -> int | None:
    from codequarry.errors import QuarryError

    try:
        roots = resolve_sources(req.sources)
    except QuarryError:
        return None
    repo = req.get("repo")
    if repo is not None:
        if len(roots) != 1:
            return None
        roots = [SourceRoot(repo=repo, root=roots[0].root, only=roots[0].only, named=True)]
    store = store_of(req.get("store"), roots)
    stamp = stamps.read(store)
    if stamp is None:
        return None
    key = stamps.request_key(_options(req), roots, str(store), cores())
    if stamp.get("key") != json.loads(json.dumps(key)):
        return None
    from codequarry.errors import StoreError
    from codequarry.store.lock import WriterLock

    lock = WriterLock(store)
    try:
        lock.acquire()
    except StoreError:
        return None  # another writer: the normal path says who
    try:
        if not _unchanged(stamp, store):
            return None
        seconds = time.perf_counter() - started
        snapshot = _record(stamp, store, wall, seconds)
        return _reply(stamp, req, seconds, snapshot)
    finally:
        lock.release()


def _unchanged(stamp: dict[str, Any], store: Path) -> bool:
    """Steps 3 to 5 of the module docstring (the caller holds the writer lock)."""
    if stamps.snapshot_digest(store) != stamp["snapshot"]:
        return False
    if not stamps.tables_settled(store, stamp["tables"]) or not stamps.staging_empty(store):
        return False
    # the files first: an edit (the usual reason to run) then costs no stat of every module file
    sources = [SourceRoot(**s) for s in stamp["scoped"]]
    from codequarry.scan import scan

    manifest = scan(sources, exclude=stamp["exclude"], never=[str(store)])
    digest, newest = stamps.listing(manifest, sources, stamp["renames"])
    if digest != stamp["listing"] or newest >= stamp["scan_ns"] - RACY_NS:
        return False
    code = stamp["code"]
    return bool(stamps.code_fingerprint(code["modules"]) == code)


def _record(stamp: dict[str, Any], store: Path, wall: float, seconds: float) -> int | None:
    """Record the run as a no-op run is recorded: report, ``runs`` row (pending), progress file."""
    from codequarry.store.runlog import add_pending
    from codequarry.store.store import RUNS_DIR

    run_id = uuid.uuid4().hex[:12]
    report = dict(stamp["report"])
    report.update(
        run_id=run_id,
        started=wall,
        seconds=round(seconds, 3),
        stages=[{"name": "fast path", "seconds": round(seconds, 6), "rows": 0, "ran": True, "stats": {}}],
        worker_use=[],
        utilisation=None,
        memory={"parent_peak": _peak_rss(), "worker_peak": 0, "interval": 0.0, "samples": []},
    )
    folder = store / RUNS_DIR
    folder.mkdir(exist_ok=True)
    _write(folder / f"{run_id}.json", json.dumps(report, indent=1))
    add_pending(
        store,
        {
            "run_id": run_id,
            "kind": report["kind"],
            "started": wall,
            "seconds": report["seconds"],
            "status": report["status"],
            "snapshot": report.get("snapshot"),
            "published": False,
            "files": report["files"]["scanned"],
            "changed": 0,
            "rows": sum(report.get("rows", {}).values()),
            "errors": sum(c["count"] for c in report.get("error_counts", [])),
            "tasks": 0,
            "tasks_not_ok": 0,
            "message": report.get("message"),
        },
    )
    progress = {
        "run_id": run_id,
        "kind": "extract",
        "pid": os.getpid(),
        "started": wall,
        "updated": time.time(),
        "done": 0,
        "total": 0,
        "bytes_done": 0,
        "bytes_total": 0,
        "state": "up-to-date",
        "stage": "done",
        "snapshot": report.get("snapshot"),
    }
    with contextlib.suppress(OSError):  # progress is a courtesy, as in progress.py
        _write(store / "progress.json", json.dumps(progress))
    snapshot = report.get("snapshot")
    return snapshot if isinstance(snapshot, int) else None


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _peak_rss() -> int:
    from codequarry.report.memory import peak_rss

    return peak_rss()


def _reply(stamp: dict[str, Any], req: Request, seconds: float, snapshot: int | None) -> int:
    """Print what the stamped run printed, with this run's time; the exit code (--strict)."""
    reply = stamp["reply"]
    for warning in reply["warnings"]:
        sys.stderr.write(f"warning: {warning}\n")
    if not req.get("quiet"):
        styled = sys.stdout.isatty() and os.environ.get("TERM") not in ("dumb", "unknown")
        text = reply["styled" if styled else "plain"]
        sys.stdout.write(text.replace(f"{stamps.SECONDS_MARK:.2f}", f"{seconds:.2f}", 1))
        sys.stdout.flush()
    stored = int(reply["errors_stored"])
    if req.get("strict") and stored:
        sys.stderr.write(
            f"--strict: {stored} error rows for these sources in the store, 0 written by this run "
            '(see: quarry sql "SELECT * FROM errors")\n'
        )
        return 1
    return 0

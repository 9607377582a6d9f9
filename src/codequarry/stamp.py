"""The no-op stamp: what a `quarry extract` that changed nothing saw, so that the next identical one
can be answered without importing pyarrow, deltalake, the extractors or typer (see fastpath.py).

``<store>/fastpath.json`` is written by a CLI run that published nothing, under the writer lock, and
holds everything that decides such a run's result:

- ``key``: the request as the command line gave it (options normalised the way typer reads them,
  the working folder, the sources resolved to real paths, the store, the cores, the environment the
  listing and the plugins depend on);
- ``snapshot``: the sha256 of ``snapshot.json``, and each table's last Delta commit (a commit after
  it, left by a run killed since, defeats the stamp);
- ``code``: the code that would run: codequarry's version, the Python, ``sys.path`` and the stat
  (size, mtime_ns, inode) of every folder on it, of every module file the run had loaded (codequarry,
  plugins, entry-point modules, deltalake, ...), and of every ``entry_points.txt`` on ``sys.path``;
- ``listing``: per source, a digest of the scan (path, size, mtime_ns, inode, mode of every file,
  the skipped entries, how it was listed) made by the scan's own code (``scan.scan``: git index,
  ignore rules, pruned folders), and the package folders above each root (module names);
- ``scan_ns``: when the scan began. A file whose mtime is less than ``RACY_NS`` before it could have
  been written again in the same timestamp tick without its mtime changing (git's "racy clean"
  problem), so such a stamp is never trusted;
- ``reply``: what the run printed (plain and styled), its warnings, the error rows --strict judges,
  and the report to record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from codequarry.corpus_io import RACY_NS, os_path
from codequarry.scan import PRUNED_DIRS, Manifest, SourceRoot, _package_chain_above
from codequarry.store import metafile
from codequarry.version import __version__

FILE = "fastpath.json"
FORMAT = 1
#: environment variables that change what a run lists, loads or decides
ENV = (
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_CONFIG_GLOBAL",
    "GIT_CEILING_DIRECTORIES",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSAFEPATH",
)
SECONDS_MARK = 987654.32  # the run's seconds in the stored reply, replaced by the fast run's


def request_key(
    options: dict[str, Any], roots: Sequence[SourceRoot], store: str, cores: int
) -> dict[str, Any]:
    """The request of a run as JSON-able data: equal keys mean the same run would be asked for."""
    return {
        "options": options,
        "cwd": os.getcwd(),
        "roots": [[r.repo, r.root, r.only, r.named] for r in roots],
        "store": store,
        "cores": cores,
        "env": {k: os.environ.get(k) for k in ENV},
        "quarry_env": sorted((k, v) for k, v in os.environ.items() if k.startswith("QUARRY_")),
    }


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode]


def _digest(items: Iterable[object]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item).encode())
        h.update(b"\n")
    return h.hexdigest()


def _entry_point_files(paths: Sequence[str]) -> list[str]:
    """Every ``entry_points.txt`` of a distribution on ``paths`` (where entry points come from)."""
    out = []
    for folder in paths:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                out.append(os.path.join(folder or ".", name, "entry_points.txt"))
    return out


def code_fingerprint(modules: Sequence[str]) -> dict[str, Any]:
    """The code that would run: see the module docstring. ``modules`` are the module files to stat."""
    paths = list(sys.path)
    return {
        "codequarry": __version__,
        "python": [sys.executable, sys.version],
        "path": paths,
        "modules": list(modules),
        "digest": _digest(
            [[p, _stat(p or ".")] for p in paths]
            + [[m, _stat(m)] for m in modules]
            + [[e, _stat(e)] for e in _entry_point_files(paths)]
        ),
    }


def loaded_modules() -> list[str]:
    """The files of every module this process has loaded."""
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    return sorted(f for f in files if isinstance(f, str))


def listing(manifest: Manifest, sources: Sequence[SourceRoot], renames: dict[str, str]) -> tuple[str, int]:
    """(digest of a scan of ``sources``, under the repo names ``renames`` gives, newest mtime_ns)."""
    newest = 0
    items: list[object] = []
    for f in manifest.files:
        st = _stat(os_path(f.root, f.path))
        newest = max(newest, f.mtime_ns)
        items.append([renames.get(f.repo, f.repo), f.root, f.path, f.size, f.mtime_ns, f.language, st])
    items.append(sorted([renames.get(r, r), p, why] for r, p, why in manifest.skipped))
    items.append(sorted((renames.get(r, r), v) for r, v in manifest.listing.items()))
    items.append(manifest.notes)
    items.append([_package_chain_above(s.root) for s in sources])
    items.append(sorted(PRUNED_DIRS))
    return _digest(items), newest


def snapshot_digest(store: Path) -> str | None:
    try:
        return hashlib.sha256(metafile.read_bytes(store / "snapshot.json")).hexdigest()
    except OSError:
        return None


def last_commits(store: Path, tables: Iterable[str]) -> dict[str, int]:
    """The last Delta commit of each table (the snapshot's version, or a later rollback's restore or
    maintenance commit the normal path keeps), read from the log folder's names."""
    out = {}
    for name in tables:
        try:
            names = os.listdir(store / "tables" / name / "_delta_log")
        except OSError:
            out[name] = -1
            continue
        out[name] = max((int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json")), default=-1)
    return out


def tables_settled(store: Path, tables: dict[str, int]) -> bool:
    """No table has a Delta commit after the stamped one (a run killed since, or maintenance)."""
    for name, version in tables.items():
        if os.path.lexists(store / "tables" / name / "_delta_log" / f"{version + 1:020d}.json"):
            return False
    return True


def staging_empty(store: Path) -> bool:
    try:
        return not any(os.scandir(store / "staging"))
    except FileNotFoundError:
        return True
    except OSError:
        return False


def read(store: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(metafile.read_text(store / FILE))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def write(store: Path, stamp: dict[str, Any]) -> None:
    """Write the stamp atomically; a stamp that cannot be written only costs the next run its speed."""
    path = store / FILE
    tmp = store / f".{FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps({"format": FORMAT, **stamp}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        forget(store)


def forget(store: Path) -> None:
    for name in (FILE, f".{FILE}.{os.getpid()}.tmp"):
        with contextlib.suppress(OSError):
            os.unlink(store / name)


def stamp_run(
    key: dict[str, Any],
    given: Sequence[SourceRoot],
    exclude: Sequence[str],
    warnings: Sequence[str],
    render: Any,
    summary: Any,
    txn: Any,
    recorder: Any,
) -> None:
    """After a CLI run, under its lock: stamp a run that changed nothing (see the module docstring);
    any other run leaves no stamp. ``render(summary, styled)`` gives the text the run printed."""
    import dataclasses

    from codequarry.repos import registry, scope_files

    store = Path(txn.store.path)
    manifest, sources, scan_ns = (txn.extras.get(k) for k in ("manifest", "sources", "scan_ns"))
    report = getattr(recorder, "report", None)
    if summary.published or txn.notes or summary.touched or manifest is None or report is None:
        forget(store)
        return
    scoped = scope_files(registry(txn.previous), list(given))
    renames = {a.repo: b.repo for a, b in zip(scoped, sources, strict=True)}
    digest, newest = listing(manifest, scoped, {})
    if newest >= scan_ns - RACY_NS:
        forget(store)  # a file as new as the scan's timestamp tick: the next run looks again
        return
    marked = dataclasses.replace(summary, seconds=SECONDS_MARK)
    previous = txn.previous
    write(
        store,
        {
            "key": json.loads(json.dumps(key)),
            "snapshot": snapshot_digest(store),
            "tables": last_commits(store, previous.tables if previous else ()),
            "code": code_fingerprint(loaded_modules()),
            "scoped": [dataclasses.asdict(s) for s in scoped],
            "renames": renames,
            "exclude": list(exclude),
            "listing": digest,
            "scan_ns": scan_ns,
            "reply": {
                "plain": render(marked, False),
                "styled": render(marked, True),
                "warnings": list(warnings),
                "errors_stored": summary.errors_stored,
            },
            "report": report.model_dump(mode="json"),
        },
    )

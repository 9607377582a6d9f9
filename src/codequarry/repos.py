"""Repo identity: which stored repo a source is, whatever folder it sits in today.

Every row is keyed by (repo, path), paths relative to the repo's root, so a tree moved or renamed
must map onto the repo name it had, or every row would be stored twice. The registry of a store
(kept in each snapshot's ``run["repos"]``, so that it changes atomically with the rows) maps a repo
name to its identity and the roots it was seen at. A source is matched, in this order:

1. ``--repo NAME``: that name, whatever the folder (identity ``name:NAME``);
2. a root already registered: its repo;
3. a git work tree: ``git:<root commit>`` (plus ``/<subfolder>`` when the source is a folder inside
   the work tree), read from the repository's refs and objects by :mod:`codequarry.git_root` (no link
   followed, no blocking open); git never runs and the repository's config is never read. Two
   clones, or a moved clone, share their root commit;
4. a plain folder: a registered folder-repo whose roots no longer exist and whose stored files match
   the folder's (same relative paths and sizes, and the same mtime or sha256, for 80% of the files) is
   the same tree moved; otherwise the folder's name (made unique against registered repos still on
   disk).

A single file given as a source belongs to the registered repo whose root contains it: it is scanned
as part of that repo (so its module name is the same as in a whole run) and only its rows change.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

from codequarry.corpus_io import hash_file
from codequarry.git_root import root_commit
from codequarry.scan import Manifest, ScannedFile, SourceRoot
from codequarry.store import Snapshot, Store

MOVED_MATCH = 0.8  # share of files that must match for a plain folder to be a moved repo
MAX_HASHED = 200  # files hashed to confirm a move whose mtimes changed (a copy)


def registry(snap: Snapshot | None) -> dict[str, dict[str, Any]]:
    """name -> {"identity": str, "roots": [str, ...]} of the snapshot (repos of older stores appear
    with the roots their last run recorded and identity ``folder``)."""
    if snap is None:
        return {}
    reg = snap.run.get("repos")
    out: dict[str, dict[str, Any]] = {}
    if isinstance(reg, dict):
        for name, info in reg.items():
            if isinstance(info, dict):
                out[str(name)] = {
                    "identity": str(info.get("identity", "folder")),
                    "roots": [str(r) for r in info.get("roots", [])],
                }
    for name in snap.run.get("state", {}) if isinstance(snap.run.get("state"), dict) else ():
        if name not in out:
            root = (snap.run.get("sources") or {}).get(name)
            out[name] = {"identity": "folder", "roots": [root] if isinstance(root, str) else []}
    return out


def git_identity(root: str) -> str | None:
    """``git:<root commit>[/<subfolder>]`` of the git work tree holding ``root``, or None (no git, no
    commit yet, a shallow clone whose root commit is not here, unreadable objects)."""
    from codequarry.git_listing import GitDirOutside, _common_dir, find_work_tree

    try:
        found = find_work_tree(root)
    except GitDirOutside:  # another repository's identity is not borrowed (the scan's note says why)
        return None
    if found is None:
        return None
    top, gitdir = found
    common = _common_dir(gitdir)
    if os.path.exists(os.path.join(common, "shallow")):
        return None
    sha = root_commit(gitdir, common)
    if sha is None:
        return None
    sub = os.path.relpath(root, top)
    return f"git:{sha.decode()}" + ("" if sub == "." else f"/{sub}")


def _stored_files(store: Store, snap: Snapshot, repo: str) -> dict[str, tuple[int, int, str]]:
    from codequarry.incremental import _read

    files = _read(store, snap, "files", ["path", "size_bytes", "mtime_ns", "sha256"], [repo])
    if files is None:
        return {}
    cols = [files.column(i).to_pylist() for i in range(4)]
    return {p: (s, m, h) for p, s, m, h in zip(*cols, strict=True)}


def _moved(store: Store, snap: Snapshot, repo: str, files: list[ScannedFile]) -> bool:
    """Do the scanned ``files`` match the stored files of ``repo`` (see MOVED_MATCH)?"""
    old = _stored_files(store, snap, repo)
    if not old or not files:
        return False
    matched = hashed = 0
    for f in files:
        prev = old.get(f.path)
        if prev is None or prev[0] != f.size:
            continue
        if prev[1] == f.mtime_ns:
            matched += 1
        elif hashed < MAX_HASHED:
            hashed += 1
            try:
                matched += hash_file(f.root, f.path)[0] == prev[2]
            except OSError:
                continue
    return matched >= MOVED_MATCH * max(len(old), len(files))


def _gone(info: dict[str, Any]) -> bool:
    return bool(info["roots"]) and not any(os.path.isdir(r) for r in info["roots"])


def resolve(
    store: Store, snap: Snapshot | None, sources: Iterable[SourceRoot], manifest: Manifest
) -> tuple[list[SourceRoot], dict[str, dict[str, Any]]]:
    """Give each source its repo name (see the module docstring); returns the sources renamed and
    the registry after this run. ``manifest`` is the scan (under the provisional names)."""
    reg = registry(snap)
    by_repo: dict[str, list[ScannedFile]] = {}
    for f in manifest.files:
        by_repo.setdefault(f.repo, []).append(f)
    out: list[SourceRoot] = []
    tools = tool_names(store, snap)
    taken: set[str] = set(tools)  # a new repo named like a tool takes the next free name
    for src in sources:
        if src.repo in tools and (src.named or src.repo in reg):
            from codequarry.errors import UsageError

            raise UsageError(
                f"repo '{src.repo}' has the name of a tool whose rows this store holds: a repo's rows "
                f"and a tool's share their keys (repo, path), so either would replace the other's "
                f"errors rows; give the source another name with --repo"
            )
        name, identity = _match(store, snap, reg, src, by_repo.get(src.repo, []), taken)
        taken.add(name)
        entry = reg.setdefault(name, {"identity": identity, "roots": []})
        if entry["identity"] == "folder" and identity != "folder":
            entry["identity"] = identity
        if src.root not in entry["roots"]:
            entry["roots"] = [r for r in entry["roots"] if os.path.isdir(r)] + [src.root]
        out.append(dataclasses.replace(src, repo=name))
    return out, reg


def tool_names(store: Store, snap: Snapshot | None) -> set[str]:
    """The tools (`quarry run`) whose rows the snapshot holds: their names are the rows' repo."""
    if snap is None or "tool_runs" not in snap.tables:
        return set()
    import pyarrow.compute as pc

    from codequarry.store.store import live_dataset

    data = live_dataset(store, "tool_runs", snap.tables["tool_runs"].version).to_table(columns=["repo"])
    return {str(r) for r in pc.unique(data.column("repo")).to_pylist() if r is not None}


def _match(
    store: Store,
    snap: Snapshot | None,
    reg: dict[str, dict[str, Any]],
    src: SourceRoot,
    files: list[ScannedFile],
    taken: set[str],
) -> tuple[str, str]:
    if src.named:
        return src.repo, f"name:{src.repo}"
    for name, info in reg.items():
        if src.root in info["roots"] and name not in taken:
            return name, info["identity"]
    identity = git_identity(src.root) or "folder"
    if identity != "folder":
        for name, info in reg.items():
            if info["identity"] == identity and name not in taken:
                return name, identity
    if snap is not None and src.only is None:
        for name, info in reg.items():
            if (
                name not in taken
                and info["identity"] == "folder"
                and _gone(info)
                and _moved(store, snap, name, files)
            ):
                return name, identity
    old = reg.get(src.repo)
    if old is not None and not old["roots"] and src.repo not in taken:  # a store from before the registry
        return src.repo, identity
    name, n = src.repo, 2
    while (
        name in taken
        or (name in reg and not _gone(reg[name]))
        or (name in reg and snap is not None and not _moved(store, snap, name, files))
    ):
        name, n = f"{src.repo}-{n}", n + 1
    return name, identity


def rename_manifest(manifest: Manifest, renames: dict[str, str]) -> None:
    """Put the scanned files (and skips) under the repo names ``resolve`` chose."""
    if not any(a != b for a, b in renames.items()):
        return
    # (the constructor, not dataclasses.replace: ~5x faster a file, ~0.01 s of every run on 2,400 files)
    manifest.files = [
        f
        if (repo := renames.get(f.repo, f.repo)) == f.repo
        else ScannedFile(repo, f.root, f.path, f.size, f.mtime_ns, f.language)
        for f in manifest.files
    ]
    manifest.skipped = [(renames.get(r, r), p, why) for r, p, why in manifest.skipped]
    manifest.listing = {renames.get(r, r): v for r, v in manifest.listing.items()}


def containing(reg: dict[str, dict[str, Any]], path: str) -> tuple[str, str] | None:
    """(repo, root) of the registered repo whose root holds the file ``path`` (the deepest one)."""
    best: tuple[str, str] | None = None
    for name, info in reg.items():
        for root in info["roots"]:
            if path.startswith(root.rstrip("/") + "/") and (best is None or len(root) > len(best[1])):
                best = (name, root)
    return best


def scope_files(reg: dict[str, dict[str, Any]], sources: Iterable[SourceRoot]) -> list[SourceRoot]:
    """A single-file source inside a registered repo's root becomes that repo, scoped to the file."""
    out = []
    for src in sources:
        path = os.path.join(src.root, src.only) if src.only is not None and not src.named else None
        hit = containing(reg, path) if path is not None else None
        if path is None or hit is None:
            out.append(src)
            continue
        name, root = hit
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        out.append(SourceRoot(repo=name, root=root, only=None, scope=rel))
    return out


def list_repos(store: Store) -> list[dict[str, Any]]:
    """The repos of the store's live snapshot: name, identity, roots, files and rows (every table
    with a ``repo`` column counted)."""
    import pyarrow.compute as pc

    from codequarry.store.store import live_dataset

    snap = store.snapshot()
    if snap is None:
        return []
    reg = registry(snap)
    rows: dict[str, int] = dict.fromkeys(reg, 0)
    files: dict[str, int] = dict.fromkeys(reg, 0)
    for name, state in sorted(snap.tables.items()):
        if not state.rows:
            continue
        data = live_dataset(store, name, state.version)
        if "repo" not in data.schema.names:
            continue
        counts = pc.value_counts(data.to_table(columns=["repo"]).column("repo")).to_pylist()
        for item in counts:
            repo, n = item["values"], item["counts"]
            reg.setdefault(repo, {"identity": "unregistered", "roots": []})
            rows[repo] = rows.get(repo, 0) + n
            if name == "files":
                files[repo] = n
    return [
        {
            "repo": r,
            "identity": info["identity"],
            "roots": info["roots"],
            "files": files.get(r, 0),
            "rows": rows.get(r, 0),
        }
        for r, info in sorted(reg.items())
    ]


def remove_repo(store: Store, name: str) -> dict[str, Any]:
    """Remove every row of repo ``name`` from every table, and the repo from the registry, in one
    published snapshot (under the writer lock). Tables without a ``repo`` column that operations
    derived leave the snapshot: their operations derive them again at the next run."""
    from codequarry.errors import UsageError, printable
    from codequarry.parts import Replacement
    from codequarry.store.transaction import begin_run
    from codequarry.store.writer import open_table

    with begin_run(store, "repos remove") as txn:
        snap = txn.previous
        reg = registry(snap)
        known = {r["repo"] for r in list_repos(store)} if snap is not None else set()
        if snap is None or name not in known:
            from codequarry.errors import did_you_mean

            message = (
                f"no repo '{name}' in store '{store.path}'.{did_you_mean(name, sorted(known))} "
                "'quarry repos' lists them"
            )
            raise UsageError(printable(message, tabs=False))  # the names in it may be folder names
        replace: dict[str, Replacement] = {}
        derived = {
            t
            for info in snap.run.get("operations", {}).values()
            if isinstance(info, dict)
            for t in info.get("outputs", {})
        }
        dropped_tables = []
        for table in snap.tables:
            delta = open_table(store.table_path(table))
            if delta is not None and "repo" in [f.name for f in delta.schema().fields]:
                replace[table] = Replacement(repos={name})
            elif table in derived:
                dropped_tables.append(table)
        states = txn.commit(replace)
        for table in dropped_tables:
            states.pop(table, None)
        run = dict(snap.run)
        for key in ("state", "outputs", "sources"):
            if isinstance(run.get(key), dict):
                run[key] = {k: v for k, v in run[key].items() if k != name}
        reg.pop(name, None)
        run["repos"] = reg
        run["kind"] = "repos remove"
        new = txn.publish(states, run=run)
    removed = {t: snap.tables[t].rows - states[t].rows for t in states if t in snap.tables}
    return {"snapshot": new.id, "rows_removed": sum(removed.values()), "tables_dropped": dropped_tables}


def refuse_shipped_store(store_path: str | os.PathLike[str]) -> None:
    """Refuse a store that the git repository around it tracks: it came with the repository.

    Such a store was made by whoever committed it; its ``files`` rows can carry the sha256 of the
    real files next to rows that say anything, and a run would copy those rows as "already extracted".
    The user's own store is never tracked (its ``.gitignore`` keeps it out of git). The index is
    searched for the store's folder as bytes first; only a hit (or an index v4, whose names are
    prefix-compressed) is confirmed by parsing it.
    """
    from codequarry.errors import UsageError
    from codequarry.git_listing import MAX_INDEX_BYTES, DamagedIndex, find_work_tree, read_index, read_regular

    real = os.path.realpath(store_path)
    try:
        found = find_work_tree(real) if os.path.isdir(real) else None
    except DamagedIndex:  # a git directory outside the work tree: not read, so nothing says "tracked"
        return
    if found is None:
        return
    top, gitdir = found
    rel = os.path.relpath(real, top).replace(os.sep, "/")
    if rel == "." or rel.startswith("../") or ".git" in rel.split("/"):
        return
    data = read_regular(os.path.join(gitdir, "index"), MAX_INDEX_BYTES)
    folder = os.fsencode(rel + "/")
    if data is None or (folder not in data and data[4:8] != b"\0\0\0\x04"):
        return
    try:
        tracked, _modules = read_index(gitdir)
    except DamagedIndex:
        return  # the scan walks such a tree and says why
    if any(name.startswith(rel + "/") for name in tracked):
        raise UsageError(
            f"store '{store_path}' is tracked by git in '{top}': it came with the repository and may "
            "hold any facts; extract into a store of your own (--store PATH outside the repository, "
            f"or remove '{rel}' from the repository)"
        )


def scan_sources(
    store: Store | None,
    snap: Snapshot | None,
    sources: Iterable[SourceRoot],
    *,
    exclude: Iterable[str],
    never: Iterable[Any],
) -> tuple[list[SourceRoot], dict[str, dict[str, Any]], Manifest]:
    """Scan the sources under the repo names they have in the store (see ``resolve``): returns the
    sources renamed (a file of a registered repo scoped to it), the registry after the run, and the
    manifest. What `quarry extract` and `quarry plan` both start with."""
    from codequarry.scan import scan

    given = list(sources)
    if store is not None:
        refuse_shipped_store(store.path)
    scoped = scope_files(registry(snap), given)
    try:
        manifest = scan(scoped, exclude=exclude, never=never)
    except OSError as exc:  # a source root deleted or renamed since the command checked it
        roots = {str(s.root) for s in scoped}
        if exc.filename is None or str(exc.filename) not in roots:
            raise
        from codequarry.errors import UsageError

        raise UsageError(
            f"source '{exc.filename}' cannot be read ({exc.strerror}): it was removed or renamed "
            "during the run; nothing was published"
        ) from None
    if store is None:
        return scoped, registry(snap), manifest
    resolved, reg = resolve(store, snap, scoped, manifest)
    rename_manifest(manifest, {a.repo: b.repo for a, b in zip(scoped, resolved, strict=True)})
    return resolved, reg, manifest

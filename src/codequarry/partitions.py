"""Which partitions (repos) of an operation's inputs changed between two versions of its inputs.

A Delta version differs from another by the Parquet parts it adds and removes; rows never change in
place. So the repos whose rows may differ are the repos of the parts in the symmetric difference of
the two versions' live files: read from the part's statistics when it holds one repo (what a run
writes: one part per worker chunk and repo is not guaranteed, so the stats are checked), else from
its ``repo`` column. The answer is a superset of the repos that changed, which is all exactness
needs: re-deriving an unchanged repo gives the rows it had.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from codequarry.store import Store, warm


def _files(store: Store, name: str, version: int) -> dict[str, tuple[str | None, str | None]]:
    """path -> (min repo, max repo) of the live parts of ``name`` at ``version``."""
    table = store.open_delta(name, version)
    from codequarry.store.store import arrow_table

    actions = arrow_table(table.get_add_actions(flatten=True))
    if not actions.num_rows:
        return {}
    cols = actions.column_names
    n = actions.num_rows
    lo = actions.column("min.repo").to_pylist() if "min.repo" in cols else [None] * n
    hi = actions.column("max.repo").to_pylist() if "max.repo" in cols else [None] * n
    return dict(zip(actions.column("path").to_pylist(), zip(lo, hi, strict=True), strict=True))


def _repos_of_part(store: Store, name: str, path: str, lo: str | None, hi: str | None) -> set[str]:
    from codequarry.store.store import part_inside

    if lo is not None and lo == hi:
        return {lo}
    if not part_inside(path):
        raise ValueError(f"table '{name}' names a part outside itself: {path}")
    column = pq.read_table(str(store.table_path(name) / path), columns=["repo"]).column("repo")
    return {r for r in pc.unique(column).to_pylist() if r is not None}


def has_repo(store: Store, name: str, version: int) -> bool:
    return "repo" in [f.name for f in store.open_delta(name, version).schema().fields]


def changed_repos(store: Store, before: Mapping[str, int], after: Mapping[str, int]) -> set[str] | None:
    """Repos whose rows may differ in any input between the versions ``before`` and ``after``;
    None when that cannot be told per repo (an input without a ``repo`` column changed, or an input
    appeared or went), so that the operation runs whole."""
    if set(before) != set(after):
        return None
    changed: set[str] = set()
    for name, version in after.items():
        old = before[name]
        if old == version:
            continue
        recorded = warm.changes(store.table_path(name), old, version)
        if recorded is not None:  # committed by this process, which kept the keys it changed
            changed |= {repo for repo, _path in recorded}
            continue
        if not has_repo(store, name, version):
            return None
        a, b = _files(store, name, old), _files(store, name, version)
        for path in a.keys() ^ b.keys():
            lo, hi = a.get(path) or b[path]
            changed |= _repos_of_part(store, name, path, lo, hi)
    return changed


def sql_string_list(values: set[str]) -> str:
    """('a', 'b''c') for a Delta predicate: every value quoted, quotes doubled."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + ")"


# -- keyed partitions: which files' rows changed ------------------------------------------------------
FileKey = tuple[str, str]  # (repo, path)


def changed_files(store: Store, before: Mapping[str, int], after: Mapping[str, int]) -> set[FileKey] | None:
    """The (repo, path) keys whose rows differ in some input between the versions ``before`` and
    ``after``; None when that cannot be told per file (an input without ``repo`` and ``path``
    columns changed, an input appeared or went, or a removed part cannot be read any more).

    The parts a version removed and added are read and compared key by key: a part rewritten without
    one file's rows (what dropping a changed file does) carries the other files' rows over unchanged,
    so those files do not count. The answer may hold a key whose rows are in fact equal (rows whose
    order the comparison cannot settle), never miss one whose rows differ."""
    if set(before) != set(after):
        return None
    changed: set[FileKey] = set()
    try:
        for name, version in after.items():
            old = before[name]
            if old == version:
                continue
            recorded = warm.changes(store.table_path(name), old, version)
            if recorded is not None:  # committed by this process, which kept the keys it changed
                changed |= recorded
                continue
            names = [f.name for f in store.open_delta(name, version).schema().fields]
            if "repo" not in names or "path" not in names:
                return None
            a, b = _files(store, name, old), _files(store, name, version)
            removed = _read_parts(store, name, [p for p in a if p not in b])
            added = _read_parts(store, name, [p for p in b if p not in a])
            changed |= differing_keys(removed, added)
    except (OSError, ValueError, pa.ArrowException):
        return None
    return changed


def _read_parts(store: Store, name: str, paths: list[str]) -> pa.Table | None:
    from codequarry.partcache import read_part
    from codequarry.store.store import part_inside

    tables = []
    for path in paths:
        if not part_inside(path):
            raise ValueError(f"table '{name}' names a part outside itself: {path}")
        tables.append(read_part(store, name, str(store.table_path(name) / path)))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def _key_counts(data: pa.Table | None) -> dict[FileKey, int]:
    if data is None or not data.num_rows:
        return {}
    counts = data.group_by(["repo", "path"]).aggregate([([], "count_all")])
    return {
        (r, p): n
        for r, p, n in zip(
            counts.column("repo").to_pylist(),
            counts.column("path").to_pylist(),
            counts.column("count_all").to_pylist(),
            strict=True,
        )
    }


def differing_keys(old: pa.Table | None, new: pa.Table | None) -> set[FileKey]:
    """Keys whose multiset of rows differs between ``old`` and ``new`` (a superset: see above)."""
    a, b = _key_counts(old), _key_counts(new)
    out = {k for k in a.keys() ^ b.keys()} | {k for k in a.keys() & b.keys() if a[k] != b[k]}
    same = sorted(k for k in a.keys() & b.keys() if a[k] == b[k])
    if not same or old is None or new is None:
        return out
    if old.schema != new.schema:
        return out | set(same)
    keys = pa.array([f"{r}\0{p}" for r, p in same], pa.string())

    def subset(data: pa.Table) -> pa.Table:
        joined = pc.binary_join_element_wise(data.column("repo"), data.column("path"), "\0")
        data = data.filter(pc.fill_null(pc.is_in(joined, value_set=keys), False))
        order = [("repo", "ascending"), ("path", "ascending")] + [
            (f.name, "ascending")
            for f in data.schema
            if f.name not in ("repo", "path") and not pa.types.is_nested(f.type)
        ]
        return data.sort_by(order)

    try:
        x, y = subset(old), subset(new)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return out | set(same)
    if x.equals(y):
        return out
    start = 0
    for key in same:  # both are sorted by key and hold the same number of rows per key
        n = a[key]
        if not x.slice(start, n).equals(y.slice(start, n)):
            out.add(key)
        start += n
    return out

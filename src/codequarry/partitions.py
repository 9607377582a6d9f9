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

import pyarrow.compute as pc
import pyarrow.parquet as pq

from codequarry.store import Store


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

"""The ``errors`` rows of operations: what an operation could not do, said where the file extractors
say theirs.

A file extractor that fails on a file writes one ``errors`` row (the file's ``repo``, ``path`` and
``sha256``, ``extractor`` its name, ``kind``, ``message``, ``line``, ``column``, ``source_line``). An
operation reports the same way through ``ctx.error(...)``: the row names the file (and line) the
problem is about and carries the operation's name in ``extractor``. These rows are exact like the
operation's outputs:

- a run of the operation replaces its rows in the scope it re-derives: all of them on a whole run;
  on an incremental run those of the repos in ``ctx.error_repos`` (the repos given to a
  ``partition="repo"`` operation; the repos of the changed files for a keyed one), so an operation
  reports every error of those repos on such a run, and a row whose cause is gone disappears;
- the run records how many rows the operation has (``errors`` in its state in the snapshot); when
  the table holds another number at the next run (a changed file's rows dropped by the extraction,
  ``quarry repos remove``), the operation runs whole, so a row is never lost while its cause stays;
- an operation no longer selected loses its rows with its outputs.

The rows of one DAG layer are written after the layer's operations finished, one operation at a time
(they share one table).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pyarrow as pa

from codequarry.datasets import Error, error_fields
from codequarry.store import Store, TableState
from codequarry.store.store import live_dataset

NAME = "errors"
_COLUMNS = tuple(f.name for f in Error.schema)


def make_row(
    *,
    repo: str,
    path: str,
    sha256: str | None,
    kind: str,
    message: str,
    line: int | None = None,
    column: int | None = None,
    source_line: str | None = None,
) -> dict[str, Any]:
    """One errors row (``extractor`` is filled in with the operation's name when it is written)."""
    if not isinstance(repo, str) or not isinstance(path, str) or not repo or not path:
        raise ValueError("an errors row names a file: repo and path are non-empty strings")
    if not isinstance(kind, str) or not isinstance(message, str) or not kind or not message:
        raise ValueError("an errors row has a kind and a message (non-empty strings)")
    # cut and cleaned as a worker's errors row is (datasets.error_fields): it must always build
    return {
        "repo": repo,
        "path": path,
        "sha256": sha256,
        **error_fields("", kind, message, line, column, source_line),
    }


def table_of(rows: list[dict[str, Any]], op: str) -> pa.Table:
    """The rows as a table of the errors schema, ``extractor`` set to ``op``."""
    return pa.Table.from_pylist([{**r, "extractor": op} for r in rows], schema=Error.schema)


def _filter(op: str, repos: Collection[str] | None) -> Any:
    import pyarrow.dataset as ds

    expr = ds.field("extractor") == op
    if repos is not None:
        expr = expr & ds.field("repo").isin(sorted(repos))
    return expr


def _predicate(op: str, repos: Collection[str] | None) -> str:
    from codequarry.partitions import sql_string_list

    pred = "extractor = '" + op.replace("'", "''") + "'"
    return pred if repos is None else f"{pred} AND repo IN {sql_string_list(set(repos))}"


def stored(store: Store, state: TableState | None, op: str, repos: Collection[str] | None = None) -> pa.Table:
    """The operation's rows in the errors table (of ``repos`` only, when given)."""
    if state is None:
        return Error.schema.empty_table()
    data = live_dataset(store, NAME, state.version).to_table(filter=_filter(op, repos))
    return data.select(list(_COLUMNS)).cast(Error.schema)


def count(store: Store, state: TableState | None, op: str) -> int:
    """How many rows of the operation the errors table holds."""
    if state is None:
        return 0
    return int(live_dataset(store, NAME, state.version).count_rows(filter=_filter(op, None)))


def replace(
    store: Store, state: TableState | None, op: str, repos: Collection[str] | None, rows: pa.Table
) -> TableState | None:
    """Replace the operation's rows (of ``repos``; all when None) by ``rows``; returns the new state
    of the errors table, or None when it already held exactly those rows (nothing written)."""
    from deltalake import DeltaTable, write_deltalake

    if repos is not None and not repos:
        return None
    old = stored(store, state, op, repos)
    if _same(old, rows):
        return None
    path = str(store.table_path(NAME))
    try:
        if state is None:
            write_deltalake(path, rows, mode="overwrite", schema_mode="overwrite")
        elif rows.num_rows:
            write_deltalake(path, rows, mode="overwrite", predicate=_predicate(op, repos))
        else:
            DeltaTable(path, version=None).delete(_predicate(op, repos))
        table = DeltaTable(path)
    except Exception as exc:  # a damaged log, a full disk: say which table, and the fix
        from codequarry.store.damage import translate
        from codequarry.store.store import damaged

        raise (
            translate(store, exc, f"writing '{NAME}'") or damaged(store, NAME, str(exc).strip()[:200])
        ) from exc
    from codequarry.store.writer import count_rows

    return TableState(version=table.version(), rows=count_rows(table))


def _same(old: pa.Table, new: pa.Table) -> bool:
    if old.num_rows != new.num_rows:
        return False
    if not old.num_rows:
        return True
    keys = [(c, "ascending") for c in _COLUMNS]
    return bool(old.sort_by(keys).equals(new.select(list(_COLUMNS)).sort_by(keys)))


def drop_gone(
    store: Store, states: dict[str, TableState], previous: Mapping[str, Any], kept: set[str]
) -> None:
    """Remove the rows of operations that recorded some (``previous``) but are not in ``kept``."""
    for name, info in sorted(previous.items()):
        if name in kept or not isinstance(info, Mapping) or not info.get("errors"):
            continue
        got = replace(store, states.get(NAME), name, None, Error.schema.empty_table())
        if got is not None:
            states[NAME] = got

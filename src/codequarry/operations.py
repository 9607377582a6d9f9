"""Operations: table-level steps over whole datasets, run after the file extractors, in DAG layers.

An operation declares the datasets it reads and writes; it receives an :class:`OperationContext`
over the run's new snapshot and returns Arrow::

    import pyarrow as pa
    from codequarry import dataset, operation

    @dataset("unused_env")
    class UnusedEnv:
        name: str

    @operation("acme.env.unused", version=1, inputs=["env_reads", "assignments"], outputs=[UnusedEnv])
    def unused_env(ctx) -> pa.Table:
        return ctx.sql("SELECT DISTINCT e.repo, e.path, e.sha256, e.name FROM env_reads e "
                       "LEFT JOIN assignments a ON a.target = e.name WHERE a.target IS NULL")

The result is one Arrow table (or a dict of them, one per output) whose columns are matched to the
declared schema by name and cast to it. An operation's outputs are rewritten whole each time it runs,
unless it declares a partition (per repo, per file or per key, with ``affected``: see
:func:`codequarry.api.operation` and docs/incremental.md), when only the partitions a change can
reach are derived and replaced. An incremental run re-runs it unless its version, the versions of its inputs AND the versions of its
outputs are all those recorded when it last ran (so an output emptied or rewritten by anything else
is derived again). An operation that ran before and is not selected now (an opt-in one such as
``python.call_graph`` left out, or a plugin removed) has its output tables dropped from the snapshot:
a derived table is either up to date or absent, never silently stale.

**Where an operation runs.** The operations of one DAG layer run at the same time. With more than one
worker, a one-run process (``quarry extract``) spreads them over the run's own process and its worker
processes, which are idle by then (forked at the start of the run; the operation is sent by the
module and name it is declared under, its context and result by pickle): so an operation must give
its result by what it returns (and ``ctx.error``, ``ctx.report``), not by changing module-level
state another operation reads. A long-lived process (``quarry watch``, see ``ctx.kept`` below), one
worker, ``--max-memory-per-worker``, or an operation that cannot be found by name again (made at run
time) runs in the run's process, in threads.

**Errors** (``ctx.error(repo, path, sha256, kind, message, line=None, column=None,
source_line=None)``). What an operation could not do, or cut, it reports as the file extractors report
theirs: one row of the ``errors`` table, with the same columns and meaning (the file the problem is
about, ``extractor`` the operation's name, a ``kind`` such as ``limit``, a one-line ``message``, the
line). The rows are exact like the outputs: a whole run replaces all of the operation's rows; an
incremental run replaces those of the repos in ``ctx.error_repos`` (the repos given to a
``partition="repo"`` operation, the repos of the changed files for a keyed one), so report every
error of those repos on such a run (a row for another repo is refused); rows another writer removed
(a changed file's, a removed repo's) make the next run whole; an operation no longer selected loses
its rows. Running again writes no row twice. Example::

    @operation("acme.long_names", version=1, inputs=["classes"], outputs=[LongName])
    def long_names(ctx):
        for r in ctx.table("classes", ["repo", "path", "sha256", "name", "line"]).to_pylist():
            if len(r["name"]) > 40:
                ctx.error(r["repo"], r["path"], r["sha256"], "style", f"class {r['name']}: long name",
                          line=r["line"])
        return ctx.sql("SELECT repo, path, sha256, name FROM classes WHERE length(name) > 40")

The built-in ``python.models.resolve`` writes one (kind ``limit``) for each model with more than 64
ancestors (docs/tables/models.md, Limits). See :mod:`codequarry.operrors`.

**Big inputs** (``ctx.read(name, columns, where)``, ``ctx.by_repo(name, columns, where)``). On a
corpus of many repos, read only what the operation needs: ``ctx.read`` gives the rows matching a
``pyarrow.dataset`` expression, filtered as the parts are read; ``ctx.by_repo`` hands the rows over
one repo at a time, in repo order, so the operation holds one repo's rows (see :mod:`codequarry.opread`)::

    import pyarrow.dataset as ds
    for repo, rows in ctx.by_repo("imports", ["path", "target"], ds.field("scope") == ""):
        ...

**State kept between runs** (``ctx.kept(tag, build, update)``). In a long-lived process
(``quarry watch``) an operation may keep what it builds from its inputs (an index, a graph) and
update it from the rows that changed instead of building it again. The contract:

- ``build()`` makes the value from the inputs as they are now (``ctx.table``, ``ctx.sql``);
- ``update(value)`` brings a value built from the inputs the operation last ran on up to now, in
  place, from the changed files' rows: ``ctx.changed`` (their (repo, path) keys), ``ctx.before(name)``
  (their rows then) and ``ctx.changed_rows(name)`` (their rows now); it returns False to have the
  value built again;
- the value is handed to ``update`` only when it was built (or updated) from exactly the input
  versions the operation's last run saw, as the published snapshot records them (or from versions
  before them followed only by commits that keep every row, such as a compaction's), each version's
  log entry still the same file, under the same operation version and function. Anything else
  (another writer ran the operation meanwhile, a run failed after the update, a table was rebuilt,
  a version bump, a whole run, the changed files unknown, a new process, a one-run CLI process)
  calls ``build()``. A value being updated is out of the registry until the update returns, so an
  update that raises leaves nothing behind. The value must depend on the inputs only;
- ``affected`` and the operation get the same value within a run. Call ``kept`` on every run (in
  ``affected``, which runs on every incremental run): a run that skips it leaves the value behind
  the inputs, and the next run builds it again.

Correctness never depends on the state: ``update`` must give what ``build`` would. Example (runnable:
tests/test_watch.py runs it in a watch and compares every table with a fresh extract)::

    from collections import Counter

    import pyarrow as pa
    import pyarrow.compute as pc
    from codequarry import dataset, operation

    @dataset("namesakes")
    class Namesake:
        name: str
        same_name: int

    def _names(ctx):
        # how many classes of the corpus have each name, kept between the runs of `quarry watch`
        def build():
            return Counter(ctx.table("classes", ["name"])["name"].to_pylist())

        def update(counts):
            counts.subtract(ctx.before("classes", ["name"])["name"].to_pylist())
            counts.update(ctx.changed_rows("classes", ["name"])["name"].to_pylist())
            return True

        return ctx.kept("names", build, update)

    def _affected(ctx, changed):
        # a file's rows change with its classes, or when a name they have is added or removed anywhere
        names = set(ctx.before("classes", ["name"])["name"].to_pylist())
        names |= set(ctx.changed_rows("classes", ["name"])["name"].to_pylist())
        _names(ctx)  # brought up to date on every run
        classes = ctx.table("classes", ["repo", "path", "name"])
        hit = classes.filter(pc.is_in(classes["name"], pa.array(sorted(names), pa.string())))
        return set(changed) | set(zip(hit["repo"].to_pylist(), hit["path"].to_pylist()))

    @operation("acme.namesakes", version=1, inputs=["classes"], outputs=[Namesake],
               partition="file", affected=_affected)
    def namesakes(ctx):
        counts = _names(ctx)
        rows = ctx.only_keys(ctx.table("classes", ["repo", "path", "sha256", "name"]))
        same = pa.array([counts[n] for n in rows["name"].to_pylist()], pa.int64())
        return rows.append_column("same_name", same)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from codequarry import oplanes, optwins
from codequarry.api import Operation
from codequarry.errors import OperationError, QuarryError, QueryError, SchemaError
from codequarry.graph import RESERVED, Graph
from codequarry.query import plain_types, read_only_sql
from codequarry.schema import DatasetSpec
from codequarry.store import Store, TableState
from codequarry.store.outputs import key_filter
from codequarry.store.store import live_dataset

T = TypeVar("T")


class OperationContext:
    """What an operation sees: its input datasets, as SQL (DataFusion) or Arrow tables."""

    def __init__(
        self,
        store: Store,
        tables: Mapping[str, TableState],
        *,
        name: str = "",
        inputs: tuple[str, ...] | None = None,
        outputs: tuple[str, ...] = (),
        sources: Mapping[str, str] | None = None,
        partitions: frozenset[str] | None = None,
        keys: frozenset[tuple[Any, ...]] | None = None,
        changed: frozenset[tuple[str, str]] | None = None,
        before: Mapping[str, int] | None = None,
        key_columns: Mapping[str, tuple[str, ...]] | None = None,
        version: int = 0,
        func: Any = None,
    ) -> None:
        self.store = store
        self.name = name
        self._version = version
        self._func = func
        self._kept: dict[str, Any] = {}
        self.outputs = outputs
        #: repo -> source root of this run's sources, for an operation that reads files (blobs)
        self.sources: dict[str, str] = dict(sources or {})
        self._tables = dict(tables)
        self._allowed = set(inputs) if inputs is not None else set(self._tables)
        self._ctx: Any = None
        self.stats: dict[str, Any] = {}
        #: the repos being re-derived (a partitioned operation's incremental run); None: every repo
        self.partitions = partitions
        #: the output keys being re-derived (a keyed partition's incremental run); None: every key
        self.keys = keys
        #: the (repo, path) of the input files whose rows changed since the operation last ran
        self.changed = changed
        self._before = dict(before or {})
        self._key_columns = dict(key_columns or {})
        self._cache: dict[tuple[str, tuple[str, ...] | None], pa.Table] = {}
        #: what ``before`` and ``changed_rows`` read of each input (every column), and the live
        #: records ``_live_record`` found
        self._befores: dict[str, pa.Table] = {}
        self._changeds: dict[str, pa.Table] = {}
        self._records: dict[tuple[str, int], Any] = {}
        #: what ``affected`` and the operation share within one run (a graph built once for both)
        self.shared: dict[str, Any] = {}
        #: the repos whose ``errors`` rows this run replaces (None: every repo; see ``error``)
        self.error_repos: frozenset[str] | None = None
        self._errors: list[dict[str, Any]] = []

    @classmethod
    def from_store(cls, store: Store, *, inputs: tuple[str, ...] | None = None) -> OperationContext:
        """A context over the store's published snapshot (handy for tests and notebooks)."""
        snap = store.snapshot()
        if snap is None:
            raise QuarryError(f"store '{store.path}' has no published snapshot")
        return cls(store, snap.tables, inputs=inputs)

    def _check(self, name: str) -> None:
        if name not in self._allowed:
            raise OperationError(
                f"operation '{self.name}' reads '{name}', which it does not declare in inputs="
                f"{sorted(self._allowed)}; add it, so that the DAG orders the work"
            )

    def _delta(self, name: str) -> DeltaTable:
        self._check(name)
        state = self._tables.get(name)
        if state is None:
            raise OperationError(f"operation '{self.name}': input '{name}' is not in the store")
        return self.store.open_delta(name, state.version)  # a damaged input is named, with the fix

    @property
    def session(self) -> Any:
        """The DataFusion SessionContext with the declared inputs registered by name."""
        if self._ctx is None:
            from datafusion import SessionContext

            ctx = SessionContext()
            for name in sorted(self._allowed):
                if name not in self._tables:
                    continue
                if self.partitions is None:
                    ctx.register_table(name, self._delta(name))
                else:  # only the partitions' rows: an operation cannot see (or depend on) the others
                    ctx.from_arrow(self.table(name), name=name)
            self._ctx = ctx
        return self._ctx

    def sql(self, query: str) -> pa.Table:
        """Run SQL over the declared inputs; returns an Arrow table with plain (non-view) types."""
        try:  # through the one read-only door, as all SQL text is: an operation returns rows, writes nothing
            return plain_types(read_only_sql(self.session, query, tables=self._allowed).to_arrow_table())
        except QueryError as exc:
            raise OperationError(f"operation '{self.name}': SQL failed: {exc}") from None
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OperationError(f"operation '{self.name}': SQL failed: {first}") from None

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One input dataset as an Arrow table (optionally only some columns)."""
        self._check(name)
        state = self._tables.get(name)
        if state is None:
            raise OperationError(f"operation '{self.name}': input '{name}' is not in the store")
        cached = self._cache.get((name, tuple(columns) if columns is not None else None))
        if cached is not None:  # inputs do not change during a run: read once, for affected() too
            return cached
        whole = self._cache.get((name, None))
        if whole is not None and columns is not None:
            return whole.select(columns)
        if self.partitions is None:
            got = plain_types(_read(self.store, name, state.version, columns))
            self._cache[(name, tuple(columns) if columns is not None else None)] = got
            return got
        from codequarry import partcache

        if partcache.enabled():  # the partitions' rows, cut from the parts kept in memory
            import pyarrow.compute as pc

            whole = partcache.table_at(self.store, name, state.version, columns)
            if "repo" not in whole.column_names:
                return plain_types(whole)
            wanted = pa.array(sorted(self.partitions), pa.string())
            return plain_types(whole.filter(pc.is_in(whole.column("repo"), value_set=wanted)))
        data = live_dataset(self.store, name, state.version)
        if "repo" in data.schema.names:
            import pyarrow.dataset as ds

            return plain_types(
                data.to_table(columns=columns, filter=ds.field("repo").isin(sorted(self.partitions)))
            )
        return plain_types(data.to_table(columns=columns))

    # -- streamed reads (codequarry.opread): an input never held whole --------------------------------
    def read(self, name: str, columns: list[str] | None = None, where: Any = None) -> pa.Table:
        """Input ``name``'s rows matching ``where`` (a ``pyarrow.dataset`` expression; None: all), only
        ``columns``: filtered as the parts are read, so that only the matches are ever held."""
        from codequarry import opread

        data, where = self._stream_source(name, where)
        if isinstance(data, pa.Table):  # already in memory (read for this run, or the part cache)
            return opread.held_rows(data, columns, where)
        return plain_types(opread.read(data, columns, where))

    def by_repo(
        self, name: str, columns: list[str] | None = None, where: Any = None
    ) -> Iterator[tuple[str, pa.Table]]:
        """(repo, its rows of input ``name`` matching ``where``, ``columns`` only) one repo at a time,
        in repo order: the operation holds one repo's rows of the input at a time."""
        from codequarry import opread

        data, where = self._stream_source(name, where)
        if isinstance(data, pa.Table):
            yield from opread.split_held(data, columns, where)
            return
        for repo, rows in opread.by_repo(data, columns, where):
            yield repo, plain_types(rows)

    def _stream_source(self, name: str, where: Any) -> tuple[Any, Any]:
        """The dataset of input ``name`` at the run's version, or the whole table when this run or
        the part cache holds it already; ``where`` narrowed to ``ctx.partitions``."""
        self._check(name)
        state = self._tables.get(name)
        if state is None:
            raise OperationError(f"operation '{self.name}': input '{name}' is not in the store")
        from codequarry import partcache

        held = self._cache.get((name, None))
        if held is None and partcache.enabled():
            held = partcache.table_at(self.store, name, state.version)
        data = held if held is not None else live_dataset(self.store, name, state.version)
        if self.partitions is not None and "repo" in data.schema.names:
            import pyarrow.dataset as ds

            mine = ds.field("repo").isin(sorted(self.partitions))
            where = mine if where is None else where & mine
        return data, where

    def changed_rows(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """The rows of input ``name`` that belong to the changed files (``ctx.changed``), as they are
        now (with ``repo`` and ``path`` whatever ``columns`` are asked). Cut from the parts holding
        them in a long-lived process (``quarry watch``), else from the whole input, which the
        operation reads next anyway (``table`` keeps what it read for the run)."""
        state = self._tables.get(name)
        if state is not None and self.changed is not None:
            got = self._parts_of_changed(name, state.version)
            if got is not None:
                return self._of_changed(got, columns)
            held = self._changeds.get(name)
            if held is None:
                held = self._changed_from_record(name, state.version, None)
            if held is not None:
                self._changeds[name] = held  # every column, for the run's other calls
                return held if columns is None else held.select(_with_keys(columns))
        return self._of_changed(self.table(name), columns)

    def rows_of_files(
        self, name: str, files: Collection[tuple[str, str]], columns: list[str] | None = None
    ) -> pa.Table:
        """The rows of input ``name`` that belong to ``files`` ((repo, path) keys), ``columns`` only
        (with ``repo`` and ``path``): read from only the parts holding them when the table's
        part-keys record is true of the run's version, else filtered as the whole table is read."""
        self._check(name)
        state = self._tables.get(name)
        if state is None:
            raise OperationError(f"operation '{self.name}': input '{name}' is not in the store")
        keys = frozenset(files)
        got = self._from_record(name, state.version, columns, keys)
        if got is not None:
            return got
        import pyarrow.dataset as ds

        paths = sorted({p for _, p in keys})
        data = self.read(name, _with_keys(columns), ds.field("path").isin(paths))
        return data.filter(key_filter(data, ("repo", "path"), keys))

    def _changed_from_record(self, name: str, version: int, columns: list[str] | None) -> pa.Table | None:
        """The changed files' rows of ``version`` of ``name``, read from only the parts holding them,
        when this run's commit made or replaced that version from the table's part-keys record
        (store/keyindex.py ``kept``); None otherwise."""
        if self.changed is None:
            return None
        return self._from_record(name, version, columns, frozenset(self.changed))

    def _from_record(
        self, name: str, version: int, columns: list[str] | None, keys: frozenset[tuple[str, str]]
    ) -> pa.Table | None:
        """The rows of ``keys`` of ``version`` of ``name``, read from only the parts holding them, when
        this run's commit made or replaced that version (store/keyindex.py ``kept``) or it is the
        run's version with a live record true of it; None otherwise."""
        from codequarry.store import keyindex

        self._check(name)
        path = self.store.table_path(name)
        got = keyindex.kept(path, version)
        if got is None:
            got = self._live_record(name, version)
        if got is None:
            return None
        idx, schema = got
        names = _with_keys(columns) or list(schema.names)
        try:
            want = pa.schema([schema.field(c) for c in names])
            parts = [
                pq.ParquetFile(path / rel).read(columns=names).cast(want)
                for rel in sorted(idx.parts)
                if not idx.parts[rel].keys.isdisjoint(keys)
            ]
        except (KeyError, OSError, pa.ArrowException):
            return None
        data = pa.concat_tables(parts) if parts else want.empty_table()
        data = plain_types(data)
        return data.filter(key_filter(data, ("repo", "path"), keys))

    def _live_record(self, name: str, version: int) -> tuple[Any, pa.Schema] | None:
        """The part-keys record of input ``name`` when ``version`` is the one the run sees (a table
        this run did not commit: its record is still the live one) and the record is true of it, with
        its schema; None otherwise. With it the changed files' rows are read from the parts holding
        them (none, mostly: a file with no rows in the table), not from the whole table."""
        from codequarry.store import keyfile, keyindex

        state = self._tables.get(name)
        if state is None or state.version != version:
            return None
        if (name, version) in self._records:  # looked up for this run already
            return self._records[(name, version)]  # type: ignore[no-any-return]
        self._records[(name, version)] = None
        path = self.store.table_path(name)
        idx = keyindex.load(self.store.path, path, name, version, state.rows)
        got = keyfile.live_files_and_schema(self.store.path, path, name, version) if idx is not None else None
        if idx is None or got is None or sorted(idx.parts) != got[0]:
            return None
        self._records[(name, version)] = (idx, got[1])
        return idx, got[1]

    def _parts_of_changed(self, name: str, version: int) -> pa.Table | None:
        """In a long-lived process: only the parts of ``name`` at ``version`` that hold a changed
        file's rows (their keys are kept), or None."""
        from codequarry import partcache

        self._check(name)
        if not partcache.enabled() or self.changed is None:
            return None
        got = partcache.rows_of_files(self.store, name, version, frozenset(self.changed))
        return None if got is None else plain_types(got)

    def before(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """The rows of input ``name`` that belonged to the changed files when the operation last ran
        (a deleted class, a renamed file's old rows): what ``affected`` compares with the present."""
        self._check(name)
        version = self._before.get(name)
        state = self._tables.get(name)
        if version is None or state is None:
            return self._of_changed(self.table(name, _with_keys(columns)), columns).slice(0, 0)
        from codequarry import partcache

        if partcache.enabled():  # the old version's parts are mostly those of the new one: cached
            got = self._parts_of_changed(name, version)
            if got is None:
                got = plain_types(partcache.table_at(self.store, name, version))
            return self._of_changed(got, columns)
        held = self._befores.get(name)
        if held is not None:  # read for this run already (all columns)
            return held if columns is None else held.select(_with_keys(columns))
        got = self._changed_from_record(name, version, None)
        if got is None:
            got = self._old_rows_from_parts(name, version)
        if got is None:
            import pyarrow.dataset as ds

            paths = sorted({p for _, p in self.changed or ()})
            data = live_dataset(self.store, name, version).to_table(
                filter=ds.field("path").isin(paths) if self.changed is not None else None,
            )
            got = self._of_changed(plain_types(data), None)
        self._befores[name] = got
        return got if columns is None else got.select(_with_keys(columns))

    def _old_rows_from_parts(self, name: str, version: int) -> pa.Table | None:
        """The changed files' rows of ``version`` of input ``name`` (older than the run's), read from
        only the parts of that version that can hold them: those the run's version no longer has,
        and those both have that the run's version's part-keys record says hold a changed file (a
        part is never rewritten in place, so a part both versions have holds the same keys in
        both). None when the run's version has no record true of it, or the old parts cannot be
        read: the caller reads the whole version."""
        state = self._tables.get(name)
        if state is None or self.changed is None or version == state.version:
            return None
        from codequarry.store import keyindex
        from codequarry.store.store import arrow_table, part_inside

        path = self.store.table_path(name)
        got = keyindex.kept(path, state.version) or self._live_record(name, state.version)
        if got is None:
            return None
        idx = got[0]
        changed = self.changed
        try:
            old = self.store.open_delta(name, version)
            listed = arrow_table(old.get_add_actions(flatten=False)).column("path").to_pylist()
            if not all(isinstance(rel, str) and part_inside(rel) for rel in listed):
                return None  # the whole read names the damage
            schema = pa.schema(old.schema().to_arrow())
            wanted = [
                rel for rel in listed if rel not in idx.parts or not idx.parts[rel].keys.isdisjoint(changed)
            ]
            parts = [
                pq.ParquetFile(path / rel).read(columns=schema.names).cast(schema) for rel in sorted(wanted)
            ]
        except (KeyError, OSError, ValueError, pa.ArrowException):
            return None
        data = pa.concat_tables(parts) if parts else schema.empty_table()
        return self._of_changed(plain_types(data), None)

    def _of_changed(self, data: pa.Table, columns: list[str] | None) -> pa.Table:
        if self.changed is not None:
            data = data.filter(key_filter(data, ("repo", "path"), self.changed))
        return data if columns is None else data.select(_with_keys(columns))

    def only_keys(self, data: pa.Table, output: str | None = None) -> pa.Table:
        """``data`` (rows of ``output``; the operation's one output by default) cut to ``ctx.keys``;
        unchanged on a whole run."""
        if self.keys is None:
            return data
        name = output if output is not None else (self.outputs[0] if len(self.outputs) == 1 else "")
        cols = self._key_columns.get(name)
        if cols is None:
            raise OperationError(f"operation '{self.name}': only_keys() needs the output's name")
        return data.filter(key_filter(data, cols, self.keys))

    def own(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        """One of this operation's own outputs as the last snapshot holds it (None if never written),
        so that an operation can keep what is still valid instead of recomputing it."""
        if name not in self.outputs:
            raise OperationError(
                f"operation '{self.name}' reads its own output '{name}', which it does not declare"
            )
        state = self._tables.get(name)
        if state is None:
            return None
        return live_dataset(self.store, name, state.version).to_table(columns=columns)

    def error(
        self,
        repo: str,
        path: str,
        sha256: str | None,
        kind: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
    ) -> None:
        """Record one ``errors`` row about the file ``repo``/``path`` (what the operation could not
        do, or cut, there), as the file extractors write theirs; ``extractor`` is the operation's
        name. On an incremental run, report every error of the repos in ``ctx.error_repos`` (the
        rows of those repos are replaced); see :mod:`codequarry.operrors`."""
        from codequarry.operrors import make_row

        if self.error_repos is not None and repo not in self.error_repos:
            raise OperationError(
                f"operation '{self.name}' reports an error in repo {repo!r}, outside the repos this "
                f"run re-derives (ctx.error_repos: {len(self.error_repos)})"
            )
        try:
            row = make_row(
                repo=repo,
                path=path,
                sha256=sha256,
                kind=kind,
                message=message,
                line=line,
                column=column,
                source_line=source_line,
            )
        except ValueError as exc:
            raise OperationError(f"operation '{self.name}': {exc}") from None
        self._errors.append(row)

    def report(self, key: str, value: Any) -> None:
        """Record a figure for the run summary (e.g. a resolution rate)."""
        self.stats[key] = value

    def kept(self, tag: str, build: Callable[[], T], update: Callable[[T], bool]) -> T:
        """A value the operation keeps between its runs in a long-lived process (``quarry watch``),
        built from the inputs by ``build()``; see the module docstring for the contract. When the
        value kept from the operation's last run was built from exactly the inputs that run saw
        (``ctx.before``'s versions), ``update(value)`` brings it to the present from the changed
        files' rows (``ctx.changed``, ``ctx.changed_rows``, ``ctx.before``), in place; it returns
        False to have it built again. On any doubt, and in a one-run process, ``build()`` runs.
        Within one run ``affected`` and the operation get the same value for a ``tag``."""
        if tag in self._kept:
            return self._kept[tag]  # type: ignore[no-any-return]
        from codequarry import opstate

        folders = {n: str(self.store.table_path(n)) for n in sorted(self._allowed) if n in self._tables}
        now = {n: self._tables[n].version for n in folders}
        key = (str(self.store.path), self.name, self._version, tag)
        value: Any = _NOTHING
        old = opstate.take(key, self._func) if opstate.enabled() else None
        if old is not None:
            if opstate.stands_for(old, folders, now):
                value = old.value  # built from these very rows already
            elif (
                self.changed is not None
                and set(folders) <= set(self._before)
                and opstate.stands_for(old, folders, {n: self._before[n] for n in folders})
                and update(old.value)
            ):
                value = old.value
        if value is _NOTHING:
            value = build()
        self._kept[tag] = value
        stamps = opstate.stamps(folders, now) if opstate.enabled() else None
        if stamps is not None:
            opstate.put(key, opstate.Kept(func=self._func, inputs=stamps, value=value))
        return value  # type: ignore[no-any-return]


_NOTHING = object()


def _read(store: Store, name: str, version: int, columns: list[str] | None = None) -> pa.Table:
    """A table version (some columns): from the part cache in a long-lived process, else a dataset."""
    from codequarry import partcache

    if partcache.enabled():
        return partcache.table_at(store, name, version, columns)
    return live_dataset(store, name, version).to_table(columns=columns)


def _with_keys(columns: list[str] | None) -> list[str] | None:
    return None if columns is None else list(dict.fromkeys(["repo", "path", *columns]))


def conform(result: Any, spec: DatasetSpec, operation: str) -> pa.Table:
    """Match a result's columns to the declared schema by name and cast; a clear error otherwise."""
    if isinstance(result, pa.RecordBatch):
        result = pa.Table.from_batches([result])
    if not isinstance(result, pa.Table):
        raise SchemaError(
            f"operation '{operation}' returned {type(result).__name__} for '{spec.name}'; "
            "return a pyarrow.Table (ctx.sql(...) gives one)"
        )
    schema = spec.schema
    missing = [f.name for f in schema if f.name not in result.column_names]
    if missing:
        raise SchemaError(
            f"operation '{operation}': result for '{spec.name}' lacks columns {missing} "
            f"(it has {result.column_names})"
        )
    try:
        return result.select([f.name for f in schema]).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise SchemaError(
            f"operation '{operation}': result for '{spec.name}' does not fit the declared schema: {exc}"
        ) from None


def run_operations(
    store: Store,
    graph: Graph,
    states: dict[str, TableState],
    previous: Mapping[str, Any],
    *,
    only: Collection[str] | None = None,
    workers: int = 2,
    sources: Mapping[str, str] | None = None,
    offload: Callable[..., Any] | None = None,
    twins: optwins.Known | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the plan's operations (``only`` these, when given) layer by layer of its ``graph``, in
    parallel within a layer, over ``states``, which is updated with the versions of the tables they
    write. An operation whose inputs and version are what they were when it last ran is skipped.
    ``offload`` (the local engine's idle workers, see ``oplanes.in_parallel``) runs some of a layer's
    operations in other processes. ``twins``: the repos the run knows to be twins (optwins.Known).
    Returns (operation state for the snapshot, summary)."""

    by_name = {op.name: op for op in graph.operations}
    specs = graph.specs
    op_state: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for layer in graph.layers:
        todo = []
        for name in layer:
            if only is not None and name not in only:
                continue
            op = by_name[name]
            inputs = {i: states[i].version for i in op.inputs if i in states}
            prev: Any = previous.get(name)
            outs = [_out_name(o) for o in op.outputs]
            now = {o: states[o].version for o in outs if o in states}
            same_outputs = (
                prev is not None
                and prev.get("version") == op.version
                and len(now) == len(outs)
                and prev.get("outputs") == now
                and _errors_kept(store, states, name, prev)
            )
            op_state[name] = {"version": op.version, "inputs": inputs, "outputs": now}
            if same_outputs and prev.get("errors"):
                op_state[name]["errors"] = prev["errors"]
            if same_outputs and prev.get("inputs") == inputs:
                summary[name] = {"ran": False}
                continue
            before = prev.get("inputs", {}) if same_outputs else {}
            parts = _partitions(store, op, specs, before, inputs) if same_outputs else None
            if parts is not None and not parts:  # the inputs' parts moved, no repo's or file's rows did
                summary[name] = {"ran": False}
                continue
            todo.append((op, parts, before))
        jobs = [
            oplanes.job(_run_one, store, op, specs, states, parts, sources, before, twins)
            for op, parts, before in todo
        ]
        results = oplanes.in_parallel(jobs, workers, offload)
        for (op, _parts, _before), (written, info, errs) in zip(todo, results, strict=True):
            states.update(written)
            op_state[op.name]["outputs"] = {
                o: states[o].version for o in map(_out_name, op.outputs) if o in states
            }
            _write_errors(store, states, op_state[op.name], op.name, errs, previous.get(op.name))
            summary[op.name] = info
    if only is None:  # an operation no longer selected takes its errors rows with it
        from codequarry.operrors import drop_gone

        drop_gone(store, states, previous, set(by_name))
    return op_state, summary


def _errors_kept(store: Store, states: Mapping[str, TableState], name: str, prev: Mapping[str, Any]) -> bool:
    """Does the errors table still hold the rows the operation wrote (as many as its last run
    recorded)? Other writers only remove them (a changed file's rows, a removed repo's)."""
    want = prev.get("errors")
    if not want:
        return True
    from codequarry.operrors import NAME, count

    return count(store, states.get(NAME), name) == want


def _write_errors(
    store: Store,
    states: dict[str, TableState],
    state: dict[str, Any],
    name: str,
    errs: tuple[frozenset[str] | None, list[dict[str, Any]]] | None,
    prev: Any,
) -> None:
    """Replace the operation's errors rows in the scope its run re-derived; record how many it has."""
    from codequarry.operrors import NAME, count, replace, table_of

    had = bool(isinstance(prev, Mapping) and prev.get("errors"))
    if errs is None or (not errs[1] and not had):
        if had and "errors" not in state:
            state["errors"] = prev["errors"]
        return
    repos, rows = errs
    got = replace(store, states.get(NAME), name, repos, table_of(rows, name))
    if got is not None:
        states[NAME] = got
    total = count(store, states.get(NAME), name)
    state.pop("errors", None)
    if total:
        state["errors"] = total


def prime_kept(
    store: Store, graph: Graph, states: Mapping[str, TableState], previous: Mapping[str, Any]
) -> list[str]:
    """Build the states keyed operations keep (``ctx.kept``) before the first change comes, so that
    the first batch of ``quarry watch`` updates them instead: ``affected`` of each keyed operation
    that ran last on exactly the published inputs is called with no changed file (it reads, and
    writes nothing). Returns the operations primed; one that fails is left to its next run."""
    done = []
    for op in graph.operations:
        prev = previous.get(op.name)
        if op.affected is None or not isinstance(prev, Mapping) or prev.get("version") != op.version:
            continue
        inputs = {i: states[i].version for i in op.inputs if i in states}
        if prev.get("inputs") != inputs:
            continue  # its next run starts from other versions: it builds then anyway
        ctx = OperationContext(
            store,
            states,
            name=op.name,
            inputs=op.inputs,
            outputs=tuple(_out_name(o) for o in op.outputs),
            changed=frozenset(),
            before=inputs,
            key_columns=op.keys,
            version=op.version,
            func=op.func,
        )
        try:
            op.affected(ctx, frozenset())
        except Exception:  # noqa: BLE001 - an optimisation: the run that needs it names the failure
            continue
        done.append(op.name)
    return done


def _partitions(
    store: Store,
    op: Operation,
    specs: Mapping[str, DatasetSpec],
    before: Mapping[str, int],
    after: Mapping[str, int],
) -> frozenset[Any] | None:
    """The repos a partitioned operation must re-derive (for a keyed partition: the input files
    whose rows changed, turned into keys by the run), or None to run it whole."""
    if op.keys:
        from codequarry.partitions import changed_files

        files = changed_files(store, before, after)
        return None if files is None else frozenset(files)
    if op.partition != "repo":
        return None
    if not all(isinstance(o, DatasetSpec) and "repo" in o.schema.names for o in op.outputs):
        return None
    from codequarry.partitions import changed_repos

    repos = changed_repos(store, before, after)
    return None if repos is None else frozenset(repos)


def drop_unselected(states: dict[str, TableState], previous: Mapping[str, Any], graph: Graph) -> list[str]:
    """Remove from ``states`` the output tables of operations that ran before (``previous``) but
    are not in the plan's ``graph`` now (an opt-in operation left out, a plugin removed): a derived
    table nobody refreshes would be silently stale, so it leaves the snapshot, as a fresh extract
    without that operation would not have it. A table something selected still produces stays.
    Returns the dropped names."""
    selected = {op.name for op in graph.operations}
    kept = set(graph.producers) | RESERVED
    gone = []
    for name, info in previous.items():
        if name in selected or not isinstance(info, Mapping):
            continue
        for table in info.get("outputs", {}):
            if table in states and table not in kept:
                del states[table]
                gone.append(table)
    return sorted(gone)


def _out_name(out: str | DatasetSpec) -> str:
    return out if isinstance(out, str) else out.name


def _run_one(
    store: Store,
    op: Operation,
    specs: Mapping[str, DatasetSpec],
    states: Mapping[str, TableState],
    partitions: frozenset[Any] | None = None,
    sources: Mapping[str, str] | None = None,
    before: Mapping[str, int] | None = None,
    known: optwins.Known | None = None,
) -> tuple[dict[str, TableState], dict[str, Any], tuple[frozenset[str] | None, list[dict[str, Any]]] | None]:
    """Run one operation and write its outputs; returns the tables written, the run's summary and
    its errors rows with the repos they replace (None when the operation was not called)."""
    import time

    started = time.perf_counter()
    outs = [_out_name(o) for o in op.outputs]
    keyed = bool(op.keys)
    ctx = OperationContext(
        store,
        states,
        name=op.name,
        inputs=op.inputs,
        outputs=tuple(outs),
        sources=sources,
        partitions=None if keyed else partitions,
        changed=partitions if keyed else None,
        before=before,
        key_columns=op.keys,
        version=op.version,
        func=op.func,
    )
    if partitions is not None:
        ctx.error_repos = frozenset(k[0] for k in partitions) if keyed else frozenset(partitions)
    # a whole run of a twins=True operation derives one repo of each set of twins (optwins.py)
    twins = optwins.plan(store, op, states, known) if partitions is None else None
    if twins is not None:
        ctx.partitions = twins.derived
    called = False
    try:
        if keyed and partitions is not None:
            ctx.keys = _affected_keys(ctx, op, partitions)
        if ctx.keys is not None and not ctx.keys:  # nothing reachable changed: no rows to derive
            result = {o: specs[o].schema.empty_table() for o in outs if o in specs}
        else:
            called = True
            result = op.func(ctx)
    except QuarryError:
        raise
    except Exception as exc:
        raise OperationError(
            f"operation '{op.name}' failed: {type(exc).__name__}: {exc}; nothing was "
            f"published (leave it out with --skip {op.name})"
        ) from exc
    if not isinstance(result, Mapping):
        if len(outs) != 1:
            raise OperationError(f"operation '{op.name}' declares outputs {outs}: return a dict of tables")
        result = {outs[0]: result}
    if set(result) != set(outs):
        raise OperationError(f"operation '{op.name}' returned {sorted(result)} but declares {outs}")
    written: dict[str, TableState] = {}
    rows: dict[str, int] = {}
    scope = _Scope(partitions=None, columns=(), keys=None)
    for name in outs:
        data = result[name]
        data = conform(data, specs[name], op.name) if name in specs else _plain_table(data, op.name, name)
        if keyed:
            scope = _Scope(partitions=None, columns=op.keys[name], keys=ctx.keys)
            _check_keys(data, scope, op.name, name)
        elif partitions is not None:
            scope = _Scope(partitions=partitions, columns=("repo",), keys=None)
            _check_partitions(data, partitions, op.name, name)
        if twins is not None:  # each twin takes its first's rows, under its own name
            data = twins.copy(data)
        by_file = op.keys.get(name) == ("repo", "path")  # (replaced by file later: written in parts)
        state = _write_output(store, name, data, scope, states.get(name), by_file=by_file)
        if state is not None:
            written[name] = state
        rows[name] = data.num_rows
    info = {"ran": True, "rows": rows, "seconds": round(time.perf_counter() - started, 3), "stats": ctx.stats}
    if keyed and ctx.keys is not None:
        info["keys"] = len(ctx.keys)
        info["changed_files"] = len(partitions or ())
    elif partitions is not None:
        info["partitions"] = len(partitions)
    if twins is not None:
        info["twins"] = {"derived": len(twins.derived), "copied": twins.copied, "read": twins.read}
        ctx.stats["repos copied from a twin (the figures above count the others)"] = twins.copied
        ctx._errors = twins.copy_errors(ctx._errors)
    if ctx._errors:
        info["errors"] = len(ctx._errors)
        kinds: dict[str, int] = {}
        for row in ctx._errors:
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
        info["error_kinds"] = kinds
    return written, info, ((ctx.error_repos, ctx._errors) if called else None)


def _affected_keys(ctx: OperationContext, op: Operation, changed: frozenset[Any]) -> frozenset[Any] | None:
    """The output keys a keyed operation re-derives: ``affected(ctx, changed)``, or the changed
    files themselves for a plain ``partition="file"``; None: whole."""
    if op.affected is None:
        return frozenset(changed)
    got = op.affected(ctx, frozenset(changed))
    if got is None:
        return None
    keys = frozenset(tuple(k) if isinstance(k, tuple | list) else (k,) for k in got)
    width = len(next(iter(op.keys.values())))
    if any(len(k) != width for k in keys):
        raise OperationError(f"operation '{op.name}': affected() returned keys that are not {width}-tuples")
    return keys


@dataclass(frozen=True)
class _Scope:
    """Which rows of an output a run replaces: all, some repos', or some keys'."""

    partitions: frozenset[str] | None
    columns: tuple[str, ...]
    keys: frozenset[tuple[Any, ...]] | None

    @property
    def whole(self) -> bool:
        return self.partitions is None and self.keys is None

    def predicate(self) -> str:
        """The Delta predicate selecting the scope's rows (values quoted, quotes doubled)."""
        from codequarry.partitions import sql_string_list

        if self.partitions is not None:
            return f"repo IN {sql_string_list(set(self.partitions))}"
        groups: dict[tuple[Any, ...], set[str]] = {}
        for key in self.keys or ():
            groups.setdefault(tuple(key[:-1]), set()).add(str(key[-1]))
        *head, last = (f'"{c}"' for c in self.columns)
        terms = []
        for prefix, values in sorted(groups.items()):
            conds = [f"{c} = {_quote(str(v))}" for c, v in zip(head, prefix, strict=True)]
            conds.append(f"{last} IN {sql_string_list(values)}")
            terms.append("(" + " AND ".join(conds) + ")")
        return " OR ".join(terms)

    def key_set(self) -> tuple[tuple[str, ...], frozenset[tuple[Any, ...]]]:
        """The scope as key columns and the keys of its rows (a partition is a key of one repo)."""
        if self.partitions is not None:
            return ("repo",), frozenset((r,) for r in self.partitions)
        return self.columns, frozenset(self.keys or ())

    def stored(
        self, store: Store, name: str, version: int, parts: tuple[list[str], pa.Schema] | None = None
    ) -> pa.Table:
        """The scope's rows of the stored table (``parts``: the paths of the live parts of that
        version and its schema, when the caller has them already)."""
        import pyarrow.compute as pc

        from codequarry import partcache

        if partcache.enabled():
            if not self.whole:  # the parts holding the scope's keys (kept per part)
                cols, keys = self.key_set()
                some = partcache.rows_with(store, name, version, cols, keys)
                if some is not None:
                    return some.filter(key_filter(some, cols, keys))
            data = partcache.table_at(store, name, version)
            if self.partitions is not None:
                return data.filter(pc.is_in(data["repo"], value_set=pa.array(sorted(self.partitions))))
            return data if self.keys is None else data.filter(key_filter(data, self.columns, self.keys))
        import pyarrow.dataset as ds

        if parts is None:
            dataset = live_dataset(store, name, version)
        else:
            dataset = ds.dataset(parts[0], format="parquet", schema=parts[1])
        if self.partitions is not None:
            return dataset.to_table(filter=ds.field("repo").isin(sorted(self.partitions)))
        if self.keys is None:
            return dataset.to_table()
        last = self.columns[-1]
        table = dataset.to_table(filter=ds.field(last).isin(sorted({k[-1] for k in self.keys})))
        return table.filter(key_filter(table, self.columns, self.keys))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_keys(data: pa.Table, scope: _Scope, op: str, name: str) -> None:
    """A keyed output: no key column null (a predicate could never replace the row), and on an
    incremental run no row outside the keys given."""
    import pyarrow.compute as pc

    for col in scope.columns:
        if data.column(col).null_count:
            raise OperationError(f"operation '{op}': '{name}' has rows whose key column '{col}' is null")
    if scope.keys is None or not data.num_rows:
        return
    stray = pc.invert(key_filter(data, scope.columns, scope.keys))
    if pc.any(stray).as_py():
        row = data.filter(stray).select(list(scope.columns)).slice(0, 1).to_pylist()[0]
        raise OperationError(
            f"operation '{op}' returned rows of key {tuple(row.values())!r} for '{name}', outside the "
            f"{len(scope.keys)} key(s) it was given (return only the rows of ctx.keys: ctx.only_keys)"
        )


def _check_partitions(data: pa.Table, partitions: frozenset[str], op: str, name: str) -> None:
    import pyarrow.compute as pc

    stray = set(pc.unique(data.column("repo")).to_pylist()) - partitions
    if stray:
        raise OperationError(
            f"operation '{op}' declares partition='repo' but returned rows of repo "
            f"{sorted(stray)[0]!r} for '{name}', outside the repos it was given ({len(partitions)})"
        )


def _write_output(
    store: Store,
    name: str,
    data: pa.Table,
    scope: _Scope,
    current: TableState | None,
    *,
    by_file: bool = False,
) -> TableState | None:
    """Write one output: whole (overwrite), or only the scope's rows (replaced by a predicate).
    An output whose rows are those already stored is not written (its version, and so everything
    downstream of it, stays as it is). Returns the new state, or None when nothing was written.
    ``by_file``: the output is keyed by (repo, path); written whole, it is cut in parts by file
    (:func:`_by_file`)."""
    from deltalake import write_deltalake

    from codequarry.store import outputs, warm

    path = str(store.table_path(name))
    if scope.keys is not None and not scope.keys and not data.num_rows:
        return None  # no key to re-derive
    try:
        if current is not None and not warm.enabled():  # a CLI run: from the table's part-keys record
            cols, keys = scope.key_set() if not scope.whole else ((), None)
            got = outputs.replace(store, name, data, cols, keys, current)
            if got != outputs.NOT_HERE:
                return got if isinstance(got, TableState) else None
        if current is not None and _same_rows(store, name, current, data, scope):
            return None
        if current is not None and not scope.whole:
            done = _replace_warm(store, name, data, scope, current)
            if done is not None:
                return done
        if scope.whole or current is None:
            _overwrite(path, data, by_file)
        else:
            write_deltalake(path, data, mode="overwrite", predicate=scope.predicate())
        table = DeltaTable(path)
        if not warm.enabled() and scope.columns in ((), ("repo",), outputs.KEY_COLUMNS):
            outputs.index(store, name, table)  # for the next run's outputs.replace (not by other keys)
    except Exception as exc:  # a damaged log, a full disk: say which table, and the fix
        from codequarry.store.damage import translate
        from codequarry.store.store import damaged

        raise (
            translate(store, exc, f"writing '{name}'") or damaged(store, name, str(exc).strip()[:200])
        ) from exc
    from codequarry.store.writer import count_rows

    return TableState(version=table.version(), rows=count_rows(table))


#: a whole output keyed by (repo, path) (``partition="file"``) larger than a part is written sorted
#: by (repo, path), in parts of about this many bytes of Parquet cut at file boundaries
#: (:func:`_by_file`): a later run that re-derives a few files' rows (outputs.replace) then
#: rewrites the small parts holding them, not one part holding every row (the standard library's
#: ``tests``: one 865 KB part of 23,222 rows, rewritten whole for a three-file change). Outputs
#: written whole on every run (``python.call_graph``) or keyed otherwise keep one part.
OUTPUT_PART_BYTES = 128 * 1024


#: Arrow bytes per Parquet byte of an output part, about (snappy, dictionary pages): slices of
#: OUTPUT_PART_BYTES * this many Arrow bytes make parts of about OUTPUT_PART_BYTES
ARROW_PER_PARQUET_BYTE = 4


def _by_file(data: pa.Table) -> list[pa.Table]:
    """``data`` as the slices to write as parts: sorted by (repo, path) and cut at file boundaries
    into parts of about :data:`OUTPUT_PART_BYTES` of Parquet when it is larger than that and has
    those columns (a file's rows then sit in one part); else as it is, in one part."""
    per_part = OUTPUT_PART_BYTES * ARROW_PER_PARQUET_BYTE
    if data.nbytes <= per_part or not {"repo", "path"} <= set(data.column_names) or not data.num_rows:
        return [data]
    import numpy as np
    import pyarrow.compute as pc

    n = data.num_rows
    if not _in_file_order(data):  # (the twins' copies come sorted: optwins.Twins.copy)
        data = data.sort_by([("repo", "ascending"), ("path", "ascending")])
    rows = max(1, data.num_rows * per_part // data.nbytes)
    # the rows where a file begins (a file's rows stay in one part), found by Arrow, not per row
    # in Python (100 twins' copies of the standard library's `tests`: 2.3 M rows)
    differs = [
        pc.not_equal(data.column(c).slice(1), data.column(c).slice(0, n - 1)) for c in ("repo", "path")
    ]
    changed = pc.or_(*differs).fill_null(True).to_numpy(zero_copy_only=False)
    begins = np.concatenate((np.flatnonzero(changed) + 1, [n]))
    out, start = [], 0
    while start < n:
        end = int(begins[np.searchsorted(begins, min(start + rows, n))])
        out.append(data.slice(start, end - start))
        start = end
    return out


def _in_file_order(data: pa.Table) -> bool:
    """Are ``data``'s rows in (repo, path) order, without a null in either (a comparison of each row
    with the next, in Arrow: a small part of the sort it spares)?"""
    import pyarrow.compute as pc

    n = data.num_rows
    repo, path = data.column("repo"), data.column("path")
    if n < 2 or repo.null_count or path.null_count:
        return n < 2 and not repo.null_count and not path.null_count
    r0, r1, p0, p1 = repo.slice(0, n - 1), repo.slice(1), path.slice(0, n - 1), path.slice(1)
    ok = pc.or_(pc.less(r0, r1), pc.and_(pc.equal(r0, r1), pc.less_equal(p0, p1)))
    return bool(pc.all(ok).as_py())


def _overwrite(path: str, data: pa.Table, by_file: bool) -> None:
    """The whole output ``data`` as parts of the store's own writer (one part, or parts cut at file
    boundaries when ``by_file``: :func:`_by_file`), in one commit (a new table, or an overwrite of
    one with the same schema). ``write_deltalake`` wrote parts without page checksums (delta-rs has
    no such option), so a flipped bit in an operation's first write was silently a different fact;
    every part the store writes keeps them (parts.WRITE_OPTIONS). A changed schema still goes
    through ``write_deltalake`` (its overwrite of the table's schema)."""
    from deltalake import Schema as DeltaSchema
    from deltalake import write_deltalake
    from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

    from codequarry.store import warm
    from codequarry.store.indexed import add_action

    table = warm.open_table(Path(path))  # None: no table yet
    if table is not None and not pa.schema(table.schema().to_arrow()).equals(data.schema):
        write_deltalake(path, data, mode="overwrite", schema_mode="overwrite")
        return
    os.makedirs(path, exist_ok=True)
    now = int(time.time() * 1000)
    slices = _by_file(data) if by_file else [data]
    adds = [add_action(*warm.write_rows(path, piece), now) for piece in slices if piece.num_rows]
    schema = DeltaSchema.from_arrow(data.schema)
    if table is None:
        create_table_with_add_actions(path, schema, adds, mode="error")
    else:
        table.create_write_transaction(list[AddAction | RemoveAction](adds), mode="overwrite", schema=schema)


def _replace_warm(
    store: Store, name: str, data: pa.Table, scope: _Scope, current: TableState
) -> TableState | None:
    """In a long-lived process (store/warm.py): replace the scope's rows by removing the parts that
    hold its keys, adding the rows they keep and ``data`` as new parts, in one commit (what the
    predicate overwrite does, without scanning the table). None when it cannot (not warm, the
    table moved on, a part without the key columns): the caller overwrites by predicate."""
    import pyarrow.compute as pc
    from deltalake import Schema as DeltaSchema
    from deltalake.transaction import AddAction, RemoveAction

    from codequarry import partcache
    from codequarry.store import warm
    from codequarry.store.indexed import add_action

    if not warm.enabled():
        return None
    table = warm.table(store.table_path(name))
    if table is None or table.version != current.version or table.schema != data.schema:
        return None
    cols, keys = scope.key_set()
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = []
    changed: set[tuple[str, str]] | None = set() if {"repo", "path"} <= set(data.column_names) else None
    for rel, live in list(table.parts.items()):
        values = warm.part_values(table.full(rel), cols)
        if values is None:
            return None
        if values.isdisjoint(keys):
            continue
        rows = partcache.read_part(store, name, table.full(rel), table.schema)
        hit = key_filter(rows, cols, keys)
        actions.append(RemoveAction(path=rel, data_change=True, deletion_timestamp=now, size=live.size))
        if changed is not None:
            changed |= warm.keys_of(rows.filter(hit)).keys
        kept = rows.filter(pc.invert(hit))
        if kept.num_rows:
            actions.append(add_action(*warm.write_rows(table.folder, kept), now))
    if data.num_rows:
        actions.append(add_action(*warm.write_rows(table.folder, data), now))
        if changed is not None:
            changed |= warm.keys_of(data).keys
    if actions:
        table.commit(actions, DeltaSchema.from_arrow(table.schema))
        if changed is not None:
            warm.record(table.folder, table.version, frozenset(changed))
    return TableState(version=table.version, rows=table.rows)


def _same_rows(store: Store, name: str, current: TableState, data: pa.Table, scope: _Scope) -> bool:
    """Does the stored table (the scope's rows of it) hold exactly ``data``'s rows, in any order?"""
    from codequarry import partcache

    files, schema = partcache.part_list(store, name, current.version)
    if schema != data.schema:
        return False
    from codequarry.store.outputs import same_rows

    # the parts just listed, with the table's schema: its log is not opened a second time
    return same_rows(scope.stored(store, name, current.version, (files, schema)), data)


def _plain_table(data: Any, op: str, name: str) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table):
        raise SchemaError(
            f"operation '{op}' returned {type(data).__name__} for '{name}'; return a pyarrow.Table"
        )
    return plain_types(data)

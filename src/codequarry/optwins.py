"""Operations' twins: a whole run derives one repo of each set of repos whose input rows are equal,
and gives the others a copy of its output rows (pay once per unique content, for derived tables).

Two repos are *twins* for an operation when, in every input it declares, their rows are the same
but for the ``repo`` column (the rows compared as multisets: each repo's rows, ``repo`` left out, are
sorted (stably) by ``path`` and written as one Arrow IPC stream, whose sha256 is the repo's digest of
that input; rows a file's copy holds in another order only make two repos look different, and then
both are derived). 100 copies of a tree under 100 repo names are one set of twins.

An operation opts in with ``@operation(..., twins=True)``, a promise about its rows:

- two repos whose input rows are the same but for ``repo`` get the same output rows but for
  ``repo`` (and ``errors`` rows), and ``repo`` is the only column of them that names a repo;
- a repo's rows stay the same when a repo whose input rows equal those of a repo before it (in repo
  order) is left out of the inputs.

True of an operation that derives a repo's rows from that repo's rows alone (``python.models.resolve``
resolves each repo on its own),
and of one that looks across repos but answers a name defined in several of them by the first in
repo order (``python.tests.cases``: a test class's base is the first class of that name in (repo,
path, line, col) order, so a later twin's classes never answer for anyone). Not of one that reads the
source files (``ctx.sources``), counts rows across repos, or writes the repo name in another column.

On a whole run (not an incremental one, not in a long-lived process such as ``quarry watch``, whose
operations keep state built from their inputs) :func:`plan` groups the repos by their digests; the
operation then sees only the first repo of each group (``ctx.partitions``), and :meth:`Twins.copy`
gives each other repo of the group the first one's rows with its own name. ``QUARRY_TWINS=0`` turns
it off (every repo derived: the benchmarks' and the tests' baseline).

A first run into an empty store knows its twins without reading them: its reuse plan (reuse.py) gives
each file a key that fixes its rows but for ``repo`` and ``path``, so two repos with the same paths
and the same key at each path hold the same rows but for ``repo`` in every table the file extractors
write. The run hands those groups over as :class:`Known`, and for an operation whose inputs are all
such tables only the first repo of each group is read for the digests (each group then goes whole
where its first repo goes), none when there is one group: 100 copies of the standard library cost no
read instead of a full read of every input (~10 s of CPU).
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.api import Operation
from codequarry.schema import DatasetSpec
from codequarry.store import Store, TableState


@dataclass(frozen=True)
class Twins:
    """The repos an operation derives (the first of each set of twins, and every repo without one),
    and for each derived repo with twins, those twins (which take a copy of its rows)."""

    derived: frozenset[str]
    copies: Mapping[str, tuple[str, ...]]
    read: int = 0  # repos whose input rows were read for their digests

    @property
    def copied(self) -> int:
        return sum(len(v) for v in self.copies.values())

    def copy(self, data: pa.Table) -> pa.Table:
        """``data`` (an output of the derived repos) with, for each twin, its first's rows under the
        twin's name; the other columns' buffers are shared, not copied. With a ``path`` column the
        result is in (repo, path) order (a stable sort of ``data``, then each repo's rows in repo
        order): what the output's write sorts it by, so that sort finds it done (100 twins' copies
        of the standard library's ``tests``: 2.3 M rows, ~2.9 s of CPU to sort)."""
        if not data.num_rows or "repo" not in data.column_names:
            return data
        i = data.column_names.index("repo")
        field = data.schema.field(i)
        if "path" not in data.column_names or data.column(i).null_count:
            pieces = [data]
            for first, twins in sorted(self.copies.items()):
                rows = data.filter(pc.equal(data.column(i), pa.scalar(first, field.type)))
                if not rows.num_rows:
                    continue
                for twin in twins:
                    name = pa.repeat(pa.scalar(twin, field.type), rows.num_rows)
                    pieces.append(rows.set_column(i, field, name))
            return pa.concat_tables(pieces) if len(pieces) > 1 else data
        data = data.sort_by([("repo", "ascending"), ("path", "ascending")])  # the derived repos' rows only
        counts = pc.value_counts(data.column(i))  # in order of appearance: repo order
        own: dict[str, pa.Table] = {}
        start = 0
        for repo, n in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            own[repo] = data.slice(start, n)
            start += n
        pieces_by_repo = dict(own)
        for first, twins in self.copies.items():
            rows = own.get(first)
            if rows is None:
                continue
            for twin in twins:
                pieces_by_repo[twin] = rows.set_column(
                    i, field, pa.repeat(pa.scalar(twin, field.type), rows.num_rows)
                )
        if len(pieces_by_repo) == len(own):
            return data
        return pa.concat_tables([pieces_by_repo[r] for r in sorted(pieces_by_repo)])

    def copy_errors(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The operation's ``errors`` rows with each twin's copies of its first's."""
        out = list(rows)
        for row in rows:
            out.extend({**row, "repo": twin} for twin in self.copies.get(row["repo"], ()))
        return out


@dataclass(frozen=True)
class Known:
    """Repos known to hold the same rows but for ``repo`` in ``tables``, without a read: ``groups``
    holds every repo of the store once, each group in repo order (reuse.twin_groups)."""

    groups: tuple[tuple[str, ...], ...]
    tables: frozenset[str]

    def twins(self) -> Twins | None:
        copies = {g[0]: g[1:] for g in self.groups if len(g) > 1}
        if not copies:
            return None
        return Twins(frozenset(g[0] for g in self.groups), copies)


def enabled() -> bool:
    return os.environ.get("QUARRY_TWINS", "1") != "0"


def plan(
    store: Store, op: Operation, states: Mapping[str, TableState], known: Known | None = None
) -> Twins | None:
    """The twins of a whole run of ``op`` over ``states``: None when it did not opt in, when no two
    repos are twins, or where state built from the inputs outlives the run (a long-lived process).
    From ``known`` when every input of ``op`` is one of its tables, else from the inputs' digests."""
    from codequarry import opread, opstate, partcache
    from codequarry.store.store import live_dataset

    if not op.twins or not enabled() or opstate.enabled() or partcache.enabled():
        return None
    if not all(isinstance(o, DatasetSpec) and "repo" in o.schema.names for o in op.outputs):
        return None
    followers: dict[str, tuple[str, ...]] = {}  # a repo read -> its known twins (never read)
    if known is not None and {n for n in op.inputs if n in states} <= known.tables:
        followers = {g[0]: g[1:] for g in known.groups}
        if len(followers) == 1:  # one set of twins: nothing to compare
            return known.twins()
    import pyarrow.dataset as ds

    skip = {r for twins in followers.values() for r in twins}
    digests: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    alone: set[str] = set()  # repos whose rows so far no other repo has: they are derived
    # the smallest inputs first: the repos found alone there are not read again where a row group
    # holds only them (its statistics say so), so a corpus without twins reads little more
    names = sorted(
        (n for n in set(op.inputs) if n in states and states[n].rows), key=lambda n: states[n].rows
    )
    for name in names:
        data = live_dataset(store, name, states[name].version)
        if "repo" not in data.schema.names:
            continue  # read whole by every repo alike
        where = ~ds.field("repo").isin(sorted(alone | skip)) if alone | skip else None
        for repo, rows in opread.by_repo(data, None, where):
            digests[repo].append((name, digest(rows)))
        alone |= {g[0] for g in _groups(digests, alone) if len(g) == 1}
    copies = {}
    for g in _groups(digests, alone) + [[r] for r in sorted(alone)]:
        twins = tuple(sorted({*g[1:], *(t for r in g for t in followers.get(r, ()))}))
        if twins:
            copies[g[0]] = twins
    if not copies:
        return None
    copied = {r for twins in copies.values() for r in twins}
    return Twins(frozenset(r for r in digests if r not in copied), copies, len(digests))


def _groups(digests: Mapping[str, list[tuple[str, bytes]]], alone: set[str]) -> list[list[str]]:
    """The repos (but ``alone``) grouped by their digests so far, each group in repo order."""
    groups: dict[tuple[tuple[str, bytes], ...], list[str]] = defaultdict(list)
    for repo in sorted(digests):
        if repo not in alone:
            groups[tuple(digests[repo])].append(repo)
    return list(groups.values())


def digest(rows: pa.Table) -> bytes:
    """The sha256 of one repo's rows of an input, ``repo`` left out, sorted (stably) by ``path``, or by
    their flat columns without one, and written as one Arrow IPC stream: equal digests, equal rows
    (two repos whose equal rows come in another order within a file only look different)."""
    if "repo" in rows.column_names:
        rows = rows.drop_columns(["repo"])
    if "path" in rows.column_names:  # a file's rows keep their order in a copy (reuse.py): a stable sort
        keys = [("path", "ascending")]
    else:
        keys = [(f.name, "ascending") for f in rows.schema if not pa.types.is_nested(f.type)]
    if keys and rows.num_rows > 1:
        rows = rows.take(pc.sort_indices(rows, sort_keys=keys))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows.combine_chunks())
    return hashlib.sha256(sink.getvalue()).digest()

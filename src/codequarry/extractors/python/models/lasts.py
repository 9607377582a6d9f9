"""Each repo's set of base last parts (``graph.name_lasts``), kept between runs and updated per file.

Which module-level imports count as re-exports in a repo's :class:`~.graph.ClassGraph` depends on the
last two parts of the base and decorator names its classes write and the last part of its alias
targets, counted over the first row of each name in source order (the row the graph keeps). The
``affected`` hook of ``python.models.resolve`` needs to know which names a change adds to or takes
from that set in some repo. :class:`LastsIndex` counts, per (repo, name), the kept rows writing it,
so that an update from a changed file's rows says which (repo, name) pairs appeared or went without
looking at any other row (``affected._lasts`` computes the same set from a whole table).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = ["repo", "path", "line", "col", "kind", "fqn", "bases", "decorators"]
Group = tuple[str, str, bool]  # (repo, fqn, is an alias)
Row = tuple[tuple[str, int, int], frozenset[str]]  # (path, line, col), the names the row writes


def _ends(name: str | None) -> set[str]:
    if name is None:
        return set()
    parts = name.split(".")
    return {parts[-1], parts[-2]} if len(parts) > 1 else {parts[-1]}


class LastsIndex:
    """(repo, name) -> how many kept rows write the name; the rows by group and by file."""

    def __init__(self) -> None:
        self.groups: dict[Group, dict[tuple[str, int, int], frozenset[str]]] = {}
        self.files: dict[tuple[str, str], list[tuple[Group, tuple[str, int, int]]]] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        #: the (repo, name) pairs whose presence the last update changed (None: not updated)
        self.flipped: set[tuple[str, str]] | None = None

    @classmethod
    def of(cls, classes: pa.Table) -> LastsIndex:
        index = cls()
        index.change((), classes)
        index.flipped = None
        return index

    def names(self) -> set[str]:
        return {name for _, name in self.counts}

    def pairs(self) -> set[tuple[str, str]]:
        return set(self.counts)

    def change(self, gone: Iterable[tuple[str, str]], rows: pa.Table) -> None:
        """Take out the rows of the files ``gone`` and put in ``rows`` (``model_classes`` rows);
        ``flipped`` says which (repo, name) pairs appeared or went."""
        before: dict[Group, frozenset[str]] = {}
        for key in gone:
            for group, at in self.files.pop(key, ()):
                if group not in before:
                    before[group] = self._kept(group)
                members = self.groups[group]
                members.pop(at, None)
                if not members:
                    del self.groups[group]
        for group, at, names in _rows(rows):
            if group not in before:
                before[group] = self._kept(group)
            self.groups.setdefault(group, {})[at] = names
            self.files.setdefault((group[0], at[0]), []).append((group, at))
        flipped: set[tuple[str, str]] = set()
        for group, old in before.items():
            new = self._kept(group)
            if new == old:
                continue
            repo = group[0]
            for name in old - new:
                pair = (repo, name)
                self.counts[pair] -= 1
                if not self.counts[pair]:
                    del self.counts[pair]
                    flipped ^= {pair}
            for name in new - old:
                pair = (repo, name)
                if not self.counts[pair]:
                    flipped ^= {pair}
                self.counts[pair] += 1
        self.flipped = flipped

    def _kept(self, group: Group) -> frozenset[str]:
        """The names the group's first row in source order writes (none: no row)."""
        members = self.groups.get(group)
        if not members:
            return frozenset()
        return members[min(members)]


def _rows(classes: pa.Table) -> list[tuple[Group, tuple[str, int, int], frozenset[str]]]:
    """(group, place, names written) of each row but factories."""
    if not classes.num_rows:
        return []
    data = classes.select(COLUMNS)
    data = data.filter(pc.fill_null(pc.not_equal(data["kind"], "factory"), False))
    decorators = data["decorators"].combine_chunks()
    names = pc.struct_field(pc.list_flatten(decorators), "name").to_pylist() if len(decorators) else []
    owners = pc.list_parent_indices(decorators).to_pylist() if len(decorators) else []
    by_row: dict[int, list[str | None]] = {}
    for i, name in zip(owners, names, strict=True):
        by_row.setdefault(i, []).append(name)
    out = []
    cols = [data[c].to_pylist() for c in ("repo", "path", "line", "col", "kind", "fqn", "bases")]
    for i, (repo, path, line, col, kind, fqn, bases) in enumerate(zip(*cols, strict=True)):
        alias = kind == "alias"
        written: set[str] = set()
        if alias:
            target = bases[0] if bases else None
            if target is not None:
                written.add(target.rsplit(".", 1)[-1])
        else:
            for b in bases or ():
                written |= _ends(b)
            for d in by_row.get(i, ()):
                written |= _ends(d)
        out.append(((repo, fqn, alias), (path, line, col), frozenset(written)))
    return out

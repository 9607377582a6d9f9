"""The test-class rows of ``test_facts`` as an index that ``python.tests.cases`` keeps between runs.

A base of a test class names another class by fully qualified name, else by its last part among the
classes of the same repo (when exactly one class has it). :class:`ClassIndex` holds every class row
by file (so that a changed file's rows can be taken out and its new rows put in), by name, by (repo,
last part), and by the last parts of the bases it writes (so that the classes below a class are
found without walking every class). A name defined twice is answered by its first row in (repo,
path, line, col) order, whatever order the store keeps rows in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: the columns of ``test_facts`` a class row is made of
CLASS_COLUMNS = ["repo", "path", "line", "col", "class_fqn", "bases", "is_case", "kind"]


def last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@dataclass(eq=False, slots=True)
class TestClass:
    """One class row (compared by identity: two rows may say the same)."""

    repo: str
    path: str
    line: int
    col: int
    fqn: str
    bases: tuple[str, ...]
    is_case: bool

    @property
    def order(self) -> tuple[str, str, int, int]:
        return (self.repo, self.path, self.line, self.col)


class ClassIndex:
    """Every test-class row of the corpus, indexed for base lookups both ways."""

    def __init__(self) -> None:
        self.by_file: dict[tuple[str, str], list[TestClass]] = {}
        self.defs: dict[str, list[TestClass]] = {}
        self.by_short: dict[tuple[str, str], dict[str, int]] = {}
        self.users: dict[str, set[TestClass]] = {}  # last part of a base -> the rows writing it

    @classmethod
    def of(cls, facts: pa.Table) -> ClassIndex:
        """The index of the class rows of ``facts`` (``CLASS_COLUMNS`` at least)."""
        index = cls()
        index.add(facts)
        return index

    def add(self, facts: pa.Table) -> None:
        """Put in the class rows of ``facts``."""
        rows = facts.filter(pc.fill_null(pc.equal(facts["kind"], "class"), False))
        cols = [rows[c].to_pylist() for c in CLASS_COLUMNS[:-1]]
        for repo, path, line, col, fqn, bases, is_case in zip(*cols, strict=True):
            if not fqn:
                continue
            row = TestClass(repo, path, line, col, fqn, tuple(bases or ()), bool(is_case))
            self.by_file.setdefault((repo, path), []).append(row)
            self.defs.setdefault(fqn, []).append(row)
            hits = self.by_short.setdefault((repo, last(fqn)), {})
            hits[fqn] = hits.get(fqn, 0) + 1
            for short in {last(b) for b in row.bases}:
                self.users.setdefault(short, set()).add(row)

    def remove(self, files: Iterable[tuple[str, str]]) -> None:
        """Take out every class row of ``files``."""
        for key in files:
            for row in self.by_file.pop(key, ()):
                self.defs[row.fqn].remove(row)
                if not self.defs[row.fqn]:
                    del self.defs[row.fqn]
                hits = self.by_short[(row.repo, last(row.fqn))]
                hits[row.fqn] -= 1
                if not hits[row.fqn]:
                    del hits[row.fqn]
                if not hits:
                    del self.by_short[(row.repo, last(row.fqn))]
                for short in {last(b) for b in row.bases}:
                    self.users[short].discard(row)
                    if not self.users[short]:
                        del self.users[short]

    def winner(self, fqn: str) -> TestClass | None:
        """The row that answers for ``fqn`` (the first in source order), or None."""
        rows = self.defs.get(fqn)
        return min(rows, key=lambda r: r.order) if rows else None

    def winners(self) -> Iterator[TestClass]:
        for fqn in self.defs:
            row = self.winner(fqn)
            if row is not None:
                yield row

    def target(self, row: TestClass, base: str) -> str | None:
        """The class a base of ``row`` names: by fully qualified name, else the one class of that
        last part in the repo."""
        if base in self.defs:
            return base
        hits = self.by_short.get((row.repo, last(base)), {})
        return next(iter(hits)) if len(hits) == 1 else None

    def below(self, fqn: str) -> Iterator[str]:
        """The classes one of whose bases names ``fqn`` (their answering rows only)."""
        short = last(fqn)
        for row in self.users.get(short, ()):
            if self.winner(row.fqn) is row and any(
                last(b) == short and self.target(row, b) == fqn for b in row.bases
            ):
                yield row.fqn

    def marked(self, touched: set[str], shorts: set[tuple[str, str]]) -> set[str]:
        """``touched`` and every class some base lookup on the way up from which names a touched
        class (by name, or a (repo, last part) of ``shorts``): whose case-ness may have changed."""
        marked = set(touched)
        for short in {s for _, s in shorts}:
            for row in self.users.get(short, ()):
                if row.fqn in marked or self.winner(row.fqn) is not row:
                    continue
                if any(b in touched or (row.repo, last(b)) in shorts for b in row.bases):
                    marked.add(row.fqn)
        todo = list(marked)
        while todo:
            for sub in self.below(todo.pop()):
                if sub not in marked:
                    marked.add(sub)
                    todo.append(sub)
        return marked

    def cases(self, fqns: Iterable[Any]) -> list[str]:
        """Those of ``fqns`` that are unittest cases: a class marked ``is_case`` is reachable from
        them through the classes their bases name (any depth; a cycle adds nothing)."""
        memo: dict[str, bool] = {}
        out = []
        for fqn in fqns:
            if fqn is not None and self._is_case(fqn, memo):
                out.append(fqn)
        return out

    def _is_case(self, fqn: str, memo: dict[str, bool]) -> bool:
        if fqn in memo:
            return memo[fqn]
        seen = {fqn}
        todo = [fqn]
        found = False
        while todo and not found:
            row = self.winner(todo.pop())
            if row is None:
                continue
            found = row.is_case
            for base in () if found else row.bases:
                target = self.target(row, base)
                if target is None or target in seen or memo.get(target) is False:
                    continue  # (a class known to reach no case adds nothing)
                if memo.get(target):
                    found = True
                    break
                seen.add(target)
                todo.append(target)
        if found:
            memo[fqn] = True
        else:  # nothing reachable from any class seen is a case
            memo.update(dict.fromkeys(seen, False))
        return found

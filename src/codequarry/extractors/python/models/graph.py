"""The cross-file view the ORM and validation operations share: candidate classes by fully qualified
name, names canonicalized through re-exports, and inheritance walks.

A base written ``core.Base`` in one file may be defined as ``core.models.Base`` (re-exported by
``core/__init__.py``), or be a module-level alias (``Model = db.Model``). :class:`ClassGraph`
canonicalizes every name through the module-level imports of the corpus (the core ``imports`` and
``modules`` tables) and the ``model_aliases`` rows, longest prefix first, so that both spellings meet
at the class's own ``module.qualname``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from codequarry.extractors.python.models.inputs import RepoInputs

#: inputs of an operation built on ClassGraph
GRAPH_INPUTS = ("model_classes", "model_members", "imports", "modules")
#: how many ancestors a walk over a class's inheritance visits at most: far beyond any real model
#: hierarchy, and what keeps the rows of a chain of n classes (each inheriting the fields of all
#: those above it) linear in n; a class with more has an ``errors`` row saying so (``cut_classes``)
MAX_ANCESTORS = 64
_PROVENANCE = ("repo", "path", "sha256")


def _kv(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {i["name"]: i["value"] for i in items} if items else {}


class ClassGraph:
    """Candidate classes of one repo, with their members, joined across its files."""

    def __init__(self, inputs: RepoInputs) -> None:
        self.repo = inputs.repo
        self.classes: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.factories: dict[str, str] = {}
        rows = inputs.classes.to_pylist()
        # "first wins" below must not depend on how the store happens to order rows (an incremental
        # run and a fresh one order them differently): source order it is
        rows.sort(key=lambda r: (r["path"], r["line"], r["col"]))
        for row in rows:
            kind = row["kind"]
            if kind == "alias":
                self.aliases.setdefault(row["fqn"], row["bases"][0])
            elif kind == "factory":
                self.factories.setdefault(row["fqn"], row["bases"][0])
            else:
                row["meta_kv"] = _kv(row["meta"])
                row["config_kv"] = _kv(row["config"])
                row["keywords_kv"] = _kv(row["keywords"])
                # two files of one repo may define the same module (a script and a package): the
                # first wins, as an import would pick one
                self.classes.setdefault(row["fqn"], row)
        self._load_reexports(inputs)
        self._members = inputs.members
        self.members: dict[str, list[dict[str, Any]]] = {}
        self._canon: dict[str, str] = {}
        self._by_name: dict[tuple[str, str], list[str]] | None = None

    def load_members(self, owners: set[str]) -> None:
        """Read the members of these classes (only: the table can be large)."""
        owners = owners - set(self.members)
        if not owners:
            return
        import pyarrow.compute as pc

        table = self._members
        table = table.filter(pc.is_in(table["owner"], value_set=pa.array(sorted(owners), pa.string())))
        rows = table.to_pylist()
        rows.sort(key=lambda r: (r["path"], r["line"], r["col"]))
        for row in rows:
            row["keywords_kv"] = _kv(row["keywords"])
            self.members.setdefault(row["owner"], []).append(row)
        for owner in owners:
            self.members.setdefault(owner, [])

    def _load_reexports(self, inputs: RepoInputs) -> None:
        """``pkg.Base -> pkg.models.Base`` for module-level imports whose bound name is the last part of
        a name some candidate class uses (the only ones that can matter)."""
        lasts = name_lasts(self.classes.values(), self.aliases.values())
        imports = inputs.imports
        if not lasts or not imports.num_rows:
            return
        import pyarrow.compute as pc

        imports = imports.filter(
            pc.is_in(imports["bound_name"], value_set=pa.array(sorted(lasts), pa.string()))
        )
        if not imports.num_rows:
            return
        modules = inputs.modules
        where = dict(zip(modules["path"].to_pylist(), modules["module"].to_pylist(), strict=True))
        found = sorted(
            zip(
                imports["path"].to_pylist(),
                imports["line"].to_pylist(),
                imports["bound_name"].to_pylist(),
                imports["target"].to_pylist(),
                strict=True,
            ),
            key=lambda r: (r[0], r[1]),
        )
        for path, _line, bound, target in found:
            module = where.get(path)
            if module and target and bound:
                alias = f"{module}.{bound}"
                if alias != target:
                    self.aliases.setdefault(alias, target)

    # -- names ---------------------------------------------------------------------------------------
    def canon(self, name: str | None) -> str | None:
        """The canonical spelling of a dotted name: re-exports and aliases followed, longest prefix first."""
        if name is None:
            return None
        got = self._canon.get(name)
        if got is not None:
            return got
        current = name
        for _ in range(10):
            if current in self.classes:
                break
            parts = current.split(".")
            for i in range(len(parts), 0, -1):
                prefix = ".".join(parts[:i])
                target = self.aliases.get(prefix)
                if target is not None and target != prefix:
                    current = ".".join([target, *parts[i:]])
                    break
            else:
                break
        self._canon[name] = current
        return current

    def by_name(self, repo: str, short: str) -> list[str]:
        """Candidate classes of ``repo`` named ``short`` (for string references such as ``"Address"``)."""
        if self._by_name is None:
            index: dict[tuple[str, str], list[str]] = {}
            for fqn, row in self.classes.items():
                index.setdefault((row["repo"], row["name"]), []).append(fqn)
            self._by_name = index
        return self._by_name.get((repo, short), [])

    # -- inheritance ---------------------------------------------------------------------------------
    def bases(self, fqn: str) -> list[str]:
        """The class's bases, canonicalized (computed once per class)."""
        row = self.classes.get(fqn)
        if row is None:
            return []
        got = row.get("_bases")
        if got is None:
            got = row["_bases"] = [self.canon(b) or b for b in row["bases"]]
        return got

    def closure(self, classify: Callable[[str], Any]) -> dict[str, Any]:
        """For every class, the first non-None ``classify(name)`` met on its bases, depth first, left to
        right, through candidate classes (a class inherits its bases' answer); cycles end the walk."""
        memo: dict[str, Any] = {}
        visiting: set[str] = set()

        def walk(fqn: str) -> Any:
            if fqn in memo:
                return memo[fqn]
            if fqn in visiting:
                return None
            visiting.add(fqn)
            got = None
            for base in self.bases(fqn):
                got = classify(base)
                if got is None and base in self.classes:
                    got = walk(base)
                if got is not None:
                    break
            visiting.discard(fqn)
            memo[fqn] = got
            return got

        for fqn in self.classes:
            walk(fqn)
        return memo

    def lineage(self, fqn: str) -> list[str]:
        """Every candidate class ``fqn`` inherits from, at any depth."""
        return [a for a, _ in self.ancestors(fqn, lambda _: False)]

    def ancestors(
        self, fqn: str, stop: Callable[[str], bool], limit: int = MAX_ANCESTORS
    ) -> Iterator[tuple[str, bool]]:
        """(ancestor, stopped) depth first, left to right, each once, the nearest ``limit`` only
        (:data:`MAX_ANCESTORS`); a class for which ``stop`` is true is yielded with ``stopped=True``
        and not walked past."""
        seen = {fqn}
        stack = list(reversed(self.bases(fqn)))
        while stack and len(seen) <= limit:
            base = stack.pop()
            if base in seen or base not in self.classes:
                continue
            seen.add(base)
            if stop(base):
                yield base, True
                continue
            yield base, False
            stack.extend(reversed(self.bases(base)))

    def cut_classes(self, fqns: Iterable[str]) -> list[str]:
        """Those of ``fqns`` with more than :data:`MAX_ANCESTORS` ancestors: walks over their
        inheritance stop early (at most MAX_ANCESTORS + 1 steps each)."""
        over = MAX_ANCESTORS + 1
        return sorted(f for f in fqns if sum(1 for _ in self.ancestors(f, lambda _: False, over)) >= over)


def name_lasts(classes: Iterable[dict[str, Any]], alias_targets: Iterable[str]) -> set[str]:
    """The last two parts of every base and decorator name, and the last part of every alias target:
    the only bound names a module-level import can matter by (see ``ClassGraph._load_reexports``)."""
    lasts: set[str] = set()
    for row in classes:
        for b in row["bases"]:
            lasts.add(b.rsplit(".", 1)[-1])
            if "." in b:
                lasts.add(b.split(".")[-2])
        for d in row["decorators"]:
            lasts.update(d["name"].split(".")[-2:])
    lasts.update(t.rsplit(".", 1)[-1] for t in alias_targets)
    return lasts


def provenance(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _PROVENANCE}


def table_of(rows: list[dict[str, Any]], spec: Any) -> pa.Table:
    """Rows (dicts holding every column of ``spec``) as an Arrow table of its schema."""
    schema = spec.schema
    if not rows:
        return schema.empty_table()
    return pa.Table.from_pylist(rows, schema=schema)

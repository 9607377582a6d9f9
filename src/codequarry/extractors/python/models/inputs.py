"""The inputs of ``python.models.resolve``, read once as Arrow and cut into one slice per repo.

Each repo is resolved on its own (:class:`~codequarry.extractors.python.models.graph.ClassGraph` of
one repo): a repo's ORM and validation rows depend on its own files only, so two copies of a tree
under two repo names get the same rows each, and a repo's rows are those of an extract of it alone.
Only one repo's rows are ever Python objects at a time; the tables stay columnar.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: the columns of ``imports`` the graph reads (module-level, not star imports, only)
IMPORT_COLUMNS = ["repo", "path", "line", "bound_name", "target", "scope", "is_star"]


@dataclass(frozen=True, slots=True)
class RepoInputs:
    """One repo's rows of the graph's inputs (``imports`` cut to the module-level imports that bind
    a name some candidate class of the corpus uses; ``modules`` to the files of those imports)."""

    repo: str
    classes: pa.Table
    members: pa.Table
    imports: pa.Table
    modules: pa.Table


class ByRepo:
    """A table's rows of one repo at a time: the ``repo`` column is dictionary-encoded once, and each
    repo's rows are filtered out by their code (a copy of that repo's rows only, never of the table)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.codes: dict[str, int] = {}
        self.indices: pa.ChunkedArray | None = None
        if table.num_rows:
            encoded = pc.dictionary_encode(table.column("repo"))
            chunks = [c.indices for c in encoded.chunks]
            self.indices = pa.chunked_array(chunks, chunks[0].type if chunks else pa.int32())
            first = encoded.chunks[0].dictionary if encoded.num_chunks else pa.array([], pa.string())
            self.codes = {repo: i for i, repo in enumerate(first.to_pylist())}

    def rows(self, repo: str) -> pa.Table:
        code = self.codes.get(repo)
        if code is None or self.indices is None:
            return self.table.slice(0, 0)
        if len(self.codes) == 1 and not self.table.column("repo").null_count:
            return self.table  # every row is this repo's (a store of one repo): no copy
        return self.table.filter(pc.equal(self.indices, code))


def repo_inputs(ctx: Any, lasts: set[str]) -> Iterator[RepoInputs]:
    """Every repo holding candidate classes (with ``ctx.keys``: only the repos defining a reached
    class, and those whose errors rows the run replaces, ``ctx.error_repos``), in repo order, with
    its slices of the inputs. ``lasts``: the corpus's
    :func:`~codequarry.extractors.python.models.graph.name_lasts`, to cut ``imports`` early."""
    classes = ctx.table("model_classes")
    repos = sorted(set(pc.unique(classes.column("repo")).to_pylist())) if classes.num_rows else []
    if ctx.keys is not None and repos:
        wanted = pa.array(sorted({k[0] for k in ctx.keys}), pa.string())
        hit = classes.filter(pc.fill_null(pc.is_in(classes.column("fqn"), value_set=wanted), False))
        extra = set(getattr(ctx, "error_repos", None) or ()) & set(repos)
        repos = sorted(set(hit.column("repo").to_pylist()) | extra)
    if not repos:
        return
    imports = ctx.table("imports", columns=IMPORT_COLUMNS)
    mask = pc.and_(
        pc.and_(pc.equal(imports["scope"], ""), pc.invert(imports["is_star"])),
        pc.is_in(imports["bound_name"], value_set=pa.array(sorted(lasts), pa.string())),
    )
    imports = imports.filter(pc.fill_null(mask, False))
    modules = ctx.table("modules", columns=["repo", "path", "module"])
    paths = pa.array(sorted(set(imports.column("path").to_pylist())), pa.string())
    modules = modules.filter(pc.fill_null(pc.is_in(modules.column("path"), value_set=paths), False))
    members = ctx.table("model_members")
    if ctx.keys is not None:  # the reached repos' rows only, before grouping
        keep = pa.array(repos, pa.string())
        members = members.filter(pc.fill_null(pc.is_in(members.column("repo"), value_set=keep), False))
    cut = {name: ByRepo(t) for name, t in (("c", classes), ("m", members), ("i", imports), ("o", modules))}
    for repo in repos:
        yield RepoInputs(
            repo, cut["c"].rows(repo), cut["m"].rows(repo), cut["i"].rows(repo), cut["o"].rows(repo)
        )


def corpus_lasts(classes: pa.Table) -> set[str]:
    """The last two parts of every base and decorator name and the last part of every alias target of
    ``model_classes`` (every row: a superset of each repo's ``name_lasts``), computed column-wise."""
    if not classes.num_rows:
        return set()
    names = [pc.list_flatten(classes.column("bases"))]
    decorators = pc.list_flatten(classes.column("decorators"))
    if len(decorators):
        names.append(pc.struct_field(decorators, "name"))
    out: set[str] = set()
    for arr in names:
        arr = pa.chunked_array([arr]) if isinstance(arr, pa.Array) else arr
        last = pc.extract_regex(arr, r"(?P<s>[^.]*)$")
        out |= set(pc.struct_field(last, "s").unique().to_pylist())
        second = pc.extract_regex(arr, r"(?P<s>[^.]*)\.[^.]*$")
        out |= set(pc.struct_field(second, "s").unique().to_pylist())
    out.discard(None)  # type: ignore[arg-type]
    return out

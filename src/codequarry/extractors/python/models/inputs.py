"""The inputs of ``python.models.resolve``, read one repo at a time (``ctx.by_repo``).

Each repo is resolved on its own (:class:`~codequarry.extractors.python.models.graph.ClassGraph` of
one repo): a repo's ORM and validation rows depend on its own files only, so two copies of a tree
under two repo names get the same rows each, and a repo's rows are those of an extract of it alone.
Only one repo's rows of the inputs are held at a time, as Arrow; only they become Python objects.
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


def repo_inputs(ctx: Any) -> Iterator[RepoInputs]:
    """Every repo holding candidate classes (with ``ctx.keys``: only the repos defining a reached
    class, and those whose errors rows the run replaces, ``ctx.error_repos``), in repo order, with
    its slices of the inputs. Each input is read one repo at a time (``ctx.by_repo``), ``imports``
    cut to module-level, not-star rows as it is read, then to the bound names some base or decorator
    of the repo's classes ends with (:func:`corpus_lasts` of the repo: a superset of the graph's
    :func:`~codequarry.extractors.python.models.graph.name_lasts`, which it applies again). On an
    incremental run, ``imports`` and ``modules`` are those ``affected`` read
    (:func:`reexport_inputs`), cut per repo the same way, not read a second time."""
    import pyarrow.dataset as ds  # (here: the catalog imports this module on every run)

    wanted: set[str] | None = None
    if ctx.keys is not None:
        fqns = pa.array(sorted({k[0] for k in ctx.keys}), pa.string())
        hit = ctx.read("model_classes", ["repo"], ds.field("fqn").isin(fqns))
        wanted = set(hit.column("repo").to_pylist()) | set(getattr(ctx, "error_repos", None) or ())
        if not wanted:
            return
    shared = ctx.shared.get(_SHARED)
    others: dict[str, _Cursor | _Held] = {"members": _Cursor(ctx, "model_members", None, None)}
    if shared is not None:  # read by ``affected`` for this run: every import a graph can use
        others["imports"], others["modules"] = _Held(shared[0]), _Held(shared[1])
    else:
        others["imports"] = _Cursor(ctx, "imports", IMPORT_COLUMNS, _module_level())
        others["modules"] = _Cursor(ctx, "modules", ["repo", "path", "module"], None)
    for repo, classes in ctx.by_repo("model_classes"):
        if wanted is not None and repo not in wanted:
            continue
        got = {name: cursor.rows(repo) for name, cursor in others.items()}
        imports = got["imports"]
        lasts = pa.array(sorted(corpus_lasts(classes)), pa.string())
        imports = imports.filter(pc.fill_null(pc.is_in(imports["bound_name"], value_set=lasts), False))
        paths = pa.array(sorted(set(imports.column("path").to_pylist())), pa.string())
        modules = got["modules"]
        modules = modules.filter(pc.fill_null(pc.is_in(modules.column("path"), value_set=paths), False))
        yield RepoInputs(repo, classes, got["members"], imports, modules)


#: the key of ``ctx.shared`` under which :func:`reexport_inputs` leaves what it read
_SHARED = "python.models.reexport_inputs"


def _module_level() -> Any:  # noqa: N802 - an expression, built when needed (pyarrow.dataset is slow to import)
    import pyarrow.dataset as ds

    return (ds.field("scope") == "") & ~ds.field("is_star")


def reexport_inputs(ctx: Any, lasts: set[str]) -> tuple[pa.Table, pa.Table]:
    """The module-level, not-star ``imports`` rows binding a name of ``lasts`` (``IMPORT_COLUMNS``)
    and the ``modules`` rows (repo, path, module) of their files. Left
    in ``ctx.shared`` for :func:`repo_inputs`: with ``lasts`` holding every repo's base last parts
    (``graph.name_lasts``, which the graph applies again), they are every import a graph can use."""
    names = pa.array(sorted(lasts), pa.string())
    imports = ctx.table("imports", IMPORT_COLUMNS)  # (whole and then cut: cheaper than cut as read)
    keep = pc.and_(pc.equal(imports["scope"], ""), pc.invert(imports["is_star"]))
    keep = pc.and_(keep, pc.is_in(imports["bound_name"], value_set=names))
    imports = imports.filter(pc.fill_null(keep, False))
    modules = ctx.table("modules", ["repo", "path", "module"])
    paths = pa.array(sorted(set(imports.column("path").to_pylist())), pa.string())
    modules = modules.filter(pc.fill_null(pc.is_in(modules.column("path"), value_set=paths), False))
    ctx.shared[_SHARED] = (imports, modules)
    return imports, modules


class _Held:
    """An input already read, handed over one repo at a time as :class:`_Cursor` does."""

    def __init__(self, data: pa.Table) -> None:
        from codequarry.opread import split_by_repo

        self._repos = dict(split_by_repo(data))
        self._empty = data.slice(0, 0)

    def rows(self, repo: str) -> pa.Table:
        return self._repos.pop(repo, self._empty)


class _Cursor:
    """One input read one repo at a time, walked forward in repo order alongside ``model_classes``."""

    def __init__(self, ctx: Any, name: str, columns: list[str] | None, where: Any) -> None:
        self._ctx, self._name, self._columns, self._where = ctx, name, columns, where
        self._stream = iter(ctx.by_repo(name, columns, where))
        self._head: tuple[str, pa.Table] | None = next(self._stream, None)
        self._empty: pa.Table | None = None

    def rows(self, repo: str) -> pa.Table:
        """``repo``'s rows (none if it has none); repos must be asked in increasing order."""
        while self._head is not None and self._head[0] < repo:
            self._head = next(self._stream, None)
        if self._head is not None and self._head[0] == repo:
            rows = self._head[1]
            self._head = next(self._stream, None)
            return rows
        if self._empty is None:
            import pyarrow.dataset as ds

            self._empty = self._ctx.read(self._name, self._columns, ds.scalar(False))
        return self._empty


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

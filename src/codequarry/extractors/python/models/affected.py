"""Which models a change of some files can reach: the ``affected`` hook of ``python.models.resolve``.

The operation's outputs are keyed by model (``orm_models.fqn``, ``orm_fields.model``, ...). A model's
rows are derived from its own candidate-class row and members and from what the names written in
them lead to: bases canonicalized through aliases and re-exports, ancestors, factories
(``db = SQLAlchemy()``), and field targets looked up by name. Every such lookup finds an entity (a
candidate class, an alias or factory row, a module-level import) by a name whose last part is the
entity's own last part (its *short* name), and that last part is written in the row that looks it
up. So:

- a changed file changes the entities it defines or defined (its rows before and after the change):
  their short names are *touched*;
- its module-level imports are the graph's re-exports ``module.bound_name -> target``: a re-export
  made, unmade or retargeted (a renamed file's, under its old and new module name) touches that
  *alias*, a full dotted name; so does every import binding a name whose presence in some repo's
  graph's set of base last parts (``graph.name_lasts``; each repo has its own graph) the change
  flipped (that set decides which imports count as re-exports);
- an entity is reached when a touched short name appears among the identifiers written in its row
  (for a class: its row and its members' rows), or a dotted name written there begins with a
  touched alias (``ClassGraph.canon`` looks aliases up by the prefixes of a name). A reached class
  touches its own short name in turn (a subclass names its base); a reached re-export its own alias;
  and an alias ``A`` beginning with ``T.`` touches ``B`` + the rest of ``A`` for every alias
  ``B -> T`` (canon rewrites ``B.x`` to ``T.x`` and may find ``A`` there), up to canon's steps;
- the keys are the reached classes and every class the changed files define or defined.

So a renamed or deleted module reaches the classes whose written names go through its re-exports,
not every class writing one of its imported names (``import unittest`` in a test module renamed
reached every ``unittest.TestCase`` subclass of the standard library).

In a long-lived process (``quarry watch``) the per-repo sets of base last parts are kept between
runs (:class:`~.lasts.LastsIndex`, ``ctx.kept``) and updated from the changed files' rows, which
says which names flipped; else both sets are computed column-wise from the whole table (``_lasts``:
a one-run process builds no index it would not keep).

This over-approximates (an identifier equal to a touched name by chance reaches its row) and never
misses a lookup, which is what exactness needs. ``tests/test_exact.py`` checks it against fresh
extracts; ``tests/test_incops.py`` over cross-file model hierarchies and chains of re-exports.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Container
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.extractors.python.models.inputs import reexport_inputs
from codequarry.extractors.python.models.lasts import COLUMNS as LASTS_COLUMNS
from codequarry.extractors.python.models.lasts import LastsIndex

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROVENANCE = frozenset({"repo", "path", "sha256"})
_IMPORTS = ["bound_name", "target", "scope", "is_star"]
_IMPORTS_AT = [*_IMPORTS, "line"]


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def row_text(arr: pa.Array) -> pa.Array:
    """One string per row: every string the value holds (lists and structs walked), space-joined."""
    kind = arr.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.fill_null(arr.cast(pa.string()), "")
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = pa.ListArray.from_arrays(arr.offsets, row_text(arr.values))
        return pc.fill_null(pc.binary_join(inner, " "), "")
    if pa.types.is_struct(kind) and kind.num_fields:
        parts = [row_text(child) for child in arr.flatten()]
        return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, " ")
    return pa.array([""] * len(arr), pa.string())


def _texts(table: pa.Table) -> pa.Array:
    cols = [row_text(table.column(c).combine_chunks()) for c in table.column_names if c not in _PROVENANCE]
    if not cols:
        return pa.array([""] * table.num_rows, pa.string())
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, " ")


def _lasts(classes: pa.Table) -> set[tuple[str, str]]:
    """(repo, name) for ``graph.name_lasts`` of what each repo's ``ClassGraph`` keeps of these
    ``model_classes`` rows (the first row of each name in source order), computed column-wise."""
    if not classes.num_rows:
        return set()
    data = classes.select(["repo", "path", "line", "col", "kind", "fqn", "bases", "decorators"])
    is_alias = pc.equal(data["kind"], "alias")
    data = data.append_column("alias", is_alias).filter(pc.not_equal(data["kind"], "factory"))
    if not data.num_rows:  # (factory rows alone)
        return set()
    data = data.sort_by([(c, "ascending") for c in ("alias", "repo", "fqn", "path", "line", "col")])
    key = pc.binary_join_element_wise(data["repo"], data["fqn"], pc.cast(data["alias"], pa.string()), "\0")
    key = key.combine_chunks()
    first = pc.not_equal(key.slice(1), key.slice(0, len(key) - 1))
    keep = pa.concat_arrays([pa.array([True]), pc.fill_null(first, True)])
    data = data.filter(keep)
    aliases = data.filter(data["alias"])
    classes_ = data.filter(pc.invert(data["alias"]))
    names = [_flat_with_repo(classes_, classes_["bases"])]
    decorators = _flat_with_repo(classes_, classes_["decorators"])
    if decorators.num_rows:
        names.append(pa.table({"repo": decorators["repo"], "v": pc.struct_field(decorators["v"], "name")}))
    out: set[tuple[str, str]] = set()
    for table in names:
        for pattern in (r"(?P<s>[^.]*)$", r"(?P<s>[^.]*)\.[^.]*$"):
            out |= _pairs(table, pattern)
    if aliases.num_rows:
        targets = pa.table({"repo": aliases["repo"], "v": pc.list_element(aliases["bases"], 0)})
        out |= _pairs(targets, r"(?P<s>[^.]*)$")
    return out


def _flat_with_repo(table: pa.Table, lists: pa.ChunkedArray) -> pa.Table:
    """The values of a list column, each with the repo of its row."""
    lists = lists.combine_chunks()
    parents = pc.list_parent_indices(lists)
    return pa.table({"repo": table["repo"].take(parents), "v": pc.list_flatten(lists)})


def _pairs(table: pa.Table, pattern: str) -> set[tuple[str, str]]:
    """The distinct (repo, match of ``pattern`` in v) of a (repo, v) table (no match: left out)."""
    if not table.num_rows:
        return set()
    got = pc.struct_field(pc.extract_regex(table["v"], pattern), "s")
    pairs = pa.table({"repo": table["repo"], "s": got}).filter(pc.is_valid(got)).group_by(["repo", "s"])
    found = pairs.aggregate([])
    return set(zip(found["repo"].to_pylist(), found["s"].to_pylist(), strict=True))


def _module_level(imports: pa.Table) -> pa.Table:
    mask = pc.and_(pc.equal(imports["scope"], ""), pc.invert(imports["is_star"]))
    return imports.filter(pc.fill_null(mask, False))


def _modules_of(modules: pa.Table) -> dict[tuple[str, str], str]:
    """(repo, path) -> module name, of some ``modules`` rows."""
    cols = [modules[c].to_pylist() for c in ("repo", "path", "module")]
    return {(r, p): m for r, p, m in zip(*cols, strict=True) if m}


def _reexports(imports: pa.Table, lasts: Container[str], modules: pa.Table | None = None) -> set[Any]:
    """The module-level imports that can be re-exports (bound name in ``lasts``), each as the alias
    the graph makes of it (``module.bound_name``; None without ``modules``, or for a file without a
    module), tagged with the file, the order and the target, so that two versions of a file compare
    equal when their re-exports are the same (only the lines around them moved)."""
    where = _modules_of(modules) if modules is not None else {}
    rows = _module_level(imports).to_pylist()
    rows.sort(key=lambda r: (r["repo"], r["path"], r["line"]))
    out: set[Any] = set()
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["bound_name"] in lasts:
            n = seen[(r["path"], r["bound_name"])] = seen.get((r["path"], r["bound_name"]), 0) + 1
            module = where.get((r["repo"], r["path"]))
            alias = f"{module}.{r['bound_name']}" if module and r["bound_name"] else None
            out.add((alias, r["bound_name"], r["repo"], r["path"], r["target"], n))
    return out


def affected(ctx: Any, changed: frozenset[tuple[str, str]]) -> set[tuple[str]]:
    """The model keys (fully qualified names) whose rows may differ after ``changed`` files changed."""
    old = ctx.before("model_classes").to_pylist()
    new = ctx.changed_rows("model_classes").to_pylist()
    keys = {(r["fqn"],) for r in old + new}
    touched = {_last(r["fqn"]) for r in old + new}
    for rows in (ctx.before("model_members", ["owner"]), ctx.changed_rows("model_members", ["owner"])):
        touched |= {_last(o) for o in rows["owner"].to_pylist() if o}
    if not keys and not touched and _imports_unmoved(ctx):
        return keys
    everything = ctx.table("model_classes")
    flipped, pairs = _flips(ctx, everything, changed)
    lasts = {name for _, name in pairs}
    moved = _reexports(
        ctx.before("imports", _IMPORTS_AT), lasts, ctx.before("modules", ["module"])
    ) ^ _reexports(ctx.changed_rows("imports", _IMPORTS_AT), lasts, ctx.changed_rows("modules", ["module"]))
    aliases = {m[0] for m in moved if m[0] is not None}  # the graph's aliases made, unmade or retargeted
    bound = {name for _, name in flipped}  # imports binding these start or stop counting in some repo
    if not touched and not aliases and not bound:
        return keys
    reached = _reach(ctx, everything, lasts, _Touched(touched, aliases, bound))
    return keys | {(fqn,) for fqn in reached}


def _flips(ctx: Any, everything: pa.Table, changed: frozenset[tuple[str, str]]) -> tuple[set[Any], set[Any]]:
    """(the (repo, name) pairs whose presence in a repo's base last parts the change flipped, the
    pairs present before or after). From the index a long-lived process keeps (updated from the
    changed files' rows alone); else column-wise from the whole table, before and after."""
    from codequarry import opstate

    if opstate.enabled():
        index = _lasts_index(ctx)
        if index.flipped is not None:  # kept, and updated from the changed files' rows alone
            flipped = index.flipped
            index.flipped = None
            return flipped, index.pairs() | flipped
    before = ctx.before("model_classes").select(everything.column_names).cast(everything.schema)
    return flips(everything, before, changed)


def flips(
    everything: pa.Table, before: pa.Table, changed: Collection[tuple[str, str]]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(the pairs of :func:`_lasts` that differ, those present) between ``everything`` (the
    ``model_classes`` rows now) and the same rows with the ``changed`` files' rows replaced by
    ``before`` (their rows as the operation last saw them, of ``everything``'s schema)."""
    from codequarry.operations import key_filter

    # _lasts keeps the first row of each (repo, fqn) and unions what those rows write, so it splits
    # over rows grouped by (repo, fqn): the rows of the changed files and of the names their rows
    # (before or now) define (``mine``), and the others, which are the same before and after. The
    # whole table is walked once, the changed names' rows twice (was: twice the whole table)
    in_changed = key_filter(everything, ("repo", "path"), changed)
    names = pa.concat_tables(
        [everything.filter(in_changed).select(["repo", "fqn"]), before.select(["repo", "fqn"])]
    )
    defined = set(zip(names["repo"].to_pylist(), names["fqn"].to_pylist(), strict=True))
    mine = pc.or_(
        in_changed, key_filter(everything, ("repo", "fqn"), {k for k in defined if k[1] is not None})
    )
    same = _lasts(everything.filter(pc.invert(mine)))
    theirs = everything.filter(mine)
    rest = theirs.filter(pc.invert(key_filter(theirs, ("repo", "path"), changed)))
    lasts_now = _lasts(theirs)
    lasts_before = _lasts(pa.concat_tables([rest, before]))
    return (lasts_now ^ lasts_before) - same, same | lasts_now | lasts_before


def _imports_unmoved(ctx: Any) -> bool:
    """With no candidate class nor member in the changed files before or after (nothing of theirs
    in ``model_classes``: no base last part can flip), only their module-level imports could reach
    a model (as re-exports). When those are the same before and after whatever ``lasts`` is (the
    tags of every bound name, by file), ``affected`` would find nothing: it returns no key without
    reading ``model_classes`` whole. Not in a long-lived process, whose kept index follows every run."""
    from codequarry import opstate

    if opstate.enabled():
        return False
    every = _AnyName()
    return _reexports(ctx.before("imports", _IMPORTS_AT), every) == _reexports(
        ctx.changed_rows("imports", _IMPORTS_AT), every
    )


class _AnyName:
    """``lasts`` holding every name: the re-export tags of all module-level imports."""

    def __contains__(self, name: object) -> bool:
        return True


def _lasts_index(ctx: Any) -> LastsIndex:
    """Each repo's base last parts (:mod:`.lasts`): kept between runs of a long-lived process and
    updated from the changed files' rows, which says what flipped; else built whole."""

    def update(index: LastsIndex) -> bool:
        index.change(ctx.changed, ctx.changed_rows("model_classes", LASTS_COLUMNS))
        return True

    return ctx.kept("lasts", lambda: LastsIndex.of(ctx.table("model_classes", LASTS_COLUMNS)), update)  # type: ignore[no-any-return]


@dataclass
class _Touched:
    """What a change touched: short names (``shorts``: a class or member's, reaching every row
    writing that identifier), aliases of the graph (``aliases``: full ``module.bound_name`` names,
    reaching the rows writing a dotted name that begins with one) and bound names whose imports
    start or stop counting as re-exports (``bound``: the aliases of every such import)."""

    shorts: set[str]
    aliases: set[str]
    bound: set[str]


#: how many aliases a name is canonicalized through at most (``ClassGraph.canon``'s loop)
_CANON_STEPS = 10
#: how many aliases one reach may enumerate before it falls back to the aliases' last names: two
#: modules importing each other (``os.path`` is ``posixpath``, which imports ``os``) make ever longer
#: aliases (``posixpath.os.path.os.x``), one more for every module importing either, to the power of
#: _CANON_STEPS (the stdlib's reach of one renamed module ran for minutes)
_ALIAS_BUDGET = 20_000
_ID = "A-Za-z0-9_"


def _reach(ctx: Any, classes: pa.Table, lasts: set[str], touched: _Touched) -> set[str]:
    """The classes reached from what the change ``touched`` (see the module docstring). Each node
    (a class row, a member row standing for its owner, a re-export) is one text of the identifiers
    its row writes; a wave of touched names is one regular expression searched in every text.

    A class or member row reached touches its owner's short name (a subclass names its base, a
    field its target class). A re-export reached (its target begins with a touched alias or holds a
    touched short name) touches its own alias. An alias ``A`` is reached through another alias
    ``B -> T`` when ``A`` begins with ``T.`` (``ClassGraph.canon`` rewrites ``B.x`` to ``T.x``, in
    which it may then find ``A``): ``B`` followed by the rest of ``A`` is touched too."""
    members = ctx.table("model_members")
    imports, modules = reexport_inputs(ctx, lasts)
    imports = imports.filter(
        pc.invert(pc.or_(pc.is_null(imports["target"]), pc.is_null(imports["bound_name"])))
    )
    where = _modules_of(modules)
    bound_names = imports["bound_name"].to_pylist()
    targets = imports["target"].to_pylist()
    own_aliases = [
        f"{m}.{b}" if (m := where.get((r, p))) else None
        for r, p, b in zip(imports["repo"].to_pylist(), imports["path"].to_pylist(), bound_names, strict=True)
    ]
    texts = pa.concat_arrays(
        [_texts(classes), _texts(members), pc.fill_null(imports["target"].combine_chunks(), "")]
    )
    owners: list[str | None] = [
        *classes["fqn"].to_pylist(),
        *members["owner"].to_pylist(),
        *([None] * imports.num_rows),
    ]
    n_rows = classes.num_rows + members.num_rows
    shorts = [_last(o) if o else "" for o in owners[:n_rows]]
    # alias target -> the aliases rewritten to it: re-exports, and alias rows (``Model = db.Model``)
    by_target: dict[str, set[str]] = {}
    for alias, target in zip(own_aliases, targets, strict=True):
        if alias is not None and alias != target:
            by_target.setdefault(target, set()).add(alias)
    is_alias = pc.fill_null(pc.equal(classes["kind"], "alias"), False)
    alias_rows = classes.filter(is_alias)
    for fqn, bases in zip(alias_rows["fqn"].to_pylist(), alias_rows["bases"].to_pylist(), strict=True):
        if fqn and bases and bases[0] and fqn != bases[0]:
            by_target.setdefault(bases[0], set()).add(fqn)
    seen_short = set(touched.shorts)
    wave_short = set(touched.shorts)
    first = set(touched.aliases)
    first |= {
        a for a, b in zip(own_aliases, bound_names, strict=True) if a is not None and b in touched.bound
    }
    seen_alias: set[str] = set()

    def through(aliases: set[str]) -> set[str]:
        """The aliases reached from ``aliases``; past the budget, their last names become touched
        short names instead: every alias reached ends with its origin's last name, so a text that
        writes one writes that name (more classes re-derived, never fewer)."""
        try:
            return _through(aliases, by_target, seen_alias)
        except _TooMany:
            lost = {_last(a) for a in aliases} - seen_short
            seen_short.update(lost)
            wave_short.update(lost)
            return set()

    wave_alias = through(first)
    marked: set[int] = set()
    while wave_short or wave_alias:
        hits = pc.indices_nonzero(_matches(texts, wave_short, wave_alias)).to_pylist()
        wave_short, hit_aliases = set(), set()
        for i in hits:
            if i in marked:
                continue
            marked.add(i)
            if i < n_rows:
                if shorts[i] and shorts[i] not in seen_short:
                    seen_short.add(shorts[i])
                    wave_short.add(shorts[i])
            elif (alias := own_aliases[i - n_rows]) is not None:
                hit_aliases.add(alias)
        wave_alias = through(hit_aliases)
    return {o for i in marked if (o := owners[i]) is not None}


class _TooMany(Exception):
    """The alias enumeration passed :data:`_ALIAS_BUDGET`."""


def _through(aliases: set[str], by_target: dict[str, set[str]], seen: set[str]) -> set[str]:
    """``aliases`` and the aliases reached through others (``B`` + the rest of ``A`` for an alias
    ``B -> T`` and an ``A`` beginning with ``T.``), at most :data:`_CANON_STEPS` rewrites back, less
    those in ``seen`` (which it extends)."""
    out: set[str] = set()
    todo = [(a, 0) for a in aliases if a not in seen]
    seen.update(a for a, _ in todo)
    out.update(a for a, _ in todo)
    while todo:
        name, steps = todo.pop()
        if steps >= _CANON_STEPS:
            continue
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            rest = name[len(prefix) :]
            for via in by_target.get(prefix, ()):
                got = via + rest
                if got not in seen:
                    seen.add(got)
                    out.add(got)
                    todo.append((got, steps + 1))
        if len(seen) > _ALIAS_BUDGET:
            raise _TooMany
    return out


def _matches(texts: pa.Array, shorts: set[str], aliases: set[str]) -> pa.Array:
    """Which texts write a short name of ``shorts`` as an identifier (alone or as a part of a dotted
    name) or a dotted name beginning with an alias of ``aliases``."""
    terms = []
    if shorts:
        terms.append(f"(?:^|[^{_ID}])(?:" + "|".join(map(re.escape, sorted(shorts))) + ")")
    if aliases:
        terms.append(f"(?:^|[^{_ID}.])(?:" + "|".join(map(re.escape, sorted(aliases))) + ")")
    pattern = "(?:" + "|".join(terms) + f")(?:[^{_ID}]|$)"
    return pc.match_substring_regex(texts, pattern)

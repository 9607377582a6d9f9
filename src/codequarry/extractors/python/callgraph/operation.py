"""The call graph: every call site, resolved across files to the function, method or class it calls.

Each file's ``calls.resolved`` already names what a callee stands for in that file (``pkg.util.helper``,
``os.path.join``, ``pkg.models.Model.save``, ``builtins.len``); this operation follows that name through
the whole corpus to a definition, a ``functions`` or ``classes`` row named ``module || '.' || qualname``:

- re-exports: ``pkg.helper``, where ``pkg/__init__.py`` does ``from .util import helper``, follows
  the package's module-level import to ``pkg.util.helper`` (at most three hops); a name a module takes
  with ``from x import *`` is looked up in ``x``. A package's attribute wins over its submodule of the
  same name. When a module binds a name twice (``import posixpath as path``, then ``import ntpath as
  path`` in ``os``), the first binding wins: ``os.path.join`` is the ``join`` of ``posixpath.py``, on
  every platform, since nothing is imported;
- methods through the class's bases, depth first in the order written (an approximation of the C3
  MRO); bases outside the corpus are skipped;
- ``self.m()`` and ``cls.m()`` in a method (or a function nested in one): ``m`` of the enclosing
  class or its bases; ``super().m()``: ``m`` of the bases; ``cls()``: the enclosing class;
- names a file takes with ``from m import *``: looked up in ``m``, counted only when ``m`` defines them;
- calling a class runs its ``__init__`` (its own or a base's) when the corpus defines one (kind
  ``method``, target ``...Base.__init__``), else its ``__new__``; a class with neither runs no code
  of the corpus: its row has kind ``class``, the class in ``target_module`` / ``target_qualname`` /
  ``target_path`` / ``target_line`` and a null ``target`` (no edge; the solver makes it the
  ``__init__`` of an external base when the class has one: ``ext.Base.__init__``, kind
  ``external``).

What this name-based step leaves unresolved, or gets wrong because a corpus decorator replaced a def,
the points-to solver answers (:mod:`codequarry.extractors.python.callgraph.merge`, over the per-file
``callgraph_facts``): one row per possible target, ``confidence`` exact or possible, and for calls that
stay unresolved a ``reason``. The same solve fills ``references``.

A name whose module no repo holds is *external* (``builtins.len``; ``os.getcwd`` in a corpus without
the standard library); so is a name a corpus module takes from a star import of an outside module
(``os.getcwd`` with the standard library: ``posix.getcwd``), and a name whose module only another
repo holds when that module binds nothing so named (``from ext import f`` in one repo, an ``ext``
without ``f`` in another: not the one imported). Everything else (attributes of instances,
dynamic calls, values a module binds by assignment, such as ``open = TarFile.open``) is *unresolved*:
its row stays, with null targets. In a store of several repos, the first repo holding a module the name
could live in answers: the caller's own repo, then the others by name. When one fully qualified name has
several definitions (``if ...: def f`` / ``else: def f``, or two files with one module name), the first
by path and line is the target.

Reported for the run summary: ``call_graph.resolved`` (the fraction of calls that are not unresolved),
``call_graph.internal_resolved`` (of the calls with a known name that is not external, the fraction
that reached a definition), ``call_graph.calls`` and ``call_graph.kind.<kind>`` counts.

Example: who calls ``pkg.util.helper``, directly or through a re-export::

    SELECT caller, path, line FROM call_graph WHERE target = 'pkg.util.helper'
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from codequarry.api import operation
from codequarry.extractors.python.callgraph.domain import Def
from codequarry.extractors.python.callgraph.facts import CallgraphFacts  # noqa: F401 - the dataset it reads
from codequarry.extractors.python.callgraph.solutions import CallgraphSolution
from codequarry.schema import dataset

KINDS = ("function", "method", "class", "external", "lambda", "unresolved")
_MAX_HOPS = 3  # re-exports followed per name (package __init__ -> submodule -> ...)
_MAX_BASES = 12  # depth of the base-class walk; guards against cycles in broken code
_SELF = re.compile(r"^(self|cls)\.([A-Za-z_][A-Za-z0-9_]*)$")
_SUPER = re.compile(  # super().m, or super(Class, self).m
    r"^super\((?:\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*(?:self|cls)\s*)?\)\.([A-Za-z_][A-Za-z0-9_]*)$"
)
_BASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?=\[|$)")
# calls whose meaning depends on the enclosing class, not on a dotted name (DataFusion regexes)
_CLASS_RELATIVE_SQL = r"^((self|cls)\.[A-Za-z_][A-Za-z0-9_]*|cls|super\([^()]*\)\.[A-Za-z_][A-Za-z0-9_]*)$"
_DOTTED_SQL = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


@dataset("call_graph")
class CallEdge:
    """One row per call site of ``calls`` (the caller's file is the provenance)."""

    caller: str  # fully qualified name of the calling scope: pkg.app.main, or pkg.app at module level
    caller_scope: str  # calls.scope: qualname of the calling def or class, '' for module level
    callee: str  # as written: self.session.get; a statement's call: 'for ... in xs', 'with cm', 'raise E', '@deco'
    # the name the callee stands for before re-exports and bases are followed: calls.resolved, else
    # <enclosing class>.<m> for self.m() / cls.m(), <m>.<name> for a name from `from m import *`
    resolved_name: str | None
    kind: str  # function | method | class | external | lambda | unresolved
    # fully qualified name reached: a corpus definition, a lambda (kind lambda: <module>.<scope>.<lambdaN>,
    # see facts.lambda_names), or (external) a name outside; null when no code runs that a row can
    # name: a class with no __init__/__new__ (kind class), unresolved
    target: str | None
    target_repo: str | None  # where the definition is (null unless function, method, class or lambda)
    target_path: str | None
    target_module: str | None
    target_qualname: str | None  # functions.qualname / classes.qualname of the definition
    target_line: int | None  # the line of its def / class statement
    line: int  # the call's position
    col: int
    # exact: the only target found; possible: one of several targets (one row each); null: unresolved
    confidence: str | None
    reason: str | None  # why an unresolved call stays so: a dynamic call (getattr, eval), no value known


@dataset("references")
class Reference:
    """One row per use of a function, class or module of the corpus: read, called, passed as a value,
    used as a decorator or base, imported, or named in a string a framework imports (Django settings)."""

    scope: str  # qualname of the scope holding the use, '' for module level
    kind: str  # read | call | argument | decorator | base | import | string | decorated | annotation | export
    target_kind: str  # function | method | class | module
    target: str  # fully qualified name of what is used
    target_repo: str | None
    target_path: str | None
    target_line: int | None
    confidence: str  # exact: the only thing the use can stand for; possible: one of several
    line: int
    col: int


_TARGET_FIELDS = [
    pa.field("kind", pa.string()),
    pa.field("target", pa.string()),
    pa.field("target_repo", pa.string()),
    pa.field("target_path", pa.string()),
    pa.field("target_module", pa.string()),
    pa.field("target_qualname", pa.string()),
    pa.field("target_line", pa.int64()),
]


@dataclass(frozen=True, slots=True)
class External:
    """A name whose module is outside the corpus."""

    name: str


_UNRESOLVED = None
_NO_MODULE = object()  # the repo holds no module the name could live in
#: the repo holds the module, which neither defines, imports, assigns nor star-imports the name: in
#: the caller's own repo the call stays unresolved; another repo's module of that name is taken not to
#: be the one imported (``from ext import f`` where another repo has an ``ext`` without ``f``)
_ABSENT = object()
Result = Def | External | None


@operation(
    "python.call_graph",
    version=7,
    inputs=["calls", "functions", "classes", "modules", "imports", "assignments", "callgraph_facts"],
    outputs=[CallEdge, Reference, CallgraphSolution],
    default=False,
)  # whole-corpus: run it with --select python.call_graph
def call_graph(ctx: Any) -> dict[str, pa.Table]:
    """Call sites resolved across files to the function, method or class they call."""
    was_enabled = gc.isenabled()
    gc.disable()  # millions of small sets and lists, few cycles: the collector cost 3x the solve itself
    try:
        return _call_graph(ctx)
    finally:
        if was_enabled:
            gc.enable()


def _call_graph(ctx: Any) -> dict[str, pa.Table]:
    index = Index.load(ctx)
    # what each distinct name leads to; names that lead nowhere stay out (the join leaves them null)
    names = ctx.sql("SELECT DISTINCT repo, resolved FROM calls WHERE resolved IS NOT NULL")
    by_name = _Columns("repo", "name")
    for repo, name in _rows(names):
        result = index.call_target(repo, name)
        if result is not _UNRESOLVED:
            by_name.add(repo, name, *_target(result))
    # calls whose meaning depends on where they are: self.m() in a method, names from star imports
    relative = ctx.sql(f"""
        SELECT DISTINCT c.repo, c.path, c.scope, c.callee FROM calls c
        WHERE c.resolved IS NULL AND (c.callee ~ '{_CLASS_RELATIVE_SQL}' OR (c.callee ~ '{_DOTTED_SQL}'
              AND EXISTS (SELECT 1 FROM imports i WHERE i.repo = c.repo AND i.path = c.path AND i.is_star
                          AND i.scope = '')))""")
    by_scope = _Columns("repo", "path", "scope", "callee", "resolved_name")
    for repo, path, scope, callee in _rows(relative):
        resolved_name, result = index.in_scope(repo, path, scope, callee)
        if resolved_name is not None or result is not _UNRESOLVED:
            by_scope.add(repo, path, scope, callee, resolved_name, *_target(result))
    session = ctx.session
    session.register_record_batches("_cg_by_name", [by_name.batches()])
    session.register_record_batches("_cg_by_scope", [by_scope.batches()])
    try:
        edges = ctx.sql("""
            SELECT c.repo, c.path, c.sha256,
                   CASE WHEN c.scope = '' THEN coalesce(m.module, '')
                        ELSE coalesce(m.module || '.', '') || c.scope END AS caller,
                   c.scope AS caller_scope, c.callee,
                   coalesce(c.resolved, s.resolved_name) AS resolved_name,
                   coalesce(n.kind, s.kind, 'unresolved') AS kind,
                   coalesce(n.target, s.target) AS target,
                   coalesce(n.target_repo, s.target_repo) AS target_repo,
                   coalesce(n.target_path, s.target_path) AS target_path,
                   coalesce(n.target_module, s.target_module) AS target_module,
                   coalesce(n.target_qualname, s.target_qualname) AS target_qualname,
                   coalesce(n.target_line, s.target_line) AS target_line,
                   c.line, c.col, c.end_line, c.end_col
            FROM (SELECT repo, path, sha256, scope, callee, resolved, line, col, end_line, end_col,
                         CASE WHEN resolved IS NULL THEN callee END AS relative_callee FROM calls) c
            LEFT JOIN modules m ON m.repo = c.repo AND m.path = c.path
            LEFT JOIN _cg_by_name n ON n.repo = c.repo AND n.name = c.resolved
            LEFT JOIN _cg_by_scope s ON s.repo = c.repo AND s.path = c.path AND s.scope = c.scope
                 AND s.callee = c.relative_callee
            ORDER BY c.repo, c.path, c.line, c.col, c.end_line, c.end_col
        """)
    finally:
        session.deregister_table("_cg_by_name")
        session.deregister_table("_cg_by_scope")
    # the solver is imported when the opt-in operation runs, not by every catalog load (~1.5 ms)
    from codequarry.extractors.python.callgraph.merge import refine

    edges, references, solved = refine(ctx, index, edges)
    _report(ctx, edges)
    return {"call_graph": edges, "references": references, "callgraph_solutions": solved}


def _target(result: Result) -> tuple[Any, ...]:
    if isinstance(result, Def):
        return result.target()
    if isinstance(result, External):
        return ("external", result.name, None, None, None, None, None)
    return ("unresolved", None, None, None, None, None, None)


class _Columns:
    """Rows of a lookup table, kept as columns: string keys, then the target fields."""

    def __init__(self, *keys: str) -> None:
        self.fields = [*(pa.field(k, pa.string()) for k in keys), *_TARGET_FIELDS]
        self.columns: list[list[Any]] = [[] for _ in self.fields]

    def add(self, *values: Any) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def batches(self) -> list[pa.RecordBatch]:
        """One batch (DataFusion needs at least one to know the schema)."""
        arrays = [pa.array(c, f.type) for c, f in zip(self.columns, self.fields, strict=True)]
        return [pa.RecordBatch.from_arrays(arrays, schema=pa.schema(self.fields))]


def _report(ctx: Any, edges: pa.Table) -> None:
    total = edges.num_rows
    counts = {k: 0 for k in KINDS}
    for item in pc.value_counts(edges.column("kind")).to_pylist():
        counts[item["values"]] = item["counts"]
    found = counts["function"] + counts["method"] + counts["class"]
    missed = (
        pc.sum(
            pc.and_(
                pc.is_valid(edges.column("resolved_name")), pc.equal(edges.column("kind"), "unresolved")
            ).cast(pa.int64())
        ).as_py()
        or 0
    )
    named = found + missed  # calls that name something of the corpus (super().m() names nothing)
    ctx.report("call_graph.calls", total)
    ctx.report("call_graph.resolved", round((total - counts["unresolved"]) / total, 4) if total else 0.0)
    ctx.report("call_graph.internal_resolved", round(found / named, 4) if named else 0.0)
    for kind in KINDS:
        ctx.report(f"call_graph.kind.{kind}", counts[kind])


class Index:
    """Definitions, modules and module-level imports of every repo, for lookups by dotted name."""

    def __init__(self) -> None:
        self.repos: list[str] = []
        self.modules: set[tuple[str, str]] = set()  # (repo, module)
        self.defs: dict[tuple[str, str], Def] = {}  # (repo, module.qualname) -> first definition
        #: (repo, module.qualname) -> a lambda (kind "lambda"), from the facts (merge.refine fills it)
        self.lambdas: dict[tuple[str, str], Def] = {}
        self.file_classes: dict[tuple[str, str], dict[str, Def]] = {}  # (repo, path) -> qualname -> class
        self.bases_text: dict[Def, list[str]] = {}
        self.exports: dict[tuple[str, str, str], str] = {}  # (repo, module, bound name) -> target
        self.stars: dict[tuple[str, str], list[str]] = {}  # (repo, module) -> modules star-imported
        self.file_stars: dict[tuple[str, str], list[str]] = {}  # (repo, path) -> modules star-imported
        self.assigned: set[tuple[str, str, str]] = set()  # (repo, module, name) bound by module-level =
        self.file_imports: dict[tuple[str, str, str], str] = {}  # (repo, path, bound name) -> target
        self._memo: dict[tuple[str, str], Result] = {}
        self._methods: dict[tuple[Def, str], Def | None] = {}
        self._bases: dict[Def, list[Def]] = {}

    @classmethod
    def load(cls, ctx: Any) -> Index:
        idx = cls()
        mods = ctx.sql("SELECT repo, path, module FROM modules ORDER BY repo, path")
        canonical: dict[tuple[str, str], str] = {}  # (repo, path) -> module, for the first file of a module
        seen: set[tuple[str, str]] = set()
        for repo, path, module in _rows(mods):
            if (repo, module) not in seen:
                seen.add((repo, module))
                canonical[(repo, path)] = module
        idx.modules = seen
        idx.repos = sorted({r for r, _ in seen})
        funcs = ctx.sql(
            "SELECT repo, path, module, qualname, class_name IS NOT NULL AS is_method, line "
            "FROM functions ORDER BY repo, path, line, col"
        )
        for repo, path, module, qualname, is_method, line in _rows(funcs):
            d = Def("method" if is_method else "function", repo, path, module, qualname, line)
            idx.defs.setdefault((repo, d.name), d)
        classes = ctx.sql(
            "SELECT repo, path, module, qualname, bases, line FROM classes ORDER BY repo, path, line, col"
        )
        for repo, path, module, qualname, bases, line in _rows(classes):
            d = Def("class", repo, path, module, qualname, line)
            idx.defs.setdefault((repo, d.name), d)
            idx.file_classes.setdefault((repo, path), {}).setdefault(qualname, d)
            idx.bases_text[d] = bases or []
        imports = ctx.sql(
            "SELECT repo, path, bound_name, target, is_star, resolved FROM imports "
            "WHERE scope = '' ORDER BY repo, path, line, col"
        )
        for repo, path, bound, target, is_star, resolved in _rows(imports):
            module = canonical.get((repo, path))
            if is_star:
                if resolved:
                    idx.file_stars.setdefault((repo, path), []).append(resolved)
                    if module is not None:
                        idx.stars.setdefault((repo, module), []).append(resolved)
                continue
            if bound is None or target is None:
                continue
            idx.file_imports.setdefault((repo, path, bound), target)
            if module is not None:
                idx.exports.setdefault((repo, module, bound), target)
        assigned = ctx.sql(
            "SELECT DISTINCT a.repo, m.module, a.target FROM assignments a JOIN modules m "
            "ON m.repo = a.repo AND m.path = a.path WHERE a.scope = ''"
        )
        idx.assigned = set(_rows(assigned))
        return idx

    # -- names --------------------------------------------------------------------------------------
    def resolve(self, repo: str, name: str, hops: int = 0) -> Result:
        """The definition (or external name) a dotted name leads to. The first repo holding a module
        the name could live in answers, the caller's own repo first, then the others by name."""
        key = (repo, name)
        if key in self._memo:
            return self._memo[key]
        result: Result = External(name)
        for r in (repo, *(x for x in self.repos if x != repo)):
            got = self._in_repo(r, name, hops)
            if got is _ABSENT and r != repo:
                continue  # that repo's module of the name binds nothing so named: not the one imported
            if got is not _NO_MODULE:
                result = _UNRESOLVED if got is _ABSENT else got
                break
        if hops == 0:
            self._memo[key] = result
        return result

    def _in_repo(self, repo: str, name: str, hops: int) -> Any:
        d = self.defs.get((repo, name))
        if d is not None:
            return d
        parts = name.split(".")
        if (repo, name) in self.modules:
            # a package attribute wins over its submodule of the same name (unittest.main is the
            # function unittest/__init__.py imports from unittest/main.py); calling a module fails
            if len(parts) > 1 and hops < _MAX_HOPS:
                target = self.exports.get((repo, ".".join(parts[:-1]), parts[-1]))
                if target is not None and target != name:
                    return self.resolve(repo, target, hops + 1)
            return _UNRESOLVED
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            d = self.defs.get((repo, prefix))
            if d is not None:
                if d.kind == "class" and i == len(parts) - 1:
                    return self.method(d, parts[i])
                return _UNRESOLVED  # an attribute of a function, or of something inside a class
            if (repo, prefix) in self.modules:
                return self._through_module(repo, prefix, parts[i:], hops)
        return _NO_MODULE

    def _through_module(self, repo: str, module: str, rest: list[str], hops: int) -> Any:
        """``module.rest`` where the module does not define ``rest[0]``: follow what it imports."""
        if hops >= _MAX_HOPS:
            return _UNRESOLVED
        target = self.exports.get((repo, module, rest[0]))
        if target is not None:
            return self.resolve(repo, ".".join([target, *rest[1:]]), hops + 1)
        if (repo, module, rest[0]) in self.assigned:
            return _UNRESOLVED  # a value the module computes, not something a star import brought
        stars = self.stars.get((repo, module), ())
        if not stars:
            return _ABSENT
        return self.through_stars(repo, stars, ".".join(rest), hops + 1)

    def through_stars(self, repo: str, stars: Any, name: str, hops: int = 0) -> Result:
        """``name`` as one of the modules ``stars`` (star-imported, in order) defines it; a star import
        from outside the corpus (``from posix import *``) makes the name external there."""
        external: Result = _UNRESOLVED
        for star in stars:
            got = self.resolve(repo, f"{star}.{name}", hops)
            if isinstance(got, Def):
                return got
            if external is None and isinstance(got, External):
                external = got
        return external

    def call_target(self, repo: str, name: str) -> Result:
        """What calling ``name`` runs."""
        return self._called(self.resolve(repo, name))

    def _called(self, got: Result) -> Result:
        """Calling a class runs its ``__init__`` (its own or a base's) when the corpus defines one,
        else its ``__new__``; else the class itself stands for the call, which runs no corpus code."""
        if isinstance(got, Def) and got.kind == "class":
            return self.method(got, "__init__") or self.method(got, "__new__") or got
        return got

    # -- classes ------------------------------------------------------------------------------------
    def method(self, cls: Def, name: str, depth: int = 0) -> Def | None:
        """``name`` defined in ``cls`` or, depth first, in its bases."""
        key = (cls, name)
        if key in self._methods:
            return self._methods[key]
        found = self.defs.get((cls.repo, f"{cls.name}.{name}"))
        if found is None and depth < _MAX_BASES:
            for base in self.bases(cls):
                found = self.method(base, name, depth + 1)
                if found is not None:
                    break
        self._methods[key] = found
        return found

    def bases(self, cls: Def) -> list[Def]:
        """The bases of a class that are classes of the corpus, in the order written."""
        got = self._bases.get(cls)
        if got is not None:
            return got
        self._bases[cls] = []  # a class that (through broken code) is its own base stops here
        out = []
        for text in self.bases_text.get(cls, ()):
            m = _BASE.match(text)
            if m is None:
                continue
            name = self._name_in_file(cls, m.group(0))
            base = self.resolve(cls.repo, name) if name else None
            if isinstance(base, Def) and base.kind == "class" and base != cls:
                out.append(base)
        self._bases[cls] = out
        return out

    def _name_in_file(self, cls: Def, dotted: str) -> str | None:
        """What a base written in ``cls``'s file names: an enclosing scope's class, an import, or a
        module-level definition."""
        head, _, rest = dotted.partition(".")
        tail = f".{rest}" if rest else ""
        outer = cls.qualname.rpartition(".")[0]
        if outer and (cls.repo, f"{cls.module}.{outer}.{head}") in self.defs:
            return f"{cls.module}.{outer}.{head}{tail}"
        target = self.file_imports.get((cls.repo, cls.path, head))
        if target is not None:
            return target + tail
        if (cls.repo, f"{cls.module}.{head}") in self.defs:
            return f"{cls.module}.{dotted}"
        return None

    def enclosing_class(self, repo: str, path: str, scope: str) -> Def | None:
        """The class whose method holds ``scope`` (``C.m``, ``C.m.<locals>.inner``), if any."""
        classes = self.file_classes.get((repo, path))
        if not classes:
            return None
        parts = scope.split(".")
        for i in range(len(parts) - 1, 0, -1):
            if parts[i] != "<locals>" and ".".join(parts[: i + 1]) not in classes:  # parts[i] is a def
                cls = classes.get(".".join(parts[:i]))
                if cls is not None:
                    return cls
        return None

    def in_scope(self, repo: str, path: str, scope: str, callee: str) -> tuple[str | None, Result]:
        """(resolved name, target) of a call ``calls.resolved`` leaves null: ``self.m()``, ``cls.m()``,
        ``cls()`` or ``super().m()`` in a method, or a name the file may take with ``from m import *``."""
        cls = self.enclosing_class(repo, path, scope)
        if callee == "cls":
            return (None, _UNRESOLVED) if cls is None else (cls.name, self._called(cls))
        m = _SELF.match(callee)
        if m is not None:
            if cls is None:
                return None, _UNRESOLVED
            return f"{cls.name}.{m.group(2)}", self.method(cls, m.group(2))
        m = _SUPER.match(callee)
        if m is not None:
            if cls is None or (m.group(1) is not None and m.group(1) != cls.qualname.rpartition(".")[2]):
                return None, _UNRESOLVED
            for base in self.bases(cls):
                found = self.method(base, m.group(2))
                if found is not None:
                    return None, found
            return None, _UNRESOLVED
        # only a definition counts: any local variable would otherwise "come from" an external module
        for star in self.file_stars.get((repo, path), ()):
            got = self.resolve(repo, f"{star}.{callee}")
            if isinstance(got, Def):
                return f"{star}.{callee}", self._called(got)
        return None, _UNRESOLVED


def _rows(table: pa.Table) -> Any:
    return zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)

"""Per-file summaries for the points-to call graph: one ``callgraph_facts`` row per file, from the shared parse.

The row's ``facts`` column is compact JSON that the ``python.call_graph`` operation solves over the
whole corpus (see :mod:`codequarry.extractors.python.callgraph.pointsto`). Names are resolved here, with the
scoping rules of Python (locals, enclosing functions, module globals, builtins), to *variables*
``module:scope:name`` (``pkg.app::helper`` is a module global, ``pkg.app:main:x`` a local of ``main``).
Expressions are small lists:

``["v", var]`` a variable, ``["b", name]`` a builtin, ``["m", module]`` a module, ``["a", e, attr]``
an attribute, ``["c", i]`` the value call site ``i`` returns, ``["f", qual]`` a def or lambda,
``["k", qual]`` a class, ``["t", site, [e...]]`` a list/tuple/set (``["t", site, [e], "*"]`` a
comprehension's, its element at any index), ``["d", site, [[key, e]...]]`` a
dict, ``["i", e, key]`` a subscript (key an int, a string or null), ``["e", e]`` any element of an
iterable, ``["o", [e...]]`` any of several, ``["s", class_qual, self]`` ``super()``, ``null`` unknown.

Facts: ``assign`` (target, value), ``def`` (function with parameters, defaults and decorators),
``class`` (bases, decorators), ``ret`` / ``yield`` (function, value), ``calls`` (position,
callee, arguments, keywords, the reason a callee is dynamic) and ``lambdas`` (qualname, the span of
its body, its line: a lambda is a function of the graph, named as :func:`lambda_names` says).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.callgraph import codec, slots
from codequarry.extractors.python.callgraph.scopes import (
    FUNCS,
    Binds,
    Scope,
    all_args,
    bindings,
    function_scope,
    method_of,
    module_scope,
    tail,
)
from codequarry.extractors.python.callgraph.typed import Annotations, Known, is_str_formatting
from codequarry.extractors.python.callgraph.uses import Uses
from codequarry.python.imports import resolve_relative
from codequarry.python.scopes import module_name
from codequarry.python.spans import span_getter
from codequarry.schema import dataset
from codequarry.source import SourceFile

_BUILTINS = frozenset(dir(builtins))
_NO_BINDS = Binds()  # a scope that binds nothing (read only)
_NO_READS: frozenset[int] = frozenset()
_DEF_STMTS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)  # no subscript of the statement reads a slot's version
#: the letter after '#' in a container's site names its type (the solver names its methods by it)
_CONTAINER = {
    ast.Tuple: "t",
    ast.List: "l",
    ast.Set: "s",
    ast.ListComp: "l",
    ast.SetComp: "s",
    ast.GeneratorExp: "g",
    ast.DictComp: "d",
}
#: builtins that call a function they are given: its first argument, or ``key=``
_CALLBACKS = frozenset({"map", "filter", "sorted", "min", "max"})
#: bases that make a class an enum (``enum.Enum``, ``IntEnum`` ...), by their last name
_ENUMS = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum"})
_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_LITERAL_NODES = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Constant, ast.JoinedStr, *_COMPS)
_DYNAMIC = {
    "getattr": "getattr with a computed name",
    "eval": "eval",
    "exec": "exec",
    "__import__": "__import__",
    "import_module": "importlib.import_module with a computed name",
}


@dataset("callgraph_facts")
class CallgraphFacts:
    """One row per Python file: its points-to summary (JSON), for the call-graph solver."""

    module: str
    facts: str


@file_extractor("python.callgraph.facts", version=7, needs=["ast"], outputs=[CallgraphFacts], default=False)
def callgraph_facts(src: SourceFile, out: Any) -> None:
    """The file's assignments, definitions, returns and call sites as symbolic points-to facts."""
    module = module_name(src)
    walker = _Walker(src, module)
    try:
        walker.run()
        out.callgraph_facts.add(module=module, facts=codec.encode(walker.facts))
    finally:
        # the walker and its annotation reader point at each other: a cycle holding the file's
        # tree, which (the worker pausing the collector) no file's teardown would free
        walker.types.walker = None


class _Walker(Uses, Known):
    """Walks a module once, emitting facts with names resolved to variables."""

    def __init__(self, src: SourceFile, module: str) -> None:
        self.src, self.module = src, module
        self.span = span_getter(src)
        self.facts: dict[str, list[Any]] = {
            "assign": [],
            "def": [],
            "class": [],
            "ret": [],
            "yield": [],
            "calls": [],
            "stars": [],
            "refs": [],
            "lambdas": [],
        }
        self._kind: str | None = None  # the use the next name or attribute expression is (call, ...)
        self._quiet = 0  # > 0 inside an attribute chain: only the whole chain is a reference
        self.site = 0
        self.lambda_names: dict[ast.Lambda, str] = {}  # each lambda's qualname (see :func:`lambda_names`)
        self.star = False
        #: (scope, variable) -> the variable's version its reads in that scope take (see :meth:`body`)
        self.versions: dict[tuple[Any, ...], str] = {}
        #: slots read flow-sensitively (see :mod:`.slots`): the subscripts of the statement being read
        #: that may take a slot's version (by id), whether it lets other code run, the dict display
        #: a ``d.update({...})`` passes (by id) and its value, the version a slot store wrote
        self.slot_reads: Any = _NO_READS
        self.slot_quiet = False
        self.slot_watch = 0
        self.slot_watched: Any = None
        self.slot_written = ""
        self._version_count: dict[str, int] = {}
        self.declared: frozenset[str] = frozenset()  # names some scope declares global or nonlocal
        self.types = Annotations(self)
        self.scope_defs: dict[str, set[str]] = {}  # qualname of a def or class -> the defs it binds

    # -- scopes -----------------------------------------------------------------------------------
    def run(self) -> None:
        tree = self.src.tree
        self.star = any(
            isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in tree.body
        )
        self.binds = bindings(self.src)  # what each scope binds, before its body is read
        self.lambda_names = lambda_names(self.src)
        self.declared = frozenset(name for n in self.src.nodes(ast.Global, ast.Nonlocal) for name in n.names)
        scope = Scope("module", "", None)
        self.bind(scope, tree)
        self.body(tree.body, scope)

    def bind(self, scope: Scope, node: Any) -> Binds:
        """``scope`` (the scope of def, class, lambda or module ``node``) takes what ``node`` binds."""
        got = self.binds.get(node) or _NO_BINDS
        scope.bound.update(got.bound)
        scope.globals, scope.nonlocals, scope.defs = got.globals, got.nonlocals, got.defs
        return got

    def var(self, name: str, scope: Scope) -> Any:
        """The variable ``name`` read in ``scope`` stands for."""
        s: Scope | None = scope
        first = True
        while s is not None:
            if s.kind == "module":
                if name in s.bound or self.star:
                    return ["v", f"{self.module}::{name}"]
                return ["b", name] if name in _BUILTINS else None
            if name in s.globals:
                return self.var(name, module_scope(s))
            if s.kind == "class" and not first:
                s = s.parent
                continue
            if name in s.bound and name not in s.nonlocals:
                return ["v", f"{self.module}:{s.qual}:{name}"]
            first = False
            s = s.parent
        return None

    def store_var(self, name: str, scope: Scope) -> str:
        """The variable an assignment to ``name`` in ``scope`` writes."""
        if name in scope.globals or scope.kind == "module":
            return f"{self.module}::{name}"
        if name in scope.nonlocals:
            got = self.var(name, scope.parent) if scope.parent else None
            if got and got[0] == "v":
                return got[1]
        return f"{self.module}:{scope.qual}:{name}"

    # -- statements -------------------------------------------------------------------------------
    def body(self, stmts: list[ast.stmt], scope: Scope) -> None:
        """The statements of one block, in order. A name the block assigns twice or more with a plain
        ``name = value`` is flow-sensitive within the block: each such assignment writes a version of
        the variable (which flows into the variable), and the reads that follow in the same scope, up
        to a statement that may bind the name otherwise, read that version only (``x = f; x = g;
        x()`` calls ``g``). Reads elsewhere (other functions, later blocks) read the variable: all of
        its values."""
        plan = _reassigned(stmts, self.declared)
        tracked = slots.worth_it(stmts)
        if not plan and not tracked:
            for stmt in stmts:
                self.stmt(stmt, scope)
            return
        saved = self.versions
        self.versions = dict(saved)
        shown: dict[str, str] = {}  # variables this block bound to a dict or list display -> d / l
        try:
            for stmt in stmts:
                simple = _plain_targets(stmt) & plan
                for name in plan - simple:
                    if _binds(stmt, name):
                        self.versions.pop((id(scope), self.store_var(name, scope)), None)
                slot = self.slot_before(stmt, scope, shown) if tracked else None
                if slot is not None:
                    self.slot_store(stmt, scope, slot)  # type: ignore[arg-type]
                elif simple:
                    self.versioned(stmt, scope, simple)  # type: ignore[arg-type]
                else:
                    self.stmt(stmt, scope)
                if tracked:
                    self.slot_after(stmt, scope, shown, slot)
        finally:
            self.versions = saved
            self.slot_reads = _NO_READS

    def slot_before(self, stmt: ast.stmt, scope: Scope, shown: dict[str, str]) -> Any:
        """Before ``stmt`` of a block with slots to track (:mod:`.slots`): which of its subscripts
        may read a slot's latest store; the slot ``stmt`` stores into (its variable and keys) when it
        is one of a display this block bound, else None."""
        quiet, reads = slots.readable(stmt, self.src.parents.get)
        self.slot_quiet = quiet
        if not quiet and not reads:
            self.drop_slots()  # a loop, a branch, a call before any read: nothing is known after it
        self.slot_reads = {id(r) for r in reads} if reads else _NO_READS
        updated = slots.update(stmt)
        if updated is not None:
            self.slot_watch = id(updated[1])
        got = slots.store(stmt)
        if got is not None:
            var = self.var(got[0], scope)
            if var is not None and var[0] == "v" and var[1] in shown:
                return var[1], got[1]
        return None

    def slot_store(self, node: ast.Assign, scope: Scope, slot: tuple[str, tuple[Any, ...]]) -> None:
        """``name[k]... = value`` into a slot of a display: the value goes to a version of the slot
        (which flows into the container), which reads of the slot that follow take (see :mod:`.slots`)."""
        value = self.expr(node.value, scope)
        target: Any = node.targets[0]
        self.slot_written = self.slot_version(slot[0], value)
        self.facts["assign"].append(
            [["i", self.expr(target.value, scope), slots.key(target.slice)], ["v", self.slot_written]]
        )
        self.expr(target.slice, scope)

    def slot_version(self, var: str, value: Any) -> str:
        """A new version of a slot of ``var`` holding ``value``."""
        n = self._version_count[f"{var}[]"] = self._version_count.get(f"{var}[]", 0) + 1
        version = f"{var}@k{n}"
        self.facts["assign"].append([["v", version], value])
        return version

    def slot_after(self, stmt: ast.stmt, scope: Scope, shown: dict[str, str], slot: Any) -> None:
        """After ``stmt``: every slot is forgotten if it may have run other code or stored elsewhere,
        a rebound name's slots too; the slot it stored into (or updated) reads the version written;
        a name it bound to a display is remembered."""
        self.slot_reads = _NO_READS
        watched, self.slot_watch, self.slot_watched = self.slot_watched, 0, None
        if not self.slot_quiet:
            self.drop_slots()
        # a def or class binds its own name only here (its body runs later, in its own scope)
        defines = stmt.__class__ in _DEF_STMTS
        for var in list(shown):
            name = var.rpartition(":")[2]
            if stmt.name == name if defines else _binds(stmt, name):  # type: ignore[attr-defined]
                del shown[var]
                self.drop_slots(var)
        got = slots.display(stmt)
        if got is not None and got[0] not in self.declared:  # no other function may rebind it
            shown[self.store_var(got[0], scope)] = got[1]
        if slot is not None:
            self.versions[("s", id(scope), *slot)] = self.slot_written  # type: ignore[index]
        updated = slots.update(stmt)
        if updated is not None and watched is not None:
            var = self.var(updated[0], scope)
            if var is not None and var[0] == "v" and shown.get(var[1]) == "d":
                for k in updated[1].keys:
                    keys = (slots.key(k),)
                    self.versions[("s", id(scope), var[1], keys)] = self.slot_version(  # type: ignore[index]
                        var[1], ["i", watched, keys[0]]
                    )

    def drop_slots(self, var: str | None = None) -> None:
        """Forget the versions of slots (of ``var``, or all)."""
        for k in [k for k in self.versions if len(k) == 4 and (var is None or k[2] == var)]:
            del self.versions[k]

    def versioned(self, node: ast.Assign, scope: Scope, names: set[str]) -> None:
        """``name = value`` (each target a name) where the block reassigns ``names``: see :meth:`body`."""
        if scope.kind == "module":
            self.setting_strings(node)
            self.exports(node)
        value = self.expr(node.value, scope)
        for target in node.targets:
            name = target.id  # type: ignore[attr-defined]
            if name not in names:
                self.assign(target, value, scope)
                continue
            var = self.store_var(name, scope)
            n = self._version_count[var] = self._version_count.get(var, 0) + 1
            version = f"{var}@{n}"
            self.facts["assign"].append([["v", version], value])
            self.facts["assign"].append([["v", var], ["v", version]])
            self.versions[(id(scope), var)] = version

    def stmt(self, node: ast.stmt, scope: Scope) -> None:  # noqa: C901 - one dispatch over statement types
        if isinstance(node, FUNCS):
            self.funcdef(node, scope)
        elif isinstance(node, ast.ClassDef):
            self.classdef(node, scope)
        elif isinstance(node, ast.Assign):
            if scope.kind == "module":
                self.setting_strings(node)
                self.exports(node)
            value = self.expr(node.value, scope)
            for target in node.targets:
                self.assign(target, value, scope)
        elif isinstance(node, ast.AugAssign):
            if scope.kind == "module":
                self.exports(node)
            value = ["o", [self.expr(node.value, scope), self.expr(node.target, scope)]]
            self.assign(node.target, value, scope)
        elif isinstance(node, ast.AnnAssign):
            typed = self.types.value(node.annotation, scope)
            if node.value is not None:
                value = self.expr(node.value, scope)
                self.assign(node.target, value if typed is None else ["o", [value, typed]], scope)
            elif typed is not None and isinstance(node.target, (ast.Name, ast.Attribute)):
                self.assign(node.target, typed, scope)  # declared, e.g. a dataclass field
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            iterated = self.expr(node.iter, scope)
            self.protocol(node.iter, scope, iterated, "iter" if isinstance(node, ast.For) else "aiter")
            self.assign(node.target, ["e", iterated], scope)
            self.body(node.body, scope)
            self.body(node.orelse, scope)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.expr(item.context_expr, scope)
                self.protocol(
                    item.context_expr, scope, value, "with" if isinstance(node, ast.With) else "awith"
                )
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, ["w", value], scope)
            self.body(node.body, scope)
        elif isinstance(node, ast.Raise):
            raised = self.expr(node.exc, scope)
            if node.exc is not None and not isinstance(node.exc, ast.Call):
                self.protocol(node.exc, scope, raised, "raise")
            self.expr(node.cause, scope)
        elif isinstance(node, ast.Return):
            if node.value is not None and scope.func is not None:
                self.facts["ret"].append([scope.func, self.expr(node.value, scope)])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports(node, scope)
        else:
            self.generic(node, scope)

    def generic(self, node: ast.AST, scope: Scope) -> None:
        """Expressions and nested statement lists of any other statement (if, while, try, match ...)."""
        for _field, value in ast.iter_fields(node):
            if isinstance(value, list):
                if value and isinstance(value[0], ast.stmt):
                    self.body(value, scope)
                else:
                    for item in value:
                        if isinstance(item, ast.expr):
                            self.expr(item, scope)
                        elif isinstance(item, ast.ExceptHandler):  # its one concrete class
                            self.handler(item, scope)
                        elif isinstance(item, ast.match_case):
                            self.body(item.body, scope)
            elif isinstance(value, ast.expr):
                self.expr(value, scope)

    def handler(self, node: ast.ExceptHandler, scope: Scope) -> None:
        if node.type is not None:
            caught = self.expr(node.type, scope)
            # ``except (E1, E2) as e``: an instance of either
            if node.name is not None and caught is not None:
                kinds = caught[2] if caught[0] == "t" else [caught]
                self.facts["assign"].append([["v", self.store_var(node.name, scope)], ["n", ["o", kinds]]])
        self.body(node.body, scope)

    def imports(self, node: ast.Import | ast.ImportFrom, scope: Scope) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                value: list[Any] = ["m", alias.name if alias.asname else alias.name.partition(".")[0]]
                self.facts["assign"].append(
                    [["v", self.store_var(alias.asname or alias.name.partition(".")[0], scope)], value]
                )
            return
        base = resolve_relative(self.module, self.src.path.endswith("__init__.py"), node.level, node.module)
        if base is None:
            return
        for alias in node.names:
            if alias.name == "*":
                self.facts["stars"].append(base)
                continue
            value = ["a", ["m", base], alias.name]
            self.facts["assign"].append([["v", self.store_var(alias.asname or alias.name, scope)], value])
            line, col = self.span(alias)[:2]
            self.facts["refs"].append([line, col, "import", scope.qual, value])

    def assign(self, target: ast.expr, value: Any, scope: Scope) -> None:
        """``target = value``: names, attributes, subscripts, tuples and starred parts."""
        if isinstance(target, ast.Name):
            self.facts["assign"].append([["v", self.store_var(target.id, scope)], value])
        elif isinstance(target, ast.Attribute):
            self.facts["assign"].append([["a", self.expr(target.value, scope), target.attr], value])
        elif isinstance(target, ast.Subscript):
            self.facts["assign"].append(
                [["i", self.expr(target.value, scope), slots.key(target.slice)], value]
            )
            self.expr(target.slice, scope)
        elif isinstance(target, (ast.Tuple, ast.List)):
            star = next(
                (i for i, e in enumerate(target.elts) if isinstance(e, ast.Starred)), len(target.elts)
            )
            for i, elt in enumerate(target.elts):
                if isinstance(elt, ast.Starred):
                    self.site += 1
                    self.assign(elt.value, ["t", f"{self.module}#l{self.site}", [["e", value]]], scope)
                else:
                    self.assign(elt, ["e", value] if i > star else ["i", value, i], scope)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, scope)

    def funcdef(self, node: Any, scope: Scope) -> None:
        qual = self.src.qualname(node)
        decorators = self.decorators(node, scope)
        self.registered(node, scope, ["f", qual])
        params = self.params(node.args, scope)
        inner = Scope("function", qual, scope)
        inner.func = qual
        inner.cls = scope.qual if scope.kind == "class" else None
        for arg in all_args(node.args):
            inner.bound.add(arg.arg)
        positional = [*node.args.posonlyargs, *node.args.args]
        inner.first = positional[0].arg if positional else None
        gen = self.bind(inner, node).gen
        self.scope_defs[qual] = inner.defs
        module_scope(scope).bound.update(inner.globals)
        self.facts["def"].append(
            [qual, self.store_var(node.name, scope), params, decorators, gen, inner.cls, node.lineno]
        )
        self.known_params(node, scope, qual)
        self.body(node.body, inner)

    def decorators(self, node: Any, scope: Scope) -> list[Any]:
        """The decorators of a def or class; one called (``@deco(3)``) is a ``decorator`` use too, of what
        the call returns (the function applied), as a name or attribute is of what it stands for."""
        out = []
        for d in node.decorator_list:
            got = self.use(d, scope, "decorator")
            if isinstance(d, ast.Call):
                self.ref(d, scope, got, "decorator")
            out.append(got)
        return out

    def params(self, args: ast.arguments, scope: Scope) -> list[Any]:
        """[name, kind, default] per parameter; kind: p (positional), v (*args), k (keyword-only), w (**)."""
        out: list[Any] = []
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for arg, default in zip(positional, defaults, strict=True):
            out.append([arg.arg, "p", self.expr(default, scope) if default is not None else None])
        if args.vararg:
            out.append([args.vararg.arg, "v", None])
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            out.append([arg.arg, "k", self.expr(default, scope) if default is not None else None])
        if args.kwarg:
            out.append([args.kwarg.arg, "w", None])
        return out

    def classdef(self, node: ast.ClassDef, scope: Scope) -> None:
        qual = self.src.qualname(node)
        decorators = self.decorators(node, scope)
        self.registered(node, scope, ["k", qual])
        bases = [self.use(b, scope, "base") for b in node.bases]
        for kw in node.keywords:
            self.expr(kw.value, scope)
        inner = Scope("class", qual, scope)
        inner.meta = any(tail(b).endswith(("type", "Meta")) for b in node.bases)  # a metaclass
        self.bind(inner, node)
        self.scope_defs[qual] = inner.defs
        self.facts["class"].append([qual, self.store_var(node.name, scope), bases, decorators, node.lineno])
        self.body(node.body, inner)
        if any(tail(b) in _ENUMS for b in node.bases):  # each member is an instance of the class
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and not isinstance(stmt.value, ast.Lambda):
                    for target in stmt.targets:
                        if isinstance(target, ast.Name) and not target.id.startswith("_"):
                            member = ["v", self.store_var(target.id, inner)]
                            self.facts["assign"].append([member, ["n", ["k", qual]]])

    def lambda_(self, node: ast.Lambda, scope: Scope) -> Any:
        """A lambda: a function of its own (see :func:`lambda_names`), its body its return value; its
        body's span is kept (``lambdas``) so that the calls in it are the lambda's."""
        qual = self.lambda_names[node]
        params = self.params(node.args, scope)
        inner = Scope("function", qual, scope)
        inner.func = qual
        for arg in all_args(node.args):
            inner.bound.add(arg.arg)
        self.bind(inner, node)
        self.facts["def"].append([qual, None, params, [], False, None, node.lineno])
        self.facts["ret"].append([qual, self.expr(node.body, inner)])
        self.facts["lambdas"].append([qual, *self.span(node.body)[:4], node.lineno])
        return ["f", qual]

    # -- expressions ------------------------------------------------------------------------------
    def expr(self, node: Any, scope: Scope) -> Any:
        """The abstract value of expression ``node``, recording the references it makes. The four
        commonest kinds are handled inline (this runs once per expression node); the others go
        through ``_EXPR_STEPS``; an expression no step knows has its sub-expressions walked."""
        kind, self._kind = self._kind, None
        if node is None:
            return None
        cls = node.__class__
        if cls is ast.Name:
            got = self.var(node.id, scope)
            if self.versions and got is not None and got[0] == "v":
                version = self.versions.get((id(scope), got[1]))
                if version is not None:
                    # the version; when the solve knows nothing of it (a value from outside the
                    # corpus), every value of the variable, as without versions
                    read = ["o", [["v", version], ["u", version, got]]]
                    self.ref(node, scope, got if kind is None else read, kind)
                    return read
            self.ref(node, scope, got, kind)
            return got
        if cls is ast.Constant:
            if isinstance(node.value, str):
                return ["q", node.value if len(node.value) < 200 else ""]
            return None
        if cls is ast.Attribute:
            self._quiet += 1
            got = ["a", self.expr(node.value, scope), node.attr]
            self._quiet -= 1
            self.ref(node, scope, got, kind)
            return got
        if cls is ast.Call:
            return self.call(node, scope)
        step = _EXPR_STEPS.get(cls)
        if step is not None:
            return step(self, node, scope)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, scope)
        return None

    def fstring(self, node: ast.JoinedStr, scope: Scope) -> Any:
        for part in node.values:
            self.expr(part, scope)
        return ["q", ""]

    def sequence(self, node: Any, scope: Scope) -> Any:
        """A tuple, list or set display: a container site holding its elements."""
        self.site += 1
        return [
            "t",
            f"{self.module}#{_CONTAINER[type(node)]}{self.site}",
            [
                self.expr(e, scope) if not isinstance(e, ast.Starred) else ["e", self.expr(e.value, scope)]
                for e in node.elts
            ],
        ]

    def dict_(self, node: ast.Dict, scope: Scope) -> Any:
        """A dict display: a dict site holding its constant keys' values (``**x`` spread as ``e``)."""
        self.site += 1
        got = [
            "d",
            f"{self.module}#d{self.site}",
            [
                [
                    slots.key(k) if k is not None else None,
                    self.expr(v, scope) if k is not None else ["e", self.expr(v, scope)],
                ]
                for k, v in zip(node.keys, node.values, strict=True)
            ],
        ]
        if id(node) == self.slot_watch:  # the dict a tracked ``d.update({...})`` passes
            self.slot_watched = got
        return got

    def subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        self.expr(node.slice, scope)
        if isinstance(node.slice, ast.Slice):
            value = self.expr(node.value, scope)
            bounds = _bounds(node.slice)
            if bounds is None:  # ``xs[i:]``, ``xs[::2]``: the same elements (taken as the same container)
                return value
            return ["sl", value, *bounds]  # ``xs[1:3]``: elements 1 and 2, at 0 and 1
        if self.slot_reads is not _NO_READS and id(node) in self.slot_reads:
            got = slots.path(node)
            var = self.var(got[0], scope) if got is not None else None
            if got is not None and var is not None and var[0] == "v":
                version = self.versions.get(("s", id(scope), var[1], got[1]))
                if version is not None:  # the latest store, else (nothing known of it) every value
                    value = ["i", self.expr(node.value, scope), slots.key(node.slice)]
                    return ["o", [["v", version], ["u", version, value]]]
        return ["i", self.expr(node.value, scope), slots.key(node.slice)]

    def boolop(self, node: ast.BoolOp, scope: Scope) -> Any:
        return ["o", [self.expr(v, scope) for v in node.values]]

    def ifexp(self, node: ast.IfExp, scope: Scope) -> Any:
        self.expr(node.test, scope)
        return ["o", [self.expr(node.body, scope), self.expr(node.orelse, scope)]]

    def walrus(self, node: ast.NamedExpr, scope: Scope) -> Any:
        value = self.expr(node.value, scope)
        self.assign(node.target, value, function_scope(scope))
        return value

    def await_(self, node: ast.Await, scope: Scope) -> Any:
        return self.expr(node.value, scope)

    def yield_(self, node: Any, scope: Scope) -> Any:
        """``yield x`` / ``yield from x``: what the enclosing function yields."""
        value = self.expr(node.value, scope)
        if scope.func is not None and value is not None:
            self.facts["yield"].append(
                [scope.func, ["e", value] if isinstance(node, ast.YieldFrom) else value]
            )
        return None

    def binop(self, node: ast.BinOp, scope: Scope) -> Any:
        """Operands walked; a string built with ``%`` or ``+`` is a ``str``."""
        self.expr(node.left, scope)
        self.expr(node.right, scope)
        return ["q", ""] if is_str_formatting(node) else None

    def starred(self, node: ast.Starred, scope: Scope) -> Any:
        return ["e", self.expr(node.value, scope)]

    def comprehension(self, node: Any, scope: Scope) -> Any:
        for gen in node.generators:
            iterated = self.expr(gen.iter, scope)
            self.protocol(gen.iter, scope, iterated, "aiter" if gen.is_async else "iter")
            self.assign(gen.target, ["e", iterated], function_scope(scope))
            for cond in gen.ifs:
                self.expr(cond, scope)
        self.site += 1
        site = f"{self.module}#{_CONTAINER[type(node)]}{self.site}"
        if isinstance(node, ast.DictComp):
            return ["d", site, [[None, self.expr(node.value, scope)]]]
        return ["t", site, [self.expr(node.elt, scope)], "*"]  # "*": the element is at every index

    def use(self, node: Any, scope: Scope, kind: str) -> Any:
        """``expr`` of a name or attribute used as ``kind`` (call, argument, decorator, base)."""
        self._kind = kind
        return self.expr(node, scope)

    def ref(self, node: Any, scope: Scope, got: Any, kind: str | None) -> None:
        """A reference row: calls, arguments, decorators, bases always; plain reads of globals only."""
        if self._quiet or got is None:
            return
        if kind is None:
            head = got
            while head and head[0] == "a":
                head = head[1]
            if not head or head[0] not in ("v", "m") or (head[0] == "v" and not self.global_or_def(head[1])):
                return
        line, col = self.span(node)[:2]
        while scope.parent is not None and scope.qual.rpartition(".")[2].startswith("<lambda"):
            scope = scope.parent  # a lambda's uses belong to its enclosing scope, as its calls do
        self.facts["refs"].append([line, col, kind or "read", scope.qual, got])

    def protocol(self, node: Any, scope: Scope, value: Any, kind: str) -> None:
        """A call Python makes with no call expression: ``for x in obj`` calls ``obj.__iter__`` and
        ``__next__`` of what that returns (kind ``iter``), ``with obj`` its ``__enter__`` and
        ``__exit__`` (``with``), their ``async`` forms ``__aiter__`` / ``__anext__`` (``aiter``) and
        ``__aenter__`` / ``__aexit__`` (``awith``), ``raise Cls`` instantiates the class (``raise``). A use of that kind
        at ``node``'s position, of ``["x", kind, value]``: the solver answers with the methods of the
        corpus that run."""
        if value is not None and value[0] not in codec.LITERALS:  # not a literal: may be an instance
            self.ref(node, scope, ["x", kind, value], kind)

    def callbacks(self, node: ast.Call, scope: Scope, name: str, args: list[Any], kwargs: list[Any]) -> None:
        """A builtin that calls a function it is given (``map(f, xs)``, ``filter(f, xs)``,
        ``sorted(xs, key=f)``, ``min`` / ``max`` with ``key=``): a
        ``callback`` use of that function at the call's position (the call's row then has it as a
        target too, as Python's frames show it: called from the caller)."""
        given = []
        if name in ("map", "filter") and node.args:
            # a literal first (never callable: ``map([1, 2], f)`` as the published benchmark writes
            # it) is taken as the two first arguments swapped; the solver reads it so too
            first = node.args[0]
            literal = isinstance(first, _LITERAL_NODES) and not (
                isinstance(first, ast.Constant) and first.value is None  # filter(None, xs): no function
            )
            at = 1 if len(node.args) > 1 and literal else 0
            given = [a for a, star in args[at : at + 1] if not star]
        given += [value for key, value in kwargs if key == "key"]
        for value in given:
            self.ref(node, scope, value, "callback")

    def call(self, node: ast.Call, scope: Scope) -> Any:
        callee = self.use(node.func, scope, "call")
        args = [
            [self.use(a.value, scope, "argument"), 1]
            if isinstance(a, ast.Starred)
            else [self.use(a, scope, "argument"), 0]
            for a in node.args
        ]
        kwargs = [[kw.arg, self.use(kw.value, scope, "argument")] for kw in node.keywords]
        reason = None
        # a builtin by its name (not a method that happens to be called eval), or importlib's function
        name = (
            getattr(node.func, "id", None)
            if isinstance(node.func, ast.Name) and callee == ["b", node.func.id]
            else "import_module"
            if isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
            else None
        )
        if name in _DYNAMIC and not (
            name in ("getattr", "import_module")
            and node.args
            and len(node.args) > 1 - (name == "import_module")
            and isinstance(node.args[1 if name == "getattr" else 0], ast.Constant)
        ):
            reason = _DYNAMIC[name]
        if (
            isinstance(node.func, ast.Call)
            and isinstance(node.func.func, ast.Name)
            and node.func.func.id == "getattr"
        ):
            reason = "calls the result of getattr"
        if isinstance(node.func, ast.Name) and node.func.id == "super" and scope.func is not None:
            cls, first = method_of(scope)
            if cls is not None:
                callee = ["s", cls, self.var(first, scope) if first else None]
        if callee and callee[0] == "b" and callee[1] in _CALLBACKS:
            self.callbacks(node, scope, callee[1], args, kwargs)
        line, col, end_line, end_col = self.span(node)
        index = len(self.facts["calls"])
        self.facts["calls"].append([line, col, end_line, end_col, callee, args, kwargs, reason])
        return self.known_result(node, callee, args, kwargs, ["c", index])


#: ``_Walker.expr``'s step per expression class (the commonest four are handled before the lookup)
_EXPR_STEPS: dict[type, Callable[[_Walker, Any, Scope], Any]] = {
    ast.JoinedStr: _Walker.fstring,
    ast.Lambda: _Walker.lambda_,
    ast.Tuple: _Walker.sequence,
    ast.List: _Walker.sequence,
    ast.Set: _Walker.sequence,
    ast.Dict: _Walker.dict_,
    ast.Subscript: _Walker.subscript,
    ast.BoolOp: _Walker.boolop,
    ast.IfExp: _Walker.ifexp,
    ast.NamedExpr: _Walker.walrus,
    **{comp: _Walker.comprehension for comp in _COMPS},
    ast.Await: _Walker.await_,
    ast.Yield: _Walker.yield_,
    ast.YieldFrom: _Walker.yield_,
    ast.Starred: _Walker.starred,
    ast.BinOp: _Walker.binop,
}


def lambda_names(src: SourceFile) -> dict[ast.Lambda, str]:
    """The qualname of each lambda of a file: ``<lambdaN>``, N counting the lambdas of its enclosing
    scope (the module, a def, a class, another lambda) from 1 in the order they start in the source,
    after that scope's qualname as Python writes a nested def's (``<lambda1>`` at module level,
    ``f.<locals>.<lambda2>`` in ``f``, ``C.<lambda1>`` in a class body, ``<lambda1>.<locals>.<lambda1>``
    in a lambda). A lambda in a def's or lambda's header (a default, a decorator) belongs to the scope
    around it, where it is evaluated; comprehensions are no scope here."""
    out: dict[ast.Lambda, str] = {}
    counts: dict[Any, int] = {}
    parent = src.parents.get
    for node in sorted(src.nodes(ast.Lambda), key=lambda n: (n.lineno, n.col_offset)):
        child, anc = node, parent(node)
        while anc is not None:
            if isinstance(anc, (*FUNCS, ast.ClassDef)) and isinstance(child, ast.stmt):
                break
            if anc.__class__ is ast.Lambda and child is anc.body:
                break
            child, anc = anc, parent(anc)
        n = counts[anc] = counts.get(anc, 0) + 1
        if anc is None:
            out[node] = f"<lambda{n}>"
        elif anc.__class__ is ast.Lambda:
            out[node] = f"{out[anc]}.<locals>.<lambda{n}>"
        elif anc.__class__ is ast.ClassDef:
            out[node] = f"{src.qualname(anc)}.<lambda{n}>"
        else:
            out[node] = f"{src.qualname(anc)}.<locals>.<lambda{n}>"
    return out


def _plain_targets(stmt: ast.stmt) -> set[str]:
    """The names ``stmt`` assigns when it is ``a = value`` or ``a = b = value`` (names only)."""
    if stmt.__class__ is ast.Assign and all(t.__class__ is ast.Name for t in stmt.targets):  # type: ignore[attr-defined]
        return {t.id for t in stmt.targets}  # type: ignore[attr-defined]
    return set()


def _reassigned(stmts: list[ast.stmt], declared: frozenset[str]) -> set[str]:
    """Names assigned twice or more in the block by plain ``name = value`` statements (none that some
    scope of the file declares global or nonlocal: another function may rebind those in between)."""
    seen: set[str] = set()
    twice: set[str] = set()
    for stmt in stmts:
        if stmt.__class__ is ast.Assign:
            for name in _plain_targets(stmt):
                (twice if name in seen else seen).add(name)
    return twice - declared


def _binds(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt`` may bind or delete ``name`` anywhere inside it (an over-approximation)."""
    for node in ast.walk(stmt):
        cls = node.__class__
        if cls is ast.Name:
            bound = node.id == name and node.ctx.__class__ is not ast.Load  # type: ignore[attr-defined]
        elif cls in (ast.Import, ast.ImportFrom):
            bound = any((a.asname or a.name.partition(".")[0]) == name for a in node.names)  # type: ignore[attr-defined]
        else:  # a def, class, except handler or match pattern binding the name
            bound = getattr(node, "name", None) == name
        if bound:
            return True
    return False


def _bounds(node: ast.Slice) -> tuple[int, int | None] | None:
    """(start, stop) of a slice with constant, non-negative bounds and no step (stop None: to the end)."""

    def bound(e: Any) -> int | None:
        if isinstance(e, ast.Constant) and e.value.__class__ is int and e.value >= 0:
            return int(e.value)
        return -1 if e is not None else None

    lower, upper = bound(node.lower), bound(node.upper)
    if node.step is not None or lower == -1 or upper == -1:
        return None
    return lower or 0, upper

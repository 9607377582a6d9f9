"""The whole-corpus points-to solver behind ``call_graph``: what each call site may call.

An inter-procedural, flow-insensitive, assignment-based analysis over the ``callgraph_facts`` of every
file (see :mod:`codequarry.extractors.python.callgraph.facts`), iterated to a fixpoint. Abstract objects:

- ``("F", fq)`` a function or lambda, ``("K", fq)`` a class, ``("I", fq)`` an instance of a class,
  ``("M", module)`` a module of the corpus, ``("X", name)`` a name outside the corpus (external
  package), ``("B", name)`` a builtin, ``("BM", fq, self)`` a bound method, ``("G", fq)`` a generator,
  ``("L", site)`` a list/tuple/set/dict made at ``site``, ``("LM", site, method)`` its bound method,
  ``("S", class_fq, self)`` a ``super()`` proxy.

Variables are module globals, locals, class attributes (``module:Class:attr``), instance fields
(``if:Class:attr``), return and yield values (``ret:fq``, ``y:fq``) and call results. Calls bind
arguments to parameters (positional, keyword, defaults, ``*args``/``**kwargs``), instantiation runs
``__init__`` through the C3 MRO, attributes of instances and classes follow the MRO, decorators are
applied as calls (a decorator from outside the corpus is assumed to keep the function).

The fixpoint is a worklist (:mod:`.fixpoint`): each fact (an assignment, a def, a class, a return, a
yield, a call) is a task, run again only when something it read grew.
"""

from __future__ import annotations

import sys
from typing import Any

from codequarry.extractors.python.callgraph import codec
from codequarry.extractors.python.callgraph.domain import (
    CAP,
    CONTAINER_METHODS,
    COPY_TYPE,
    COPYING,
    EMPTY,
    IDENTITY,
    STR,
    STR_TO_STR,
    TOP,
    TYPE_ATTRS,
    VALUE_TYPES,
    Obj,
    c3,
    container_type,
    method_kind,
    qualified,
)
from codequarry.extractors.python.callgraph.fixpoint import Worklist
from codequarry.extractors.python.callgraph.outside import (
    as_manager,
    drop_guesses,
    external_instance,
    instances,
    manager_attr,
    outside_attr,
    stored_attributes,
)

#: per statement protocol (:meth:`Solver.protocol`): the methods called on the object, and the one
#: then called on what the first returns (an iterator's ``__next__``)
_PROTOCOLS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "iter": (("__iter__",), "__next__"),
    "aiter": (("__aiter__",), "__anext__"),
    "with": (("__enter__", "__exit__"), None),
    "awith": (("__aenter__", "__aexit__"), None),
}
_NO_SLOTS: dict[Any, set[Obj]] = {}
#: the value of a variable or slot past the cap: TOP, and it grows no more. One object, compared by
#: identity (no set is changed in place). A set that merely holds TOP (taken from a capped one) is
#: not capped: TOP is one more object in it, which nothing follows, and it keeps growing.
_CAPPED: Any = frozenset({TOP})
_NO_NAMES: dict[str, str] = {}
_UNKNOWN: Any = object()
_NO_DEF: Any = ("", "", [], False, "", "")


class Solver(Worklist):
    """Facts of every file, and the points-to sets computed from them."""

    def __init__(self, files: list[tuple[str, Any]], pinned: frozenset[Any] = frozenset()) -> None:
        """``files``: (module, facts) per file, in a stable order; facts as the dict the walker made,
        or its stored text (:mod:`.codec`). ``pinned``: the variables (names) and container slots
        ((site, key)) that are TOP from the start, so that no reader ever takes a part of them: with
        every set that grows past ``CAP`` pinned (``over`` of an earlier solve), nothing is capped
        while solving and the answers do not depend on the order of evaluation."""
        self.files = [(module, _facts(facts)) for module, facts in files]
        self.modules = {m for m, _ in self.files}
        self.packages = {".".join(m.split(".")[:i]) for m in self.modules for i in range(1, m.count(".") + 1)}
        self.pts: dict[str, set[Obj]] = {k: _CAPPED for k in pinned if k.__class__ is str}
        self.cont: dict[str, dict[Any, set[Obj]]] = {}
        for k in pinned:
            if k.__class__ is tuple:
                self.cont.setdefault(k[0], {})[k[1]] = _CAPPED
        self.pinned = pinned
        #: the variables and slots that grew past ``CAP`` in this solve (each became TOP there)
        self.over: set[Any] = set()
        self.defs: dict[str, tuple[str, str, list[Any], bool, str | None, str]] = {}
        self.classes: dict[str, tuple[str, str, list[Any], int]] = {}
        self.stars: dict[str, list[str]] = {}
        self.assigned: set[str] = set()
        self.final = False
        #: what tasks asked before the final phase that the final phase answers otherwise, and which
        #: tasks asked it: an attribute from outside the corpus ((class, attribute, skip): nothing
        #: before the final phase, :func:`.outside.outside_attr` in it) and a fallback (tag "u": its
        #: variable; nothing before, the fallback's value in the final phase if the variable was then
        #: empty). A task runs again in the final phase only if one of its questions gets an answer
        #: there (:meth:`again`)
        self.asked_outside: dict[tuple[str, str, int], set[int]] = {}
        self.asked_fallback: dict[str, set[int]] = {}
        #: at the end of the first phase (:meth:`freeze`): its values, whether each decorator of a task
        #: was then unknown, each class's bases
        self.first: dict[str, set[Obj]] = {}
        self.unknown_decorators: dict[int, list[bool]] = {}
        self.first_bases: dict[str, list[Any]] = {}
        self._first_mro: dict[str, list[str]] = {}
        #: (class, attribute, skip) -> what :func:`.outside.outside_attr` answered in the final phase
        self.outside: dict[tuple[str, str, int], frozenset[Obj]] = {}
        super().__init__()
        #: variable names made once and reused (a name rebuilt as an f-string on every use is hashed
        #: again on every lookup): call results per file and call, return and yield values per def,
        #: instance fields per class, bound parameters per def
        self.results: list[list[str]] = []
        #: per file and call: what its callee evaluated to the last time its task ran; at the
        #: fixpoint that is what evaluating it again gives (a task runs again whenever a key it read
        #: grew), so the answers take it instead of evaluating every callee once more
        self.callees: list[list[Any]] = []
        self._rets: dict[str, str] = {}
        self._yields: dict[str, str] = {}
        self._fields: dict[str, dict[str, str]] = {}
        self._signatures: dict[str, Signature | None] = {}
        #: values grown so far (a count), and (that count, the task, argument id -> (argument, its
        #: value)) for :meth:`arg`
        self.growth = 0
        self._memo: tuple[int, Any, dict[int, tuple[Any, Any]]] = (-1, None, {})
        #: (class, attribute) -> :meth:`plan`; class -> the key its MRO's readers are recorded under
        self._plans: dict[
            tuple[str, str], tuple[list[str], tuple[str, ...], str | None, Any, tuple[tuple[str, str], ...]]
        ] = {}
        self._mro_keys: dict[str, tuple[str, str]] = {}
        #: per file: the context its expressions are evaluated in, and its calls
        self._ctxs = [(module, i) for i, (module, _) in enumerate(self.files)]
        self._calls = [facts["calls"] for _, facts in self.files]
        #: id of an ["f"/"k", qual] expression -> (the expression, kept alive so its id stays its own; its object)
        self._consts: dict[int, tuple[Any, frozenset[Obj]]] = {}
        for i, (module, facts) in enumerate(self.files):
            self.stars[module] = facts["stars"]
            for target, _ in facts["assign"]:
                if target[0] == "v":
                    self.assigned.add(target[1])
            for qual, var, params, decorators, gen, cls, _line in facts["def"]:
                fq = qualified(module, qual)
                self.defs.setdefault(fq, (module, qual, params, gen, cls, method_kind(decorators)))
                if var:
                    self.assigned.add(var)
            for qual, var, bases, _decorators, _line in facts["class"]:
                self.classes.setdefault(qualified(module, qual), (module, qual, bases, i))
                self.assigned.add(var)
            for kind in ("assign", "def", "class", "ret", "yield"):
                self.tasks.extend((kind[0] if kind != "class" else "k", i, fact) for fact in facts[kind])
            self.tasks.extend(("c", i, n) for n in range(len(facts["calls"])))
            self.results.append([f"r:{i}:{n}" for n in range(len(facts["calls"]))])
            self.callees.append([None] * len(facts["calls"]))
        self.members, self.globals = _members(self.assigned, self.classes)
        #: attribute names an instance field may hold a value for: those some fact stores
        #: (:func:`.outside.stored_attributes`; :meth:`store` is the only writer of a field), and
        #: those of pinned fields
        self._fielded = stored_attributes(self) | {
            k.rpartition(":")[2] for k in pinned if k.__class__ is str and k.startswith("if:")
        }
        #: attribute names some fact may store on a class from outside its body (``Cls.attr = f``,
        #: ``cls.attr = f``: any attribute store but ``self.attr = ...``): for those, a read along the
        #: MRO reads the class variable of each class before the one whose body assigns it too
        self._class_stored = _class_stored(self.files)
        #: attribute -> the classes some store set it on (``Cls.attr = ...``; see :meth:`set_on_class`)
        self._set_on: dict[str, set[str]] = {}
        self._imported: frozenset[str] | None = None  # module names some import names (:meth:`script`)

    # -- the fixpoint -------------------------------------------------------------------------------
    def solve(self) -> int:
        """Run every task, then again each whose inputs grew, until none did (or the guard on
        evaluations stops it); then once more with decorators still unknown taken to keep what they
        decorate. Returns the number of task evaluations."""
        self.drain(self._run, every=True)
        self.freeze()
        for t in self.again():
            self.push(t)
        self.drain(self._run)
        return self.evaluations

    def again(self) -> set[int]:
        """The tasks the final phase starts with: every decorated def or class, and every task that
        asked a question the final phase answers otherwise than the first (``asked_outside``,
        ``asked_fallback``). A task whose every question gets the first phase's answer again (no
        attribute from outside the corpus, a fallback's variable not empty) would read the same values
        and find the same things as in its last evaluation, which saw the first phase's fixpoint: it
        runs again only if something it read grows, as any task. So the final phase evaluates what it
        did before but for those evaluations, which changed nothing, and the answers are the same.
        When the first phase is not a fixpoint (the guard stopped it, or :meth:`freeze` made a value
        grow), every task that asked anything runs again, as before."""
        out = {t for t, (kind, _i, fact) in enumerate(self.tasks) if kind in ("d", "k") and fact[3]}
        exact = self.converged and not self.queue
        for (cls, attr, skip), tasks in self.asked_outside.items():
            if not exact or outside_attr(self, cls, attr, skip):
                out |= tasks
        for var, tasks in self.asked_fallback.items():
            if not exact or not self.first.get(var):
                out |= tasks
        return out

    def freeze(self) -> None:
        """End of the first phase: what the final phase's rules test for emptiness (a fallback's
        variable, a decorator's value, a class's bases) is read from the first phase's fixpoint, never
        from values still growing, so that the answers do not depend on the order of evaluation."""
        self.first = dict(self.pts)  # a key's set is replaced, never changed in place: a snapshot
        for t, (kind, i, fact) in enumerate(self.tasks):
            if kind in ("d", "k") and fact[3]:
                ctx = (self.files[i][0], i)
                self.unknown_decorators[t] = [not self.eval(dec, ctx) for dec in fact[3]]
        for cls, (module, _qual, bases, i) in self.classes.items():
            self.first_bases[cls] = [self.eval(base, (module, i)) for base in bases]
        self.final = True  # a decorator nothing is known about now keeps what it decorates
        self._memo = (-1, None, {})  # the same arguments may have other values in the final phase

    def _run(self, task: tuple[str, int, Any]) -> None:
        kind, i, fact = task
        ctx = self._ctxs[i]
        module = ctx[0]
        if kind == "c":
            call = self._calls[i][fact]
            callee = self.callees[i][fact] = self.eval(call[4], ctx)
            self.add(self.results[i][fact], self.call(callee, call[5], call[6], ctx, (i, fact)))
        elif kind == "a":
            vals = self.eval(fact[1], ctx)
            if vals:
                self.store(fact[0], vals, ctx)
        elif kind == "d":
            qual, var, params, decorators = fact[:4]
            fq = qualified(module, qual)
            for name, _kind, default in params:
                if default is not None:
                    self.add(f"{module}:{qual}:{name}", self.eval(default, ctx))
            if var:
                self.add(var, self.decorate({("F", fq)}, decorators, ctx, fq))
        elif kind == "k":
            fq = qualified(module, fact[0])
            self.add(fact[1], self.decorate({("K", fq)}, fact[3], ctx, fq))
        elif kind == "r":
            self.add(self.ret_var(qualified(module, fact[0])), self.eval(fact[1], ctx))
        else:
            self.add(self.yield_var(qualified(module, fact[0])), self.eval(fact[1], ctx))

    # -- reads ------------------------------------------------------------------------------------
    def get(self, var: str) -> Any:
        cur = self.cur
        if cur is not None:  # self.read(var), inlined: the solver's most frequent call
            readers = self.deps.get(var)
            if readers is None:
                self.deps[var] = {cur}
            else:
                readers.add(cur)
        return self.pts.get(var, EMPTY)

    def ret_var(self, fq: str) -> str:
        var = self._rets.get(fq)
        if var is None:
            var = self._rets[fq] = f"ret:{fq}"
        return var

    def yield_var(self, fq: str) -> str:
        var = self._yields.get(fq)
        if var is None:
            var = self._yields[fq] = f"y:{fq}"
        return var

    def field_var(self, cls: str, attr: str) -> str:
        """The variable of instance field ``attr`` of class ``cls``."""
        fields = self._fields.get(cls)
        if fields is None:
            fields = self._fields[cls] = {}
        var = fields.get(attr)
        if var is None:
            var = fields[attr] = f"if:{cls}:{attr}"
        return var

    def slots(self, site: str) -> dict[Any, set[Obj]]:
        self.read(("C", site))
        return self.cont.get(site, _NO_SLOTS)

    def decorate(self, value: set[Obj], decorators: list[Any], ctx: Any, fq: str) -> set[Obj]:
        """The value a decorated def or class binds: each corpus decorator is called, innermost first;
        one from outside the corpus (or unknown after the first phase) is assumed to return what it
        was given. A decorator that may be both gives both (monotone: more objects, more values)."""
        unknown = self.unknown_decorators.get(self.cur) if self.final and self.cur.__class__ is int else None
        for j, dec in enumerate(reversed(decorators)):
            objs = self.eval(dec, ctx)
            if not objs and not self.final:
                return set()  # not known yet: bound once the fixpoint says it stays unknown
            funcs = {o for o in objs if o[0] in ("F", "BM", "K", "I")}
            keep = len(funcs) < len(objs) or (unknown is not None and unknown[len(decorators) - 1 - j])
            out = set(value) if keep else set()
            if funcs:
                out |= self.call(funcs, [[("=", value), 0]], [], ctx, f"dec:{fq}:{j}")
            value = out
        return value

    def add(self, var: str, vals: Any) -> None:
        if not vals:
            return
        cur = self.pts.get(var)
        if cur is None:
            new = set(vals)
        elif cur is not _CAPPED and not cur.issuperset(vals):
            new = cur | vals  # a new set: readers may be iterating the old one
        else:
            return
        if len(new) > CAP:
            self.over.add(var)
            new = _CAPPED
        self.pts[var] = new
        self.growth += 1
        self.grew(var)

    def add_elem(self, site: str, key: Any, vals: Any) -> None:
        if not vals:
            return
        slots = self.cont.setdefault(site, {})
        cur = slots.get(key)
        if cur is None:
            new = set(vals)
        elif cur is not _CAPPED and not cur.issuperset(vals):
            new = cur | vals
        else:
            return
        if len(new) > CAP:
            self.over.add((site, key))
            new = _CAPPED
        slots[key] = new
        self.growth += 1
        self.grew(("C", site))

    # -- expressions --------------------------------------------------------------------------------
    def eval(self, e: Any, ctx: Any) -> Any:  # noqa: C901, PLR0911, PLR0912 - one dispatch over forms
        if e is None:
            return EMPTY
        tag = e[0]
        if tag == "v":
            var = e[1]
            cur = self.cur
            if cur is not None:  # self.read(var), inlined
                readers = self.deps.get(var)
                if readers is None:
                    self.deps[var] = {cur}
                else:
                    readers.add(cur)
            got = self.pts.get(var)
            if got is None and var not in self.assigned and "::" in var:
                module, _, name = var.partition("::")
                return self.star_lookup(module, name)
            return got or EMPTY
        if tag == "a":
            out: set[Obj] = set()
            for obj in self.eval(e[1], ctx):
                out |= self.getattr(obj, e[2])
            return out
        if tag == "c":
            return self.get(self.results[ctx[1]][e[1]])
        if tag == "q":
            return STR
        if tag == "f" or tag == "k":  # noqa: PLR1714 - one object per expression, made once
            const = self._consts.get(id(e))
            if const is None:
                const = self._consts[id(e)] = (
                    e,
                    frozenset({("F" if tag == "f" else "K", qualified(ctx[0], e[1]))}),
                )
            return const[1]
        if tag == "b":
            return {("B", e[1])}
        if tag == "m":
            return {self.module_obj(e[1], ctx[0])}
        if tag == "t":
            anywhere = len(e) > 3  # a comprehension's element: at any index
            for i, elt in enumerate(e[2]):
                key = None if anywhere or (elt and elt[0] == "e") else i
                self.add_elem(e[1], key, self.eval(elt, ctx))
            return {("L", e[1])}
        if tag == "d":
            for key, elt in e[2]:
                self.add_elem(e[1], key, self.eval(elt, ctx))
            return {("L", e[1])}
        if tag == "i":
            return self.elements(self.eval(e[1], ctx), e[2], True)
        if tag == "e":
            return self.elements(self.eval(e[1], ctx), None, False)
        if tag == "o":
            out = set()
            for part in e[1]:
                out |= self.eval(part, ctx)
            return out
        if tag == "w":
            return self.eval(e[1], ctx)
        if tag == "s":
            return {("S", qualified(ctx[0], e[1]), s) for s in self.eval(e[2], ctx) if s[0] in ("I", "K")}
        if tag == "=":
            return e[1]
        if tag == "x":
            return self.protocol(e[1], self.eval(e[2], ctx))
        if tag == "sl":
            return self.sliced(self.eval(e[1], ctx), e[2], e[3])
        if tag == "p":
            return self.dotted(e[1])
        if tag == "n":  # an instance of a type (annotations, self): see outside.py
            return instances(self.eval(e[1], ctx), self.classes)
        if tag == "u":  # a fallback: e[2] when the first phase left variable e[1] empty (self: see facts)
            if not self.final:
                cur = self.cur
                if cur.__class__ is int:  # asked again in the final phase, where the fallback applies
                    tasks = self.asked_fallback.get(e[1])
                    if tasks is None:
                        self.asked_fallback[e[1]] = {cur}
                    else:
                        tasks.add(cur)
                return EMPTY
            return EMPTY if self.first.get(e[1]) else self.eval(e[2], ctx)
        return EMPTY

    def elements(self, objs: Any, key: Any, indexed: bool) -> set[Obj]:
        """Elements of containers: ``key`` of each (and its unknown-key part), or every element."""
        out: set[Obj] = set()
        for obj in objs:
            if obj[0] == "L":
                slots = self.slots(obj[1])
                if indexed and key is not None:
                    out |= slots.get(key, EMPTY)
                    out |= slots.get(None, EMPTY)
                else:
                    for vals in slots.values():
                        out |= vals
            elif obj[0] == "G" and not indexed:
                out |= self.get(self.yield_var(obj[1]))
            elif obj[0] == "I":  # an instance of the corpus: what its __getitem__ / __iter__ gives
                for method in self.class_attr(obj[1], "__getitem__" if indexed else "__iter__", obj):
                    if method[0] == "BM":
                        self.bind_args(method[1], obj, [], [], None)
                        got = self.returns(method[1])
                        if indexed:
                            out |= got
                            continue
                        # an iterator: a generator or container's elements, an instance's __next__
                        out |= self.elements({o for o in got if o[0] != "I"}, None, False)
                        for it in got:
                            for nxt in self.class_attr(it[1], "__next__", it) if it[0] == "I" else ():
                                if nxt[0] == "BM":
                                    self.bind_args(nxt[1], it, [], [], None)
                                    out |= self.returns(nxt[1])
        return out

    def store(self, target: Any, vals: Any, ctx: Any) -> None:
        tag = target[0]
        if tag == "v":
            self.add(target[1], vals)
        elif tag == "a":
            for obj in self.eval(target[1], ctx):
                if obj[0] == "I":
                    self.add(self.field_var(obj[1], target[2]), vals)
                elif obj[0] == "K" and obj[1] in self.classes:
                    module, qual = self.classes[obj[1]][:2]
                    self.add(f"{module}:{qual}:{target[2]}", vals)
                    owners = self._set_on.setdefault(target[2], set())
                    if obj[1] not in owners:  # a class gets the attribute: its readers look again
                        owners.add(obj[1])
                        self.growth += 1
                        self.grew(("CS", target[2]))
                elif obj[0] == "M":
                    self.add(f"{obj[1]}::{target[2]}", vals)
        elif tag == "i":
            for obj in self.eval(target[1], ctx):
                if obj[0] == "L":
                    self.add_elem(obj[1], target[2], vals)

    # -- modules and attributes ---------------------------------------------------------------------
    def module_obj(self, name: str, importer: str = "") -> Obj:
        """The module an absolute import of ``name`` in module ``importer`` finds: the corpus's, else
        one beside the importer when the importer is a script (a script's folder is first on
        ``sys.path``: ``main.py`` beside ``nested/`` imports ``nested.to_import``, which the corpus
        names ``pkg.nested.to_import`` when the folder is a package itself), else one outside the
        corpus. A script here: a module no corpus import names, nor any package above it; and a name
        of the standard library is never looked up beside it."""
        if name in self.modules or name in self.packages:
            return ("M", name)
        folder = importer.rpartition(".")[0]
        if folder:
            beside = f"{folder}.{name}"
            if (
                (beside in self.modules or beside in self.packages)
                and name.partition(".")[0] not in sys.stdlib_module_names
                and self.script(importer)
            ):
                return ("M", beside)
        return ("X", name)

    def script(self, module: str) -> bool:
        """Whether no import of the corpus names ``module`` or a package above it."""
        if self._imported is None:
            names: set[str] = {star for stars in self.stars.values() for star in stars}
            for _module, facts in self.files:
                for _target, value in facts["assign"]:
                    if value and value[0] == "m":
                        names.add(value[1])
                    elif value and value[0] == "a" and value[1] and value[1][0] == "m":
                        names.update((value[1][1], f"{value[1][1]}.{value[2]}"))
            self._imported = frozenset(names)
        parts = module.split(".")
        return not any(".".join(parts[:i]) in self._imported for i in range(1, len(parts) + 1))

    def dotted(self, path: str) -> Any:
        """What a dotted path a framework imports by name (``pkg.mw.Middleware``) stands for."""
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:i])
            if head in self.modules or head in self.packages:
                objs: Any = {("M", head)}
                for attr in parts[i:]:
                    objs = {o for x in objs for o in self.getattr(x, attr)}
                return objs
        return EMPTY

    def star_lookup(self, module: str, name: str, depth: int = 0) -> Any:
        """A global the module never binds: from its star imports, else nothing."""
        for star in self.stars.get(module, ()):
            obj = self.module_obj(star, module)
            if obj[0] == "X":
                continue
            var = self.globals.get(obj[1], _NO_NAMES).get(name)
            if var is not None:
                return self.get(var)
            if depth < 3:
                got = self.star_lookup(obj[1], name, depth + 1)
                if got:
                    return got
        return EMPTY

    def getattr(self, obj: Obj, attr: str) -> Any:  # noqa: PLR0911 - one case per kind of object
        kind = obj[0]
        if kind == "I":
            cls = obj[1]
            if attr == "__class__":
                return {("K", cls)}
            plan = self.plan(cls, attr)
            out = self.bound(plan[2], obj)  # a new set
            if plan[4]:
                self.set_on_class(plan[4], attr, obj, out)
            cur, deps, pts = self.cur, self.deps, self.pts
            for field in plan[1]:  # self.get(field) per class of the MRO, inlined
                if cur is not None:
                    readers = deps.get(field)
                    if readers is None:
                        deps[field] = {cur}
                    else:
                        readers.add(cur)
                got = pts.get(field)
                if got:
                    out |= got
            if self.final:
                out |= outside_attr(self, cls, attr)
            elif cur.__class__ is int and plan[3] is not None:  # outside_attr before the final phase, inlined
                tasks = self.asked_outside.get(plan[3])
                if tasks is None:
                    self.asked_outside[plan[3]] = {cur}
                else:
                    tasks.add(cur)
            return out
        if kind == "M":
            var = self.globals.get(obj[1], _NO_NAMES).get(attr)
            if var is not None:
                return self.get(var)
            sub = f"{obj[1]}.{attr}"
            if sub in self.modules or sub in self.packages:
                return {("M", sub)}
            return self.star_lookup(obj[1], attr)
        if kind == "X":
            return {("X", f"{obj[1]}.{attr}")}
        if kind == "XI":  # an instance of an external class: its attributes are the class's (a guess)
            return {("XA", obj[1], attr)}
        if kind == "XA":  # a Django model's default manager: its methods are the Manager's (outside.py)
            return manager_attr(obj, attr)
        if kind == "K":
            got = self.class_attr(obj[1], attr, obj) | outside_attr(self, obj[1], attr)
            return as_manager(obj[1], attr, got)
        if kind == "S":
            self_cls = obj[2][1]
            mro = self.mro(self_cls)
            if obj[1] in mro:
                skip = mro.index(obj[1]) + 1
                return self.class_attr(self_cls, attr, obj[2], skip=skip) | outside_attr(
                    self, self_cls, attr, skip
                )
            return EMPTY
        if kind == "BI":  # only a method the type has: a value that may be a str or an object is not
            return {("BIM", obj[1], attr)} if attr in TYPE_ATTRS.get(obj[1], ()) else EMPTY
        if kind == "L" and attr in CONTAINER_METHODS.get(container_type(obj[1]), ()):
            return {("LM", obj[1], attr)}
        return EMPTY

    def class_attr(self, cls: str, attr: str, recv: Obj, skip: int = 0) -> set[Obj]:
        """``attr`` found along the MRO of ``cls`` (after ``skip`` classes), bound to ``recv``."""
        if not skip:
            plan = self.plan(cls, attr)
            out = self.bound(plan[2], recv)
            if plan[4]:
                self.set_on_class(plan[4], attr, recv, out)
            return out
        for base in self.mro(cls)[skip:]:
            var = self.members.get(base, _NO_NAMES).get(attr)
            if var is not None:
                return self.bound(var, recv)
        return set()

    def plan(
        self, cls: str, attr: str
    ) -> tuple[list[str], tuple[str, ...], str | None, Any, tuple[tuple[str, str], ...]]:
        """For ``attr`` of ``cls`` (reading its MRO): the MRO, the instance field of each of its
        classes (none if no fact stores an attribute of that name, so that no field of that name ever
        holds a value: nothing to read, nothing to wait for), the first class attribute along it (None: no class of the MRO assigns one), and
        None if the corpus stores an attribute of that name anywhere (:func:`.outside.stored_attributes`),
        else the question a read asks the final phase (``asked_outside``: (class, attribute, 0)).
        Made once per MRO: the MRO is a new list whenever it is computed again."""
        mro = self.mro(cls)
        key = (cls, attr)
        plan = self._plans.get(key)
        if plan is None or plan[0] is not mro:
            found = None
            for base in mro:
                found = self.members.get(base, _NO_NAMES).get(attr)
                if found is not None:
                    break
            outside: tuple[tuple[str, str], ...] = ()
            if attr in self._class_stored:
                outside = tuple(
                    (c, f"{self.classes[c][0]}:{self.classes[c][1]}:{attr}")
                    for c in mro[: mro.index(base) if found is not None else len(mro)]
                    if c in self.classes
                )
            plan = self._plans[key] = (
                mro,
                tuple(self.field_var(c, attr) for c in mro) if attr in self._fielded else (),
                found,
                None if attr in stored_attributes(self) else (cls, attr, 0),
                outside,
            )
        return plan

    def set_on_class(self, classes: Any, attr: str, recv: Obj, out: set[Obj]) -> None:
        """Into ``out``: ``attr`` of those of ``classes`` ((class, its variable) along an MRO, before
        the class whose body assigns it) it was set on from outside their body (``Cls.attr = f``).
        Reads one key per attribute (``("CS", attr)``, grown when a class first gets it so), not one
        per class."""
        self.read(("CS", attr))
        owners = self._set_on.get(attr)
        if owners:
            for cls, var in classes:
                if cls in owners:
                    out |= self.bound(var, recv, True)

    def bound(self, var: str | None, recv: Obj, outside: bool = False) -> set[Obj]:
        """The objects of class attribute ``var`` bound to ``recv`` (a property: what it returns);
        ``outside``: the attribute was set on the class from outside its body, so a plain function
        of the corpus becomes a method of an instance there too."""
        out: set[Obj] = set()
        if var is None:
            return out
        for o in self.get(var):
            bound = self.bind(o, recv)
            if outside and o[0] == "F" and recv[0] == "I" and self.defs.get(o[1], _NO_DEF)[4:6] == (None, ""):
                bound = ("BM", o[1], recv)
            if bound[0] == "P":
                out |= self.returns(bound[1])
            else:
                out.add(bound)
        return out

    def bind(self, obj: Obj, recv: Obj) -> Obj:
        if obj[0] != "F":
            return obj
        info = self.defs.get(obj[1])
        if info is None:
            return obj
        mkind = info[5]
        if mkind == "staticmethod" or info[4] is None:
            return obj
        if mkind == "classmethod":
            return ("BM", obj[1], ("K", recv[1]))
        if mkind == "property":
            return ("P", obj[1]) if recv[0] == "I" else obj
        return ("BM", obj[1], recv) if recv[0] == "I" else obj

    def mro(self, cls: str) -> list[str]:
        """C3 linearization over the corpus bases (a base outside the corpus is left out)."""
        cur = self.cur
        if cur is not None:  # self.read(("MRO", cls)), inlined, the key made once
            key = self._mro_keys.get(cls)
            if key is None:
                key = self._mro_keys[cls] = ("MRO", cls)
            readers = self.deps.get(key)
            if readers is None:
                self.deps[key] = {cur}
            else:
                readers.add(cur)
        got = self._mro.get(cls)
        if got is not None:
            return got
        self._mro[cls] = [cls]  # cycles in broken code stop here
        outer, self.cur = (
            self.cur,
            ("M", cls),
        )  # what the bases read, the MRO depends on
        try:
            module, _qual, bases, i = self.classes[cls]
            direct = self._direct(cls, [self.eval(base, (module, i)) for base in bases])
            result = [cls, *c3([self.mro(b) for b in direct] + [direct])]
        finally:
            self.cur = outer
        self._mro[cls] = result
        return result

    def first_mro(self, cls: str) -> list[str]:
        """The MRO of ``cls`` as the first phase's fixpoint has its bases (see :meth:`freeze`)."""
        got = self._first_mro.get(cls)
        if got is None:
            self._first_mro[cls] = [cls]  # cycles in broken code stop here
            direct = self._direct(cls, self.first_bases[cls])
            got = self._first_mro[cls] = [
                cls,
                *c3([self.first_mro(b) for b in direct] + [direct]),
            ]
        return got

    def _direct(self, cls: str, bases: list[Any]) -> list[str]:
        """The corpus classes among ``bases`` (values of the base expressions), in a fixed order: a
        base that may be two classes is both, in any run."""
        direct: list[str] = []
        for objs in bases:
            for obj in sorted(objs, key=repr):
                if obj[0] == "K" and obj[1] in self.classes and obj[1] not in direct and obj[1] != cls:
                    direct.append(obj[1])
        return direct

    # -- calls --------------------------------------------------------------------------------------
    def call(self, callees: Any, args: list[Any], kwargs: list[Any], ctx: Any, site: Any) -> set[Obj]:
        """What calling each of ``callees`` returns; binds the arguments to the parameters."""
        out: set[Obj] = set()
        for obj in callees:
            kind = obj[0]
            if kind == "F":
                self.bind_args(obj[1], None, args, kwargs, ctx)
                out |= self.returns(obj[1])
            elif kind == "BM":
                self.bind_args(obj[1], obj[2], args, kwargs, ctx)
                out |= self.returns(obj[1])
            elif kind == "K" and obj[1] in self.classes:
                inst = ("I", obj[1])
                out.add(inst)
                for init in self.class_attr(obj[1], "__init__", inst):
                    if init[0] == "BM":
                        self.bind_args(init[1], inst, args, kwargs, ctx)
            elif kind == "I":
                for method in self.class_attr(obj[1], "__call__", obj):
                    if method[0] != "I":  # ``__call__ = Other()``: not followed (it may be itself)
                        out |= self.call({method}, args, kwargs, ctx, site)
            elif kind == "B":
                out |= self.builtin(obj[1], args, ctx, site)
            elif kind == "LM":
                out |= self.container_method(obj, args, ctx)
            elif kind == "S":
                out.add(obj)  # super(): the call's value is the proxy
            elif kind == "AM":  # QuerySet.as_manager(): a manager, whose methods are the query set's
                out.add(("I", obj[1]))
            elif kind == "X":
                if obj[1] == "importlib.import_module" and args and args[0][0] and args[0][0][0] == "q":
                    name = args[0][0][1]  # a constant, absolute name: that module
                    if name and not name.startswith("."):
                        out.add(self.module_obj(name))
                out |= external_instance(obj[1])
            elif kind == "BIM" and obj[1] == "str" and obj[2] in STR_TO_STR:
                out |= STR
        return out

    def returns(self, fq: str) -> Any:
        info = self.defs.get(fq)
        if info is not None and info[3]:
            return {("G", fq)}
        return self.get(self.ret_var(fq))

    def builtin(self, name: str, args: list[Any], ctx: Any, site: Any) -> set[Obj]:
        if name == "getattr" and len(args) >= 2 and args[1][0] and args[1][0][0] == "q":
            out: set[Obj] = set()
            for obj in self.eval(args[0][0], ctx):
                out |= self.getattr(obj, args[1][0][1])
            return out
        if name in COPYING and args:
            new = f"copy:{COPY_TYPE.get(name, 'l')}:{_where(site)}"
            self.add_elem(new, None, self.elements(self.eval(args[0][0], ctx), None, False))
            return {("L", new)}
        if name == "setattr" and len(args) == 3 and args[1][0] and args[1][0][0] == "q":
            self.store(["a", args[0][0], args[1][0][1]], self.eval(args[2][0], ctx), ctx)
            return set()
        if name in ("zip", "enumerate") and args and not any(star for _, star in args):
            # a list of tuples: enumerate's are (index, element), zip's one element of each argument
            where = _where(site)
            pair = f"{name}:{where}#t"
            parts = args if name == "zip" else [[None, 0], args[0]]
            for n, (arg, _star) in enumerate(parts):
                if arg is not None:
                    self.add_elem(pair, n, self.elements(self.eval(arg, ctx), None, False))
            self.add_elem(f"{name}:{where}#l", None, {("L", pair)})
            return {("L", f"{name}:{where}#l")}
        if name in ("map", "filter") and len(args) >= 2 and not any(star for _, star in args):
            return self.mapped(name, args, ctx, site)
        if name == "next" and args:
            return self.elements(self.eval(args[0][0], ctx), None, False)
        if name in IDENTITY and args:
            return set(self.eval(args[0][0], ctx))
        if name in VALUE_TYPES:
            return {("BI", name)}
        if name == "type" and len(args) == 1:
            return {("K", o[1]) for o in self.eval(args[0][0], ctx) if o[0] == "I"}
        return set()

    def mapped(self, name: str, args: list[Any], ctx: Any, site: Any) -> set[Obj]:
        """``map(f, xs, ...)`` holds what ``f`` returns, ``filter(f, xs)`` the elements of ``xs``. A first
        argument that is a literal (no literal is callable) is taken as written with the two first
        arguments swapped, as the published benchmark writes ``map([1, 2], f)`` (see facts.callbacks)."""
        first = args[0][0]
        if first and first[0] in codec.LITERALS:
            args = [args[1], args[0], *args[2:]]
        # the function's parameters are not bound to the elements: through them imprecise values
        # spread into functions the program never maps (precision before recall)
        returned = self.call(self.eval(args[0][0], ctx), [], [], ctx, site)
        new = f"{name}:{_where(site)}#l"
        if name == "map":
            self.add_elem(new, None, returned)
        else:
            self.add_elem(new, None, self.elements(self.eval(args[1][0], ctx), None, False))
        return {("L", new)}

    def container_method(self, obj: Obj, args: list[Any], ctx: Any) -> set[Obj]:
        site, method = obj[1], obj[2]
        vals = [self.eval(a[0], ctx) for a in args]
        if method in ("append", "add") and vals:
            self.add_elem(site, None, vals[-1])
        elif method == "insert" and len(vals) == 2:
            self.add_elem(site, None, vals[1])
        elif method in ("extend", "update") and vals:
            self.add_elem(site, None, self.elements(vals[0], None, False))
        elif method == "pop" and not args:
            return self.elements({("L", site)}, None, False)
        elif method in ("get", "pop", "setdefault") and args:
            key = args[0][0][1] if args[0][0] and args[0][0][0] == "q" else None
            if method == "setdefault" and len(vals) == 2:
                self.add_elem(site, key, vals[1])
            return self.elements({("L", site)}, key, key is not None)
        elif method in ("values", "copy"):
            return {("L", site)}
        elif method == "items":  # a list of (key, value) pairs: the keys are not followed
            pair = f"{site}@items#t"
            self.add_elem(pair, 1, self.elements({("L", site)}, None, False))
            self.add_elem(f"{site}@items#l", None, {("L", pair)})
            return {("L", f"{site}@items#l")}
        return set()

    def bind_args(self, fq: str, recv: Obj | None, args: list[Any], kwargs: list[Any], ctx: Any) -> None:
        """Arguments of one call to the parameters of ``fq`` (``recv`` first, for a bound method)."""
        sig = self.signature(fq)
        if sig is None:
            return
        positional, vararg, kwarg, names = (
            sig.positional,
            sig.vararg,
            sig.kwarg,
            sig.names,
        )
        values: list[tuple[Any, bool]] = [({recv}, False)] if recv is not None else []
        values += [(self.arg(a, ctx), bool(star)) for a, star in args]
        pos = 0
        for vals, star in values:
            if star:
                elems = self.elements(vals, None, False)
                for var in positional[pos:]:
                    self.add(var, elems)
                if vararg:
                    self.add_elem(sig.va_site, None, elems)
                pos = len(positional)
                continue
            if pos < len(positional):
                self.add(positional[pos], vals)
            elif vararg:
                self.add_elem(sig.va_site, pos - len(positional), vals)
            pos += 1
        if vararg:
            self.add(vararg, sig.va_value)
        for name, value in kwargs:
            vals = self.arg(value, ctx)
            if name is None:
                for obj in vals:
                    for key, part in self.slots(obj[1]).items() if obj[0] == "L" else ():
                        if key in names:
                            self.add(names[key], part)
                        elif kwarg:
                            self.add_elem(sig.kw_site, key, part)
            elif name in names:
                self.add(names[name], vals)
            elif kwarg:
                self.add_elem(sig.kw_site, name, vals)
        if kwarg:
            self.add(kwarg, sig.kw_value)

    def arg(self, e: Any, ctx: Any) -> Any:
        """The value of argument ``e`` of a call: evaluated again only if a value grew (or another
        task runs) since it was evaluated last. A call binds its arguments once per callee; until a
        value grows, evaluating an argument again reads the same keys (already recorded for this
        task), asks the same questions and gives the same value, so the evaluations, their order
        and the answers are those of evaluating it every time."""
        memo = self._memo
        if memo[0] != self.growth or memo[1] != self.cur:
            memo = self._memo = (self.growth, self.cur, {})
        got = memo[2].get(id(e))
        if got is not None and got[0] is e:
            return got[1]
        vals = self.eval(e, ctx)
        if memo[0] == self.growth:  # nothing grew while it was evaluated: the same value until then
            memo[2][id(e)] = (e, vals)  # ``e`` kept, so that its id stays its own
        return vals

    def signature(self, fq: str) -> Signature | None:
        """The parameter variables of ``fq``, made once (None: not a def of the corpus)."""
        sig = self._signatures.get(fq, _UNKNOWN)
        if sig is not _UNKNOWN:
            return sig  # type: ignore[no-any-return]
        info = self.defs.get(fq)
        sig = None if info is None else Signature(fq, info[0], info[1], info[2])
        self._signatures[fq] = sig
        return sig

    # -- results ------------------------------------------------------------------------------------
    def references(self, i: int) -> list[tuple[list[Obj], list[Any]]]:
        """Per reference of file ``i``: (what it may stand for, [line, col, kind, scope])."""
        return self.answers(i)[1]

    def call_targets(self, i: int) -> list[tuple[list[Obj], str | None, tuple[Any, ...]]]:
        """Per call site of file ``i``: (what the callee may be, the dynamic reason, its position)."""
        return self.answers(i)[0]

    def answers(self, i: int) -> tuple[list[Any], list[Any]]:
        """``call_targets(i)`` and ``references(i)`` at once: a ``call`` reference names the callee
        expression of the call at its position (most do), whose value is taken from the call."""
        module, facts = self.files[i]
        ctx = (module, i)
        calls = []
        at: dict[tuple[int, int], tuple[Any, list[Obj]]] = {}  # (line, col) -> (callee, its objects)
        known = self.callees[i] if self.converged else [None] * len(facts["calls"])
        for call, callee in zip(facts["calls"], known, strict=True):
            objs = _ordered(drop_guesses(self.eval(call[4], ctx) if callee is None else callee))
            calls.append((self.instantiated(objs), call[7], tuple(call[:4])))
            at.setdefault((call[0], call[1]), (call[4], objs))
        refs = []
        for r in facts.get("refs", ()):
            same = at.get((r[0], r[1])) if r[2] == "call" else None
            if same is not None and same[0] == r[4]:
                refs.append((same[1], r[:4]))
            else:
                refs.append((_ordered(drop_guesses(self.eval(r[4], ctx))), r[:4]))
        return calls, refs

    def sliced(self, objs: Any, start: int, stop: int | None) -> set[Obj]:
        """``xs[start:stop]`` (constant bounds): of a list or tuple made in the corpus, a container of
        its own holding the elements at those indexes, shifted to start at 0 (an element at an unknown
        index may be any of them); anything else, and ``xs[:]``, is taken as it is. A slice of a
        slice holds its elements at unknown indexes (one such container per list: ``xs = xs[1:]`` in
        a loop makes no new one each time)."""
        if start == 0 and stop is None:
            return set(objs)
        out: set[Obj] = set()
        for obj in objs:
            if obj[0] != "L" or container_type(obj[1]) not in ("list", "tuple"):
                out.add(obj)
                continue
            root, sliced, _ = obj[1].partition("[")
            site = f"{root}[?]" if sliced else f"{root}[{start}:{'' if stop is None else stop}]"
            for key, vals in list(self.slots(obj[1]).items()):
                if sliced or key is None or key.__class__ is not int:
                    self.add_elem(site, None, vals)
                elif start <= key and (stop is None or key < stop):
                    self.add_elem(site, key - start, vals)
            out.add(("L", site))
        return out

    def protocol(self, kind: str, objs: Any) -> set[Obj]:
        """The corpus methods Python calls for ``kind`` (see :meth:`.facts._Walker.protocol`) on
        ``objs``: ``iter`` the ``__iter__`` of an instance and ``__next__`` of the instances it
        returns, ``with`` ``__enter__`` and ``__exit__`` (``aiter``, ``awith``: their async forms),
        ``raise`` a class (what calling it runs)."""
        out: set[Obj] = set()
        for obj in objs:
            if kind == "raise":
                if obj[0] == "K" and obj[1] in self.classes:
                    out.add(obj)
                continue
            if obj[0] != "I":
                continue
            names, step = _PROTOCOLS[kind]
            for name in names:
                for method in self.class_attr(obj[1], name, obj):
                    if method[0] != "BM":
                        continue
                    out.add(method)
                    if step is None:
                        continue
                    for it in self.returns(method[1]):
                        if it[0] == "I":
                            out |= {m for m in self.class_attr(it[1], step, it) if m[0] == "BM"}
        return out

    def instantiated(self, objs: list[Obj]) -> list[Obj]:
        """What a call of ``objs`` runs: a corpus class with neither ``__init__`` nor ``__new__`` in
        the corpus part of its MRO runs the ``__init__`` of its first outside base when that is an
        external class (``class A(ext.Base)``: ``A()`` runs ``ext.Base.__init__``)."""
        if not any(o[0] == "K" for o in objs):
            return objs
        out: list[Obj] = []
        for obj in objs:
            if obj[0] == "K" and obj[1] in self.classes and self.final:
                inst = ("I", obj[1])
                if not self.class_attr(obj[1], "__init__", inst) and not self.class_attr(
                    obj[1], "__new__", obj
                ):
                    outside = [o for o in outside_attr(self, obj[1], "__init__") if o[0] == "XA"]
                    if outside:
                        out.extend(o for o in outside if o not in out)
                        continue
            out.append(obj)
        return out


def _where(site: Any) -> str:
    """A call site as a container's site names it: ``file:call`` of a (file, call), else the name."""
    return f"{site[0]}:{site[1]}" if isinstance(site, tuple) else str(site)


class Signature:
    """The variables one call binds for a def: positional parameters in order, ``*args`` and
    ``**kwargs`` (and the containers they hold), and every parameter a keyword can name."""

    __slots__ = (
        "kw_site",
        "kw_value",
        "kwarg",
        "names",
        "positional",
        "va_site",
        "va_value",
        "vararg",
    )

    def __init__(self, fq: str, module: str, qual: str, params: list[Any]) -> None:
        def var(name: str) -> str:
            return f"{module}:{qual}:{name}"

        self.positional = [var(p[0]) for p in params if p[1] == "p"]
        self.vararg = next((var(p[0]) for p in params if p[1] == "v"), None)
        self.kwarg = next((var(p[0]) for p in params if p[1] == "w"), None)
        self.names = {p[0]: var(p[0]) for p in params if p[1] in ("p", "k")}
        self.va_site, self.kw_site = f"va:{fq}", f"kw:{fq}"
        self.va_value: frozenset[Obj] = frozenset({("L", self.va_site)})
        self.kw_value: frozenset[Obj] = frozenset({("L", self.kw_site)})


def _members(
    assigned: set[str], classes: dict[str, Any]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Of the variables some fact assigns: class attributes by class (``module:Class:attr``, under
    the class's fully qualified name) and module globals by module (``module::name``), so that a
    lookup by (class or module, name) finds the variable without building its name."""
    owner = {f"{module}:{qual}": fq for fq, (module, qual, *_) in classes.items()}
    members: dict[str, dict[str, str]] = {}
    globals_: dict[str, dict[str, str]] = {}
    for var in assigned:
        module, sep, name = var.partition("::")
        if sep and ":" not in name:
            globals_.setdefault(module, {})[name] = var
            continue
        head, _, attr = var.rpartition(":")
        fq = owner.get(head)
        if fq is not None:
            members.setdefault(fq, {})[attr] = var
    return members, globals_


def _class_stored(files: list[tuple[str, Any]]) -> frozenset[str]:
    """Attribute names stored on something other than ``self`` (``Cls.attr = f``, ``cls.attr = f``)."""
    names: set[str] = set()
    for _module, facts in files:
        for target, _value in facts["assign"]:
            if target[0] == "a":
                obj = target[1]
                if not (obj and obj[0] == "v" and obj[1].endswith(":self")):
                    names.add(target[2])
    return frozenset(names)


def _ordered(objs: Any) -> list[Obj]:
    """Objects in a stable order (by their text), as the answers list them."""
    return list(objs) if len(objs) < 2 else sorted(objs, key=repr)


def _facts(facts: Any) -> dict[str, Any]:
    """A file's facts as the walker's dict (from its JSON text, as stored)."""
    return codec.decode(facts) if isinstance(facts, (str, bytes)) else facts

"""Rules of the points-to solver for what lies outside the corpus: instances made from a type
(``["n", e]``), and attributes a corpus class inherits from a builtin or external base.

Calling an external class (``pathlib.Path(p)``, by the naming convention: see
``external_instance``) makes an ``XI`` instance whose attributes are ``XA`` guesses too.

``outside_attr`` answers ``obj.attr`` when no class of the corpus part of the MRO defines ``attr``:
the first builtin base that has it (``class Q(dict)``: ``self.pop`` is ``builtins.dict.pop``), else the
first external base (``class V(django.views.View)``: ``self.dispatch`` is ``django.views.View.dispatch``,
as an ``("XA", base, attr)`` object; a builtin's is ``("OB", type, attr)``), else ``object``'s own attribute (``super().__init__()`` in a class
with no other base defining ``__init__`` is ``builtins.object.__init__``). It answers nothing (the
call stays unresolved) when the name could be an instance attribute: any attribute assignment or
constant-name ``setattr`` in the corpus with that name, or a ``__getattr__`` / ``__getattribute__`` on
the class, or when a base of a class in the MRO is not one known class (a decorated class, a
computed base).
"""

from __future__ import annotations

import builtins
from typing import Any

from codequarry.extractors.python.callgraph.domain import EMPTY, VALUE_TYPES, Obj

_DYNAMIC_ATTRS = ("__getattr__", "__getattribute__")
#: objects ``outside_attr`` makes: an external base's attribute, a builtin base's (or object's) attribute
GUESSES = frozenset({"XA", "OB", "AM"})
#: external bases that add no attribute of their own to an instance (markers, generics)
_MARKERS = frozenset({"abc.ABC", "typing.Generic", "typing.Protocol", "typing_extensions.Protocol"})


def instances(objs: Any, classes: Any) -> set[Obj]:
    """Instances of what ``objs`` may be: a corpus class, or a builtin value type."""
    out: set[Obj] = set()
    for obj in objs:
        if obj[0] == "K" and obj[1] in classes:
            out.add(("I", obj[1]))
        elif obj[0] == "B" and obj[1] in VALUE_TYPES:
            out.add(("BI", obj[1]))
    return out


def external_instance(name: str) -> set[Obj]:
    """What calling the external ``name`` returns, when its last part names a class by convention
    (``pathlib.Path``, ``threading.Event``, not ``os.getcwd`` or ``FOO``): an ``("XI", name)`` instance,
    whose attributes are the class's (``XA`` guesses)."""
    last = name.rpartition(".")[2]
    if last[:1].isupper() and not last.isupper() and "." in name:
        return {("XI", name)}
    return set()


def stored_attributes(solver: Any) -> frozenset[str]:
    """Every attribute name the corpus assigns (``x.name = ...``) or sets by a constant name."""
    got: frozenset[str] | None = getattr(solver, "stored_attrs", None)  # asked once per miss: no weakref
    if got is None:
        names: set[str] = set()
        for _module, facts in solver.files:
            for target, _value in facts["assign"]:
                if target[0] == "a":
                    names.add(target[2])
            for call in facts["calls"]:
                callee, args = call[4], call[5]
                if callee == ["b", "setattr"] and len(args) > 1 and args[1][0] and args[1][0][0] == "q":
                    names.add(args[1][0][1])
        got = solver.stored_attrs = frozenset(names)
    return got


def outside_attr(solver: Any, cls: str, attr: str, skip: int = 0) -> frozenset[Obj]:
    """``attr`` of class ``cls`` (after ``skip`` classes of its MRO) that the corpus does not define.
    Answered in the final phase only, from the first phase's classes and bases (so once per class,
    attribute and skip); a task that asks before records the question (``asked_outside``): it runs
    again in the final phase if the answer there is not empty."""
    if not solver.final:
        if solver.cur.__class__ is int and attr not in stored_attributes(solver):
            solver.asked_outside.setdefault((cls, attr, skip), set()).add(solver.cur)
        return EMPTY
    key = (cls, attr, skip)
    got = solver.outside.get(key)
    if got is None:
        got = solver.outside[key] = frozenset(_outside(solver, cls, attr, skip))
    return got


def _outside(solver: Any, cls: str, attr: str, skip: int) -> set[Obj]:
    if attr in stored_attributes(solver):
        return set()
    mro = solver.first_mro(cls)
    for c in mro:
        members = solver.members.get(c, ())  # the class attributes some fact assigns
        names = (attr, *_DYNAMIC_ATTRS) if mro.index(c) >= skip else _DYNAMIC_ATTRS
        if any(name in members for name in names):
            return set()
    outside: list[Obj] = []
    for c in mro:
        for objs in solver.first_bases[c]:
            if len(objs) != 1 or next(iter(objs))[0] not in ("K", "B", "X"):
                return set()  # a base the solver cannot name for sure: the MRO is not known
            obj = next(iter(objs))
            if mro.index(c) >= skip - 1 and obj[0] != "K" and obj not in outside and obj[1] not in _MARKERS:
                outside.append(obj)
    for obj in outside:
        if obj[0] == "X":
            return {("XA", obj[1], attr)}
        kind = getattr(builtins, obj[1], None)
        if isinstance(kind, type) and hasattr(kind, attr):
            return {("OB", obj[1], attr)}
    return {("OB", "object", attr)} if hasattr(object, attr) else set()


def as_manager(cls: str, attr: str, got: Any) -> Any:
    """``QS.as_manager`` of a corpus class ``QS`` whose ``as_manager`` comes from outside (Django's
    ``QuerySet``): besides that guess, an ``("AM", QS)`` object, which called gives an instance of
    ``QS``: the manager's methods are the query set's (``Site.objects.restrict()`` where ``objects =
    RestrictedQuerySet.as_manager()``), those it does not define the outside base's."""
    if attr == "as_manager" and got and all(o[0] == "XA" for o in got):
        return {*got, ("AM", cls)}
    return got


def manager_attr(obj: Obj, attr: str) -> Any:
    """An attribute of an external attribute: only a Django model's default manager (``objects`` of a
    model no corpus class gives one) is followed, to ``django.db.models.Manager``'s attribute."""
    if obj[2] == "objects" and obj[1].startswith("django.db.models"):
        return {("XA", "django.db.models.Manager", attr)}
    return EMPTY


def drop_guesses(objs: set[Obj]) -> set[Obj]:
    """An attribute read over several receivers: the guesses of ``outside_attr`` go when another
    receiver gives a real answer (the guess then likely comes from an imprecise receiver)."""
    if len(objs) > 1 and any(o[0] in GUESSES for o in objs):
        real = {o for o in objs if o[0] not in GUESSES}
        if real:
            return real
    return objs


__all__ = [
    "EMPTY",
    "as_manager",
    "drop_guesses",
    "external_instance",
    "instances",
    "manager_attr",
    "outside_attr",
    "stored_attributes",
]

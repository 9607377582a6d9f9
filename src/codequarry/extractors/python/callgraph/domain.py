"""The points-to solver's abstract domain and what it knows of builtins: the object tuples, the
cap past which a set becomes TOP, builtin container and value types with their methods, the C3
linearization, and the small helpers on those. See :mod:`.pointsto` for the objects' meaning."""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

Obj = tuple
EMPTY: frozenset[Obj] = frozenset()
TOP: Obj = ("T",)  # too many possible values: followed no further
CAP = 24  # objects a variable, field or element may point to before it becomes TOP (pointsto.add)
COPYING = frozenset({"list", "tuple", "set", "frozenset", "sorted", "reversed", "iter"})
IDENTITY = frozenset({"staticmethod", "classmethod", "property"})
#: builtin types whose instances the solver tracks (``("BI", type)``): their methods are external
#: targets named ``builtins.<type>.<method>``
VALUE_TYPES = frozenset({"str", "bytes", "int", "float", "dict", "bytearray", "object"})
STR: frozenset[Obj] = frozenset({("BI", "str")})
TYPE_ATTRS = {t: frozenset(dir(getattr(builtins, t))) for t in VALUE_TYPES}
TYPES = {"l": "list", "t": "tuple", "s": "set", "d": "dict", "g": "generator"}
COPY_TYPE = {
    "list": "l",
    "sorted": "l",
    "tuple": "t",
    "set": "s",
    "frozenset": "s",
    "reversed": "g",
    "iter": "g",
}
CONTAINER_METHODS = {
    "list": frozenset(
        {"append", "extend", "insert", "pop", "remove", "sort", "reverse", "index", "count", "clear", "copy"}
    ),
    "tuple": frozenset({"index", "count"}),
    "set": frozenset(
        {
            "add",
            "update",
            "discard",
            "remove",
            "pop",
            "clear",
            "copy",
            "union",
            "intersection",
            "difference",
            "issubset",
            "issuperset",
        }
    ),
    "dict": frozenset(
        {"get", "pop", "setdefault", "update", "values", "keys", "items", "copy", "clear", "popitem"}
    ),
}
STR_TO_STR = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "replace",
        "format",
        "join",
        "title",
        "casefold",
        "capitalize",
        "removeprefix",
        "removesuffix",
        "zfill",
        "center",
        "ljust",
        "rjust",
        "expandtabs",
        "swapcase",
        "translate",
        "format_map",
    }
)


def container_type(site: str) -> str:
    """list | tuple | set | dict | generator: the type of the container made at ``site``."""
    if site.startswith("va:"):
        return "tuple"
    if site.startswith("kw:"):
        return "dict"
    letter = site.split(":")[1] if site.startswith("copy:") else site.rpartition("#")[2][:1]
    return TYPES.get(letter, "list")


def qualified(module: str, qual: str) -> str:
    return f"{module}.{qual}" if module else qual


def method_kind(decorators: list[Any]) -> str:
    for dec in decorators:
        if dec and dec[0] == "b" and dec[1] in ("staticmethod", "classmethod", "property"):
            return dec[1]
        if dec and dec[0] == "a" and dec[2] in ("setter", "getter", "deleter", "cached_property"):
            return "property"
        if dec and dec[0] == "a" and dec[2] == "abstractclassmethod":
            return "classmethod"
    return ""


def c3(seqs: list[list[str]]) -> list[str]:
    """Merge step of the C3 linearization; on an inconsistent hierarchy, the remaining order as given."""
    seqs = [list(s) for s in seqs if s]
    out: list[str] = []
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in s[1:] for s in seqs):
                break
        else:
            head = seqs[0][0]
        out.append(head)
        seqs = [[x for x in s if x != head] for s in seqs]
        seqs = [s for s in seqs if s]
    return out


class Def(NamedTuple):
    """A function, class or lambda of the corpus (a target of the call graph)."""

    kind: str  # function | method | class | lambda
    repo: str
    path: str
    module: str
    qualname: str
    line: int

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"

    def target(self) -> tuple[Any, ...]:
        """Its target columns in ``call_graph`` (kind, target, repo, path, module, qualname, line). A
        class called (one with no ``__init__`` or ``__new__`` in the corpus) has no ``target``: no
        code of the corpus runs, so the row is not an edge."""
        name = None if self.kind == "class" else self.name
        return self.kind, name, self.repo, self.path, self.module, self.qualname, self.line

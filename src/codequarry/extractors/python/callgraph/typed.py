"""Values the walker knows without seeing an assignment: type annotations, ``self`` and ``cls``, the
``*args`` tuple and ``**kwargs`` dict, empty builtin containers, ``functools.partial`` and string
formatting. Each becomes an ordinary points-to expression (see :mod:`.facts`); ``["n", e]`` is an
*instance* of what ``e`` may be (a corpus class, or a builtin value type such as ``str``).

Annotations are points-to *sources*, never sinks: ``def f(x: Foo)`` adds "an instance of ``Foo``" to
what ``x`` may be, next to what callers pass. Understood forms: a class name or dotted name, a string
holding one (a forward reference), ``Optional[X]``, ``Union[X, Y]``, ``X | Y``, ``type[X]`` (the class
itself), and the element type of ``list[X]``, ``Sequence[X]``, ``Iterable[X]``, ``set[X]``,
``tuple[X, ...]``, ``dict[K, V]`` / ``Mapping[K, V]`` (the values). ``Any``, ``None``, type variables
and anything else add nothing.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.callgraph.scopes import all_args, tail

#: subscripted generics whose (last) parameter is the type of their elements
_ELEMENT_OF = frozenset(
    {
        "list",
        "List",
        "set",
        "Set",
        "frozenset",
        "FrozenSet",
        "Sequence",
        "MutableSequence",
        "Iterable",
        "Iterator",
        "Collection",
        "AbstractSet",
        "MutableSet",
        "Generator",
        "AsyncIterator",
        "AsyncIterable",
        "Deque",
        "deque",
    }
)
_MAPPING = frozenset(
    {"dict", "Dict", "Mapping", "MutableMapping", "DefaultDict", "defaultdict", "OrderedDict"}
)
_UNION = frozenset({"Optional", "Union"})
_CLASS_OF = frozenset({"type", "Type"})
_SKIP = frozenset({"Any", "None", "object", "Self", "TypeVar", "Callable", "Literal", "ClassVar", "Final"})
_WRAPPERS = frozenset({"ClassVar", "Final", "Annotated", "Required", "NotRequired"})
#: builtins whose call with no positional argument makes an empty container of the site letter given
EMPTY_CONTAINERS = {"list": "l", "dict": "d", "set": "s", "frozenset": "s", "tuple": "t"}
#: names of functools' partial under which a call binds its first argument for later. Not applied to
#: ``partial(update_wrapper, ...)`` (functools.wraps itself): the solver is context-insensitive, so
#: that identity function would return every function any decorator in the corpus wraps
PARTIALS = frozenset({"partial", "partialmethod"})


def _last(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class Annotations:
    """Turns annotation nodes into points-to expressions, with the walker's name resolution."""

    def __init__(self, walker: Any) -> None:
        self.walker = walker

    def value(self, node: ast.expr | None, scope: Any, quiet: bool = False, depth: int = 0) -> Any:
        """What a variable annotated ``node`` may hold (``None``: nothing known). The names it uses
        are ``annotation`` references, unless ``quiet`` (a forward reference's positions are the
        string's)."""
        if node is None or depth > 4:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.value(_parse(node.value), scope, True, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = [
                self.value(node.left, scope, quiet, depth + 1),
                self.value(node.right, scope, quiet, depth + 1),
            ]
            return _either(parts)
        if isinstance(node, ast.Subscript):
            return self.generic(node, scope, quiet, depth)
        if isinstance(node, (ast.Name, ast.Attribute)) and _last(node) not in _SKIP:
            return ["n", self.walker.type_name(node, scope, quiet)]
        return None

    def generic(self, node: ast.Subscript, scope: Any, quiet: bool, depth: int) -> Any:
        head = _last(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head in _UNION:
            return _either([self.value(a, scope, quiet, depth + 1) for a in args])
        if head in _WRAPPERS:
            return self.value(args[0], scope, quiet, depth + 1)
        if head in _CLASS_OF:
            first = args[0]
            return (
                self.walker.type_name(first, scope, quiet)
                if isinstance(first, (ast.Name, ast.Attribute))
                else None
            )
        if head in _ELEMENT_OF or head in ("tuple", "Tuple"):
            elts = [a for a in args if not (isinstance(a, ast.Constant) and a.value is Ellipsis)]
            return self.container("l", [self.value(a, scope, quiet, depth + 1) for a in elts])
        if head in _MAPPING and len(args) == 2:
            return self.container("d", [self.value(args[1], scope, quiet, depth + 1)])
        return None

    def container(self, letter: str, elements: list[Any]) -> Any:
        """A container made for the annotation, holding its elements under unknown keys."""
        elements = [e for e in elements if e is not None]
        if not elements:
            return None
        site = self.walker.new_site(letter)
        return ["d", site, [[None, e] for e in elements]]


def _either(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return values[0] if len(values) == 1 else ["o", values]


def _parse(text: str) -> ast.expr | None:
    """A forward reference's expression, when the string is a plain expression."""
    if len(text) > 200:
        return None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None
    return tree.body


def is_str_formatting(node: ast.BinOp) -> bool:
    """``"..." % x``, ``"a" + s``, ``s + "b"``, f-strings joined: the value is a ``str``."""
    texts = (ast.JoinedStr,)
    left, right = node.left, node.right
    left_str = isinstance(left, texts) or (isinstance(left, ast.Constant) and isinstance(left.value, str))
    right_str = isinstance(right, texts) or (isinstance(right, ast.Constant) and isinstance(right.value, str))
    if isinstance(node.op, ast.Mod):
        return left_str
    return isinstance(node.op, ast.Add) and (left_str or right_str)


class Known:
    """Mixed into the walker (:mod:`.facts`): the facts of values known without an assignment."""

    facts: dict[str, list[Any]]
    module: str
    site: int
    types: Annotations
    _quiet: int

    def expr(self, node: Any, scope: Any) -> Any: ...  # the walker's

    def use(self, node: Any, scope: Any, kind: str) -> Any: ...  # the walker's

    def known_params(self, node: Any, scope: Any, qual: str) -> None:
        """What a def's parameters hold whoever calls it: ``self`` an instance of the enclosing class
        (``cls`` the class itself in a classmethod) when no call gives a known receiver, ``*args`` a tuple, ``**kwargs`` a dict, an
        annotated parameter an instance of its annotation; what ``-> T`` says it returns."""
        args = node.args
        local = f"{self.module}:{qual}:"
        positional = [*args.posonlyargs, *args.args]
        if scope.kind == "class" and positional and not scope.meta:
            kinds = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
            implicit = node.name in ("__new__", "__init_subclass__", "__class_getitem__")
            if "staticmethod" not in kinds or node.name == "__new__":
                cls = ["k", scope.qual]
                first = cls if "classmethod" in kinds or implicit else ["n", cls]
                var = local + positional[0].arg  # when no call passes a known receiver
                self.facts["assign"].append([["v", var], ["u", var, first]])
        if args.vararg is not None:
            self.facts["assign"].append([["v", local + args.vararg.arg], ["t", self.new_site("t"), []]])
        if args.kwarg is not None:
            self.facts["assign"].append([["v", local + args.kwarg.arg], ["d", self.new_site("d"), []]])
        for arg in all_args(args):
            typed = self.types.value(arg.annotation, scope)
            if typed is not None:
                self.facts["assign"].append([["v", local + arg.arg], typed])
        returns = self.types.value(node.returns, scope)
        if returns is not None:
            self.facts["ret"].append([qual, returns])

    def new_site(self, letter: str) -> str:
        """A fresh container site of this file, of the type ``letter`` names (l, t, s, d)."""
        self.site += 1
        return f"{self.module}#{letter}{self.site}"

    def type_name(self, node: ast.expr, scope: Any, quiet: bool) -> Any:
        """The value of a name used as a type (an ``annotation`` reference unless ``quiet``)."""
        if quiet:
            self._quiet += 1
            try:
                return self.expr(node, scope)
            finally:
                self._quiet -= 1
        return self.use(node, scope, "annotation")

    def known_result(
        self, node: ast.Call, callee: Any, args: list[Any], kwargs: list[Any], result: Any
    ) -> Any:
        """A call's value, with what the walker knows of it: ``list()``, ``set()``, ``dict(a=f)`` make
        a container; ``functools.partial(f, ...)`` calls ``f`` when called."""
        name = callee[1] if callee and callee[0] == "b" else None
        if name in EMPTY_CONTAINERS and not node.args and all(k for k, _ in kwargs):
            letter = EMPTY_CONTAINERS[name]
            items = [[k, v] for k, v in kwargs] if letter == "d" else []
            return ["o", [result, ["d", self.new_site(letter), items]]]
        func = node.func
        named = (
            func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        )
        if (
            named in PARTIALS
            and args
            and not args[0][1]
            and callee
            and callee[0] in ("v", "a")
            and tail(node.args[0]) != "update_wrapper"
        ):
            return ["o", [result, args[0][0]]]
        return result

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

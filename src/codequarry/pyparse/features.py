"""Recognising constructs of a newer Python in a tree-sitter tree, with a query that runs in C.

Used twice: to decide whether a file the running ``ast`` rejects is worth converting (no newer
construct: it stays an ordinary syntax error, without converting anything), and to name the minimum
Python version in the message when the conversion is not possible.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from typing import Any

from codequarry.pyparse.base import Note

_QUERY = """
(type_alias_statement) @alias
(function_definition type_parameters: (type_parameter) @generic)
(class_definition type_parameters: (type_parameter) @generic)
(except_clause) @except
(string_start) @start
(interpolation) @field
(format_expression) @field
(ERROR) @error
(MISSING) @error
(type_parameter) @brackets
"""


@functools.cache
def _query() -> Any:
    import tree_sitter
    import tree_sitter_python

    return tree_sitter.Query(tree_sitter.Language(tree_sitter_python.language()), _QUERY)


def _note(node: Any, construct: str, since: tuple[int, int]) -> Note:
    return Note(construct, since, node.start_point[0] + 1, node.start_point[1] + 1)


def recognise(root: Any) -> tuple[list[Note], list[Any]]:
    """(notes on newer constructs, ERROR/MISSING nodes that no newer construct explains)."""
    import tree_sitter

    found = tree_sitter.QueryCursor(_query()).captures(root)
    notes: list[Note] = []
    for node in found.get("alias", []):
        notes.append(_note(node, "type alias statement (PEP 695)", (3, 12)))
    for node in found.get("generic", []):
        owner = node.parent.type if node.parent is not None else "function_definition"
        notes.append(_note(node, f"generic {owner.split('_')[0]} (PEP 695)", (3, 12)))
    for node in found.get("except", []):
        if len([c for c in node.children_by_field_name("value") if c.type != "comment"]) > 1:
            notes.append(_note(node, "except without parentheses (PEP 758)", (3, 14)))
    for node in found.get("start", []):
        if "t" in (node.text or b"").decode("utf-8", "replace").lower().rstrip("'\""):
            notes.append(_note(node, "t-string (PEP 750)", (3, 14)))
    for node in found.get("field", []):
        notes.extend(fstring_notes(node))
    unexplained = []
    inside = _within(found.get("brackets", []))
    for node in found.get("error", []):
        # tree-sitter-python 0.25 predates PEP 696 defaults; only an error inside some
        # type_parameter's bytes can be one (each walk up is O(depth^2): _in_type_parameters)
        if inside(node.start_byte, node.end_byte) and _in_type_parameters(node):
            notes.append(_note(node, "type parameter default (PEP 696)", (3, 13)))
        else:
            unexplained.append(node)
    return notes, unexplained


def _within(nodes: list[Any]) -> Callable[[int, int], bool]:
    """Whether a byte range lies inside one of ``nodes`` (merged into disjoint spans, searched by
    bisection). A file of thousands of nested syntax errors asked ``_in_type_parameters`` of each,
    and ``Node.parent`` walks down from the root: ``"x = [" * 2000`` cost 48 s (cubic)."""
    spans: list[list[int]] = []
    for start, end in sorted((n.start_byte, n.end_byte) for n in nodes):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    starts = [s[0] for s in spans]

    def inside(start: int, end: int) -> bool:
        at = bisect.bisect_right(starts, start) - 1
        return at >= 0 and end <= spans[at][1]

    return inside


def _in_type_parameters(node: Any) -> bool:
    """Whether ``node`` lies in the type parameters of a def, a class or a type alias (not in the
    ``[...]`` of an annotation, which tree-sitter also calls ``type_parameter``)."""
    parent = node.parent
    while parent is not None and parent.type != "type_parameter":
        if parent.type in ("block", "module"):
            return False
        parent = parent.parent
    if parent is None or parent.parent is None:
        return False
    owner = parent.parent
    if owner.type in ("function_definition", "class_definition"):
        return True
    alias = owner.parent.parent if owner.type == "generic_type" and owner.parent is not None else None
    return alias is not None and alias.type == "type_alias_statement"


def fstring_notes(node: Any) -> list[Note]:
    """What in an f-string replacement field only PEP 701 (Python 3.12) allows."""
    string = node.parent
    while string is not None and string.type != "string":
        string = string.parent
    if string is None:
        return []
    head = string.children[0].text.decode("utf-8", "replace")
    quote = head.lstrip("rRbBuUfFtT")
    first = next((c for c in node.children if c.type not in ("{", "comment")), None)
    stop = next(
        (c for c in node.children[1:] if c.type in ("=", "type_conversion", "format_specifier", "}")), None
    )
    if first is None or stop is None:
        return []
    body = node.text[first.start_byte - node.start_byte : stop.start_byte - node.start_byte]
    notes = []
    if any(c.type == "comment" for c in node.children):
        notes.append(_note(node, "comment in an f-string expression (PEP 701)", (3, 12)))
    if b"\\" in body:
        notes.append(_note(node, "backslash in an f-string expression (PEP 701)", (3, 12)))
    if quote.encode() in body:
        notes.append(_note(node, "f-string quotes reused inside its expression (PEP 701)", (3, 12)))
    if b"\n" in body and len(quote) == 1:
        notes.append(_note(node, "line break in a single-quoted f-string expression (PEP 701)", (3, 12)))
    return notes

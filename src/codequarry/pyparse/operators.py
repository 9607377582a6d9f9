"""Arithmetic and bitwise operators, re-associated by Python's own precedence.

tree-sitter-python 0.25 groups some chains differently from Python (``~1 ^ 1 & 1`` nests as
``(~1 ^ 1) & 1``), so a chain of ``binary_operator`` / ``unary_operator`` nodes is flattened into its
tokens and parsed again by precedence climbing with Python's table. Parentheses are kept: a
``parenthesized_expression`` is an operand, never flattened.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.pyparse.base import end_of, start_of

#: binding power of each binary operator, as in the Python grammar (``**`` is handled apart)
_POWER = {
    "|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5,
    "*": 6, "@": 6, "/": 6, "//": 6, "%": 6,
}  # fmt: skip
_CHAINED = frozenset({"binary_operator", "unary_operator", "union_type"})


def flatten(node: Any, out: list[tuple[str, Any]]) -> None:
    """Tokens of an operator chain in source order: ('op', token), ('unary', token), ('leaf', node)."""
    kind = node.type
    if kind == "binary_operator":
        flatten(node.child_by_field_name("left"), out)
        out.append(("op", node.child_by_field_name("operator")))
        flatten(node.child_by_field_name("right"), out)
    elif kind == "unary_operator":
        out.append(("unary", node.child_by_field_name("operator")))
        flatten(node.child_by_field_name("argument"), out)
    elif kind == "union_type":
        left, right = (c for c in node.named_children if c.type not in ("comment", "line_continuation"))
        flatten(left, out)
        out.append(("op", next(c for c in node.children if c.type == "|")))
        flatten(right, out)
    elif kind == "type" and node.named_child_count == 1 and node.named_children[0].type in _CHAINED:
        flatten(node.named_children[0], out)
    else:
        out.append(("leaf", node))


class Chain:
    """One precedence-climbing parse over a flattened chain; ``convert`` turns leaves into ``ast``."""

    def __init__(
        self, items: list[tuple[str, Any]], convert: Any, binops: dict[str, Any], unary: dict[str, Any]
    ) -> None:
        self.items = items
        self.pos = 0
        self.convert = convert
        self.binops = binops
        self.unary_ops = unary

    def parse(self, min_power: int = 1) -> tuple[ast.expr, Any, Any]:
        """(node, first token, last token): the tokens give the span, parentheses included."""
        left, first, last = self.unary()
        while self.pos < len(self.items):
            kind, tok = self.items[self.pos]
            power = _POWER[tok.type]
            if power < min_power:
                break
            self.pos += 1
            right, _, last = self.parse(power + 1)
            left = ast.BinOp(
                left=left, op=self.binops[tok.type](), right=right, **start_of(first), **end_of(last)
            )
        return left, first, last

    def unary(self) -> tuple[ast.expr, Any, Any]:
        kind, tok = self.items[self.pos]
        if kind == "unary":
            self.pos += 1
            operand, _, last = self.unary()
            return (
                ast.UnaryOp(op=self.unary_ops[tok.type](), operand=operand, **start_of(tok), **end_of(last)),
                tok,
                last,
            )
        self.pos += 1
        base = self.convert(tok)
        if self.pos < len(self.items) and self.items[self.pos][1].type == "**":
            self.pos += 1
            exponent, _, last = self.unary()  # right-associative, and ``2 ** -1`` is allowed
            return (
                ast.BinOp(left=base, op=ast.Pow(), right=exponent, **start_of(tok), **end_of(last)),
                tok,
                last,
            )
        return base, tok, tok

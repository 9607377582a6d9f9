"""Expressions: tree-sitter-python expression nodes -> ``ast.expr`` nodes with 3.11 positions."""

from __future__ import annotations

import ast
import unicodedata
from typing import TYPE_CHECKING, Any

from codequarry.pyparse.base import (
    LOAD,
    STORE,
    Context,
    Unsupported,
    end_of,
    named,
    span,
    span2,
    start_of,
    text,
    tokens,
)
from codequarry.pyparse.operators import Chain, flatten

_BINOPS: dict[str, type[ast.operator]] = {
    "+": ast.Add,
    "-": ast.Sub,
    "*": ast.Mult,
    "@": ast.MatMult,
    "/": ast.Div,
    "%": ast.Mod,
    "**": ast.Pow,
    "<<": ast.LShift,
    ">>": ast.RShift,
    "|": ast.BitOr,
    "^": ast.BitXor,
    "&": ast.BitAnd,
    "//": ast.FloorDiv,
}
_UNARY: dict[str, type[ast.unaryop]] = {"-": ast.USub, "+": ast.UAdd, "~": ast.Invert}
_CMPOPS: dict[str, type[ast.cmpop]] = {
    "==": ast.Eq,
    "!=": ast.NotEq,
    "<": ast.Lt,
    "<=": ast.LtE,
    ">": ast.Gt,
    ">=": ast.GtE,
    "is": ast.Is,
    "is not": ast.IsNot,
    "in": ast.In,
    "not in": ast.NotIn,
}
_CONSTANTS = {"true": True, "false": False, "none": None, "ellipsis": ...}
_COMPREHENSIONS = {
    "list_comprehension": ast.ListComp,
    "set_comprehension": ast.SetComp,
    "generator_expression": ast.GeneratorExp,
}


def identifier(node: Any) -> str:
    """An identifier as ``ast`` stores it: NFKC-normalised, as the tokenizer does (PEP 3131)."""
    name = text(node)
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


def number(raw: str, node: Any = None) -> int | float | complex:
    digits = raw.replace("_", "")
    if digits[-1] in "lL" or (
        len(digits) > 1 and digits[0] == "0" and digits.isdigit() and digits.strip("0")
    ):
        raise Unsupported(f"Python 2 integer literal {raw}", node)
    if digits[-1] in "jJ":
        return complex(0, float(digits[:-1]))
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return int(digits, 0)
    if any(c in digits for c in ".eE"):
        return float(digits)
    return int(digits, 10)


class Expressions:
    """Mixin of the converter: one ``x_<type>`` method per tree-sitter expression node type."""

    if TYPE_CHECKING:  # provided by the other mixins of the converter

        def arguments(self, params: Any | None) -> ast.arguments: ...

    cx: Context
    as_target: tuple[Any, ast.expr] | None
    in_with_item: bool

    def expr(self, node: Any) -> ast.expr:
        method = getattr(self, "x_" + node.type, None)
        if method is None:
            raise Unsupported(f"no Python 3 expression for tree-sitter node '{node.type}'", node)
        return method(node)  # type: ignore[no-any-return]

    def maybe(self, node: Any | None) -> ast.expr | None:
        return None if node is None else self.expr(node)

    def exprs(self, nodes: list[Any]) -> list[ast.expr]:
        return [self.expr(n) for n in nodes]

    # -- atoms ----------------------------------------------------------------------------------
    def x_identifier(self, node: Any) -> ast.expr:
        return ast.Name(id=identifier(node), ctx=LOAD, **span(node))

    def x_keyword_identifier(self, node: Any) -> ast.expr:  # soft keywords used as names
        return ast.Name(id=text(node), ctx=LOAD, **span(node))

    def x_integer(self, node: Any) -> ast.expr:
        return ast.Constant(value=number(text(node), node), kind=None, **span(node))

    x_float = x_integer

    def x_true(self, node: Any) -> ast.expr:
        return ast.Constant(value=_CONSTANTS[node.type], kind=None, **span(node))

    x_false = x_none = x_ellipsis = x_true

    def x_parenthesized_expression(self, node: Any) -> ast.expr:
        inner = named(node)
        if len(inner) != 1:
            raise Unsupported("parentheses around more than one expression", node)
        return self.expr(inner[0])

    def x_type(self, node: Any) -> ast.expr:  # an annotation: tree-sitter wraps its expression
        return self.expr(named(node)[0])

    def x_generic_type(self, node: Any) -> ast.expr:  # ``list[int]`` where tree-sitter expects a type
        base, params = named(node)
        items = [c for c in named(params) if c.type != "comment"]
        elts = self.exprs(items)
        if len(elts) == 1 and not _trailing_comma(params) and elts[0].__class__ is not ast.Starred:
            index = elts[0]
        else:
            index = ast.Tuple(elts=elts, ctx=LOAD, **span2(items[0], _last_before_bracket(params)))
        return ast.Subscript(value=self.expr(base), slice=index, ctx=LOAD, **span(node))

    def x_member_type(self, node: Any) -> ast.expr:
        value, attr = named(node)
        return ast.Attribute(value=self.expr(value), attr=identifier(attr), ctx=LOAD, **span(node))

    def x_splat_type(self, node: Any) -> ast.expr:
        return ast.Starred(value=self.expr(named(node)[0]), ctx=LOAD, **span(node))

    # -- displays -------------------------------------------------------------------------------
    def x_tuple(self, node: Any) -> ast.expr:
        elts = named(node)
        if len(elts) == 1 and not any(t.type == "," for t in node.children):
            return self.expr(elts[0])  # ``(x)`` read as a pattern: parentheses, not a tuple
        return ast.Tuple(elts=self.exprs(elts), ctx=LOAD, **span(node))

    x_tuple_pattern = x_tuple

    def x_expression_list(self, node: Any) -> ast.expr:
        return ast.Tuple(elts=self.exprs(named(node)), ctx=LOAD, **span(node))

    x_pattern_list = x_expression_list

    def x_list(self, node: Any) -> ast.expr:
        return ast.List(elts=self.exprs(named(node)), ctx=LOAD, **span(node))

    x_list_pattern = x_list

    def x_set(self, node: Any) -> ast.expr:
        return ast.Set(elts=self.exprs(named(node)), **span(node))

    def x_dictionary(self, node: Any) -> ast.expr:
        keys: list[ast.expr | None] = []
        values: list[ast.expr] = []
        for item in named(node):
            if item.type == "pair":
                keys.append(self.expr(item.child_by_field_name("key")))
                values.append(self.expr(item.child_by_field_name("value")))
            elif item.type == "dictionary_splat":
                keys.append(None)
                values.append(self.expr(named(item)[0]))
            else:
                raise Unsupported(f"unexpected '{item.type}' in a dict display", item)
        return ast.Dict(keys=keys, values=values, **span(node))

    def x_list_splat(self, node: Any) -> ast.expr:
        return ast.Starred(value=self.expr(named(node)[0]), ctx=LOAD, **span(node))

    x_list_splat_pattern = x_list_splat

    def x_parenthesized_list_splat(self, node: Any) -> ast.expr:
        return self.expr(named(node)[0])

    # -- comprehensions -------------------------------------------------------------------------
    def _generators(self, node: Any) -> list[ast.comprehension]:
        gens: list[ast.comprehension] = []
        for clause in named(node):
            if clause.type == "for_in_clause":
                target = self.target(
                    clause.child_by_field_name("left"), clause.children_by_field_name("left")
                )
                rights = [c for c in clause.children_by_field_name("right") if c.type not in ("comment",)]
                it = (
                    self.expr(rights[0])
                    if len(rights) == 1
                    else ast.Tuple(elts=self.exprs(rights), ctx=LOAD, **span2(rights[0], rights[-1]))
                )
                is_async = int(clause.children[0].type == "async")
                gens.append(ast.comprehension(target=target, iter=it, ifs=[], is_async=is_async))
            elif clause.type == "if_clause":
                gens[-1].ifs.append(self.expr(named(clause)[0]))
        return gens

    def target(self, first: Any, all_: list[Any]) -> ast.expr:
        """A for-target: several nodes without an enclosing list node make a bare tuple."""
        from codequarry.pyparse.base import set_ctx

        if len(all_) > 1:
            tup = ast.Tuple(elts=self.exprs(all_), ctx=STORE, **span2(all_[0], all_[-1]))
            return set_ctx(tup, STORE)
        return set_ctx(self.expr(first), STORE)

    def x_list_comprehension(self, node: Any) -> ast.expr:
        body = self.expr(node.child_by_field_name("body"))
        return _COMPREHENSIONS[node.type](elt=body, generators=self._generators(node), **span(node))

    x_set_comprehension = x_generator_expression = x_list_comprehension

    def x_dictionary_comprehension(self, node: Any) -> ast.expr:
        pair = node.child_by_field_name("body")
        return ast.DictComp(
            key=self.expr(pair.child_by_field_name("key")),
            value=self.expr(pair.child_by_field_name("value")),
            generators=self._generators(node),
            **span(node),
        )

    # -- operators ------------------------------------------------------------------------------
    def x_binary_operator(self, node: Any) -> ast.expr:
        items: list[tuple[str, Any]] = []
        flatten(node, items)
        value, _, _ = Chain(items, self.expr, _BINOPS, _UNARY).parse()
        return value

    x_unary_operator = x_union_type = x_binary_operator

    def x_not_operator(self, node: Any) -> ast.expr:
        return ast.UnaryOp(
            op=ast.Not(), operand=self.expr(node.child_by_field_name("argument")), **span(node)
        )

    def x_boolean_operator(self, node: Any) -> ast.expr:
        kind = node.child_by_field_name("operator").type
        values: list[ast.expr] = []
        left = node.child_by_field_name("left")
        # ``a and b and c`` nests to the left in tree-sitter and is one BoolOp in ``ast``
        if left.type == "boolean_operator" and left.child_by_field_name("operator").type == kind:
            values.extend(self.x_boolean_operator(left).values)  # type: ignore[attr-defined]
        else:
            values.append(self.expr(left))
        values.append(self.expr(node.child_by_field_name("right")))
        return ast.BoolOp(op=ast.And() if kind == "and" else ast.Or(), values=values, **span(node))

    def x_comparison_operator(self, node: Any) -> ast.expr:
        operands: list[ast.expr] = []
        ops: list[ast.cmpop] = []
        pending = ""
        for child in tokens(node):
            if child.is_named:
                if pending:
                    ops.append(_CMPOPS[pending]())
                    pending = ""
                operands.append(self.expr(child))
            else:
                pending = f"{pending} {child.type}" if pending else child.type
        return ast.Compare(left=operands[0], ops=ops, comparators=operands[1:], **span(node))

    def x_conditional_expression(self, node: Any) -> ast.expr:
        body, test, orelse = named(node)
        if (
            body.type == "named_expression"
        ):  # tree-sitter: ``(x := a) if c else b``; Python: ``x := (a if c else b)``
            name, value = body.child_by_field_name("name"), body.child_by_field_name("value")
            cond = ast.IfExp(
                test=self.expr(test), body=self.expr(value), orelse=self.expr(orelse), **span2(value, node)
            )
            target = ast.Name(id=identifier(name), ctx=STORE, **span(name))
            return ast.NamedExpr(target=target, value=cond, **span(node))
        return ast.IfExp(test=self.expr(test), body=self.expr(body), orelse=self.expr(orelse), **span(node))

    def x_named_expression(self, node: Any) -> ast.expr:
        name = node.child_by_field_name("name")
        target = ast.Name(id=identifier(name), ctx=STORE, **span(name))
        return ast.NamedExpr(target=target, value=self.expr(node.child_by_field_name("value")), **span(node))

    def x_await(self, node: Any) -> ast.expr:
        return ast.Await(value=self.expr(named(node)[0]), **span(node))

    def x_yield(self, node: Any) -> ast.expr:
        inner = named(node)
        if any(c.type == "from" for c in node.children):
            return ast.YieldFrom(value=self.expr(inner[0]), **span(node))
        return ast.Yield(value=self.expr(inner[0]) if inner else None, **span(node))

    def x_lambda(self, node: Any) -> ast.expr:
        params = node.child_by_field_name("parameters")
        args = self.arguments(params)
        return ast.Lambda(args=args, body=self.expr(node.child_by_field_name("body")), **span(node))

    def x_as_pattern(self, node: Any) -> ast.expr:  # only inside a with item (see Statements._with_item)
        inner = named(node)
        target = named(inner[-1])[0] if inner[-1].type == "as_pattern_target" else inner[-1]
        if not self.in_with_item or self.as_target is not None:
            raise Unsupported("'as' outside a with item or a pattern", node)
        expr = self.expr(inner[0])
        self.as_target = (target, expr)
        return expr

    # -- trailers -------------------------------------------------------------------------------
    def x_attribute(self, node: Any) -> ast.expr:
        attr = node.child_by_field_name("attribute")
        value, star = self._trailed(node.child_by_field_name("object"))
        return _star(star, ast.Attribute(value=value, attr=identifier(attr), ctx=LOAD, **span(node)))

    def _trailed(self, node: Any) -> tuple[ast.expr, ast.expr | None]:
        """The value a trailer applies to; tree-sitter reads ``*a[1:]`` as ``(*a)[1:]``, Python as
        ``*(a[1:])``: the star is returned apart so the caller can put it back outside."""
        value = self.expr(node)
        if value.__class__ is ast.Starred and node.type != "parenthesized_expression":
            return value.value, value
        return value, None

    def x_subscript(self, node: Any) -> ast.expr:
        parts = [c for c in node.children_by_field_name("subscript") if c.type != "comment"]
        elts = self.exprs(parts)
        if len(elts) == 1 and not _trailing_comma(node) and elts[0].__class__ is not ast.Starred:
            index = elts[0]
        else:  # ``a[*b]``: a lone starred index is a one-element tuple in ``ast``
            index = ast.Tuple(elts=elts, ctx=LOAD, **span2(parts[0], _last_before_bracket(node)))
        value, star = self._trailed(node.child_by_field_name("value"))
        return _star(star, ast.Subscript(value=value, slice=index, ctx=LOAD, **span(node)))

    def x_slice(self, node: Any) -> ast.expr:
        slots: list[Any] = [None, None, None]
        colons = 0
        for child in tokens(node):
            if child.type == ":":
                colons += 1
            else:
                slots[colons] = self.expr(child)
        return ast.Slice(lower=slots[0], upper=slots[1], step=slots[2], **span(node))

    def x_call(self, node: Any) -> ast.expr:
        func, star = self._trailed(node.child_by_field_name("function"))
        arguments = node.child_by_field_name("arguments")
        if arguments.type == "generator_expression":
            return _star(star, ast.Call(func=func, args=[self.expr(arguments)], keywords=[], **span(node)))
        args, keywords = self.call_arguments(arguments)
        return _star(star, ast.Call(func=func, args=args, keywords=keywords, **span(node)))

    def call_arguments(self, node: Any) -> tuple[list[ast.expr], list[ast.keyword]]:
        args: list[ast.expr] = []
        keywords: list[ast.keyword] = []
        for item in named(node):
            if item.type == "keyword_argument":
                name = item.child_by_field_name("name")
                keywords.append(
                    ast.keyword(
                        arg=identifier(name), value=self.expr(item.child_by_field_name("value")), **span(item)
                    )
                )
            elif item.type == "dictionary_splat":
                keywords.append(ast.keyword(arg=None, value=self.expr(named(item)[0]), **span(item)))
            else:
                args.append(self.expr(item))
        return args, keywords


def _star(star: ast.expr | None, trailer: ast.expr) -> ast.expr:
    if star is None:
        return trailer
    star_start = {"lineno": star.lineno, "col_offset": star.col_offset}
    trailer.__dict__.update(start_of(star.value))  # type: ignore[attr-defined]
    return ast.Starred(value=trailer, ctx=LOAD, **star_start, **end_of(trailer))


def _trailing_comma(node: Any) -> bool:
    """Whether a subscript ends ``, ]``: ``a[x,]`` is a one-element tuple."""
    kids = tokens(node)
    return len(kids) >= 2 and kids[-2].type == ","


def _last_before_bracket(node: Any) -> Any:
    kids = tokens(node)
    return kids[-2]


__all__ = ["Expressions", "end_of", "identifier", "number"]

"""Match statement patterns (PEP 634): tree-sitter pattern nodes -> ``ast.pattern`` nodes.

tree-sitter-python flattens some patterns into bare token runs (``-1`` is ``'-' integer`` inside a
``case_pattern`` or a ``union_pattern``), so patterns are built from token lists, not single nodes.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from codequarry.pyparse.base import LOAD, Unsupported, named, span, span2, tokens
from codequarry.pyparse.expressions import identifier

_SINGLETONS = {"none": None, "true": True, "false": False}


class Patterns:
    """Mixin of the converter: ``case`` clauses and their patterns."""

    if TYPE_CHECKING:  # provided by the other mixins of the converter

        def expr(self, node: Any) -> ast.expr: ...

        def block(self, node: Any | None) -> list[ast.stmt]: ...

    def case(self, node: Any) -> ast.match_case:
        pats = [c for c in named(node) if c.type == "case_pattern"]
        guard = node.child_by_field_name("guard")
        if len(pats) == 1 and not any(c.type == "," for c in node.children):
            pattern = self.pattern(pats[0])
        else:  # ``case a, b:`` is an open sequence
            pattern = ast.MatchSequence(
                patterns=[self.pattern(p) for p in pats], **span2(pats[0], _last(node))
            )
        return ast.match_case(
            pattern=pattern,
            guard=self.expr(named(guard)[0]) if guard is not None else None,
            body=self.block(node.child_by_field_name("consequence")),
        )

    def pattern(self, node: Any) -> ast.pattern:
        kind = node.type
        if kind == "case_pattern":
            return self._run(tokens(node), node)
        if kind == "_":
            return ast.MatchAs(pattern=None, name=None, **span(node))
        if kind in ("identifier", "dotted_name"):
            parts = named(node) if kind == "dotted_name" else [node]
            if len(parts) == 1:
                name = identifier(parts[0])
                return ast.MatchAs(pattern=None, name=None if name == "_" else name, **span(node))
            return ast.MatchValue(value=self._dotted(node), **span(node))
        if kind in _SINGLETONS:
            return ast.MatchSingleton(value=_SINGLETONS[kind], **span(node))
        if kind in ("integer", "float", "string", "concatenated_string"):
            return ast.MatchValue(value=self.expr(node), **span(node))
        if kind == "complex_pattern":
            value = self._complex(tokens(node))
            return ast.MatchValue(value=value, **span(node))
        if kind == "union_pattern":
            groups: list[list[Any]] = [[]]
            for tok in tokens(node):
                if tok.type == "|":
                    groups.append([])
                else:
                    groups[-1].append(tok)
            return ast.MatchOr(patterns=[self._run(g, node) for g in groups], **span(node))
        if kind == "as_pattern":
            inner = named(node)
            return ast.MatchAs(pattern=self.pattern(inner[0]), name=identifier(inner[-1]), **span(node))
        if kind in ("list_pattern", "tuple_pattern"):
            items = [c for c in named(node) if c.type == "case_pattern"]
            if kind == "tuple_pattern" and len(items) == 1 and not any(c.type == "," for c in node.children):
                return self.pattern(items[0])  # ``(p)`` groups, it is no sequence
            return ast.MatchSequence(patterns=[self.pattern(p) for p in items], **span(node))
        if kind == "splat_pattern":
            name = identifier(named(node)[0]) if named(node) else "_"
            return ast.MatchStar(name=None if name == "_" else name, **span(node))
        if kind == "dict_pattern":
            return self._mapping(node)
        if kind == "class_pattern":
            return self._class(node)
        raise Unsupported(f"no pattern for tree-sitter node '{kind}'", node)

    def _run(self, toks: list[Any], where: Any) -> ast.pattern:
        """A pattern written as a run of tokens: one node, or a sign and a number."""
        if len(toks) == 1:
            return self.pattern(toks[0])
        if toks and toks[0].type == "-":
            value = self._complex(toks)
            return ast.MatchValue(value=value, **span2(toks[0], toks[-1]))
        raise Unsupported("an unexpected run of tokens in a pattern", where)

    def _complex(self, toks: list[Any]) -> ast.expr:
        """``-1``, ``1+2j``, ``-1-2j`` as ``ast`` builds them: UnaryOp and BinOp of constants."""
        value: ast.expr | None = None
        sign = None
        start = toks[0]
        for tok in toks:
            if tok.type in ("-", "+"):
                sign = tok
            else:
                num = self.expr(tok)
                if value is None:
                    value = (
                        num if sign is None else ast.UnaryOp(op=ast.USub(), operand=num, **span2(start, tok))
                    )
                else:
                    op = ast.Add() if sign is not None and sign.type == "+" else ast.Sub()
                    value = ast.BinOp(left=value, op=op, right=num, **span2(start, tok))
                sign = None
        if value is None:
            raise Unsupported("a sign without a number in a pattern", start)
        return value

    def _dotted(self, node: Any) -> ast.expr:
        parts = named(node)
        value: ast.expr = ast.Name(id=identifier(parts[0]), ctx=LOAD, **span(parts[0]))
        for part in parts[1:]:
            value = ast.Attribute(value=value, attr=identifier(part), ctx=LOAD, **span2(parts[0], part))
        return value

    def _mapping(self, node: Any) -> ast.pattern:
        keys: list[ast.expr] = []
        patterns: list[ast.pattern] = []
        rest = None
        pending: list[Any] = []
        for tok in tokens(node):
            kind = tok.type
            if kind == "splat_pattern":
                rest = identifier(named(tok)[0])
            elif kind == "case_pattern":
                keys.append(self._key(pending, node))
                patterns.append(self.pattern(tok))
                pending = []
            elif kind not in ("{", "}", ",", ":"):
                pending.append(tok)
        return ast.MatchMapping(keys=keys, patterns=patterns, rest=rest, **span(node))

    def _key(self, toks: list[Any], where: Any) -> ast.expr:
        if len(toks) == 1:
            tok = toks[0]
            if tok.type == "dotted_name":
                return self._dotted(tok)
            if tok.type == "complex_pattern":
                return self._complex(tokens(tok))
            return self.expr(tok)
        if toks and toks[0].type == "-":
            return self._complex(toks)
        raise Unsupported("an unexpected mapping pattern key", where)

    def _class(self, node: Any) -> ast.pattern:
        kids = named(node)
        cls = self._dotted(kids[0])
        patterns: list[ast.pattern] = []
        attrs: list[str] = []
        kwd: list[ast.pattern] = []
        for item in kids[1:]:
            inner = named(item)
            bound = _keyword_as(inner)
            if bound is not None:  # tree-sitter: ``(k=p) as n``; Python: ``k=(p as n)``
                kw_node, name = bound
                kw = tokens(kw_node)
                attrs.append(identifier(kw[0]))
                value = self._run(kw[2:], kw_node)
                kwd.append(ast.MatchAs(pattern=value, name=identifier(name), **span2(kw[2], name)))
            elif item.type == "keyword_pattern" or (len(inner) == 1 and inner[0].type == "keyword_pattern"):
                kw = tokens(item if item.type == "keyword_pattern" else inner[0])
                attrs.append(identifier(kw[0]))
                kwd.append(self._run(kw[2:], item))
            else:
                patterns.append(self.pattern(item))
        return ast.MatchClass(cls=cls, patterns=patterns, kwd_attrs=attrs, kwd_patterns=kwd, **span(node))


def _keyword_as(inner: list[Any]) -> tuple[Any, Any] | None:
    """(the keyword pattern, the name) when tree-sitter wrapped a keyword pattern in ``as``."""
    if len(inner) != 1 or inner[0].type != "as_pattern":
        return None
    parts = named(inner[0])
    first = named(parts[0]) if parts[0].type == "case_pattern" else [parts[0]]
    if len(first) == 1 and first[0].type == "keyword_pattern":
        return first[0], parts[-1]
    return None


def _last(node: Any) -> Any:
    """The last token of a case clause's pattern list (a trailing comma included)."""
    last = None
    for tok in tokens(node):
        if tok.type in ("if_clause", ":"):
            break
        if tok.type != "case":
            last = tok
    return last

"""Statements: tree-sitter-python statement nodes -> ``ast.stmt`` nodes with 3.11 positions.

Newer constructs map to the closest 3.11 node: ``type X = v`` (PEP 695) becomes ``X = v``, type
parameters of generic functions and classes are dropped, ``except A, B:`` (PEP 758) becomes
``except (A, B):``; each leaves a note that the caller turns into an errors row or a version hint.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from codequarry.pyparse.base import (
    DEL,
    EXTRAS,
    LOAD,
    PYTHON2,
    STORE,
    Context,
    Unsupported,
    end_of,
    named,
    set_ctx,
    span,
    span2,
    start_of,
    text,
)
from codequarry.pyparse.expressions import _BINOPS, identifier

_SIMPLE = {"pass_statement": ast.Pass, "break_statement": ast.Break, "continue_statement": ast.Continue}


def dotted(node: Any) -> str:
    return ".".join(identifier(c) for c in named(node))


class Statements:
    """Mixin of the converter: one ``s_<type>`` method per tree-sitter statement node type."""

    if TYPE_CHECKING:  # provided by the other mixins of the converter

        def expr(self, node: Any) -> ast.expr: ...

        def arguments(self, params: Any | None) -> ast.arguments: ...

        def call_arguments(self, node: Any) -> tuple[list[ast.expr], list[ast.keyword]]: ...

        def case(self, node: Any) -> ast.match_case: ...

    cx: Context
    semicolons: dict[int, tuple[ast.AST, dict[str, int]]]
    as_target: tuple[Any, ast.expr] | None
    in_with_item: bool

    def block(self, node: Any | None) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for child in named(node) if node is not None else []:
            method = getattr(self, "s_" + child.type, None)
            if method is None:
                raise Unsupported(f"no Python 3 statement for tree-sitter node '{child.type}'", child)
            result = method(child)
            if isinstance(result, list):
                out.extend(result)
            else:
                out.append(result)
        last = (
            next((c for c in reversed(node.children) if c.type not in EXTRAS), None) if out and node else None
        )
        if last is not None and last.type == ";":  # a compound statement ends after a trailing ``;``
            self.semicolons[id(out[-1])] = (out[-1], end_of(last))
        return out

    def stmt_end(self, stmt: ast.stmt | ast.excepthandler) -> dict[str, int]:
        """Where a block ending with ``stmt`` ends: after the ``;`` that may follow it."""
        found = self.semicolons.get(id(stmt))
        return found[1] if found is not None and found[0] is stmt else end_of(stmt)

    def _value(self, nodes: list[Any], parent: Any = None) -> ast.expr:
        """One expression, or a bare tuple when a statement holds several (``a, b``) or ends with a
        comma (``a,``: ``parent`` is the statement node, whose last token is then the comma)."""
        last = nodes[-1]
        if parent is not None:
            last = next(c for c in reversed(parent.children) if c.type not in EXTRAS and c.type != ";")
        if len(nodes) == 1 and last.type != ",":
            return self.expr(nodes[0])
        return ast.Tuple(elts=[self.expr(n) for n in nodes], ctx=LOAD, **span2(nodes[0], last))

    # -- simple statements ----------------------------------------------------------------------
    def s_pass_statement(self, node: Any) -> ast.stmt:
        return _SIMPLE[node.type](**span(node))

    s_break_statement = s_continue_statement = s_pass_statement

    def s_expression_statement(self, node: Any) -> ast.stmt:
        kids = named(node)
        first = kids[0]
        if len(kids) == 1 and first.type == "assignment":
            return self._assignment(first, node)
        if len(kids) == 1 and first.type == "augmented_assignment":
            op = _BINOPS[first.child_by_field_name("operator").type[:-1]]()
            # Any: the grammar admits only a name, attribute or subscript here, which ast.expr does not say
            target: Any = set_ctx(self.expr(first.child_by_field_name("left")), STORE)
            return ast.AugAssign(
                target=target, op=op, value=self.expr(first.child_by_field_name("right")), **span(node)
            )
        return ast.Expr(value=self._value(kids, node), **span(node))

    def _assignment(self, node: Any, stmt: Any) -> ast.stmt:
        annotation = node.child_by_field_name("type")
        left = node.child_by_field_name("left")
        if annotation is not None:
            target: Any = set_ctx(self.expr(left), STORE)  # a name, attribute or subscript, as above
            right = node.child_by_field_name("right")
            simple = int(left.type == "identifier")
            return ast.AnnAssign(
                target=target,
                annotation=self.expr(annotation),
                value=self.expr(right) if right is not None else None,
                simple=simple,
                **span(stmt),
            )
        targets: list[ast.expr] = []
        right = node
        while right.type == "assignment":
            targets.append(set_ctx(self.expr(right.child_by_field_name("left")), STORE))
            right = right.child_by_field_name("right")
        return ast.Assign(targets=targets, value=self.expr(right), type_comment=None, **span(stmt))

    def s_return_statement(self, node: Any) -> ast.stmt:
        kids = named(node)
        return ast.Return(value=self._value(kids) if kids else None, **span(node))

    def s_delete_statement(self, node: Any) -> ast.stmt:
        (target,) = named(node)
        elts = named(target) if target.type == "expression_list" else [target]
        return ast.Delete(targets=[set_ctx(self.expr(t), DEL) for t in elts], **span(node))

    def s_raise_statement(self, node: Any) -> ast.stmt:
        cause = node.child_by_field_name("cause")
        kids = [k for k in named(node) if cause is None or k.id != cause.id]
        exc = self._value(kids) if kids else None
        return ast.Raise(exc=exc, cause=self.expr(cause) if cause is not None else None, **span(node))

    def s_assert_statement(self, node: Any) -> ast.stmt:
        kids = named(node)
        return ast.Assert(
            test=self.expr(kids[0]), msg=self.expr(kids[1]) if len(kids) > 1 else None, **span(node)
        )

    def s_global_statement(self, node: Any) -> ast.stmt:
        return ast.Global(names=[identifier(n) for n in named(node)], **span(node))

    def s_nonlocal_statement(self, node: Any) -> ast.stmt:
        return ast.Nonlocal(names=[identifier(n) for n in named(node)], **span(node))

    def s_import_statement(self, node: Any) -> ast.stmt:
        return ast.Import(names=[self._alias(n) for n in node.children_by_field_name("name")], **span(node))

    def _alias(self, node: Any) -> ast.alias:
        if node.type == "aliased_import":
            return ast.alias(
                name=dotted(node.child_by_field_name("name")),
                asname=identifier(node.child_by_field_name("alias")),
                **span(node),
            )
        return ast.alias(name=dotted(node), asname=None, **span(node))

    def s_import_from_statement(self, node: Any) -> ast.stmt:
        source = node.child_by_field_name("module_name")
        level, module = 0, None
        if source.type == "relative_import":
            prefix = named(source)[0]
            level = text(prefix).count(".")
            rest = named(source)[1:]
            module = dotted(rest[0]) if rest else None
        else:
            module = dotted(source)
        names = [self._alias(n) for n in node.children_by_field_name("name")]
        star = next((c for c in named(node) if c.type == "wildcard_import"), None)
        if star is not None:
            names = [ast.alias(name="*", asname=None, **span(star))]
        return ast.ImportFrom(module=module, names=names, level=level, **span(node))

    def s_future_import_statement(self, node: Any) -> ast.stmt:
        names = [self._alias(n) for n in node.children_by_field_name("name")]
        return ast.ImportFrom(module="__future__", names=names, level=0, **span(node))

    def s_type_alias_statement(self, node: Any) -> ast.stmt:
        left = named(node.child_by_field_name("left"))[0]
        if left.type not in ("identifier", "generic_type"):  # ``type(x).a = 1`` read as a type alias
            return self._type_call_assignment(node, left)
        if left.type == "generic_type":
            self.cx.note(
                node,
                "generic type alias (PEP 695)",
                (3, 12),
                "the type parameters of a generic type alias are dropped",
            )
            left = named(left)[0]
        self.cx.note(
            node,
            "type alias statement (PEP 695)",
            (3, 12),
            "`type X = ...` is stored as the assignment `X = ...` (no TypeAlias node in 3.11)",
        )
        target = ast.Name(id=identifier(left), ctx=STORE, **span(left))
        value = self.expr(node.child_by_field_name("right"))
        return ast.Assign(targets=[target], value=value, type_comment=None, **span(node))

    def _type_call_assignment(self, node: Any, left: Any) -> ast.stmt:
        """tree-sitter reads ``type(x).a = v`` as the alias ``type (x).a = v``: rebuild the call of
        ``type`` at the bottom of the target's trailer chain."""
        keyword = node.children[0]
        target = self.expr(left)
        holder, bottom = None, target
        while isinstance(bottom, ast.Attribute | ast.Subscript) and left.type != "parenthesized_expression":
            holder, bottom = bottom, bottom.value
            left = left.child_by_field_name("object") or left.child_by_field_name("value")
        if holder is None or left.type != "parenthesized_expression":
            raise Unsupported("a `type` statement whose name is not an identifier", node)
        func = ast.Name(id="type", ctx=LOAD, **span(keyword))
        holder.value = ast.Call(func=func, args=[bottom], keywords=[], **span2(keyword, left))
        _restart(target, keyword)
        value = self.expr(node.child_by_field_name("right"))
        return ast.Assign(targets=[set_ctx(target, STORE)], value=value, type_comment=None, **span(node))

    def s_print_statement(self, node: Any) -> ast.stmt:
        raise Unsupported(f"{PYTHON2} print or exec statement", node)

    s_exec_statement = s_print_statement

    # -- compound statements --------------------------------------------------------------------
    def _body(self, node: Any, field: str = "body") -> list[ast.stmt]:
        return self.block(node.child_by_field_name(field))

    def s_if_statement(self, node: Any) -> ast.stmt:
        body = self._body(node, "consequence")
        orelse: list[ast.stmt] = []
        for alt in reversed(node.children_by_field_name("alternative")):
            if alt.type == "else_clause":
                orelse = self._body(alt)
            else:  # elif: an If nested in the orelse of the previous one, as ``ast`` has it
                inner = self._body(alt, "consequence")
                last = (orelse or inner)[-1]
                orelse = [
                    ast.If(
                        test=self.expr(alt.child_by_field_name("condition")),
                        body=inner,
                        orelse=orelse,
                        **start_of(alt),
                        **self.stmt_end(last),
                    )
                ]
        last = (orelse or body)[-1]
        return ast.If(
            test=self.expr(node.child_by_field_name("condition")),
            body=body,
            orelse=orelse,
            **start_of(node),
            **self.stmt_end(last),
        )

    def _else(self, node: Any) -> list[ast.stmt]:
        alt = node.child_by_field_name("alternative")
        return self._body(alt) if alt is not None else []

    def s_for_statement(self, node: Any) -> ast.stmt:
        lefts = node.children_by_field_name("left")
        target = set_ctx(self._value(lefts), STORE)
        body = self._body(node)
        orelse = self._else(node)
        cls = ast.AsyncFor if node.children[0].type == "async" else ast.For
        return cls(
            target=target,
            iter=self._value(node.children_by_field_name("right")),
            body=body,
            orelse=orelse,
            type_comment=None,
            **start_of(node),
            **self.stmt_end((orelse or body)[-1]),
        )

    def s_while_statement(self, node: Any) -> ast.stmt:
        body = self._body(node)
        orelse = self._else(node)
        return ast.While(
            test=self.expr(node.child_by_field_name("condition")),
            body=body,
            orelse=orelse,
            **start_of(node),
            **self.stmt_end((orelse or body)[-1]),
        )

    def s_try_statement(self, node: Any) -> ast.stmt:
        body = self._body(node)
        handlers: list[ast.ExceptHandler] = []
        orelse: list[ast.stmt] = []
        final: list[ast.stmt] = []
        star = False
        for clause in named(node):
            kind = clause.type
            if kind in ("except_clause", "except_group_clause"):
                star = star or kind == "except_group_clause" or any(c.type == "*" for c in clause.children)
                handlers.append(self._handler(clause))
            elif kind == "else_clause":
                orelse = self._body(clause)
            elif kind == "finally_clause":
                final = self.block(next(c for c in clause.children if c.type == "block"))
        if not handlers and not final:  # tree-sitter accepts a bare ``try:``; ``ast`` cannot hold one
            raise Unsupported("a try statement with neither except nor finally", node)
        last = (final or orelse or handlers or body)[-1]
        cls = ast.TryStar if star else ast.Try
        return cls(
            body=body,
            handlers=handlers,
            orelse=orelse,
            finalbody=final,
            **start_of(node),
            **self.stmt_end(last),
        )

    def _handler(self, clause: Any) -> ast.ExceptHandler:
        body = self.block(next(c for c in clause.children if c.type == "block"))
        values = [c for c in clause.children_by_field_name("value") if c.type != "comment"]
        if not values:
            values = [c for c in named(clause) if c.type != "block"]
        type_: ast.expr | None = None
        name = None
        if len(values) == 1 and values[0].type == "as_pattern":
            inner = named(values[0])
            type_ = self.expr(inner[0])
            name = identifier(named(inner[-1])[0] if inner[-1].type == "as_pattern_target" else inner[-1])
        elif len(values) > 1:
            type_ = ast.Tuple(elts=[self.expr(v) for v in values], ctx=LOAD, **span2(values[0], values[-1]))
        elif values:
            type_ = self.expr(values[0])
        return ast.ExceptHandler(
            type=type_, name=name, body=body, **start_of(clause), **self.stmt_end(body[-1])
        )

    def s_with_statement(self, node: Any) -> ast.stmt:
        clause = next(c for c in named(node) if c.type == "with_clause")
        items = []
        for item in (c for c in named(clause) if c.type == "with_item"):
            value = item.child_by_field_name("value")
            if value.type == "parenthesized_expression" and named(value)[0].type == "as_pattern":
                value = named(value)[0]  # ``with (open(p) as f):``
            if value.type == "as_pattern":
                inner = named(value)
                target = named(inner[-1])[0] if inner[-1].type == "as_pattern_target" else inner[-1]
                items.append(
                    ast.withitem(
                        context_expr=self.expr(inner[0]), optional_vars=set_ctx(self.expr(target), STORE)
                    )
                )
            else:
                items.append(self._with_item(value))
        body = self._body(node)
        cls = ast.AsyncWith if node.children[0].type == "async" else ast.With
        return cls(items=items, body=body, type_comment=None, **start_of(node), **self.stmt_end(body[-1]))

    def _with_item(self, value: Any) -> ast.withitem:
        """A with item whose ``as`` tree-sitter attached deep inside (``a if b else c as d`` reads as
        ``a if b else (c as d)``): the expression is converted with the ``as`` cut out, and the spans
        along its right edge end where the expression does."""
        self.as_target, self.in_with_item = None, True
        try:
            expr = self.expr(value)
        finally:
            self.in_with_item = False
        found = self.as_target
        if found is None:
            return ast.withitem(context_expr=expr, optional_vars=None)
        target, inner = found
        end = end_of(inner)
        node: ast.AST = expr
        while node is not inner:
            node.__dict__.update(end)
            node = list(ast.iter_child_nodes(node))[-1]
        return ast.withitem(context_expr=expr, optional_vars=set_ctx(self.expr(target), STORE))

    def s_match_statement(self, node: Any) -> ast.stmt:
        subjects = [c for c in node.children_by_field_name("subject") if c.type != "comment"]
        colon = next(i for i, c in enumerate(node.children) if c.type == ":")
        subject: ast.expr
        if node.children[colon - 1].type == ",":  # ``match x,:`` matches a one-element tuple
            subject = ast.Tuple(
                elts=[self.expr(s) for s in subjects],
                ctx=LOAD,
                **span2(subjects[0], node.children[colon - 1]),
            )
        else:
            subject = self._value(subjects)
        block = node.child_by_field_name("body")
        cases = [self.case(c) for c in named(block) if c.type == "case_clause"]
        last = cases[-1].body[-1]
        return ast.Match(subject=subject, cases=cases, **start_of(node), **self.stmt_end(last))

    # -- definitions ----------------------------------------------------------------------------
    def s_decorated_definition(self, node: Any) -> ast.stmt:
        decorators = [self.expr(named(d)[0]) for d in named(node) if d.type == "decorator"]
        definition = node.child_by_field_name("definition")
        result: ast.stmt = getattr(self, "s_" + definition.type)(definition)
        result.decorator_list = decorators  # type: ignore[attr-defined]
        return result

    def _type_params(self, node: Any, what: str) -> None:
        params = node.child_by_field_name("type_parameters")
        if params is not None:
            self.cx.note(
                params,
                f"generic {what} (PEP 695)",
                (3, 12),
                f"the type parameters of a generic {what} are dropped",
            )

    def s_function_definition(self, node: Any) -> ast.stmt:
        self._type_params(node, "function")
        body = self._body(node)
        returns = node.child_by_field_name("return_type")
        cls = ast.AsyncFunctionDef if node.children[0].type == "async" else ast.FunctionDef
        return cls(
            name=identifier(node.child_by_field_name("name")),
            args=self.arguments(node.child_by_field_name("parameters")),
            body=body,
            decorator_list=[],
            returns=self.expr(returns) if returns is not None else None,
            type_comment=None,
            **start_of(node),
            **self.stmt_end(body[-1]),
        )

    def s_class_definition(self, node: Any) -> ast.stmt:
        self._type_params(node, "class")
        supers = node.child_by_field_name("superclasses")
        bases, keywords = self.call_arguments(supers) if supers is not None else ([], [])
        body = self._body(node)
        return ast.ClassDef(
            name=identifier(node.child_by_field_name("name")),
            bases=bases,
            keywords=keywords,
            body=body,
            decorator_list=[],
            **start_of(node),
            **self.stmt_end(body[-1]),
        )


def _restart(node: ast.AST, keyword: Any) -> None:
    """Make a trailer chain start at ``keyword`` (each link's start is its innermost value's)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node.__dict__.update(start_of(keyword))
        node = node.value

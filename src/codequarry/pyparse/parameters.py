"""Parameters of ``def`` and ``lambda``: tree-sitter parameter nodes -> ``ast.arguments``."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from codequarry.pyparse.base import Unsupported, named, span, span2
from codequarry.pyparse.expressions import identifier


class Parameters:
    """Mixin of the converter: ``arguments`` for ``parameters`` and ``lambda_parameters``."""

    if TYPE_CHECKING:  # provided by the other mixins of the converter

        def expr(self, node: Any) -> ast.expr: ...

    def arguments(self, params: Any | None) -> ast.arguments:
        posonly: list[ast.arg] = []
        args: list[ast.arg] = []
        kwonly: list[ast.arg] = []
        defaults: list[ast.expr] = []
        kw_defaults: list[ast.expr | None] = []
        vararg = kwarg = None
        seen_star = False
        for p in named(params) if params is not None else []:
            kind = p.type
            if kind == "positional_separator":
                posonly, args = args, []
                continue
            if kind == "keyword_separator":
                seen_star = True
                continue
            arg, default, star = self._param(p)
            if star == "*":
                vararg, seen_star = arg, True
            elif star == "**":
                kwarg = arg
            elif seen_star:
                kwonly.append(arg)
                kw_defaults.append(default)
            else:
                args.append(arg)
                if default is not None:
                    defaults.append(default)
        return ast.arguments(
            posonlyargs=posonly,
            args=args,
            vararg=vararg,
            kwonlyargs=kwonly,
            kw_defaults=kw_defaults,
            kwarg=kwarg,
            defaults=defaults,
        )

    def _param(self, p: Any) -> tuple[ast.arg, ast.expr | None, str]:
        """(the arg, its default, '' or '*' or '**') of one parameter node."""
        kind = p.type
        if kind == "identifier":
            return ast.arg(arg=identifier(p), annotation=None, type_comment=None, **span(p)), None, ""
        if kind in ("list_splat_pattern", "dictionary_splat_pattern"):
            name = named(p)[0]
            star = "*" if kind == "list_splat_pattern" else "**"
            return ast.arg(arg=identifier(name), annotation=None, type_comment=None, **span(name)), None, star
        if kind in ("typed_parameter", "typed_default_parameter", "default_parameter"):
            name = p.child_by_field_name("name")
            star = ""
            if name is None:  # ``*args: T`` / ``**kw: T``: a splat inside a typed parameter
                name = named(p)[0]
                if name.type != "identifier":
                    star = "*" if name.type == "list_splat_pattern" else "**"
                    name = named(name)[0]
            elif name.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                star = "*" if name.type == "list_splat_pattern" else "**"
                name = named(name)[0]
            type_node = p.child_by_field_name("type")
            annotation = self.expr(type_node) if type_node is not None else None
            value = p.child_by_field_name("value")
            where = span2(name, type_node) if type_node is not None else span(name)
            arg = ast.arg(arg=identifier(name), annotation=annotation, type_comment=None, **where)
            return arg, (self.expr(value) if value is not None else None), star
        raise Unsupported(f"unexpected parameter node '{kind}'", p)

"""Handler facts: the functions and classes of web modules that may serve a route, with their
decorators, FastAPI dependencies, DRF permission classes, bases and HTTP methods.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.web import known
from codequarry.extractors.python.web.context import FileContext
from codequarry.extractors.python.web.nodes import EMPTY, MAX_TEXT, annotated_depends, depends_target
from codequarry.python.calls import last_name
from codequarry.python.scopes import scope_of
from codequarry.python.values import literal_strs


class HandlerFacts(FileContext):
    """The route_handlers pass."""

    # -- handlers ------------------------------------------------------------------------------------
    def _handler(self, d: Any) -> None:
        """One route_handlers row for a def or class that may serve a route."""
        seg = self.seg
        decs = [seg(x, MAX_TEXT) for x in d.decorator_list if x not in self.route_decorators] or EMPTY
        methods: list[str] = []
        permissions: list[str] = []
        deps: list[str] = EMPTY
        refs: list[str] = EMPTY
        bases: list[str] = EMPTY
        for dec in d.decorator_list:
            name = last_name(dec.func if dec.__class__ is ast.Call else dec, through_calls=False)
            if name in known.METHOD_DECORATORS:
                methods.extend(known.METHOD_DECORATORS[name])
            elif name in ("require_http_methods", "api_view"):
                listed = literal_strs(dec.args[0]) if dec.__class__ is ast.Call and dec.args else None
                methods.extend(m.upper() for m in listed or (["GET"] if name == "api_view" else ()))
            elif name == "permission_classes" and dec.__class__ is ast.Call and dec.args:
                arg = dec.args[0]
                if arg.__class__ in (ast.List, ast.Tuple):
                    permissions.extend(seg(e, MAX_TEXT) for e in arg.elts)
        if d.__class__ is ast.ClassDef:
            kind = "class"
            bases = [seg(b, MAX_TEXT) for b in d.bases] or EMPTY
            stmt: Any
            for stmt in d.body:
                cls = stmt.__class__
                if cls is ast.FunctionDef or cls is ast.AsyncFunctionDef:
                    method = known.VIEW_METHODS.get(stmt.name)
                    if method is not None and method not in methods:
                        methods.append(method)
                    if stmt.name == "dispatch" and stmt.decorator_list:
                        decs = [*decs, *(seg(x, MAX_TEXT) for x in stmt.decorator_list)]
                elif cls is ast.Assign or cls is ast.AnnAssign:
                    target = stmt.targets[0] if cls is ast.Assign else stmt.target
                    if target.__class__ is not ast.Name or stmt.value is None:
                        continue
                    if target.id == "permission_classes" and stmt.value.__class__ in (ast.List, ast.Tuple):
                        permissions.extend(seg(e, MAX_TEXT) for e in stmt.value.elts)
                    elif target.id == "http_method_names":
                        methods = [m.upper() for m in literal_strs(stmt.value) or ()]
        else:
            kind = "function"
            deps, refs = self._param_dependencies(d)
        line, col, end_line, end_col = self.span(d)
        self.out.route_handlers.add(
            kind=kind,
            handler=f"{self.mod}.{self.src.qualname(d)}",
            name=d.name,
            decorators=decs,
            dependencies=deps,
            annotation_refs=refs,
            permissions=permissions or EMPTY,
            bases=bases,
            methods=methods or EMPTY,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

    def _param_dependencies(self, d: Any) -> tuple[list[str], list[str]]:
        """FastAPI dependencies of a def's parameters (``= Depends(x)``, ``Annotated[T, Depends(x)]``)
        and the resolved names of its parameter annotations (aliases defined in other modules)."""
        if "fastapi" not in self.frameworks:
            return EMPTY, EMPTY
        seg = self.seg
        args = d.args
        positional = [*args.posonlyargs, *args.args]
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, v) for a, v in zip(args.kwonlyargs, args.kw_defaults, strict=True) if v is not None]
        deps: list[str] = []
        for arg, default in pairs:
            dep = depends_target(seg, default)
            if dep is not None:
                deps.append(dep or (seg(arg.annotation, MAX_TEXT) if arg.annotation is not None else arg.arg))
        refs: list[str] = []
        scope = scope_of(self.parent, d)
        for arg in (*positional, *args.kwonlyargs):
            ann = arg.annotation
            if ann is None:
                continue
            if ann.__class__ is ast.Subscript:
                deps.extend(annotated_depends(seg, ann))
            elif ann.__class__ in (ast.Name, ast.Attribute):
                ref = self.key_of(ann, scope)
                if ref is not None and not ref.startswith("builtins."):
                    refs.append(ref)
        return deps or EMPTY, refs or EMPTY

    def _dependency_aliases(self) -> None:
        """``CurrentUser = Annotated[User, Depends(get_current_user)]`` at module level: handlers whose
        parameters are annotated with ``CurrentUser`` (here or in another module) depend on it."""
        stmt: Any
        for stmt in self.src.tree.body:
            if (
                stmt.__class__ is ast.Assign
                and len(stmt.targets) == 1
                and stmt.targets[0].__class__ is ast.Name
            ):
                value = stmt.value
            elif (
                stmt.__class__ is ast.AnnAssign
                and stmt.target.__class__ is ast.Name
                and stmt.value is not None
            ):
                value = stmt.value  # CurrentUser: TypeAlias = Annotated[...]
            else:
                continue
            deps = annotated_depends(self.seg, value)
            if not deps:
                continue
            target: Any = stmt.targets[0] if stmt.__class__ is ast.Assign else stmt.target
            line, col, end_line, end_col = self.span(stmt)
            self.out.route_handlers.add(
                kind="dependency",
                handler=f"{self.mod}.{target.id}",
                name=target.id,
                decorators=EMPTY,
                dependencies=deps,
                annotation_refs=EMPTY,
                permissions=EMPTY,
                bases=EMPTY,
                methods=EMPTY,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )

"""What the route extractor knows about one file while it reads it.

:class:`FileContext` holds the file, the :class:`~codequarry.python.resolve.Resolver`
(built on first use, for the names the passes will ask about) and the keys of the objects seen so
far, and writes the rows; the passes are mixins over it: :mod:`.lists` (URL lists),
:mod:`.calls` (constructors, decorators, registering calls), :mod:`.handlers` (handler facts).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from codequarry.extractors.python.web.nodes import EMPTY, MAX_TEXT, decl_flags
from codequarry.python.calls import dotted_parts
from codequarry.python.resolve import Resolver
from codequarry.python.scopes import FUNCTION_TYPES, module_name, scope_of
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str
from codequarry.source import SourceFile

_UNSET: Any = object()


class FileContext:
    """The state the passes over one file share: names, keys of the objects seen, row writers."""

    def __init__(self, src: SourceFile, out: Any, frameworks: set[str]) -> None:
        self.src = src
        self.out = out
        self.frameworks = frameworks
        self.mod = module_name(src)
        self.parent: Callable[[Any], Any] = src.parents.get
        self.seg = src.segment
        self.span = span_getter(src)
        self.heads: set[str] = set()  # names the resolver is asked about (it collects bindings of these)
        self._resolver: Resolver | None = None
        self.locals: dict[tuple[Any, str], str] = {}  # (function node, name) -> key of a local object
        # constructor call -> (key, framework, type)
        self.objects: dict[Any, tuple[str | None, str, str]] = {}
        self.object_of_key: dict[str, tuple[str, str]] = {}  # key -> (framework, type)
        self.entries: dict[Any, tuple[str, str]] = {}  # URL-list entry call -> (framework, kind)
        self.includes: set[Any] = set()  # Django include(...) calls
        self.lists: set[str] = set()  # keys of URL lists whose object row is written
        self.route_decorators: set[Any] = set()
        self.scope_names: dict[Any, str] = {None: ""}
        self.app_name: str | None = None
        # key of a class of this file deriving from a known constructor -> (framework, type)
        self.subclassed: dict[str, tuple[str, str]] = {}
        # (function node, name) -> the expression a local name stands for: ``router = app.router``
        self.router_aliases: dict[tuple[Any, str], Any] = {}
        # (function node, name) -> ``app.router.add_route`` for ``add_route = app.router.add_route``
        self.method_aliases: dict[tuple[Any, str], Any] = {}
        # (function node, parameter name) -> its key, for parameters routes are declared on
        self.params: dict[tuple[Any, str], str] = {}
        self.owners: set[str | None] = set()  # keys routes or mounts were written on
        self.imported: set[str] = set()  # names module-level imports of the file's own package bind

    # -- names -----------------------------------------------------------------------------------
    @property
    def resolver(self) -> Resolver:
        """Built on first use, for the heads gathered from every expression the passes resolve."""
        if self._resolver is None:
            self._resolver = Resolver(self.src, self.mod, self.heads)
        return self._resolver

    def gather_heads(self, node: Any) -> None:
        """Add the head names of the dotted chains in one expression (a small local descent)."""
        stack = [node]
        heads = self.heads
        budget = 200
        while stack and budget:
            budget -= 1
            n = stack.pop()
            cls = n.__class__
            if cls is ast.Name:
                heads.add(n.id)
            elif cls is ast.Attribute or cls is ast.Starred or cls is ast.keyword:
                stack.append(n.value)
            elif cls is ast.Call:
                stack.append(n.func)
                stack.extend(n.args)
                stack.extend(n.keywords)
            elif cls is ast.List or cls is ast.Tuple or cls is ast.Set:
                stack.extend(n.elts)
            elif cls is ast.Subscript:
                stack.append(n.value)

    def qual(self, scope: Any) -> str:
        got = self.scope_names.get(scope)
        if got is None:
            got = self.scope_names[scope] = self.src.qualname(scope)
        return got

    def bind_key(self, name: str, scope: Any) -> str:
        """The key of the name ``name`` bound in ``scope`` (a def, a class, or None: the module)."""
        if scope is None:
            return f"{self.mod}.{name}"
        if scope.__class__ is ast.ClassDef:
            return f"{self.mod}.{self.qual(scope)}.{name}"
        key = f"{self.mod}.{self.qual(scope)}.<locals>.{name}"
        self.locals[(scope, name)] = key
        return key

    def key_of(self, expr: Any, scope: Any, *, local: bool = False) -> str | None:
        """The fully qualified name a Name/Attribute chain used in ``scope`` refers to, if known;
        with ``local``, a plain local variable gets its own key too (a list built in a function)."""
        parts = dotted_parts(expr)
        if parts is None:
            return None
        head, rest = parts
        base = self._name(head, scope, local)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def _name(self, head: str, scope: Any, local: bool) -> str | None:
        s = scope
        while s is not None:  # objects bound in this function or an enclosing one
            got = self.locals.get((s, head))
            if got is not None:
                return got
            s = self.src.scope_of(s)
        got = self.resolver.lookup(head, scope)
        if got is not None:
            return got
        if scope is not None and scope.__class__ in FUNCTION_TYPES:
            if local and (scope, head) in self.resolver.scope_bind:  # a local variable: its own key
                return self.bind_key(head, scope)
            if head in ("self", "cls"):
                cls = self.src.scope_of(scope)
                if cls is not None and cls.__class__ is ast.ClassDef:
                    return f"{self.mod}.{self.qual(cls)}"
        return None

    def receiver_key(self, expr: Any, scope: Any, *, local: bool = False) -> str | None:
        """Key of the object a route method is called on; ``app.router`` is the app's router, and
        so is a local ``router = app.router``. A parameter of a module-level function (``def
        setup_routes(app)``) gets a key of its own: callers that pass an application link it."""
        if expr.__class__ is ast.Name and scope is not None:
            expr = self.router_aliases.get((scope, expr.id), expr)
        if expr.__class__ is ast.Attribute and expr.attr == "router":
            expr = expr.value
        key = self.key_of(expr, scope, local=local)
        if key is None and expr.__class__ is ast.Name:
            key = self._parameter_key(expr.id, scope)
        return key

    def _parameter_key(self, name: str, scope: Any) -> str | None:
        """``mod.f.<locals>.name`` when ``name`` is a parameter of the module-level function
        ``scope`` that its body never rebinds; else None."""
        if scope is None or scope.__class__ not in FUNCTION_TYPES or self.src.scope_of(scope) is not None:
            return None
        got = self.params.get((scope, name))
        if got is not None:
            return got
        a: ast.arguments = getattr(scope, "args")  # noqa: B009 (a def, checked above)
        if all(p.arg != name for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)):
            return None
        if (scope, name) in self.resolver.scope_bind:
            return None
        key = self.params[(scope, name)] = f"{self.mod}.{self.qual(scope)}.<locals>.{name}"
        return key

    def _parameter_edges(self) -> None:
        """For each parameter routes hang on, an edge from ``mod.f(<position>)`` (``mod.f(<name>)``
        for a keyword-only one) to its key; the operation joins callers' ``f(app)`` edges to it."""
        for (fn, name), key in self.params.items():
            if key not in self.owners:
                continue  # a parameter some call was made on that declared nothing (session.mount)
            a = fn.args
            at = next(p for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg == name)
            owner = f"{self.mod}.{self.qual(fn)}({param_slot(fn, name)})"
            self._mount("include", None, "param", owner, key, None, None, name, EMPTY, at)

    def framework_of(self, key: str | None, hints: tuple[str, ...]) -> str | None:
        """The framework of the object ``key`` if this file made it; else the first of ``hints`` the
        file imports; else the only hint; else None (the operation asks the object's own file)."""
        if key is not None:
            obj = self.object_of_key.get(key)
            if obj is not None:
                return obj[0]
        for fw in hints:
            if fw in self.frameworks:
                return fw
        return hints[0] if len(hints) == 1 else None

    def _mount(
        self,
        kind: str,
        framework: str | None,
        type_: str,
        key: str | None,
        target: str | None,
        target_node: Any,
        prefix_node: Any,
        name: str | None,
        deps: list[str],
        at: Any,
        prefix: Any = _UNSET,
    ) -> None:
        """One route_mounts row. ``prefix_node`` is the prefix argument (None: not given); ``prefix``
        its value when the caller composed it with prefixes around (Django's nested includes)."""
        seg = self.seg
        prefix_source = None
        if prefix_node is not None:
            if prefix is _UNSET:
                prefix = literal_str(prefix_node)
            prefix_source = seg(prefix_node, MAX_TEXT)
            if prefix_node.__class__ is ast.Constant and prefix_node.value is None:
                prefix, prefix_source = "", None  # url_prefix=None: not given
        elif prefix is _UNSET:
            prefix = ""
        cond, dyn = decl_flags(self.parent, at)
        line, col, end_line, end_col = self.span(at)
        self.owners.add(key)
        self.out.route_mounts.add(
            kind=kind,
            framework=framework,
            type=type_,
            key=key,
            target=target,
            target_source=None if target_node is None else seg(target_node, MAX_TEXT),
            prefix=prefix,
            prefix_source=prefix_source,
            name=name,
            dependencies=deps,
            is_conditional=cond,
            is_dynamic=dyn,
            scope=self.qual(scope_of(self.parent, at)),
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )

    def _app_name(self) -> None:
        for stmt in self.src.tree.body:
            if stmt.__class__ is ast.Assign and len(stmt.targets) == 1:
                t = stmt.targets[0]
                if t.__class__ is ast.Name and t.id == "app_name":
                    self.app_name = literal_str(stmt.value)

    def _list_object(self, key: str, framework: str, stmt: Any) -> None:
        """The object row of a variable holding URL entries, once per key."""
        if key in self.lists:
            return
        self.lists.add(key)
        self.object_of_key.setdefault(key, (framework, "list"))
        name = self.app_name if framework == "django" and key == f"{self.mod}.urlpatterns" else None
        self._mount("object", framework, "list", key, None, None, None, name, EMPTY, stmt)

    # -- views and declarations --------------------------------------------------------------------
    def _view(self, node: Any, scope: Any) -> tuple[str | None, str | None, list[str]]:
        """(handler key, view as written, wrappers) of a view expression. Calls with one positional
        argument wrap a view (``login_required(views.profile)``, ``cache_page(60)(v)``); ``X.as_view()``
        is served by the class ``X``; a dotted string names the view (old Django)."""
        if node is None:
            return None, None, EMPTY
        view = self.seg(node, MAX_TEXT)
        wrappers: list[str] = []
        for _ in range(8):
            if node.__class__ is not ast.Call:
                break
            func = node.func
            if func.__class__ is ast.Attribute and func.attr == "as_view":
                node = func.value
                break
            if len(node.args) != 1 or node.args[0].__class__ not in (ast.Name, ast.Attribute, ast.Call):
                return None, view, wrappers
            wrappers.append(self.seg(func, MAX_TEXT))
            node = node.args[0]
        text = literal_str(node)
        if text is not None:
            return (text if "." in text and " " not in text else None), view, wrappers
        return self.key_of(node, scope), view, wrappers

    def _decl(
        self,
        at: Any,
        framework: str | None,
        kind: str,
        methods: list[str],
        route_node: Any,
        prefix: str | None,
        namespace: str | None,
        owner_key: str | None,
        owner_source: str | None,
        name: str | None,
        handler: str | None,
        view: str | None,
        wrappers: list[str],
        deps: list[str],
        *,
        is_regex: bool = False,
        trailing_slash: bool = True,
        scope: Any = None,
    ) -> None:
        cond, dyn = decl_flags(self.parent, at)
        route = None if route_node is None else literal_str(route_node)
        line, col, end_line, end_col = self.span(at)
        self.owners.add(owner_key)
        self.out.route_decls.add(
            framework=framework,
            kind=kind,
            methods=methods,
            route=route,
            route_source=None if route_node is None else self.seg(route_node, MAX_TEXT),
            is_regex=is_regex,
            trailing_slash=trailing_slash,
            prefix=prefix,
            namespace=namespace,
            owner=owner_key,
            owner_source=owner_source,
            name=name,
            handler=handler,
            view_source=view,
            decorators=wrappers or EMPTY,
            dependencies=deps or EMPTY,
            is_conditional=cond,
            is_dynamic=dyn or route is None,
            scope=self.qual(scope),
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


def param_slot(fn: Any, name: str) -> str:
    """How a call fills the parameter ``name`` of the def ``fn``: its position (``"0"``), or its name
    for a keyword-only one; the slot of a ``mod.f(<slot>)`` edge."""
    a = fn.args
    positional = [p.arg for p in (*a.posonlyargs, *a.args)]
    return str(positional.index(name)) if name in positional else name

"""URL-list entries: Django ``path`` / ``re_path`` / ``url`` and ``include``, Starlette ``Route`` /
``WebSocketRoute`` / ``Mount``, aiohttp ``web.get`` / ``web.route`` / ``web.view``.

An entry belongs to the list it is in; the list belongs to the variable it is assigned to
(``urlpatterns = [...]``, ``+=``, ``.append``) or to the object whose constructor or ``add_routes``
takes it. ``include([...])`` and ``Mount(prefix, routes=[...])`` in between add their prefix.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.web.context import FileContext
from codequarry.extractors.python.web.nodes import EMPTY, LOOK_THROUGH, MAX_TEXT, dependency_list, short_name
from codequarry.extractors.python.web.paths import join_all
from codequarry.python.calls import call_arg
from codequarry.python.scopes import scope_of
from codequarry.python.values import literal_str, literal_strs


class UrlLists(FileContext):
    """The URL-list pass."""

    # -- URL-list entries -------------------------------------------------------------------------
    def _list_owner(
        self, call: Any, framework: str
    ) -> tuple[str | None, str | None, list[str | None], list[str]]:
        """(owner key, owner as written, prefixes outer-first, namespaces outer-first) of an entry:
        the variable its list is assigned to (``urlpatterns = [...]``, ``+=``, ``.append``), the
        object whose constructor or ``add_routes`` takes the list, through ``include([...])`` and
        ``Mount(prefix, routes=[...])`` nested in between."""
        parent = self.parent
        prefixes: list[str | None] = []
        namespaces: list[str] = []
        in_list = False  # an entry assigned alone (route = Route(...)) is no URL list
        child = call
        anc = parent(call)
        while anc is not None:
            cls = anc.__class__
            if cls is ast.List or cls is ast.Tuple or cls is ast.Set:
                in_list = True
            elif cls is ast.Call:
                if child is anc.func:
                    break
                if anc in self.includes:
                    outer = self._through_include(anc, prefixes, namespaces)
                    if outer is None:
                        break
                    child, anc = outer, parent(outer)
                    continue
                owner = self._call_owner(anc, framework, prefixes, namespaces)
                if owner is not None:
                    return owner[0], owner[1], prefixes[::-1], namespaces[::-1]
                # any other call wraps the list (i18n_patterns, format_suffix_patterns): look through
            elif cls is ast.Assign or cls is ast.AugAssign or cls is ast.AnnAssign:
                target = anc.targets[0] if cls is ast.Assign else anc.target
                if target.__class__ is not ast.Name or child is not anc.value or not in_list:
                    break
                key = self.bind_key(target.id, scope_of(parent, anc))
                self._list_object(key, framework, anc)
                return key, target.id, prefixes[::-1], namespaces[::-1]
            elif cls not in LOOK_THROUGH:
                break
            child = anc
            anc = parent(anc)
        return None, None, prefixes[::-1], namespaces[::-1]

    def _through_include(self, inc: Any, prefixes: list[str | None], namespaces: list[str]) -> Any:
        """The entry ``path(prefix, include([...]))`` around an inline include, its prefix and
        namespace added; None when the include is not the view of an entry."""
        parent = self.parent
        ns = self._include_target(inc)[1]
        outer = parent(inc)
        if outer.__class__ is ast.keyword:
            outer = parent(outer)
        if outer not in self.entries:
            return None
        prefixes.append(literal_str(call_arg(outer, 0, "route", "regex")))
        if ns:
            namespaces.append(ns)
        return outer

    def _call_owner(
        self, anc: Any, framework: str, prefixes: list[str | None], namespaces: list[str]
    ) -> tuple[str | None, str | None] | None:
        """(owner key, owner as written) when call ``anc`` around a URL list owns it: a router's
        constructor, ``x.append/extend/insert([...])``, ``app.router.add_routes([...])``; None to climb
        on (a ``Mount`` adds its prefix and name first)."""
        entry = self.entries.get(anc)
        if entry is not None and entry[1] == "mount":
            prefixes.append(literal_str(call_arg(anc, 0, "path")))
            ns = literal_str(call_arg(anc, 99, "name"))
            if ns:
                namespaces.append(ns)
        elif anc in self.objects:
            return self.objects[anc][0], None
        elif anc.func.__class__ is ast.Attribute:
            attr = anc.func.attr
            if attr in ("append", "extend", "insert", "add_routes"):
                recv = anc.func.value
                scope = scope_of(self.parent, anc)
                key = self.receiver_key(recv, scope, local=attr != "add_routes")
                if key is not None and attr != "add_routes" and key not in self.object_of_key:
                    self._list_object(key, framework, self.parent(anc))
                return key, self.seg(recv, MAX_TEXT)
        return None

    def _include_target(self, inc: Any) -> tuple[Any, str | None]:
        """(what ``include(...)`` includes, its namespace): ``include("app.urls", namespace="x")``,
        ``include(("app.urls", "app_name"))``, ``include(module)``, ``include([...])``."""
        target = call_arg(inc, 0, "arg")
        ns_node = call_arg(inc, 1, "namespace")
        ns = None if ns_node is None else literal_str(ns_node)
        if target is not None and target.__class__ is ast.Tuple and len(target.elts) == 2:
            if ns is None:
                ns = literal_str(target.elts[1])
            target = target.elts[0]
        return target, ns

    def _entry(self, call: Any, framework: str, kind: str) -> None:
        """A Django path/re_path/url, a Starlette Route/WebSocketRoute/Mount, an aiohttp web.get."""
        if framework == "django":
            self._django_entry(call, kind)
        elif framework == "aiohttp":
            self._aiohttp_entry(call, kind)
        elif kind == "mount":
            self._starlette_mount(call, framework)
        else:
            self._starlette_entry(call, framework, kind)

    def _django_entry(self, call: Any, kind: str) -> None:
        """``path(route, view, kwargs, name)``, ``re_path``/``url``; ``include(...)`` as the view mounts."""
        route_node = call_arg(call, 0, "route", "regex")
        view_node = call_arg(call, 1, "view")
        if view_node is not None and (
            view_node in self.includes or (view_node.__class__ is ast.Attribute and view_node.attr == "urls")
        ):
            self._django_include(call, route_node, view_node)  # include(...), admin.site.urls
            return
        self._decl_from_list(
            call,
            "django",
            "route",
            [],
            route_node,
            view_node,
            call_arg(call, 3, "name"),
            is_regex=kind == "regex",
        )

    def _aiohttp_entry(self, call: Any, kind: str) -> None:
        """``web.get(path, handler)``, ``web.route(method, path, handler)``, ``web.view(path, view)``."""
        if kind == "route":
            method = literal_str(call_arg(call, 0, "method"))
            route_node, view_node = call_arg(call, 1, "path"), call_arg(call, 2, "handler")
            methods = ["*" if method == "*" else method.upper()] if method else EMPTY
        else:
            route_node, view_node = call_arg(call, 0, "path"), call_arg(call, 1, "handler")
            methods = EMPTY if kind == "view" else [kind]
        self._decl_from_list(
            call, "aiohttp", "route", methods, route_node, view_node, call_arg(call, 99, "name")
        )

    def _starlette_mount(self, call: Any, framework: str) -> None:
        """``Mount(path, app=...)`` / ``Mount(path, routes=some_list)``; an inline routes list is not
        mounted here (its entries climb through this Mount)."""
        routes = call_arg(call, 99, "routes")
        if routes is not None and routes.__class__ in (ast.List, ast.Tuple):
            return  # inline: its entries climb through this Mount
        app = routes if routes is not None else call_arg(call, 1, "app")
        owner_key, _, prefixes, _ = self._list_owner(call, framework)
        route_node = call_arg(call, 0, "path")
        prefix = join_all(framework, [*prefixes, literal_str(route_node)])
        scope = scope_of(self.parent, call)
        self._mount(
            "include",
            framework,
            "Mount",
            owner_key,
            None if app is None else self.key_of(app, scope),
            app,
            route_node,
            literal_str(call_arg(call, 99, "name")) or None,
            EMPTY,
            call,
            prefix,
        )

    def _starlette_entry(self, call: Any, framework: str, kind: str) -> None:
        """``Route(path, endpoint, methods=[...], name=...)`` and ``WebSocketRoute(...)``."""
        methods_node = call_arg(call, 99, "methods")
        methods = [m.upper() for m in literal_strs(methods_node) or ()] if methods_node is not None else EMPTY
        self._decl_from_list(
            call,
            framework,
            "websocket" if kind == "websocket" else "route",
            methods,
            call_arg(call, 0, "path"),
            call_arg(call, 1, "endpoint"),
            call_arg(call, 99, "name"),
            default_name=True,
            deps=dependency_list(self.seg, call_arg(call, 99, "dependencies")),
        )

    def _django_include(self, call: Any, route_node: Any, inc: Any) -> None:
        target, ns = self._include_target(inc) if inc in self.includes else (inc, None)
        if target is None or target.__class__ is ast.List:
            return  # include([...]): its entries climb through it
        owner_key, _, prefixes, _ = self._list_owner(call, "django")
        prefix = join_all("django", [*prefixes, literal_str(route_node)])
        scope = scope_of(self.parent, call)
        target_key = literal_str(target)
        if target_key is None:
            target_key = self.key_of(target, scope)
        self._mount(
            "include",
            "django",
            "include",
            owner_key,
            target_key,
            target,
            route_node,
            ns,
            EMPTY,
            call,
            prefix,
        )

    def _decl_from_list(
        self,
        call: Any,
        framework: str,
        kind: str,
        methods: list[str],
        route_node: Any,
        view_node: Any,
        name_node: Any,
        *,
        is_regex: bool = False,
        default_name: bool = False,
        deps: list[str] = EMPTY,
    ) -> None:
        owner_key, owner_source, prefixes, namespaces = self._list_owner(call, framework)
        scope = scope_of(self.parent, call)
        handler, view, wrappers = self._view(view_node, scope)
        name = None if name_node is None else literal_str(name_node)
        if name_node is None and default_name:
            name = short_name(handler)
        self._decl(
            call,
            framework,
            kind,
            methods,
            route_node,
            join_all(framework, prefixes),
            ":".join(namespaces) or None,
            owner_key,
            owner_source,
            name,
            handler,
            view,
            wrappers,
            deps,
            is_regex=is_regex,
            scope=scope,
        )

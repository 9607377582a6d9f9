"""Router objects and the calls on them: constructors (``Flask``, ``APIRouter``, ...), route
decorators (``@app.route``, ``@router.get``, ...), registering calls (``add_url_rule``,
``add_api_route``, ``router.add_get``, DRF ``register``) and mounting calls (``register_blueprint``,
``include_router``, ``mount``, ``add_subapp``, ``add_routes``).
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.web import known
from codequarry.extractors.python.web.context import _UNSET, FileContext, param_slot
from codequarry.extractors.python.web.nodes import EMPTY, MAX_TEXT, dependency_list, short_name
from codequarry.python.calls import call_arg
from codequarry.python.scopes import scope_of
from codequarry.python.values import literal_str, literal_strs


class RouterCalls(FileContext):
    """The pass over objects, decorators and calls on router objects."""

    # -- objects ---------------------------------------------------------------------------------
    def _constructor(self, call: Any) -> None:
        scope = scope_of(self.parent, call)
        fq = self.key_of(call.func, scope) or ""
        spec = known.CONSTRUCTORS.get(fq) or self.subclassed.get(fq)
        if spec is None:
            return
        framework, type_ = spec
        stmt: Any = self.parent(call)
        key = None
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is call:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
            if target.__class__ is ast.Name:
                key = self.bind_key(target.id, scope)
        self.objects[call] = (key, framework, type_)
        if key is None:
            return  # self.router = APIRouter(): nothing can name it
        self.object_of_key.setdefault(key, (framework, type_))
        seg = self.seg
        prefix_node = name_node = None
        prefix: Any = _UNSET
        if type_ == "Blueprint":
            prefix_node = call_arg(call, 99, "url_prefix")
            name_node = call_arg(call, 0, "name")
        elif type_ == "APIRouter" or type_ == "Api":
            prefix_node = call_arg(call, 99, "prefix")
        elif type_ == "Namespace":
            prefix_node = call_arg(call, 2, "path")
            if prefix_node is None:  # Flask-RESTX's default: "/" + the namespace's name
                ns_name = literal_str(call_arg(call, 0, "name"))
                prefix = None if ns_name is None else "/" + ns_name
        deps = dependency_list(seg, call_arg(call, 99, "dependencies")) if framework == "fastapi" else EMPTY
        self._mount(
            "object",
            framework,
            type_,
            key,
            None,
            None,
            prefix_node,
            None if name_node is None else literal_str(name_node),
            deps,
            call,
            prefix,
        )
        if type_ == "Api":  # Api(app) / Api(blueprint): its resources hang under that object
            app = call_arg(call, 0, "app")
            if app is not None:
                parent = self.key_of(app, scope)
                self._mount("include", framework, "Api", parent, key, None, None, None, EMPTY, call)
        routes = call_arg(call, 99, "routes")
        if routes is not None and routes.__class__ not in (ast.List, ast.Tuple):
            self._mount(
                "include",
                framework,
                "routes",
                key,
                self.key_of(routes, scope),
                routes,
                None,
                None,
                EMPTY,
                routes,
            )

    def _decorator_route(self, d: Any, dec: Any) -> bool:
        """``@app.route(...)``, ``@router.get(...)``, ``@routes.view(...)`` on a def or class; False
        for a decorator that only looks like one (``@mock.patch("pkg.f")``)."""
        attr = dec.func.attr
        scope = scope_of(self.parent, dec)
        key = self.receiver_key(dec.func.value, scope)
        if key is not None and key.partition(".")[0] in known.NOT_ROUTERS:
            return False
        if attr == "route":
            fw = self.framework_of(key, ("flask", "starlette", "aiohttp"))
        elif attr in ("api_route", "websocket"):
            fw = self.framework_of(key, ("fastapi",))
        elif attr == "websocket_route":
            fw = self.framework_of(key, ("starlette",))
        elif attr == "view":
            fw = self.framework_of(key, ("aiohttp",))
        else:
            fw = self.framework_of(key, ("fastapi", "flask", "aiohttp"))
        seg = self.seg
        route_node = call_arg(dec, 0, "rule", "path")
        methods: list[str] = EMPTY
        if fw == "aiohttp" and attr == "route":
            method = literal_str(call_arg(dec, 0, "method"))
            route_node = call_arg(dec, 1, "path")
            methods = ["*" if method == "*" else method.upper()] if method else EMPTY
        elif attr in known.HTTP_METHODS:
            methods = [attr.upper()]
        else:
            node = call_arg(dec, 99, "methods")
            if node is not None:
                methods = [m.upper() for m in literal_strs(node) or ()]
        name_node = call_arg(dec, 99, "endpoint") if fw == "flask" else call_arg(dec, 99, "name")
        name = None if name_node is None else literal_str(name_node)
        if name is None and name_node is None and fw in ("flask", "fastapi", "starlette", None):
            name = d.name
        self.route_decorators.add(dec)
        kind = "websocket" if attr in ("websocket", "websocket_route") else "route"
        deps = dependency_list(seg, call_arg(dec, 99, "dependencies")) if fw == "fastapi" else EMPTY
        self._decl(
            dec,
            fw,
            kind,
            methods,
            route_node,
            "",
            None,
            key,
            seg(dec.func.value, MAX_TEXT),
            name,
            f"{self.mod}.{self.src.qualname(d)}",
            d.name,
            EMPTY,
            deps,
            scope=scope,
        )
        return True

    def _method_call(self, call: Any) -> None:
        """``app.add_url_rule``, ``router.add_api_route``, ``app.router.add_get``, ``router.register``,
        and the mounting calls ``register_blueprint``, ``include_router``, ``mount``, ``add_subapp``."""
        func = call.func
        attr = func.attr
        scope = scope_of(self.parent, call)
        key = self.receiver_key(func.value, scope)
        if attr in known.MOUNT_METHODS:
            self._mount_call(call, attr, key, scope)
        elif attr == "add_url_rule":
            self._flask_url_rule(call, key, scope)
        elif attr == "register":
            self._drf_register(call, key, scope)
        elif attr == "add_resource":
            self._resource_routes(call, key, scope)
        elif self._is_aiohttp_route(call, attr):
            self._aiohttp_route(call, attr, key, scope)
        else:
            self._starlette_route(call, attr, key, scope)

    def _flask_url_rule(self, call: Any, key: Any, scope: Any) -> None:
        """Flask's ``app.add_url_rule(rule, endpoint, view_func)``."""
        fw = self.framework_of(key, ("flask",))
        route_node, endpoint, view_node = (
            call_arg(call, 0, "rule"),
            call_arg(call, 1, "endpoint"),
            call_arg(call, 2, "view_func"),
        )
        handler, view, wrappers = self._view(view_node, scope)
        name = None if endpoint is None else literal_str(endpoint)
        if endpoint is None and view_node is not None:
            name = self._view_name(view_node, handler)
        self._decl(
            call,
            fw,
            "route",
            self._methods(call),
            route_node,
            "",
            None,
            key,
            self.seg(call.func.value, MAX_TEXT),
            name,
            handler,
            view,
            wrappers,
            EMPTY,
            scope=scope,
        )
        if endpoint is None and key is not None and key in self.params.values():
            self._helper_template(call, route_node, view_node, scope)

    def _helper_template(self, call: Any, route_node: Any, view_node: Any, scope: Any) -> None:
        """``def register_view(bp, routes, view_func): for r in routes: bp.add_url_rule(r,
        view_func=view_func)`` (or ``bp.add_url_rule(rule, view_func=view)`` with ``rule`` a
        parameter): a ``template`` row at the call's span naming the parameter slots of the route
        and the view, so that the operation can give the route of each caller passing literals
        (:meth:`_call_args`). Only a module-level function, a rule and ``view_func`` (by position
        or keyword) besides ``*args`` / ``**kwargs`` passed on, and parameters never rebound."""
        if route_node is None or route_node.__class__ is not ast.Name or view_node.__class__ is not ast.Name:
            return
        if any(a.__class__ is ast.Starred for a in call.args[:1]) or any(
            a.__class__ is not ast.Starred for a in call.args[1:]
        ):
            return
        if any(kw.arg not in (None, "rule", "view_func") for kw in call.keywords):
            return  # endpoint=, methods=, ... of the helper's own
        route_param = self._param_slot(route_node.id, scope)
        how = "one"
        if route_param is None:  # the variable of a loop over a parameter, in the same function
            how = "each"
            loop = self.parent(call)
            while loop is not None and loop is not scope and loop.__class__ is not ast.For:
                loop = self.parent(loop)
            if (
                loop is None
                or loop.__class__ is not ast.For
                or loop.target.__class__ is not ast.Name
                or loop.target.id != route_node.id
                or loop.iter.__class__ is not ast.Name
            ):
                return
            route_param = self._param_slot(loop.iter.id, scope)
        view_param = self._param_slot(view_node.id, scope)
        if route_param is None or view_param is None:
            return
        owner = self.receiver_key(call.func.value, scope)
        self._mount(
            "include", "flask", "template", owner, None, None, None, how, [*route_param, *view_param], call
        )

    def _param_slot(self, name: str, scope: Any) -> tuple[str, str] | None:
        """(position or name, name) of a parameter of the module-level function ``scope`` that its
        body never rebinds."""
        if self._parameter_key(name, scope) is None:
            return None
        return param_slot(scope, name), name

    def _drf_register(self, call: Any, key: Any, scope: Any) -> None:
        """Django REST framework's ``router.register(prefix, viewset, basename)``."""
        prefix = call_arg(call, 0, "prefix")
        if "django" not in self.frameworks or literal_str(prefix) is None:
            return  # admin.site.register(Model), atexit.register(f), ...
        handler, view, wrappers = self._view(call_arg(call, 1, "viewset"), scope)
        self._decl(
            call,
            "django",
            "viewset",
            EMPTY,
            prefix,
            "",
            None,
            key,
            self.seg(call.func.value, MAX_TEXT),
            literal_str(call_arg(call, 2, "basename", "base_name")),  # base_name: DRF before 3.9
            handler,
            view,
            wrappers,
            EMPTY,
            trailing_slash=self._router_slash(call.func.value, scope),
            scope=scope,
        )

    def _router_slash(self, recv: Any, scope: Any) -> bool:
        """False when the router was made in this file, in this scope, with ``trailing_slash=False``
        (or ``""``): its URLs then end without the slash DRF adds by default."""
        if recv.__class__ is not ast.Name:
            return True
        for stmt in self.src.nodes(ast.Assign):
            value = stmt.value
            if (
                value.__class__ is ast.Call
                and any(t.__class__ is ast.Name and t.id == recv.id for t in stmt.targets)
                and scope_of(self.parent, stmt) is scope
            ):
                flag = call_arg(value, 99, "trailing_slash")
                if flag is not None and flag.__class__ is ast.Constant and flag.value in (False, ""):
                    return False
        return True

    def _resource_routes(self, call: Any, key: Any, scope: Any) -> None:
        """Flask-RESTful / Flask-RESTX ``api.add_resource(Resource, "/a", "/b", endpoint=...)``: one
        route per URL, served by the resource class (aiohttp's ``router.add_resource("/path")`` takes
        the path first, and is left alone)."""
        if "flask" not in self.frameworks and key not in self.object_of_key:
            return
        if not call.args or call.args[0].__class__ not in (ast.Name, ast.Attribute):
            return
        handler, view, wrappers = self._view(call.args[0], scope)
        endpoint = literal_str(call_arg(call, 99, "endpoint"))
        for url in call.args[1:]:
            if url.__class__ is ast.Starred:
                break
            self._decl(
                call,
                "flask",
                "route",
                EMPTY,
                url,
                "",
                None,
                key,
                self.seg(call.func.value, MAX_TEXT),
                endpoint,
                handler,
                view,
                wrappers,
                EMPTY,
                scope=scope,
            )

    @staticmethod
    def _is_aiohttp_route(call: Any, attr: str) -> bool:
        """aiohttp's ``add_get``/``add_post``/.../``add_view``, and ``add_route(method, path, handler)``
        (Starlette's ``add_route`` takes a path first)."""
        if attr == "add_route":
            first = literal_str(call.args[0]) if call.args else None
            return len(call.args) >= 3 and first is not None and not first.startswith("/")
        return attr.startswith("add_") and attr[4:] in known.HTTP_METHODS or attr == "add_view"

    def _aiohttp_route(self, call: Any, attr: str, key: Any, scope: Any, recv: Any = None) -> None:
        """``router.add_get(path, handler)``, ``router.add_route(method, path, handler)``, ..."""
        if "aiohttp" not in self.frameworks and key not in self.object_of_key:
            return
        if attr == "add_view" and call.args and call.args[0].__class__ is ast.Call:
            return  # flask-admin's admin.add_view(ModelView(...))
        if attr == "add_route":
            method = literal_str(call.args[0]) or ""
            methods = ["*" if method == "*" else method.upper()]
            route_node, view_node = call_arg(call, 1, "path"), call_arg(call, 2, "handler")
        else:
            methods = EMPTY if attr == "add_view" else [attr[4:].upper()]
            route_node, view_node = call_arg(call, 0, "path"), call_arg(call, 1, "handler")
        handler, view, wrappers = self._view(view_node, scope)
        self._decl(
            call,
            "aiohttp",
            "route",
            methods,
            route_node,
            "",
            None,
            key,
            self.seg(call.func.value if recv is None else recv, MAX_TEXT),
            literal_str(call_arg(call, 99, "name")),
            handler,
            view,
            wrappers,
            EMPTY,
            scope=scope,
        )

    def _starlette_route(self, call: Any, attr: str, key: Any, scope: Any) -> None:
        """FastAPI's ``add_api_route``/``add_api_websocket_route`` and Starlette's ``add_route``/
        ``add_websocket_route`` (inherited by FastAPI)."""
        if attr in ("add_api_route", "add_api_websocket_route"):
            fw = self.framework_of(key, ("fastapi",))
        else:
            fw = self.framework_of(key, ("fastapi", "starlette"))
            if fw is None or (fw not in self.frameworks and key not in self.object_of_key):
                return
        route_node, view_node = call_arg(call, 0, "path"), call_arg(call, 1, "endpoint", "route")
        handler, view, wrappers = self._view(view_node, scope)
        name = literal_str(call_arg(call, 99, "name"))
        if call_arg(call, 99, "name") is None:
            name = short_name(handler)
        kind = "websocket" if "websocket" in attr else "route"
        deps = dependency_list(self.seg, call_arg(call, 99, "dependencies")) if fw == "fastapi" else EMPTY
        self._decl(
            call,
            fw,
            kind,
            self._methods(call),
            route_node,
            "",
            None,
            key,
            self.seg(call.func.value, MAX_TEXT),
            name,
            handler,
            view,
            wrappers,
            deps,
            scope=scope,
        )

    def _methods(self, call: Any) -> list[str]:
        node = call_arg(call, 99, "methods")
        return EMPTY if node is None else [m.upper() for m in literal_strs(node) or ()]

    def _view_name(self, node: Any, handler: str | None) -> str | None:
        """Flask's default endpoint: the view function's name; ``as_view("name")`` names it."""
        if (
            node.__class__ is ast.Call
            and node.func.__class__ is ast.Attribute
            and node.func.attr == "as_view"
        ):
            return literal_str(call_arg(node, 0, "name"))
        return short_name(handler)

    def _mount_call(self, call: Any, attr: str, key: str | None, scope: Any) -> None:
        seg = self.seg
        fw: str | None
        name: str | None
        if attr == "register_blueprint":
            child = call_arg(call, 0, "blueprint")
            fw = "flask"
            prefix_node = call_arg(call, 99, "url_prefix")
            name = literal_str(call_arg(call, 99, "name"))
            deps = EMPTY
        elif attr == "include_router":
            child = call_arg(call, 0, "router")
            fw = "fastapi"
            prefix_node = call_arg(call, 99, "prefix")
            name = None
            deps = dependency_list(seg, call_arg(call, 99, "dependencies"))
        elif attr == "mount":
            fw = self.framework_of(key, ("fastapi", "starlette"))
            path = call_arg(call, 0, "path")
            own = key is not None and self.object_of_key.get(key, ("", ""))[0] in ("fastapi", "starlette")
            if fw is None or not (
                own or (fw in self.frameworks and (literal_str(path) or "").startswith("/"))
            ):
                return  # requests' session.mount("https://", adapter), ...
            child = call_arg(call, 1, "app")
            prefix_node = path
            name = literal_str(call_arg(call, 2, "name"))
            deps = EMPTY
        elif attr == "add_subapp":
            fw = "aiohttp"
            prefix_node, child = call_arg(call, 0, "prefix"), call_arg(call, 1, "subapp")
            name = None
            deps = EMPTY
        elif attr == "add_static":  # aiohttp's router.add_static(prefix, path): files, not routes
            fw = self.framework_of(key, ("aiohttp",))
            if (
                fw != "aiohttp"
                or ("aiohttp" not in self.frameworks and key not in self.object_of_key)
                or not (literal_str(call_arg(call, 0, "prefix")) or "").startswith("/")
            ):
                return
            self._mount(
                "include",
                fw,
                attr,
                key,
                None,
                call_arg(call, 1, "path"),
                call_arg(call, 0, "prefix"),
                literal_str(call_arg(call, 99, "name")),
                EMPTY,
                call,
            )
            return
        elif attr == "add_namespace":  # Flask-RESTX: a path given here replaces the namespace's own
            child = call_arg(call, 0, "ns")
            fw = "flask"
            prefix_node = call_arg(call, 1, "path")
            name, deps = None, EMPTY
        elif attr == "init_app":  # Flask-RESTX / Flask-RESTful ``api.init_app(app)``
            # the receiver may be an Api of another file: the operation keeps the edge only if it is
            # (``db.init_app(app)`` mounts nothing); an object of this file must be one here
            if (
                key is None
                or "flask" not in self.frameworks
                or self.object_of_key.get(key, ("", "Api"))[1] != "Api"
            ):
                return
            app = call_arg(call, 0, "app")
            if app is not None:
                parent = self.key_of(app, scope)
                self._mount(
                    "include", "flask", "init_app", parent, key, call.func.value, None, None, EMPTY, call
                )
            return
        else:  # add_routes
            child = call_arg(call, 0, "routes")
            if child is None or child.__class__ in (ast.List, ast.Tuple):
                return  # inline entries climb to this call
            fw = self.framework_of(key, ("aiohttp",))
            prefix_node, name, deps = None, None, EMPTY
        if fw is None or (fw not in self.frameworks and key not in self.object_of_key):
            return
        target = None if child is None else self.key_of(child, scope)
        self._mount("include", fw, attr, key, target, child, prefix_node, name, deps, call)

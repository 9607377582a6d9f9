"""The file extractor ``python.web.route_facts``: what one file says about web routes.

A file is looked at only if it imports a web framework (flask, fastapi, starlette, django,
rest_framework, aiohttp) or decorates a def with ``@<obj>.route("/...")``-like calls; any other file
costs one look at its import statements and decorators. Names are resolved through the file's
imports with the core :class:`~codequarry.python.resolve.Resolver`, so that
``from .routers import users`` then ``app.include_router(users.router)`` names the target
``shop.routers.users.router``, the key under which that file declared the router.

What it recognises (see ``docs/tables/routes.md`` for the whole list and the limits):

- objects: ``Flask``, ``Blueprint``, ``FastAPI``, ``APIRouter``, ``Starlette``, ``Router``,
  aiohttp ``Application`` and ``RouteTableDef``, DRF ``DefaultRouter`` / ``SimpleRouter``, and every
  variable holding a list of URL entries (Django ``urlpatterns``, Starlette ``routes``);
- routes: decorators (``@app.route``, ``@router.get``, ``@routes.view``, ...), registering calls
  (``add_url_rule``, ``add_api_route``, ``add_route``, ``router.add_get``, DRF ``register``) and
  entries of URL lists (Django ``path`` / ``re_path`` / ``url``, Starlette ``Route``, aiohttp
  ``web.get``), through ``include([...])`` and ``Mount(..., routes=[...])`` nested in the same file;
- mounts: ``register_blueprint``, ``include_router``, ``mount``, ``add_subapp``, ``add_routes``,
  Django ``include(...)`` of a module string, a module or a list, ``Mount(app=...)``.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.web import known
from codequarry.extractors.python.web.calls import RouterCalls
from codequarry.extractors.python.web.datasets import RouteDecl, RouteHandler, RouteMount
from codequarry.extractors.python.web.handlers import HandlerFacts
from codequarry.extractors.python.web.lists import UrlLists
from codequarry.extractors.python.web.nodes import EMPTY, module_level_defs
from codequarry.python.calls import last_name
from codequarry.python.scopes import scope_of
from codequarry.python.values import literal_str
from codequarry.source import SourceFile


@file_extractor(
    "python.web.route_facts", version=3, needs=["ast"], outputs=[RouteDecl, RouteMount, RouteHandler]
)
def route_facts(src: SourceFile, out: Any) -> None:
    """Routes, router objects, mounts and handler facts of Flask, FastAPI, Starlette, Django, aiohttp."""
    frameworks = _frameworks(src)
    decorated = _route_decorators(src, bool(frameworks))
    if not frameworks and not decorated:
        # a setup_routes(app) / register_blueprints(app) module that imports no framework
        frameworks = _framework_calls(src)
        if not frameworks:
            return
    _FileRoutes(src, out, frameworks).run(decorated)


def _frameworks(src: SourceFile) -> set[str]:
    """Frameworks the file imports (absolute imports only)."""
    found: set[str] = set()
    get = known.FRAMEWORK_OF_PACKAGE.get
    for stmt in src.nodes(ast.ImportFrom):
        if not stmt.level and stmt.module:
            fw = get(stmt.module.partition(".")[0])
            if fw is not None:
                found.add(fw)
    for stmt in src.nodes(ast.Import):
        for alias in stmt.names:
            fw = get(alias.name.partition(".")[0])
            if fw is not None:
                found.add(fw)
    return found


_AIOHTTP_ADDS = frozenset({*(f"add_{m}" for m in known.HTTP_METHODS), "add_view", "add_route"})


#: methods only one framework's objects have
_METHOD_FRAMEWORK = {"register_blueprint": "flask", "include_router": "fastapi"}


def _framework_calls(src: SourceFile) -> set[str]:
    """Frameworks whose own methods a file calls without importing anything of them: aiohttp's
    ``x.router.add_get(...)`` (on ``x.router``, or on a name bound to it or to its method: the aiohttp
    tutorial's ``routes.py`` imports only its views), Flask's ``register_blueprint``, FastAPI's
    ``include_router``. One pass over the calls; the assignments only when a call may need them."""
    found: set[str] = set()
    on_names: list[str] = []  # x.add_get(...) on a plain name x, and bare add_route(...) calls
    Attribute, Name = ast.Attribute, ast.Name
    for call in src.nodes(ast.Call):
        func = call.func
        if func.__class__ is Attribute:
            attr = func.attr
            if attr in _METHOD_FRAMEWORK:
                found.add(_METHOD_FRAMEWORK[attr])
            elif attr in _AIOHTTP_ADDS:
                recv = func.value
                if recv.__class__ is Attribute and recv.attr == "router":
                    found.add("aiohttp")
                elif recv.__class__ is Name:
                    on_names.append(recv.id)
        elif func.__class__ is Name and func.id.startswith("add_"):
            on_names.append(func.id)
    if on_names and "aiohttp" not in found:
        wanted = set(on_names)
        for stmt in src.nodes(ast.Assign):
            value = stmt.value
            if value.__class__ is not Attribute or not any(
                t.__class__ is Name and t.id in wanted for t in stmt.targets
            ):
                continue
            if value.attr == "router" or (  # router = app.router; add_route = app.router.add_route
                value.attr in _AIOHTTP_ADDS
                and value.value.__class__ is Attribute
                and value.value.attr == "router"
            ):
                found.add("aiohttp")
                break
    return found


def _route_decorators(src: SourceFile, gated: bool) -> list[tuple[Any, Any]]:
    """(def, decorator) for decorators like ``@x.route(...)``, ``@x.get(...)``: in a file importing no
    framework, only those whose first argument is a literal path starting with '/'."""
    found = []
    Call, Attribute, attrs = ast.Call, ast.Attribute, known.DECORATOR_ATTRS
    for d in src.nodes(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        if not d.decorator_list:
            continue
        for dec in d.decorator_list:
            if (
                dec.__class__ is Call
                and dec.func.__class__ is Attribute
                and dec.func.attr in attrs
                and (gated or (dec.args and (literal_str(dec.args[0]) or "").startswith("/")))
            ):
                found.append((d, dec))
    return found


def _name_args(call: Any) -> list[str]:
    """The plain names passed to a call, positionally or by keyword."""
    out = [a.id for a in call.args if a.__class__ is ast.Name]
    out += [kw.value.id for kw in call.keywords if kw.value.__class__ is ast.Name]
    return out


class _FileRoutes(UrlLists, RouterCalls, HandlerFacts):
    """Every pass over one file that imports a web framework (or decorates defs like routes)."""

    # -- the passes --------------------------------------------------------------------------------
    def run(self, decorated: list[tuple[Any, Any]]) -> None:
        """Gather the names to resolve (the resolver collects bindings for those only), then the
        passes: objects first, so that URL lists and calls on objects know their keys and types."""
        gather = self.gather_heads
        app_classes = self._app_classes() if self.frameworks else []
        for cls in app_classes:
            for base in cls.bases:
                gather(base)
        instances = self._maybe_instances() if self.frameworks else []
        for stmt in instances:
            gather(stmt.value.func)
        ctors, methods, maybe_entries, passing = (
            self._classify_calls({c.name for c in app_classes}) if self.frameworks else ([], [], [], [])
        )
        self._router_aliases()
        # calls handing an application made here to a function: setup_routes(app)
        made = self._constructed_names(ctors)
        self.imported = self._package_imports() if self.frameworks - {"django"} else set()
        passing = [c for c in passing if any(n in made or n in self.imported for n in _name_args(c))]
        for call in passing:
            gather(call)
        for call in (*ctors, *methods, *maybe_entries):
            gather(call)
        parent = self.parent
        for call in maybe_entries:  # lists appended to: urlpatterns.append(path(...))
            anc = parent(call)
            while anc is not None and not isinstance(anc, ast.stmt):
                if anc.__class__ is ast.Call and anc.func.__class__ is ast.Attribute:
                    gather(anc.func.value)
                anc = parent(anc)
        for _, dec in decorated:
            gather(dec)
        if "fastapi" in self.frameworks:
            for arg in self.src.nodes(ast.arg):
                if arg.annotation is not None:
                    gather(arg.annotation)
        for call in maybe_entries:
            fq = self.key_of(call.func, scope_of(parent, call))
            if fq in known.INCLUDES:
                self.includes.add(call)
            elif fq is not None and fq in known.LIST_ENTRIES:
                self.entries[call] = known.LIST_ENTRIES[fq]
        for cls in app_classes:
            self._app_class(cls)
        for call in ctors:
            self._constructor(call)
        if "django" in self.frameworks:
            self._app_name()
        for call, (fw, kind) in list(self.entries.items()):
            self._entry(call, fw, kind)
        for call in methods:
            self._method_call(call)
        if self.method_aliases:
            self._aliased_method_calls()
        for call in passing:
            self._passing_call(call)
        handlers = {}
        for d, dec in decorated:
            if self._decorator_route(d, dec):
                handlers[d] = True
        if self.frameworks:
            for d in module_level_defs(self.src.tree):
                handlers.pop(d, None)
                self._handler(d)
            if "fastapi" in self.frameworks:
                self._dependency_aliases()
        for d in handlers:  # route handlers defined in a function or class body
            self._handler(d)
        self._parameter_edges()
        for stmt in instances:
            self._instance(stmt)

    def _app_classes(self) -> list[Any]:
        """Module-level classes with a base named like a known constructor (``class
        CTFdFlask(Flask)``): candidates for :meth:`_app_class`."""
        names = known.CONSTRUCTOR_NAMES
        return [
            stmt
            for stmt in self.src.tree.body
            if stmt.__class__ is ast.ClassDef
            and any(last_name(b, through_calls=False) in names for b in stmt.bases)
        ]

    def _app_class(self, cls: Any) -> None:
        """A class deriving from a known constructor makes objects of that type (an app subclass);
        a ``subclass`` row tells the files that import it (:meth:`_instance`)."""
        for base in cls.bases:
            base_key = self.key_of(base, None)
            spec = known.CONSTRUCTORS.get(base_key or "")
            if spec is not None:
                key = f"{self.mod}.{cls.name}"
                self.subclassed[key] = spec
                self._mount("include", spec[0], "subclass", key, base_key, base, None, spec[1], EMPTY, cls)
                return

    def _maybe_instances(self) -> list[Any]:
        """Module-level ``app = C(...)`` with ``C`` no known constructor nor a class of this file:
        perhaps an application class another file derives (:meth:`_instance`)."""
        names = known.CONSTRUCTOR_NAMES
        out = []
        for stmt in self.src.tree.body:
            if stmt.__class__ is not ast.Assign or len(stmt.targets) != 1:
                continue
            value = stmt.value
            if value.__class__ is not ast.Call or stmt.targets[0].__class__ is not ast.Name:
                continue
            last = last_name(value.func, through_calls=False)
            if last is not None and last not in names:
                out.append(stmt)
        return out

    def _instance(self, stmt: Any) -> None:
        """An ``instance`` row for ``app = C(...)`` at module level when routes or mounts were
        declared on ``app``: the operation makes ``app`` an application when ``C`` is a subclass
        of one in another file (its ``subclass`` row); else it stays an unknown object."""
        call = stmt.value
        if call in self.objects:
            return
        key = f"{self.mod}.{stmt.targets[0].id}"
        cls = self.key_of(call.func, None)
        if cls is None or key not in self.owners or cls in self.subclassed:
            return
        self._mount("include", None, "instance", key, cls, call.func, None, None, EMPTY, call)

    def _router_aliases(self) -> None:
        """``router = app.router`` in a function: ``router.add_get(...)`` is a call on ``app``;
        ``add_route = app.router.add_route``: ``add_route("GET", ...)`` is that method's call."""
        for stmt in self.src.nodes(ast.Assign):
            value = stmt.value
            if value.__class__ is not ast.Attribute or len(stmt.targets) != 1:
                continue
            target = stmt.targets[0]
            scope = scope_of(self.parent, stmt)
            if target.__class__ is not ast.Name or scope is None:
                continue
            if value.attr == "router":
                self.router_aliases[(scope, target.id)] = value
            elif value.attr in _AIOHTTP_ADDS and value.value.__class__ in (ast.Attribute, ast.Name):
                self.method_aliases[(scope, target.id)] = value
            else:
                continue
            self.gather_heads(value)

    def _aliased_method_calls(self) -> None:
        """``add_route("GET", "/", index)`` with ``add_route = app.router.add_route`` in scope."""
        names = {name for _, name in self.method_aliases}
        for call in self.src.nodes(ast.Call):
            func = call.func
            if func.__class__ is not ast.Name or func.id not in names:
                continue
            scope = scope_of(self.parent, call)
            method = self.method_aliases.get((scope, func.id))
            if method is not None and self._is_aiohttp_route(call, method.attr):
                key = self.receiver_key(method.value, scope)
                self._aiohttp_route(call, method.attr, key, scope, method.value)

    def _constructed_names(self, ctors: list[Any]) -> set[str]:
        """Names a constructor-like call is assigned to (``app = web.Application()``)."""
        out: set[str] = set()
        for call in ctors:
            stmt = self.parent(call)
            if stmt.__class__ is ast.Assign and stmt.value is call:
                out.update(t.id for t in stmt.targets if t.__class__ is ast.Name)
        return out

    def _passing_call(self, call: Any) -> None:
        """``setup_routes(app)`` with ``app`` an application or router made in this file: an edge
        from it to the callee's parameter slot (``pkg.routes.setup_routes(0)``, or ``(app)`` when
        passed by keyword); the operation keeps it only if that function declares routes on it."""
        scope = scope_of(self.parent, call)
        callee = self.key_of(call.func, scope)
        if callee is None:
            return
        slots = [(str(i), a) for i, a in enumerate(call.args)]
        slots += [(kw.arg, kw.value) for kw in call.keywords if kw.arg is not None]
        passed = False
        for slot, arg in slots:
            if arg.__class__ is ast.Starred:
                break
            if arg.__class__ is not ast.Name:
                continue
            key = self.key_of(arg, scope)
            obj = self.object_of_key.get(key or "")
            if key is not None and obj is not None:
                self._mount(
                    "include", obj[0], "call", key, f"{callee}({slot})", call.func, None, None, EMPTY, call
                )
                passed = True
            elif (
                key is not None
                and arg.id in self.imported
                and "<locals>" not in key
                and self._same_package(callee)
            ):
                # install_events(api_router) with the router imported from a module of the package:
                # kept only where the callee declares routes or mounts on that parameter
                self._mount(
                    "include", None, "call", key, f"{callee}({slot})", call.func, None, None, EMPTY, call
                )
        if passed:
            self._call_args(call, callee, slots, scope)

    def _package_imports(self) -> set[str]:
        """Names bound by the module-level ``from ... import name`` of a module of this file's own
        top-level package (relative, or absolute under it): objects a call may hand a helper."""
        top = self.mod.partition(".")[0]
        out: set[str] = set()
        for stmt in self.src.tree.body:
            if stmt.__class__ is ast.ImportFrom and (
                stmt.level or (stmt.module or "").partition(".")[0] == top
            ):
                out.update(a.asname or a.name for a in stmt.names if a.name != "*")
        return out

    def _same_package(self, key: str) -> bool:
        return key.partition(".")[0] == self.mod.partition(".")[0]

    def _call_args(self, call: Any, callee: str, slots: list[tuple[str, Any]], scope: Any) -> None:
        """The arguments of a call that hands a router to a function, at the call's span, one
        ``arg`` row each (one per string of a list or tuple of literal strings): the operation gives
        a helper's ``template`` route the callers' literal routes and views (see ``calls.py``)."""
        if any(kw.arg is None for kw in call.keywords) or any(a.__class__ is ast.Starred for a in call.args):
            return  # *args / **options: the slots are not all known
        for slot, arg in slots:
            owner = f"{callee}({slot})"
            text = literal_str(arg)
            if text is not None:
                self._mount("include", None, "arg", owner, text, arg, None, "str", EMPTY, call)
                continue
            if arg.__class__ in (ast.List, ast.Tuple):
                texts = [literal_str(e) for e in arg.elts]
                if texts and all(t is not None for t in texts):
                    for elt, t in zip(arg.elts, texts, strict=True):
                        self._mount("include", None, "arg", owner, t, elt, None, "list", EMPTY, call)
                    continue
            if arg.__class__ in (ast.Name, ast.Attribute, ast.Call):
                handler, _, wrappers = self._view(arg, scope)
                if handler is not None:
                    endpoint = self._view_name(arg, handler)
                    self._mount(
                        "include", None, "arg", owner, handler, arg, None, "view", wrappers, call, endpoint
                    )
                    continue
            self._mount("include", None, "arg", owner, None, arg, None, "other", EMPTY, call)

    def _classify_calls(self, app_classes: set[str]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        """Calls that may be constructors (``app_classes``: names of this file's subclasses of
        them), registering method calls, URL-list entries and includes, or calls passing a name
        to a function (by the name called; :meth:`run` resolves them)."""
        ctors, methods, maybe_entries, passing = [], [], [], []
        ctor_names = known.CONSTRUCTOR_NAMES | app_classes
        fws = self.frameworks
        entry_names = (
            known.LIST_ENTRY_NAMES if fws & {"django", "starlette", "fastapi", "aiohttp"} else frozenset()
        )
        has_aiohttp = "aiohttp" in fws
        aiohttp_names = frozenset({"get", "post", "put", "patch", "delete", "head", "route", "view"})
        route_methods = known.ROUTE_METHODS | known.MOUNT_METHODS
        for call in self.src.nodes(ast.Call):
            func = call.func
            cls = func.__class__
            if cls is ast.Name:
                last = func.id
            elif cls is ast.Attribute:
                last = func.attr
                if last in route_methods:
                    methods.append(call)
                    continue
            else:
                continue
            if last in ctor_names:
                ctors.append(call)
            elif last in entry_names or last == "include":
                if last in aiohttp_names and not has_aiohttp:
                    continue
                maybe_entries.append(call)
            elif call.args or call.keywords:
                passing.append(call)
        return ctors, methods, maybe_entries, passing

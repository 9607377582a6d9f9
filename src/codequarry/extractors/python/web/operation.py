"""The operation ``python.web.routes``: per-file route facts joined into ``routes``.

For each declared route, it climbs from the object the route is attached to (a blueprint, a router,
a URL list) through the edges that mount it (``register_blueprint``, ``include_router``,
``include()``, ``Mount``, ``add_subapp``), up to an application or a URL list nothing includes, at
most :data:`MAX_DEPTH` edges up. Each way up gives one row, with the prefixes of the way applied as
the framework applies them:

- Flask: a ``url_prefix`` given to ``register_blueprint`` replaces the blueprint's own; nested
  blueprints join their parent's prefix; endpoints are ``<blueprint names>.<endpoint>``;
- FastAPI: ``include_router(prefix=...)`` + ``APIRouter(prefix=...)`` + the path; dependencies of
  the app, of each include, of each router and of the route add up;
- Django: the ``include()`` routes are prepended; namespaces (``namespace=`` or the included
  module's ``app_name``) make ``ns:name``;
- Starlette and aiohttp: ``Mount`` / ``add_subapp`` prefixes are prepended.

Targets are matched by key in the same source first, then in any source; a key that names a module
(``include("blog.urls")``) matches that module's ``urlpatterns``; a name re-exported by a package
(``from .admin import admin_bp`` in ``blueprints/__init__.py``) is followed through the core
``imports`` table. Handlers are joined by key with ``route_handlers`` for their decorators,
dependencies, permission classes, methods and location. A mount whose target is nowhere in the
corpus (``admin.site.urls``, a third-party blueprint) becomes a row of kind ``include``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from codequarry.api import operation
from codequarry.extractors.python.web import known
from codequarry.extractors.python.web.datasets import Route
from codequarry.extractors.python.web.paths import join_all, join_path

MAX_DEPTH = 8  # mount edges followed up from a route's object
MAX_CHAINS = 32  # ways up kept per object
MAX_ALIAS_HOPS = 3  # re-exports followed for one name
_DEFAULT_METHODS = {
    "flask": ["GET"],
    "fastapi": ["GET"],
    "starlette": ["GET"],
    "django": ["*"],
    "aiohttp": ["*"],
}

Node = tuple[str, str]  # (repo, key)
#: mounting calls whose prefix replaces the mounted object's own (Flask blueprints, RESTX namespaces)
_REPLACING = frozenset({"register_blueprint", "add_namespace"})
#: edges of an application handed to a function and of that function's parameter
_SLOT_EDGES = frozenset({"call", "param"})


@operation(
    "python.web.routes",
    version=3,
    inputs=["route_decls", "route_mounts", "route_handlers", "imports", "modules"],
    outputs=[Route],
    partition="repo",  # every join is keyed by repo: a run re-derives only the repos that changed
)
def routes(ctx: Any) -> pa.Table:
    """Routes with full paths, handlers and auth facts, across files (prefixes, includes, re-exports)."""
    decls = ctx.table("route_decls").to_pylist()
    mounts = ctx.table("route_mounts").to_pylist()
    if not decls and not mounts:
        return Route.schema.empty_table()
    handlers = ctx.table("route_handlers").to_pylist()
    rows = build_routes(decls, mounts, handlers, lambda wanted: _reexports(ctx, wanted))
    ctx.report("routes", sum(r["kind"] != "include" for r in rows))
    ctx.report(
        "routes with a full path", sum(r["full_path"] is not None and r["kind"] != "include" for r in rows)
    )
    return pa.Table.from_pylist(rows, schema=Route.schema)


def _reexports(ctx: Any, wanted: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """{(repo, module, name): target} for module-level imports binding ``name`` in ``module``."""
    import pyarrow.dataset as ds

    names = sorted({n for _, _, n in wanted})
    # cut as the parts are read (never the whole imports table in memory)
    where = (ds.field("scope") == "") & ds.field("bound_name").isin(names)
    hits = ctx.read("imports", ["repo", "path", "bound_name", "target", "scope"], where).to_pylist()
    if not hits:
        return {}
    paths = sorted({h["path"] for h in hits})
    modules = ctx.read("modules", ["repo", "path", "module"], ds.field("path").isin(paths))
    module_of = {(m["repo"], m["path"]): m["module"] for m in modules.to_pylist()}
    out: dict[tuple[str, str, str], str] = {}
    for h in hits:
        key = (h["repo"], module_of.get((h["repo"], h["path"])) or "", h["bound_name"])
        if key in wanted and h["target"]:
            out.setdefault(key, h["target"])
    return out


@dataclass
class _Chain:
    """One way up from an object to a root: root first in the lists, the object first in ``keys``."""

    prefixes: list[str | None]
    names: list[str | None]
    deps: list[str]
    cond: bool
    keys: list[str]
    root: str | None
    framework: str | None


_NOWHERE = _Chain([], [], [], False, [], None, None)


class _Graph:
    """Objects, mount edges and handlers of every source, by key."""

    def __init__(
        self,
        decls: list[dict[str, Any]],
        mounts: list[dict[str, Any]],
        handlers: list[dict[str, Any]],
        reexports: Callable[[set[tuple[str, str, str]]], dict[tuple[str, str, str], str]],
    ) -> None:
        self.objects: dict[Node, dict[str, Any]] = {}
        self.edges: list[dict[str, Any]] = []
        subclasses: dict[Node, dict[str, Any]] = {}
        instances = []
        for m in sorted(mounts, key=_position):
            if m["kind"] == "object":
                if m["key"] is not None:
                    self.objects.setdefault((m["repo"], m["key"]), m)
            elif m["type"] == "subclass":
                subclasses.setdefault((m["repo"], m["key"]), m)
            elif m["type"] == "instance":
                instances.append(m)
            else:
                self.edges.append(m)
        self.handlers: dict[Node, dict[str, Any]] = {}
        for h in sorted(handlers, key=_position):
            self.handlers.setdefault((h["repo"], h["handler"]), h)
        self.nodes: set[Node] = set(self.objects)
        self.nodes.update((d["repo"], d["owner"]) for d in decls if d["owner"] is not None)
        self.nodes.update((e["repo"], e["key"]) for e in self.edges if e["key"] is not None)
        self.aliases = self._aliases(decls, reexports, [(m["repo"], m["target"]) for m in instances])
        for m in instances:  # app = MillApp(...) with MillApp(Flask) in another file
            self._instance(m, subclasses)
        self.incoming: dict[Node, list[tuple[dict[str, Any], Node | None]]] = defaultdict(list)
        self.unresolved: list[tuple[dict[str, Any], Node | None]] = []
        # setup_routes(app): a caller's edge to ``f(<slot>)`` and f's edge from the slot to its
        # parameter; a keyword slot ``f(app)`` is the positional one of the parameter named so
        slot_of: dict[Node, Node] = {}
        params = []
        for e in self.edges:
            if e["type"] == "param":
                params.append(e)
                fn = e["key"].rpartition("(")[0]
                slot_of[(e["repo"], f"{fn}({e['name']})")] = (e["repo"], e["key"])
        calls: set[tuple[Node, Node | None]] = set()
        for e in self.edges:
            if e["type"] == "param":
                continue
            if e["type"] == "call":  # kept only where the callee declares routes on that parameter
                slot = (e["repo"], e["target"])
                slot = slot_of.get(slot, slot)
                caller = self.node(e["repo"], e["key"])
                if slot in self.nodes and (slot, caller) not in calls:
                    # ten register_view(bp, ...) calls are one way up from the helper to bp
                    calls.add((slot, caller))
                    self.incoming[slot].append((e, caller))
                continue
            parent = self.node(e["repo"], e["key"])
            target = self.node(e["repo"], e["target"]) if e["target"] is not None else None
            if e["type"] == "init_app":  # api.init_app(app): an edge only when the target is an Api
                obj = self.objects.get(target) if target is not None else None
                if target is not None and obj is not None and obj["type"] == "Api":
                    self.incoming[target].append((e, parent))
            elif target is not None and target in self.nodes:
                self.incoming[target].append((e, parent))
            else:
                self.unresolved.append((e, parent))
        #: parameters routes hang on: one no caller hands an application to is an unknown object
        self.parameters = {(e["repo"], e["target"]) for e in params}
        for e in params:
            slot = (e["repo"], e["key"])
            if slot in self.incoming:
                self.incoming[(e["repo"], e["target"])].append((e, slot))
        self._memo: dict[Node, list[_Chain]] = {}

    def _instance(self, m: dict[str, Any], subclasses: dict[Node, dict[str, Any]]) -> None:
        """An object made by a class another file derives from an application class is one of
        the base's type (the class named through imports and re-exports, as any key)."""
        repo = m["repo"]
        node = (repo, m["key"])
        if node in self.objects:
            return
        cls = subclasses.get((repo, m["target"]))
        if cls is None:
            alias = self._alias(repo, m["target"])
            cls = subclasses.get((repo, alias)) if alias is not None else None
        if cls is not None:
            self.objects[node] = {**m, "kind": "object", "framework": cls["framework"], "type": cls["name"]}
            self.nodes.add(node)

    # -- keys ---------------------------------------------------------------------------------------
    @staticmethod
    def _candidates(key: str) -> list[str]:
        """A key, the ``urlpatterns`` of the module it names, and a DRF router for ``router.urls``."""
        out = [key, f"{key}.urlpatterns"]
        if key.endswith(".urls"):
            out.append(key[: -len(".urls")])
        return out

    def _find(self, repo: str, key: str) -> Node | None:
        """The node a key names in its own repo: a repo's routes come from its rows alone (the
        operation's ``partition="repo"`` promise; a same-named module of another repo is not
        this one's, and reaching it made an incremental run differ from a fresh extract)."""
        for cand in self._candidates(key):
            if (repo, cand) in self.nodes:
                return repo, cand
        return None

    def node(self, repo: str, key: str | None) -> Node | None:
        """The object a key names, following re-exports; the key itself when it names nothing known."""
        if key is None:
            return None
        found = self._find(repo, key)
        if found is not None:
            return found
        for _ in range(MAX_ALIAS_HOPS):
            alias = self._alias(repo, key)
            if alias is None:
                break
            key = alias
            found = self._find(repo, key)
            if found is not None:
                return found
        return repo, key

    def handler(self, repo: str, key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        for _ in range(MAX_ALIAS_HOPS + 1):
            if (repo, key) in self.handlers:
                return self.handlers[(repo, key)]
            alias = self._alias(repo, key)
            if alias is None:
                return None
            key = alias
        return None

    def _alias(self, repo: str, key: str) -> str | None:
        """``pkg.name.rest`` -> ``<what pkg imports as name>.rest``, if ``pkg`` re-exports ``name``."""
        parts = key.split(".")
        for i in range(len(parts) - 1, 0, -1):
            target = self.aliases.get((repo, ".".join(parts[:i]), parts[i]))
            if target is not None and target != key:
                return ".".join([target, *parts[i + 1 :]])
        return None

    def _aliases(
        self,
        decls: list[dict[str, Any]],
        reexports: Callable[[set[tuple[str, str, str]]], dict[tuple[str, str, str], str]],
        classes: list[tuple[str, str]],
    ) -> dict[tuple[str, str, str], str]:
        """Re-exports that could matter: every (module, name) split of keys that name nothing known
        (``classes``: the classes of ``instance`` rows)."""
        wanted: set[tuple[str, str, str]] = set()
        refs: list[tuple[str, str]] = [
            (e["repo"], e["target"]) for e in self.edges if e["target"] and e["type"] not in _SLOT_EDGES
        ]
        refs += classes
        refs += [(d["repo"], d["owner"]) for d in decls if d["owner"]]
        refs += [(d["repo"], d["handler"]) for d in decls if d["handler"]]
        for repo, key in refs:
            if self._find(repo, key) or (repo, key) in self.handlers:
                continue
            parts = key.split(".")
            for i in range(1, len(parts)):
                wanted.add((repo, ".".join(parts[:i]), parts[i]))
        return reexports(wanted) if wanted else {}

    # -- ways up ------------------------------------------------------------------------------------
    def chains(self, node: Node | None, depth: int = 0, seen: frozenset[Node] = frozenset()) -> list[_Chain]:
        if node is None or (node in self.parameters and node not in self.incoming):
            return [_NOWHERE]
        if not seen and node in self._memo:
            return self._memo[node]
        obj = self.objects.get(node)
        own_prefix = obj["prefix"] if obj is not None else ""
        own_name = obj["name"] if obj is not None else None
        own_deps = obj["dependencies"] if obj is not None else []
        framework = obj["framework"] if obj is not None else None
        ins = [(e, p) for e, p in self.incoming.get(node, ()) if p not in seen and p != node]
        if not ins or depth >= MAX_DEPTH:
            root = node[1] if obj is not None and obj["type"] in known.ROOT_TYPES else None
            out = [_Chain([own_prefix], [own_name], list(own_deps), False, [node[1]], root, framework)]
        else:
            out = []
            for edge, parent in ins:
                fw = edge["framework"] or framework
                if edge["type"] in _REPLACING and edge["prefix_source"] is not None:
                    prefix = edge["prefix"]  # Flask: a prefix given at registration replaces the object's
                else:
                    prefix = join_path(fw, edge["prefix"], own_prefix)
                # a parameter edge's name is the parameter's, not a blueprint's or namespace's
                named = edge["name"] is not None and edge["type"] != "param"
                name = edge["name"] if named else own_name
                for up in self.chains(parent, depth + 1, seen | {node}):
                    out.append(
                        _Chain(
                            [*up.prefixes, prefix],
                            [*up.names, name],
                            [*up.deps, *edge["dependencies"], *own_deps],
                            up.cond or edge["is_conditional"],
                            [node[1], *up.keys],
                            up.root,
                            framework or up.framework,
                        )
                    )
                    if len(out) >= MAX_CHAINS:
                        break
                if len(out) >= MAX_CHAINS:
                    break
        if not seen:
            self._memo[node] = out
        return out


def _position(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["repo"], row["path"], row["line"], row["col"])


def build_routes(
    decls: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    handlers: list[dict[str, Any]],
    reexports: Callable[[set[tuple[str, str, str]]], dict[tuple[str, str, str], str]] = lambda w: {},
) -> list[dict[str, Any]]:
    """The rows of ``routes`` (plain dicts in schema order) from the per-file tables' rows."""
    decls, mounts = _expand_helpers(decls, mounts)
    graph = _Graph(decls, mounts, handlers, reexports)
    rows: list[dict[str, Any]] = []
    for d in sorted(decls, key=_position):
        repo = d["repo"]
        owner = graph.node(repo, d["owner"])
        handler = graph.handler(repo, d["handler"])
        obj = graph.objects.get(owner) if owner is not None else None
        if obj is not None and obj["type"] in known.RESOURCE_API_TYPES and d["name"] is not None:
            # Flask-RESTX / RESTful endpoints are built from the resource and namespace at run time
            d = {**d, "name": None}
        for chain in graph.chains(owner):
            rows.append(_route_row(graph, d, chain, handler))
    for edge, parent in graph.unresolved:
        for chain in graph.chains(parent):
            rows.append(_include_row(edge, chain))
    rows.sort(key=lambda r: (r["repo"], r["path"], r["line"], r["col"], r["full_path"] or "", r["chain"]))
    return rows


def _expand_helpers(
    decls: list[dict[str, Any]], mounts: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A helper's route made from its parameters (a ``template`` row at the declaration's span:
    ``for r in routes: bp.add_url_rule(r, view_func=view_func)``) becomes, for each call handing it a
    router with literal routes and a known view (its ``arg`` rows), one declaration per route on the
    caller's router, at the call. A call passing anything else (an argument the helper passes on
    in ``**kwargs``, a route that is not literal) keeps the helper's own route for its way up."""
    templates: dict[tuple[Any, ...], dict[str, Any]] = {}
    args: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    params: dict[Node, dict[str, Any]] = {}
    calls: dict[Node, list[dict[str, Any]]] = defaultdict(list)
    kept = []
    for m in sorted(mounts, key=_position):
        t = m["type"]
        if t == "template":
            templates[_position(m)] = m
        elif t == "arg":
            args[_position(m)].append(m)
        else:
            kept.append(m)
            if t == "param":
                params[(m["repo"], m["target"])] = m
            elif t == "call":
                calls[(m["repo"], m["target"])].append(m)
    if not templates:
        return decls, kept
    out = []
    for d in decls:
        t = templates.get(_position(d))
        p = params.get((d["repo"], d["owner"])) if t is not None else None
        made = _expanded(d, t, p, calls, args) if t is not None and p is not None else None
        if made is None:
            out.append(d)
        else:
            out.extend(made)
    return out, kept


def _expanded(
    d: dict[str, Any],
    t: dict[str, Any],
    p: dict[str, Any],
    calls: dict[Node, list[dict[str, Any]]],
    args: dict[tuple[Any, ...], list[dict[str, Any]]],
) -> list[dict[str, Any]] | None:
    """The declarations a helper's template route gives its callers (None: no caller resolved it;
    the declaration itself is kept too when some caller did not)."""
    repo = d["repo"]
    fn = p["key"].rpartition("(")[0]
    route_pos, route_name, view_pos, view_name = t["dependencies"]
    receiver = {p["key"], f"{fn}({p['name']})"}
    routes = {f"{fn}({route_pos})", f"{fn}({route_name})"}
    views = {f"{fn}({view_pos})", f"{fn}({view_name})"}
    literal = "list" if t["name"] == "each" else "str"
    made: list[dict[str, Any]] = []
    unresolved = False
    for slot in sorted(receiver):
        for c in calls.get((repo, slot), ()):
            given = args.get(_position(c), [])
            route_args = [a for a in given if a["key"] in routes]
            view_args = [a for a in given if a["key"] in views]
            if (
                any(a["key"] not in receiver | routes | views for a in given)
                or not route_args
                or any(a["name"] != literal for a in route_args)
                or len(view_args) != 1
                or view_args[0]["name"] != "view"
            ):
                unresolved = True
                continue
            view = view_args[0]
            passed = [a["target_source"] for a in given if a["key"] in receiver]
            for a in route_args:
                made.append(
                    {
                        **d,
                        "path": c["path"],
                        "sha256": c["sha256"],
                        "route": a["target"],
                        "route_source": a["target_source"],
                        "owner": c["key"],
                        "owner_source": passed[0] if passed else None,
                        "name": view["prefix"],
                        "handler": view["target"],
                        "view_source": view["target_source"],
                        "decorators": [*view["dependencies"], *d["decorators"]],
                        "is_conditional": d["is_conditional"] or c["is_conditional"],
                        "is_dynamic": c["is_dynamic"],
                        "scope": c["scope"],
                        **{k: c[k] for k in ("line", "col", "end_line", "end_col")},
                    }
                )
    if not made:
        return None
    return [*made, d] if unresolved else made


def _route_row(graph: _Graph, d: dict[str, Any], chain: _Chain, h: dict[str, Any] | None) -> dict[str, Any]:
    fw = d["framework"] or chain.framework or "unknown"
    route = d["route"]
    if d["kind"] == "viewset" and route is not None and d["trailing_slash"] and not route.endswith("/"):
        route += "/"  # DRF routers add the trailing slash, unless made with trailing_slash=False
    full_path = join_all(fw, [*chain.prefixes, d["prefix"], route])
    names = [n for n in chain.names if n]
    name = d["name"]
    if name is not None:
        if fw == "flask":
            name = ".".join([*names, name])
        elif fw in ("django", "starlette"):
            name = ":".join([*names, *([d["namespace"]] if d["namespace"] else []), name])
    decorators = list(d["decorators"])
    deps = [*chain.deps, *d["dependencies"]]
    permissions: list[str] = []
    bases: list[str] = []
    methods = list(d["methods"])
    if h is not None:
        decorators += h["decorators"]
        deps += h["dependencies"]
        for ref in h["annotation_refs"]:
            alias = graph.handler(d["repo"], ref)
            if alias is not None and alias["kind"] == "dependency":
                deps += alias["dependencies"]
        permissions = list(h["permissions"])
        bases = h["bases"]
        if not methods and d["kind"] != "websocket":
            methods = list(h["methods"])
    if not methods and d["kind"] != "websocket":
        methods = ["*"] if d["kind"] == "viewset" else list(_DEFAULT_METHODS.get(fw, ["*"]))
    return {
        "repo": d["repo"],
        "path": d["path"],
        "sha256": d["sha256"],
        "framework": fw,
        "kind": d["kind"],
        "methods": methods,
        "route": d["route"],
        "route_source": d["route_source"],
        "full_path": full_path,
        "is_regex": d["is_regex"],
        "root": chain.root,
        "chain": chain.keys,
        "name": name,
        "handler": d["handler"],
        "view_source": d["view_source"],
        "handler_path": None if h is None else h["path"],
        "handler_line": None if h is None else h["line"],
        "decorators": decorators,
        "dependencies": deps,
        "permissions": permissions,
        "auth": auth_markers(decorators, deps, permissions, bases),
        "is_conditional": d["is_conditional"] or chain.cond,
        "is_dynamic": d["is_dynamic"],
        "line": d["line"],
        "col": d["col"],
        "end_line": d["end_line"],
        "end_col": d["end_col"],
    }


def _include_row(e: dict[str, Any], chain: _Chain) -> dict[str, Any]:
    """A mount whose target is not in the corpus: its routes are unknown, its prefix is not."""
    fw = e["framework"] or chain.framework or "unknown"
    prefix = e["prefix"] if e["prefix_source"] is not None else ""
    # dependencies reach an included router, not an ASGI app mounted under a prefix
    deps = [*chain.deps, *e["dependencies"]] if e["type"] == "include_router" else []
    return {
        "repo": e["repo"],
        "path": e["path"],
        "sha256": e["sha256"],
        "framework": fw,
        "kind": "include",
        "methods": [],
        "route": e["prefix"] if e["prefix_source"] is not None else None,
        "route_source": e["prefix_source"],
        "full_path": join_all(fw, [*chain.prefixes, prefix]),
        "is_regex": False,
        "root": chain.root,
        "chain": chain.keys,
        "name": e["name"],
        "handler": e["target"],
        "view_source": e["target_source"],
        "handler_path": None,
        "handler_line": None,
        "decorators": [],
        "dependencies": deps,
        "permissions": [],
        "auth": auth_markers([], deps, [], []),
        "is_conditional": e["is_conditional"] or chain.cond,
        "is_dynamic": e["is_dynamic"],
        "line": e["line"],
        "col": e["col"],
        "end_line": e["end_line"],
        "end_col": e["end_col"],
    }


def _callable_name(text: str) -> str:
    """``method_decorator(login_required, name="dispatch")`` -> ``login_required``; ``a.b(c)`` -> ``b``."""
    head, paren, rest = text.partition("(")
    name = head.strip().rsplit(".", 1)[-1]
    if name == "method_decorator" and paren:
        return _callable_name(rest.split(",", 1)[0].strip("() "))
    return name


def auth_markers(
    decorators: Iterable[str], dependencies: Iterable[str], permissions: Iterable[str], bases: Iterable[str]
) -> list[str]:
    """The decorators, dependencies, permission classes and base classes that look like access
    control, by name (see :data:`known.AUTH_NAME`); a permission class other than ``AllowAny``
    always counts."""
    out = [
        x
        for x in (*decorators, *dependencies, *bases)
        if known.AUTH_NAME.search(name := _callable_name(x)) and name not in known.NOT_AUTH
    ]
    out += [p for p in permissions if _callable_name(p) not in known.PUBLIC_PERMISSIONS]
    return out

"""The datasets of web routes: three per-file tables and the joined ``routes`` table.

Keys name objects the way the resolver names anything: the module, then the name bound
(``shop.api.users.router``); a name bound inside a function gets ``<locals>`` as ``__qualname__``
does (``shop.app.create_app.<locals>.app``). The operation joins the per-file tables on these keys.
"""

from __future__ import annotations

from codequarry.schema import dataset


@dataset("route_decls")
class RouteDecl:
    """One row per route a file declares (a decorator, a registering call, an entry of a URL list)."""

    framework: str | None
    kind: str
    methods: list[str]
    route: str | None
    route_source: str | None
    is_regex: bool
    trailing_slash: bool
    prefix: str | None
    namespace: str | None
    owner: str | None
    owner_source: str | None
    name: str | None
    handler: str | None
    view_source: str | None
    decorators: list[str]
    dependencies: list[str]
    is_conditional: bool
    is_dynamic: bool
    scope: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("route_mounts")
class RouteMount:
    """Router objects a file creates (kind 'object') and the edges mounting one under another
    (kind 'include': register_blueprint, include_router, include(), Mount, add_subapp, ...)."""

    kind: str
    framework: str | None
    type: str
    key: str | None
    target: str | None
    target_source: str | None
    prefix: str | None
    prefix_source: str | None
    name: str | None
    dependencies: list[str]
    is_conditional: bool
    is_dynamic: bool
    scope: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("route_handlers")
class RouteHandler:
    """Functions and classes of web modules that can serve a route, with what guards them."""

    kind: str
    handler: str
    name: str
    decorators: list[str]
    dependencies: list[str]
    annotation_refs: list[str]
    permissions: list[str]
    bases: list[str]
    methods: list[str]
    line: int
    col: int
    end_line: int
    end_col: int


@dataset("routes")
class Route:
    """One row per route and way of reaching it (a blueprint registered twice gives two rows)."""

    framework: str
    kind: str
    methods: list[str]
    route: str | None
    route_source: str | None
    full_path: str | None
    is_regex: bool
    root: str | None
    chain: list[str]
    name: str | None
    handler: str | None
    view_source: str | None
    handler_path: str | None
    handler_line: int | None
    decorators: list[str]
    dependencies: list[str]
    permissions: list[str]
    auth: list[str]
    is_conditional: bool
    is_dynamic: bool
    line: int
    col: int
    end_line: int
    end_col: int

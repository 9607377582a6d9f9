"""What the route extractor recognises: framework modules, constructors, route calls, auth names.

Fully qualified names are what the file's imports make of a callee (``from flask import Blueprint``
gives ``flask.Blueprint``); method names on a router object need no import, since the object may
come from another file.
"""

from __future__ import annotations

import re

#: top-level package imported -> framework
FRAMEWORK_OF_PACKAGE = {
    "flask": "flask",
    "fastapi": "fastapi",
    "starlette": "starlette",
    "django": "django",
    "rest_framework": "django",
    "aiohttp": "aiohttp",
    # Flask-RESTX (and its predecessor Flask-RESTPlus) and Flask-RESTful serve through a Flask app
    "flask_restx": "flask",
    "flask_restplus": "flask",
    "flask_restful": "flask",
}

#: constructor -> (framework, type); the types in ROOT_TYPES serve requests themselves
CONSTRUCTORS: dict[str, tuple[str, str]] = {
    "flask.Flask": ("flask", "Flask"),
    "flask.app.Flask": ("flask", "Flask"),
    "flask.Blueprint": ("flask", "Blueprint"),
    "flask.blueprints.Blueprint": ("flask", "Blueprint"),
    "fastapi.FastAPI": ("fastapi", "FastAPI"),
    "fastapi.applications.FastAPI": ("fastapi", "FastAPI"),
    "fastapi.APIRouter": ("fastapi", "APIRouter"),
    "fastapi.routing.APIRouter": ("fastapi", "APIRouter"),
    "starlette.applications.Starlette": ("starlette", "Starlette"),
    "starlette.routing.Router": ("starlette", "Router"),
    "aiohttp.web.Application": ("aiohttp", "Application"),
    "aiohttp.web_app.Application": ("aiohttp", "Application"),
    "aiohttp.web.RouteTableDef": ("aiohttp", "RouteTableDef"),
    "aiohttp.web_routedef.RouteTableDef": ("aiohttp", "RouteTableDef"),
    "rest_framework.routers.DefaultRouter": ("django", "DefaultRouter"),
    "rest_framework.routers.SimpleRouter": ("django", "SimpleRouter"),
    # resource APIs on a Flask app or blueprint: ``Api(bp)``, ``api.add_namespace(ns, "/x")``
    **{f"{pkg}.Api": ("flask", "Api") for pkg in ("flask_restx", "flask_restplus", "flask_restful")},
    **{f"{pkg}.Namespace": ("flask", "Namespace") for pkg in ("flask_restx", "flask_restplus")},
}
CONSTRUCTOR_NAMES = frozenset(k.rsplit(".", 1)[1] for k in CONSTRUCTORS)
ROOT_TYPES = frozenset({"Flask", "FastAPI", "Starlette", "Router", "Application", "list"})

#: entries of URL lists: callee -> (framework, kind); kind 'path' / 'regex' (Django), 'route' / 'websocket'
#: / 'mount' (Starlette), an HTTP method or 'route' / 'view' (aiohttp)
LIST_ENTRIES: dict[str, tuple[str, str]] = {
    "django.urls.path": ("django", "path"),
    "django.urls.conf.path": ("django", "path"),
    "django.urls.re_path": ("django", "regex"),
    "django.urls.conf.re_path": ("django", "regex"),
    "django.conf.urls.url": ("django", "regex"),
    "django.conf.urls.re_path": ("django", "regex"),
    "starlette.routing.Route": ("starlette", "route"),
    "starlette.routing.WebSocketRoute": ("starlette", "websocket"),
    "starlette.routing.Mount": ("starlette", "mount"),
    "fastapi.routing.APIRoute": ("fastapi", "route"),
    "fastapi.routing.APIWebSocketRoute": ("fastapi", "websocket"),
    **{f"aiohttp.web.{m}": ("aiohttp", m.upper()) for m in ("get", "post", "put", "patch", "delete", "head")},
    "aiohttp.web.route": ("aiohttp", "route"),
    "aiohttp.web.view": ("aiohttp", "view"),
}
LIST_ENTRY_NAMES = frozenset(k.rsplit(".", 1)[1] for k in LIST_ENTRIES)
INCLUDES = frozenset({"django.urls.include", "django.urls.conf.include", "django.conf.urls.include"})

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
#: decorators on a router object that declare a route: ``@app.route``, ``@router.get``, ...
DECORATOR_ATTRS = frozenset({"route", "api_route", "websocket", "websocket_route", "view", *HTTP_METHODS})
#: calls on a router object that declare a route
ROUTE_METHODS = frozenset(
    {
        "add_url_rule",
        "add_api_route",
        "add_route",
        "add_websocket_route",
        "add_api_websocket_route",
        "add_view",
        *(f"add_{m}" for m in HTTP_METHODS),
        "register",
        "add_resource",
    }
)
#: calls on a router object that mount another one under it
MOUNT_METHODS = frozenset(
    {
        "register_blueprint",
        "include_router",
        "mount",
        "add_subapp",
        "add_routes",
        "add_namespace",
        "init_app",
        "add_static",
    }
)
#: objects of Flask-RESTX / Flask-RESTful: their routes' Flask endpoint names are not derived here
RESOURCE_API_TYPES = frozenset({"Api", "Namespace"})

#: top-level modules whose objects have route-like decorator names but serve nothing:
#: ``@mock.patch("pkg.f")``, ``@responses.get(...)``
NOT_ROUTERS = frozenset({"unittest", "mock", "responses", "respx", "requests_mock"})

#: methods of class-based views (Django, Flask MethodView, Starlette HTTPEndpoint, aiohttp View) and
#: DRF viewset actions -> HTTP method
VIEW_METHODS = {m: m.upper() for m in HTTP_METHODS} | {
    "list": "GET",
    "retrieve": "GET",
    "create": "POST",
    "update": "PUT",
    "partial_update": "PATCH",
    "destroy": "DELETE",
}
#: decorators stating a function view's methods
METHOD_DECORATORS = {"require_GET": ["GET"], "require_POST": ["POST"], "require_safe": ["GET", "HEAD"]}

#: what an auth decorator, dependency, permission class or mixin is called (its last dotted name)
AUTH_NAME = re.compile(
    r"login|logged_in|auth|permission|jwt|token|current_(?:\w+_)?user|get_user|user_passes|userpasses|staff|"
    r"superuser|admin_required|admin_view|role|scope|api_?key|oauth|bearer|credential|secur|verify|signature|"
    r"^requires?$|^requires?_|_required$",
    re.IGNORECASE,
)
#: names the pattern above would take for access control, that are not
NOT_AUTH = frozenset(
    {
        "require_http_methods",
        "require_GET",
        "require_POST",
        "require_safe",
        "permission_classes",
        "authentication_classes",
    }
)
#: permission classes that let everyone in
PUBLIC_PERMISSIONS = frozenset({"AllowAny"})

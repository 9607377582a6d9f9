"""The reference facts of the call-graph walker that are not plain name uses: defs under a registering
decorator, dotted paths in Django settings, names listed in ``__all__``, and which local reads count."""

from __future__ import annotations

import ast
import re
from typing import Any

from codequarry.extractors.python.callgraph.scopes import Scope

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
#: Django settings whose strings name functions and classes the framework imports
_SETTINGS = frozenset(
    {
        "MIDDLEWARE",
        "MIDDLEWARE_CLASSES",
        "TEMPLATES",
        "AUTHENTICATION_BACKENDS",
        "ROOT_URLCONF",
        "WSGI_APPLICATION",
        "ASGI_APPLICATION",
        "TEST_RUNNER",
        "PASSWORD_HASHERS",
        "AUTH_PASSWORD_VALIDATORS",
        "TEMPLATE_CONTEXT_PROCESSORS",
        "DEFAULT_EXCEPTION_REPORTER",
        "DEFAULT_EXCEPTION_REPORTER_FILTER",
        "CSRF_FAILURE_VIEW",
        "FILE_UPLOAD_HANDLERS",
        "MESSAGE_STORAGE",
        "SESSION_SERIALIZER",
        "STATICFILES_FINDERS",
        "LOGGING",
        "REST_FRAMEWORK",
        "CELERY_BEAT_SCHEDULE",
        "DATABASE_ROUTERS",
    }
)


class Uses:
    """Mixed into the walker (:mod:`.facts`): it provides ``facts``, ``span``, ``module``, ``scope_defs``."""

    facts: dict[str, list[Any]]
    module: str
    scope_defs: dict[str, set[str]]
    span: Any

    def registered(self, node: Any, scope: Scope, value: Any) -> None:
        """A def or class under a registering decorator (``@receiver(sig)``, ``@app.route("/")``,
        ``@admin.register(M)``: a call or an attribute, not functools') is used by the framework: a
        ``decorated`` reference to itself."""
        for dec in node.decorator_list:
            func = dec.func if isinstance(dec, ast.Call) else dec
            if isinstance(dec, (ast.Call, ast.Attribute)):
                head = func
                while isinstance(head, ast.Attribute):
                    head = head.value
                if isinstance(head, ast.Name) and head.id == "functools":
                    continue
                if isinstance(func, ast.Name) and func.id in (
                    "wraps",
                    "lru_cache",
                    "cache",
                    "cached_property",
                ):
                    continue
                line, col = self.span(dec)[:2]
                self.facts["refs"].append([line, col, "decorated", scope.qual, value])
                return

    def setting_strings(self, node: ast.Assign) -> None:
        """Dotted paths a framework imports by name: Django's MIDDLEWARE, TEMPLATES (context
        processors), AUTHENTICATION_BACKENDS, ... become ``string`` references."""
        if not any(isinstance(t, ast.Name) and t.id in _SETTINGS for t in node.targets):
            return
        for n in ast.walk(node.value):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and _DOTTED.match(n.value):
                line, col = self.span(n)[:2]
                self.facts["refs"].append([line, col, "string", "", ["p", n.value]])

    # -- definitions ------------------------------------------------------------------------------

    def global_or_def(self, var: str) -> bool:
        """A module global, or a local a nested def or class binds (``return wrapper``): a plain read of
        it is a reference; other locals' reads are not recorded."""
        if "::" in var:
            return True
        where, _, name = var.rpartition(":")
        return name in self.scope_defs.get(where.partition(":")[2], ())

    def exports(self, node: ast.Assign | ast.AugAssign) -> None:
        """``__all__ = [...]`` (or ``+=``) at module level: each name listed is an ``export`` reference
        (``from m import *`` and documentation tools use it)."""
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return
        if isinstance(node.value, (ast.List, ast.Tuple)):
            for n in node.value.elts:
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    line, col = self.span(n)[:2]
                    self.facts["refs"].append([line, col, "export", "", ["v", f"{self.module}::{n.value}"]])

"""Rules over assigned and default values: hardcoded secrets, Django ``DEBUG`` and ``ALLOWED_HOSTS``.

The base of the findings of :mod:`.findings`; whether a name and a value look secret is
:mod:`.secrets`' call.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.extractors.python.security.callsites import FileFacts
from codequarry.extractors.python.security.secrets import secret_name, secret_value
from codequarry.python.values import literal_str
from codequarry.source import SourceFile

_SETTINGS_NAMES = frozenset(
    {
        "INSTALLED_APPS",
        "ROOT_URLCONF",
        "MIDDLEWARE",
        "MIDDLEWARE_CLASSES",
        "DATABASES",
        "SECRET_KEY",
        "WSGI_APPLICATION",
        "ALLOWED_HOSTS",
    }
)


class AssignmentRules:
    """Collects finding rows (rule, node, severity, message, snippet) for one file."""

    def __init__(self, src: SourceFile, facts: FileFacts) -> None:
        self.src = src
        self.facts = facts
        self.seg = src.segment
        self.rows: list[tuple[str, Any, str | None, str, str | None]] = []

    def _add(
        self, rule: str, node: Any, message: str, severity: str | None = None, snippet: str | None = None
    ) -> None:
        self.rows.append((rule, node, severity, message, snippet))

    # -- assignments ------------------------------------------------------------------------------------
    def assignments(self) -> None:
        """Every rule over assigned values and default values, in one order (rows keep it on ties)."""
        self._assigned_constants()
        self._augmented_hosts()
        self._keyword_secrets()
        self._dict_secrets()
        self._default_secrets()

    def _assigned_constants(self) -> None:
        """``NAME = "secret"``, a settings module's ``DEBUG = True``, ``ALLOWED_HOSTS = ["*"]``."""
        src = self.src
        Constant, Name, str_ = ast.Constant, ast.Name, str
        module = src.tree
        settings_checked: bool | None = None
        for stmt in src.nodes(ast.Assign, ast.AnnAssign):
            value = stmt.value
            if value is None:
                continue
            vcls = value.__class__
            if vcls is Constant:
                v = value.value
                targets = stmt.targets if stmt.__class__ is ast.Assign else (stmt.target,)
                if v.__class__ is str_:
                    for t in targets:
                        name = target_name(t)
                        if name is not None and secret_name(name) and secret_value(v, name):
                            self._secret(stmt, name, v)
                elif (
                    v is True
                    and any(t.__class__ is Name and t.id == "DEBUG" for t in targets)
                    and self.facts.context(stmt)[0] is None
                ):
                    if settings_checked is None:
                        settings_checked = self._is_settings()
                    if settings_checked:
                        self._add(
                            "django-debug",
                            stmt,
                            "DEBUG = True in Django settings: tracebacks and settings are shown to anyone",
                        )
            elif vcls in (ast.List, ast.Tuple) and self.facts.parent(stmt) is module:
                targets = stmt.targets if stmt.__class__ is ast.Assign else (stmt.target,)
                if any(t.__class__ is Name and t.id == "ALLOWED_HOSTS" for t in targets):
                    self._allowed_hosts(stmt, value)

    def _augmented_hosts(self) -> None:
        """``ALLOWED_HOSTS += ["*"]`` at module level."""
        src = self.src
        module = src.tree
        Name = ast.Name
        for stmt in src.nodes(ast.AugAssign):
            if (
                stmt.target.__class__ is Name
                and stmt.target.id == "ALLOWED_HOSTS"
                and stmt.value.__class__ in (ast.List, ast.Tuple)
                and self.facts.parent(stmt) is module
            ):
                self._allowed_hosts(stmt, stmt.value)

    def _keyword_secrets(self) -> None:
        """``f(password="...")``."""
        src = self.src
        Constant, str_ = ast.Constant, str
        for kw in src.nodes(ast.keyword):
            value = kw.value
            if (
                value.__class__ is Constant
                and value.value.__class__ is str_
                and kw.arg is not None
                and secret_name(kw.arg)
                and secret_value(value.value, kw.arg)
            ):
                self._secret(kw, kw.arg, value.value)

    def _dict_secrets(self) -> None:
        """``{"password": "..."}``."""
        src = self.src
        Constant, str_ = ast.Constant, str
        for d in src.nodes(ast.Dict):
            for k, value in zip(d.keys, d.values, strict=True):
                if (
                    value.__class__ is Constant
                    and value.value.__class__ is str_
                    and k is not None
                    and k.__class__ is Constant
                    and k.value.__class__ is str_
                    and secret_name(k.value)
                    and secret_value(value.value, k.value)
                ):
                    self._secret(value, k.value, value.value)

    def _default_secrets(self) -> None:
        """``def f(password="...")``, keyword-only parameters too."""
        src = self.src
        Constant, str_ = ast.Constant, str
        for args in src.nodes(ast.arguments):
            defaults = args.defaults
            if defaults:
                params = [*args.posonlyargs, *args.args][-len(defaults) :]
                for p, value in zip(params, defaults, strict=True):
                    if (
                        value.__class__ is Constant
                        and value.value.__class__ is str_
                        and secret_name(p.arg)
                        and secret_value(value.value, p.arg)
                    ):
                        self._secret(value, p.arg, value.value)
            for p, value in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                if (
                    value is not None
                    and value.__class__ is Constant
                    and value.value.__class__ is str_
                    and secret_name(p.arg)
                    and secret_value(value.value, p.arg)
                ):
                    self._secret(value, p.arg, value.value)

    def _secret(self, node: Any, name: str, value: str) -> None:
        masked = value[:2] + "*" * min(len(value) - 2, 6)
        self._add(
            "hardcoded-secret",
            node,
            f"hardcoded secret in {name} ({len(value)} characters)",
            snippet=f"{name} = {masked!r}",
        )

    def _allowed_hosts(self, stmt: Any, value: Any) -> None:
        if any(literal_str(e) == "*" for e in value.elts):
            self._add("django-allowed-hosts", stmt, "ALLOWED_HOSTS contains '*': any Host header is accepted")

    def _is_settings(self) -> bool:
        """A Django settings module: its path says so, or it sets names only settings set."""
        if "settings" in self.src.path.lower():
            return True
        for stmt in self.src.tree.body:
            if stmt.__class__ is ast.Assign:
                for t in stmt.targets:
                    if t.__class__ is ast.Name and t.id in _SETTINGS_NAMES:
                        return True
        return False


def target_name(t: Any) -> str | None:
    """The name an assignment target binds: ``x``, ``self.x`` -> x, ``d["x"]`` -> x."""
    cls = t.__class__
    if cls is ast.Name:
        return t.id
    if cls is ast.Attribute:
        return t.attr
    if cls is ast.Subscript:
        return literal_str(t.slice)
    return None

"""Joining route prefixes the way each framework does."""

from __future__ import annotations


def join_path(framework: str | None, prefix: str | None, route: str | None) -> str | None:
    """``prefix`` then ``route`` as the framework joins them; None when either is unknown.

    Flask joins with one slash (``/users`` + ``/`` -> ``/users/``); FastAPI, Starlette and aiohttp
    append the route to the prefix without its trailing slash; Django concatenates (a regex route's
    leading ``^`` is dropped after a prefix, as the resolver matches the rest of the path).
    """
    if prefix is None or route is None:
        return None
    if not prefix:
        return route
    if not route:
        return prefix
    if framework == "django":
        return prefix + (route[1:] if route.startswith("^") else route)
    if framework == "flask":
        return prefix.rstrip("/") + "/" + route.lstrip("/")
    return prefix.rstrip("/") + route


def join_all(framework: str | None, parts: list[str | None]) -> str | None:
    out: str | None = ""
    for part in parts:
        out = join_path(framework, out, part)
        if out is None:
            return None
    return out

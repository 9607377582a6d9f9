"""The local web UI: a Starlette app over one store, read-only.

Every request opens the store's *current* published snapshot, so the UI keeps working (and shows the
new data) while a writer publishes; SQL goes through the same read-only entry point as `quarry sql`.
Queries run in child processes (see :mod:`codequarry.serve.queries`), at most ``QUERY_SLOTS`` at a time,
with a timeout that stops them and a row cap.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from codequarry import sqlout
from codequarry.progress import read_progress
from codequarry.serve.page import PAGE
from codequarry.serve.queries import DEFAULT_MEMORY, QueryFailed, QueryMemory, QueryTimeout
from codequarry.serve.views import VIEWS, view_sql

QUERY_SLOTS = 2
#: the largest request body /api/sql reads (a query is text a person writes: 1 MiB is far beyond
#: one); a larger body is refused before it is held in memory whole
MAX_SQL_BYTES = 1 << 20
#: the longest URL (path and query) and the most header bytes a request may carry; past them the
#: answer is 414 / 431 with a message. ``quarry serve`` lets uvicorn's parser hold a request head of
#: up to HEAD_BUFFER_BYTES so these answers are given (its default of 16 KiB reset a ~64 KB GET)
MAX_URL_BYTES = 64 << 10
MAX_HEADER_BYTES = 64 << 10
HEAD_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class ServeConfig:
    store: Path
    token: str | None = None
    host: str = "127.0.0.1"  # the address bound: on loopback, only loopback names are answered
    row_cap: int = 1000  # rows shown in the console
    download_cap: int = 1_000_000  # rows in a CSV/JSON download
    query_timeout: float = 30.0  # seconds
    query_memory: int = DEFAULT_MEMORY  # bytes a query's process may use (see serve.queries)


class _TokenGate(BaseHTTPMiddleware):
    """With a token, every request must carry it: ``Authorization: Bearer T`` or ``?token=T``."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token.encode()

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        given = request.query_params.get("token") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), self.token):
            return JSONResponse(
                {"error": "this server needs its token: ?token=... or Authorization: Bearer ..."},
                status_code=401,
            )
        response: Response = await call_next(request)
        return response


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for an address (or the name localhost) that other machines cannot reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name of a ``Host`` header without its port: ``[::1]:8765`` -> ``::1``, ``A:80`` -> ``a``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _LoopbackHostGate(BaseHTTPMiddleware):
    """A loopback server answers only requests addressed to a loopback name.

    A page on another site can re-point its own name at 127.0.0.1 (DNS rebinding); the browser then
    sends that name in ``Host`` and lets the page read the answers as its own. Refusing any name but
    localhost and the loopback addresses leaves such a page nothing to read.
    """

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        name = host_name(request.headers.get("host", ""))
        if name not in LOOPBACK_NAMES and not (name and is_loopback(name)):
            return JSONResponse(
                {"error": "this server answers only to localhost, 127.0.0.1 or [::1]"}, status_code=403
            )
        response: Response = await call_next(request)
        return response


class _HeadGate:
    """A request whose URL or headers are too long gets 414 or 431 and one line saying what to do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            url = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            headers = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ()))
            message, status = None, 0
            if url > MAX_URL_BYTES:
                message = (
                    f"the URL is longer than {MAX_URL_BYTES >> 10} KiB; send a long query as POST /api/sql"
                )
                status = 414
            elif headers > MAX_HEADER_BYTES:
                message, status = f"the request headers are larger than {MAX_HEADER_BYTES >> 10} KiB", 431
            if message is not None:
                await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _jsonable(table: pa.Table) -> list[list[Any]]:
    rows = []
    for row in table.to_pylist():
        rows.append(
            [v if isinstance(v, str | int | float | bool | type(None)) else _plain(v) for v in row.values()]
        )
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | dict):
        return json.loads(json.dumps(value, default=str))
    return str(value)


def create_app(config: ServeConfig) -> Starlette:
    """The ASGI app; run it with uvicorn (``quarry serve`` does)."""
    h = _Handlers(config)
    routes = [
        Route("/", h.page),
        Route("/healthz", h.health),
        Route("/api/tables", h.tables),
        Route("/api/sql", h.sql_post, methods=["POST"]),
        Route("/api/sql", h.sql_get, methods=["GET"]),
        Route("/api/views/{name}", h.view),
        Route("/api/runs", h.runs),
        Route("/api/runs/{run}", h.run_report),
        Route("/runs/{run}/report.html", h.run_html),
        Route("/api/progress", h.progress),
        Route("/api/progress/stream", h.progress_stream),
    ]
    middleware = [Middleware(_TokenGate, token=config.token)] if config.token else []
    if is_loopback(config.host):
        middleware.insert(0, Middleware(_LoopbackHostGate))
    middleware.insert(0, Middleware(_HeadGate))
    return Starlette(routes=routes, middleware=middleware)


class _Handlers:
    """The app's endpoints over one store; queries run in a child process, at most QUERY_SLOTS at once."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.limiter = anyio.CapacityLimiter(QUERY_SLOTS)

    def store(self) -> Any:
        from codequarry.query import open_store

        return open_store(self.config.store)

    async def run_query(self, sql_text: str, cap: int) -> tuple[pa.Table, bool, float]:
        from codequarry.serve.queries import run_query as in_child

        config = self.config
        return await anyio.to_thread.run_sync(
            lambda: in_child(
                config.store, sql_text, cap=cap, timeout=config.query_timeout, memory=config.query_memory
            ),
            limiter=self.limiter,
        )

    async def query_response(self, sql_text: str, fmt: str, cap: int) -> Response:
        if not sql_text.strip():
            return JSONResponse({"error": "empty query"}, status_code=400)
        try:
            result, truncated, seconds = await self.run_query(sql_text, cap)
        except QueryTimeout as exc:
            return JSONResponse({"error": str(exc)}, status_code=504)
        except QueryMemory as exc:  # 507: the server cannot hold what the query asks for
            return JSONResponse({"error": str(exc)}, status_code=507)
        except QueryFailed as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return _query_result(result, fmt, cap, truncated, seconds)

    async def page(self, _request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def health(self, _request: Request) -> Response:
        snap = self.store().snapshot()
        return JSONResponse(
            {"ok": True, "store": str(self.config.store), "snapshot": snap.id if snap else None}
        )

    async def tables(self, _request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(_tables, self.store()))

    async def sql_post(self, request: Request) -> Response:
        raw = await _bounded_body(request, MAX_SQL_BYTES)
        if raw is None:
            return JSONResponse(
                {"error": f"the request is larger than {MAX_SQL_BYTES >> 20} MiB; send one query"},
                status_code=413,
            )
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        sql_text = body.get("sql") if isinstance(body, dict) else None
        if not isinstance(sql_text, str):
            return JSONResponse({"error": 'send JSON: {"sql": "SELECT ..."}'}, status_code=400)
        return await self.query_response(sql_text, "json", self.config.row_cap)

    async def sql_get(self, request: Request) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv", "json-download"):
            return JSONResponse({"error": "format is json, csv or json-download"}, status_code=400)
        cap = self.config.row_cap if fmt == "json" else self.config.download_cap
        return await self.query_response(request.query_params.get("q", ""), fmt, cap)

    async def view(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in VIEWS:
            return JSONResponse({"error": f"no view '{name}'; views: {', '.join(VIEWS)}"}, status_code=404)
        snap = self.store().snapshot()
        if snap is None or VIEWS[name].table not in snap.tables:
            return JSONResponse({"columns": [], "rows": [], "truncated": False, "missing": VIEWS[name].table})
        return await self.query_response(
            view_sql(name, dict(request.query_params)), "json", self.config.row_cap
        )

    async def runs(self, _request: Request) -> Response:
        from codequarry.serve.runs import list_runs

        return JSONResponse(await anyio.to_thread.run_sync(list_runs, self.store()))

    async def run_report(self, request: Request) -> Response:
        from codequarry.serve.runs import run_report as report_of

        found = await anyio.to_thread.run_sync(report_of, self.store(), request.path_params["run"])
        if found is None:
            return JSONResponse({"error": f"no run '{request.path_params['run']}'"}, status_code=404)
        return JSONResponse(found)

    async def run_html(self, request: Request) -> Response:
        from codequarry.serve.runs import run_report_html

        page = await anyio.to_thread.run_sync(run_report_html, self.store(), request.path_params["run"])
        if page is None:
            return JSONResponse({"error": f"no run '{request.path_params['run']}'"}, status_code=404)
        return HTMLResponse(page)

    async def progress(self, _request: Request) -> Response:
        return JSONResponse(read_progress(self.config.store) or {"state": "idle"})

    async def progress_stream(self, request: Request) -> Response:
        store = self.config.store

        async def events() -> Any:
            last = None
            while not await request.is_disconnected():
                now = read_progress(store) or {"state": "idle"}
                text = json.dumps(now)
                if text != last:
                    last = text
                    yield f"data: {text}\n\n"
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.5)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )


async def _bounded_body(request: Request, cap: int) -> bytes | None:
    """The request's body, or None when it is (or says it is) longer than ``cap`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    got = bytearray()
    async for chunk in request.stream():
        got += chunk
        if len(got) > cap:
            return None
    return bytes(got)


def _query_result(result: pa.Table, fmt: str, cap: int, truncated: bool, seconds: float) -> Response:
    """A query's rows as a CSV or JSON download, or as the page's JSON (columns, types, rows)."""
    types = [str(t) for t in result.schema.types]
    result = sqlout.as_text_ready(result)  # nanosecond times, intervals: as text, not a 500
    if fmt == "csv":
        return Response(
            sqlout.render(result, "csv"),
            media_type="text/csv",
            headers={"content-disposition": 'attachment; filename="query.csv"'},
        )
    if fmt == "json-download":
        body = json.dumps(result.to_pylist(), default=str, ensure_ascii=False, indent=1) + "\n"
        return Response(
            body,
            media_type="application/json",
            headers={"content-disposition": 'attachment; filename="query.json"'},
        )
    return JSONResponse(
        {
            "columns": result.column_names,
            "types": types,
            "rows": _jsonable(result),
            "truncated": truncated,
            "row_cap": cap,
            "seconds": round(seconds, 4),
        }
    )


def _tables(st: Any) -> dict[str, Any]:
    snap = st.snapshot()
    if snap is None:
        return {"snapshot": None, "tables": []}
    out = []
    for name, state in sorted(snap.tables.items()):
        try:
            # (open_delta names an odd _delta_log entry: a FIFO there would hold the page forever)
            schema = pa.schema(st.open_delta(name, state.version).schema().to_arrow())
            cols = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
        except Exception as exc:  # a damaged table is shown as such, the others still are
            cols = [
                {
                    "name": "?",
                    "type": f"unreadable: {str(exc).splitlines()[0] if str(exc) else exc}",
                    "nullable": True,
                }
            ]
        out.append({"name": name, "rows": state.rows, "version": state.version, "columns": cols})
    return {"snapshot": snap.id, "published": snap.created, "tables": out}

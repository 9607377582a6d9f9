"""`quarry serve`, `quarry up`, `quarry down` and `quarry logs` (registered on the main app)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.table import Table

from codequarry.cli_common import StoreOpt, interrupt_code, open_store
from codequarry.errors import UsageError

out = Console(highlight=False, soft_wrap=True, emoji=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("up")(up)
    app.command("down")(down)
    app.command("logs")(logs)


def _store(store: Path | None) -> Path:
    return open_store(store).path


def serve(
    store: StoreOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0: pick a free one).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="QUARRY_SERVE_TOKEN",
            help="Require this token on every request (needed off loopback).",
        ),
    ] = None,
    row_cap: Annotated[int, typer.Option("--row-cap", help="Rows shown per query in the console.")] = 1000,
    query_timeout: Annotated[
        float, typer.Option("--query-timeout", help="Seconds before a query is abandoned.")
    ] = 30.0,
    query_memory: Annotated[
        str, typer.Option("--query-memory", help="Memory a query may use before it is stopped (e.g. 2GB).")
    ] = "2GB",
) -> None:
    """Serve a read-only web UI over the store: tables, a SQL console, runs, routes, models, findings."""
    from codequarry.serve.app import is_loopback

    if not is_loopback(host) and not token:
        raise UsageError(
            f"--host {host} is reachable from other machines: pass --token SECRET (every request "
            "must then carry it), or keep the default 127.0.0.1"
        )
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    if row_cap < 1 or query_timeout <= 0:
        raise UsageError("--row-cap and --query-timeout must be positive")
    from codequarry.plan import parse_size

    memory = parse_size(query_memory)
    import uvicorn

    from codequarry.serve.app import HEAD_BUFFER_BYTES, ServeConfig, create_app

    path = _store(store)
    app = create_app(
        ServeConfig(
            store=path,
            token=token,
            host=host,
            row_cap=row_cap,
            query_timeout=query_timeout,
            query_memory=memory,
        )
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http="h11",  # the parser whose head limit is set here, whether or not httptools is installed
        h11_max_incomplete_event_size=HEAD_BUFFER_BYTES,
    )
    server = uvicorn.Server(config)
    out.print(f"serving {path} on http://{host}:{port}/ (Ctrl-C stops)" if port else f"serving {path}")
    try:
        server.run()  # uvicorn re-raises the signal that stopped it once it has shut down
    except KeyboardInterrupt:
        raise typer.Exit(interrupt_code()) from None  # 130 for Ctrl-C, 143 for SIGTERM, as `watch`


def up(
    store: StoreOpt = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port of the UI (default: config, else 8765).")
    ] = None,
) -> None:
    """Start the store's services in the background, in dependency order (UI; Ray, Prefect if configured)."""
    from codequarry.serve import services

    path = _store(store)
    for state in services.up(path, ui_port=port, token=os.environ.get("QUARRY_SERVE_TOKEN")):
        note = f" ({state.detail})" if state.detail else ""
        out.print(f"{state.name}: running, pid {state.pid}, 127.0.0.1:{state.port}{note}")


def down(store: StoreOpt = None) -> None:
    """Stop the store's services in reverse dependency order; nothing they started is left running."""
    from codequarry.serve import services

    done = services.down(_store(store))
    if not done:
        out.print("no service is running")
    for name, what in done.items():
        out.print(f"{name}: {what}")


def logs(
    name: Annotated[str, typer.Argument(help="Service: ui, ray or prefect.")],
    store: StoreOpt = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines to show from the end.")] = 50,
) -> None:
    """Show a service's log."""
    from codequarry.errors import did_you_mean
    from codequarry.serve import services

    if name not in services.ORDER:
        raise UsageError(
            f"no service '{name}'.{did_you_mean(name, services.ORDER)} Services: {', '.join(services.ORDER)}"
        )
    path = services.log_path(_store(store), name)
    if not path.exists():
        raise UsageError(f"{name} has no log yet: start it with 'quarry up'")
    with services.open_log(path) as fh:
        for line in _tail(fh, lines):
            out.print(line.decode("utf-8", "replace"), markup=False)
        if not follow:
            return
        try:
            while True:
                chunk = fh.readline()
                if chunk:
                    out.print(chunk.decode("utf-8", "replace").rstrip("\n"), markup=False)
                else:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            return


def services_table(path: Path) -> Table | None:
    """The services section of `quarry status`, or None when the store has none."""
    from codequarry.serve import services

    states = [s for s in services.status(path) if s.status != "stopped" or s.name != "ui"]
    if not states:
        return None
    grid = Table("service", "status", "pid", "port", "uptime", "detail", box=None, pad_edge=False)
    for s in states:
        uptime = f"{time.time() - s.started:.0f} s" if s.started else "-"
        grid.add_row(s.name, s.status, str(s.pid or "-"), str(s.port or "-"), uptime, s.detail)
    return grid


#: how far back `quarry logs` reads to find its last lines (a log of one endless line is cut there)
TAIL_BYTES = 16 << 20


def _tail(fh: BinaryIO, lines: int) -> list[bytes]:
    """The last ``lines`` lines of ``fh``, read backwards from its end, never the whole log; ``fh`` is
    left at its end (where --follow goes on)."""
    end = fh.seek(0, os.SEEK_END)
    pos, data = end, b""
    while lines > 0 and pos > 0 and data.count(b"\n") <= lines and len(data) < TAIL_BYTES:
        step = min(1 << 16, pos)
        pos -= step
        fh.seek(pos)
        data = fh.read(step) + data
    fh.seek(end)
    return data.splitlines()[-lines:] if lines > 0 else []

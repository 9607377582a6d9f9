"""The `quarry` command's typer app (``codequarry.cli.main`` starts it when the no-op fast path does
not answer). Thin: parse arguments, call the library, render. Exit codes: 0 ok, 1 the run finished
with errors under --strict, 2 usage or input error, 130 interrupted."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from codequarry import __version__
from codequarry.cli_common import err, out
from codequarry.cli_common import state as _state
from codequarry.errors import QuarryError, printable

app = typer.Typer(
    name="quarry",
    help="Turn source trees into SQL-queryable tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain text: '[extract]' is a word, not markup
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"quarry (codequarry) {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


def _register_core() -> None:
    """The core commands (cli_extract, cli_store, cli_query), in the order `quarry --help` lists them."""
    from codequarry import cli_extract, cli_query, cli_store

    for command in (
        cli_extract.extract,
        cli_store.tables,
        cli_store.schema,
        cli_extract.plan,
        cli_store.status,
        cli_store.compact,
        cli_store.doctor,
        cli_store.export,
        cli_query.sql,
        cli_query.extractors,
    ):
        app.command()(command)


_register_core()


def _register_commands() -> None:
    from codequarry.flows.cli import register as register_flows
    from codequarry.report.cli import register as register_reports
    from codequarry.serve.cli import register as register_serve
    from codequarry.tools.cli import register

    register(app)
    register_reports(app)
    register_serve(app)
    register_flows(app)
    from codequarry.repos_cli import register as register_repos

    register_repos(app)
    from codequarry.watch import register as register_watch

    register_watch(app)


_register_commands()


def _on_sigterm(_sig: int, _frame: Any) -> None:
    _state["sigterm"] = True
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the app, turning codequarry's own errors into one line and an exit code."""
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)  # stop like Ctrl-C: workers killed, nothing published
    from codequarry.pandas_probe import skip_pandas_probe

    skip_pandas_probe()  # ~0.3 s of every command: pyarrow's probe imports pandas (see the module)
    try:
        app()
    except QuarryError as exc:
        if _state["debug"]:
            raise
        from rich.markup import escape

        err.print(f"[red]error:[/] {escape(printable(str(exc)))}")  # it may quote a file's name
        sys.exit(exc.exit_code)

"""`quarry repos` and `quarry repos remove NAME` (registered on the main app)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from codequarry.cli_common import StoreOpt, find_store, open_store

out = Console(highlight=False, soft_wrap=True, emoji=False)


def register(app: typer.Typer) -> None:
    repos_app = typer.Typer(help="The repos of a store: list them, remove one.", invoke_without_command=True)
    repos_app.callback(invoke_without_command=True)(list_cmd)
    repos_app.command("remove")(remove)
    app.add_typer(repos_app, name="repos")


def list_cmd(
    ctx: typer.Context,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the repos of the store: name, identity, roots, files and rows."""
    if ctx.invoked_subcommand is not None:
        return
    from codequarry.errors import printable
    from codequarry.repos import list_repos

    repos = list_repos(open_store(store))
    if as_json:
        out.print_json(json.dumps(repos))
        return
    if not repos:
        snap = open_store(store).snapshot()
        out.print(
            "no repos: the store holds no snapshot yet" if snap is None else "no repos: the store is empty"
        )
    for r in repos:
        roots = ", ".join(printable(x, tabs=False) for x in r["roots"]) or "-"
        out.print(
            f"{printable(r['repo'], tabs=False)}\t{r['files']} files\t{r['rows']} rows\t{printable(r['identity'], tabs=False)}\t{roots}",
            markup=False,
        )


def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The repo to remove (see 'quarry repos').")],
    store: StoreOpt = None,
) -> None:
    """Remove one repo's rows from every table, in one published snapshot."""
    from codequarry.errors import printable
    from codequarry.repos import remove_repo
    from codequarry.store import Store

    if store is None and ctx.parent is not None:  # `quarry repos --store S remove NAME`
        store = ctx.parent.params.get("store")

    done = remove_repo(Store.create(find_store(store)), name)
    dropped = (
        f"; {', '.join(done['tables_dropped'])} left the snapshot (derived again at the next run)"
        if done["tables_dropped"]
        else ""
    )
    out.print(
        f"removed {printable(name, tabs=False)}: {done['rows_removed']} rows; snapshot {done['snapshot']} published{dropped}",
        markup=False,
    )

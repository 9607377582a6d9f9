"""`quarry flows export` (registered on the main app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True, emoji=False)


def register(app: typer.Typer) -> None:
    flows_app = typer.Typer(help="Export the extractor DAG as Prefect flows.", no_args_is_help=True)
    flows_app.command("export")(export)
    app.add_typer(flows_app, name="flows")


def export(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT", help="Folder to write the flow files into.")],
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these extractors/operations or groups.")
    ] = None,
    deselect: Annotated[list[str] | None, typer.Option("--skip", help="Leave these out.")] = None,
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="Also export this plugin module's nodes.")
    ] = None,
) -> None:
    """Write one Prefect flow file per top-level group (standalone operations in standalone.py)."""
    from codequarry.flows.export import export_flows

    listing = export_flows(out_dir, select=select or (), deselect=deselect or (), plugins=plugin or ())
    for file, flows in listing.items():
        out.print(f"{out_dir / file}: {', '.join(flows)}")
    first = next(iter(listing))
    out.print(
        f"run one: python {out_dir / first} SOURCE [--store DIR]   (needs: pip install 'codequarry[prefect]')",
        markup=False,
    )

"""`csm init` and `csm paths`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from csm.cli.common import console, database_label, print_json, workspace


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("paths")(paths)


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")] = Path("."),
    me: Annotated[str, typer.Option(help="Your email: the owner `csm today` shows.")] = "me@example.com",
    name: Annotated[str, typer.Option(help="Your name, for email signatures.")] = "Your Name",
    database: Annotated[
        str, typer.Option(help="A SQLite file, or a postgresql://user@host/db URL (no password in it).")
    ] = "csm.db",
) -> None:
    """Create a workspace: csm.toml, built-in playbooks and templates, an empty csm.db."""
    from csm.init import create

    root = create(directory, me=me, name=name, database=database)
    console.print(f"Created a csm workspace in {root.resolve()}")
    console.print("Next: import your accounts with `csm import accounts FILE`, then `csm run --dry-run`.")


def paths(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print where everything lives."""
    ws = workspace(ctx)
    locations = {
        "workspace": ws.root,
        "settings": ws.settings_path,
        "database": database_label(ws),
        "playbooks": ws.playbooks_dir,
        "templates": ws.templates_dir,
        "content": ws.content_dir,
        "health_model": ws.health_path,
    }
    if as_json:
        print_json({k: str(v) for k, v in locations.items()})
        return
    for key, value in locations.items():
        console.print(f"{key + ':':<14}{value}")

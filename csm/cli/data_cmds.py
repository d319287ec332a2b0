"""`csm import`: load accounts, contacts, usage or events from CSV, JSON or NDJSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from csm.cli.common import console, open_db, print_json, workspace


def register(app: typer.Typer) -> None:
    app.command("import")(import_)


def import_(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="What the file holds: accounts, contacts, usage or events.", metavar="KIND")
    ],
    file: Annotated[str, typer.Argument(help="A CSV, JSON or NDJSON file; - reads stdin.", metavar="FILE")],
    map_name: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Read a CRM export through a field mapping: hubspot-companies, "
            "salesforce-accounts, or one in the workspace's mappings/ folder.",
            metavar="NAME",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Load accounts, contacts, usage or events: new rows are added, changed ones updated.

    Accounts match on id, contacts on account_id + email, usage on
    account_id + metric + date, events on id (their other fields become
    attributes). A bad row stops the import with its row number
    and leaves the database as it was.
    """
    from csm.cli.progress import progress
    from csm.data.importer import import_file, summary
    from csm.data.kinds import KINDS

    if kind not in KINDS:
        raise typer.BadParameter(f"'{kind}' is not one of: {', '.join(KINDS)}", param_hint="KIND")
    ws = workspace(ctx)
    mapping = None
    if map_name:
        from csm.data.mapping import load_mapping

        mapping = load_mapping(map_name, ws.root)
    path = None if file == "-" else Path(file)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    conn = open_db(ws)
    try:
        name = Path(file).name
        with progress(f"Importing {name}") as update:
            result = import_file(
                conn,
                kind,
                path,
                now=now,
                mapping=mapping,
                on_progress=lambda rows: update(description=f"Importing {name}: {rows:,} rows"),
                on_read=lambda done, size: update(completed=done, total=size, unit="bytes"),
            )
    finally:
        conn.close()
    if as_json:
        print_json(dataclasses.asdict(result))
        return
    console.print(f"Imported {result.source}: {summary(result)}.", markup=False, soft_wrap=True)

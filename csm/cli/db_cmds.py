"""`csm db copy`: a workspace's data between SQLite and PostgreSQL, checked table by table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from csm.cli.common import console, print_json

if TYPE_CHECKING:
    from csm.data.copy import CopyResult

db_app = typer.Typer(
    help="The workspace's database: copy it between SQLite and PostgreSQL.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("copy")
def copy(
    source: Annotated[str, typer.Argument(metavar="FROM", help="A SQLite file, or a postgresql:// URL.")],
    target: Annotated[
        str, typer.Argument(metavar="TO", help="A SQLite file (made if missing), or a postgresql:// URL.")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete what TO holds first (else a TO with data is refused).")
    ] = False,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            metavar="VAR",
            help="The environment variable holding the PostgreSQL password (else PGPASSWORD or ~/.pgpass).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Copy every table FROM one database TO another, in one transaction; check rows and checksums."""
    from csm.data.copy import copy_database, target_of
    from csm.errors import WorkspaceError

    result = copy_database(target_of(source), target_of(target), replace=replace, password_from=password_env)
    if as_json:
        print_json(result.as_json())
    else:
        _print(result)
    if not result.ok:
        differ = ", ".join(t.table for t in result.tables if not t.ok)
        raise WorkspaceError(
            f"the copy in {result.target} differs from {result.source} ({differ}); it was rolled back",
            hint="Nothing was written to the target. Report this as a bug, with the table above.",
        )


def _print(result: CopyResult) -> None:
    from rich.table import Table

    table = Table(title=f"{result.source} → {result.target}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("checksum")
    table.add_column("")
    for check in result.tables:
        rows = (
            f"{check.rows_from:,}"
            if check.rows_from == check.rows_to
            else f"{check.rows_from:,} ≠ {check.rows_to:,}"
        )
        summed = (
            check.checksum_from[:16]
            if check.checksum_from == check.checksum_to
            else f"{check.checksum_from[:16]} ≠ {check.checksum_to[:16]}"
        )
        table.add_row(check.table, rows, summed, "ok" if check.ok else "DIFFERS")
    console.print(table)
    if result.ok:
        total = sum(check.rows_to for check in result.tables)
        console.print(
            f"Copied {total:,} rows in {len(result.tables)} tables; every count and checksum agrees."
        )

"""`csm sync`: pull accounts, contacts and usage from the HTTP sources in csm.toml."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from csm.cli.common import console, err_console, open_db, print_json, workspace

if TYPE_CHECKING:
    from csm.data.sync import SyncResult


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    ctx: typer.Context,
    source: Annotated[
        str | None, typer.Argument(help="One source from csm.toml (default: all).", metavar="SOURCE")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Fetch and show the first mapped records; write nothing.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the last sync time and pull everything.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Pull from the HTTP sources in csm.toml; each source in one transaction.

    A failure leaves the database as it was. Incremental: the start time of the
    last good sync is sent as the source's since_param.
    """
    from csm.cli.progress import progress
    from csm.data.sources import parse_sources
    from csm.data.sync import sync_source
    from csm.errors import WorkspaceError, did_you_mean

    ws = workspace(ctx)
    sources = parse_sources(ws.settings.sources, ws.settings_path, ws.root)
    if not sources:
        raise WorkspaceError(
            f"{ws.settings_path}: no [sources.NAME] tables",
            hint="Describe your CRM's API there; the README's 'Syncing from a CRM's API' shows how.",
        )
    if source is not None and source not in sources:
        raise WorkspaceError(
            f"no source named '{source}' in {ws.settings_path}{did_you_mean(source, sources)}",
            hint=f"Sources: {', '.join(sources)}.",
        )
    chosen = [sources[source]] if source else list(sources.values())
    conn = open_db(ws)
    results = []
    try:
        for item in chosen:
            with progress(f"Syncing {item.name}", "pages") as update:
                results.append(
                    sync_source(
                        conn,
                        item,
                        now=dt.datetime.now(dt.UTC),
                        dry_run=dry_run,
                        full=full,
                        on_page=lambda kind, n, u=update, s=item.name: u(
                            advance=1, description=f"Syncing {s}: {kind}, {n:,} records"
                        ),
                    )
                )
    finally:
        conn.close()
    if as_json:
        print_json([_as_json(r) for r in results])
        return
    for result in results:
        _show(result)
    if dry_run:
        err_console.print("Dry run: nothing was written. Run without --dry-run to sync.")


def _as_json(result: SyncResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "dry_run": result.dry_run,
        "since": result.since,
        "started_at": result.started_at,
        "pulled": result.pulled,
        "results": [
            {"kind": r.kind, "inserted": r.inserted, "updated": r.updated, "unchanged": r.unchanged}
            for r in result.results
        ],
        "preview": result.preview,
    }


def _show(result: SyncResult) -> None:
    from rich.table import Table

    since = f" (changes since {result.since})" if result.since else ""
    verb = "Would sync" if result.dry_run else "Synced"
    table = Table(title=f"{verb} {result.source}{since}", title_justify="left")
    for column in ("kind", "pulled", "new", "updated", "unchanged"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    counts = {r.kind: r for r in result.results}
    for kind, pulled in result.pulled.items():
        r = counts.get(kind)
        table.add_row(
            kind, str(pulled), *(str(getattr(r, a, 0)) for a in ("inserted", "updated", "unchanged"))
        )
    console.print(table)
    for kind, records in result.preview.items():
        if records:
            console.print(f"First {kind} as csm will store them:")
            for record in records:
                console.print("  " + ", ".join(f"{k}={v}" for k, v in record.items()), markup=False)

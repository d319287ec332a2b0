"""Working the draft queue: `outbox`, `show`, `approve`, `skip`, `edit`, `review`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from csm.cli.common import console, err_console, print_json
from csm.cli.playbook_cmds import runtime
from csm.cli.values import same_person, why

if TYPE_CHECKING:
    import sqlite3

    from csm.runtime import Runtime


def register(app: typer.Typer) -> None:
    for name, command in (
        ("outbox", outbox),
        ("show", show),
        ("approve", approve),
        ("skip", skip),
        ("edit", edit),
        ("review", review),
    ):
        app.command(name)(command)


def outbox(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only drafts in this status.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this CSM's drafts.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List drafts and their status."""
    from csm import outbox as core

    items = core.listing(runtime(ctx).conn, status=status, owner=owner)
    if as_json:
        print_json(items)
        return
    table = Table(box=None, header_style="dim", pad_edge=False)
    for column in ("id", "status", "account", "subject", "step"):
        table.add_column(column, overflow="ellipsis", no_wrap=column != "subject")
    for d in items:
        table.add_row(
            str(d["id"]),
            d["status"],
            d["account_name"] or d["account_id"],
            d["subject"],
            f"{d['playbook']} › {d['step']}",
        )
    console.print(table if items else "The outbox is empty.")


def _with_overlaps(conn: sqlite3.Connection, draft: dict[str, Any]) -> dict[str, Any]:
    """The draft with the other pending drafts to the same person (csm.recipients)."""
    from csm.recipients import also_to_same_person

    return {**draft, "also_to_same_person": also_to_same_person(conn, [draft["id"]])[draft["id"]]}


def _print_draft(draft: dict[str, Any]) -> None:
    console.print(
        f"[bold]#{draft['id']}[/] {draft['status']}"
        + (" [yellow](edited)[/]" if draft["edited"] else "")
        + f"  {draft['playbook']} › {draft['step']}  {draft['account_name']} ({draft['account_id']})",
        highlight=False,
    )
    console.print(f"[dim]Why: {why(draft['why']) or 'matched'}[/]", highlight=False)
    if draft["reason"]:
        console.print(f"[dim]Reason: {draft['reason']}[/]", highlight=False)
    if draft["also_to_same_person"]:
        console.print(
            f"[yellow]{same_person(draft['also_to_same_person'])}; read them together before you approve.[/]",
            highlight=False,
        )
    console.print("[bold]To:[/] " + ", ".join(f"{n} <{e}>" for n, e in draft["to_addrs"]), highlight=False)
    if draft["cc"]:
        console.print("[bold]Cc:[/] " + ", ".join(draft["cc"]), highlight=False)
    console.print(f"[bold]Subject:[/] {draft['subject']}\n", highlight=False)
    console.print(draft["body"], markup=False, highlight=False)


def show(
    ctx: typer.Context,
    draft_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one draft: headers, body, and why it was drafted."""
    from csm import outbox as core

    conn = runtime(ctx).conn
    draft = _with_overlaps(conn, core.get(conn, draft_id))
    if as_json:
        print_json(draft)
    else:
        _print_draft(draft)


def approve(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(metavar="ID...", help="Draft ids.")] = None,
    playbook: Annotated[str | None, typer.Option(help="Approve every draft of this playbook.")] = None,
) -> None:
    """Approve drafts for `csm send`."""
    from csm import outbox as core

    rt = runtime(ctx)
    if bool(ids) == bool(playbook):
        raise typer.BadParameter("give draft IDs or --playbook, not both or neither", param_hint="ID...")
    if playbook:
        approved = core.approve_playbook(rt.conn, playbook, rt.now(), owner=None)
    else:
        core.approve(rt.conn, ids or [], rt.now())
        approved = list(ids or [])
    console.print(f"Approved {len(approved)} draft(s). Next: `csm send --dry-run`, then `csm send`.")


def skip(
    ctx: typer.Context,
    draft_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why it should not go out.")],
) -> None:
    """Skip a draft, with the reason (it is never sent)."""
    from csm import outbox as core

    rt = runtime(ctx)
    core.skip(rt.conn, draft_id, reason, rt.now())
    console.print(f"Skipped draft #{draft_id}.")


def _edit(rt: Runtime, draft_id: int) -> None:
    from csm import editing
    from csm import outbox as core

    draft = core.get(rt.conn, draft_id)
    if draft["status"] not in ("draft", "approved"):
        from csm.errors import StateError

        raise StateError(
            f"draft #{draft_id} is {draft['status']}; only draft or approved drafts can be edited"
        )
    saved = editing.run_editor(editing.to_text(draft["subject"], draft["body"]), draft_id)
    subject, body = editing.from_text(saved, draft_id)
    core.edit(rt.conn, draft_id, subject, body, rt.now())


def edit(ctx: typer.Context, draft_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Edit a draft in $EDITOR (the original is kept; it goes back to draft for approval)."""
    _edit(runtime(ctx), draft_id)
    console.print(f"Saved your edit of draft #{draft_id}. Approve it with `csm approve {draft_id}`.")


def review(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Review this CSM's drafts (default: me).")] = None,
) -> None:
    """Walk the drafts one by one: approve, edit, skip, next, quit."""
    from csm import outbox as core
    from csm.errors import CsmError

    if not sys.stdin.isatty():
        err_console.print(
            "Error: csm review needs a terminal.\n"
            "Use `csm outbox`, `csm show ID`, `csm approve ID... | --playbook P`"
            " and `csm skip ID --reason R`."
        )
        raise typer.Exit(2)
    rt = runtime(ctx)
    drafts = core.listing(rt.conn, status="draft", owner=owner or rt.ws.me())
    done = 0
    for index, item in enumerate(drafts, 1):
        while True:
            console.rule(f"{index}/{len(drafts)}")
            _print_draft(_with_overlaps(rt.conn, core.get(rt.conn, item["id"])))
            key = typer.prompt("[a]pprove [e]dit [s]kip [n]ext [q]uit", default="n").strip().lower()[:1]
            try:
                if key == "a":
                    core.approve(rt.conn, [item["id"]], rt.now())
                    done += 1
                elif key == "e":
                    _edit(rt, item["id"])
                    continue
                elif key == "s":
                    core.skip(rt.conn, item["id"], typer.prompt("Reason"), rt.now())
                    done += 1
                elif key == "q":
                    console.print(f"Reviewed {done} draft(s).")
                    return
                elif key != "n":
                    continue
            except CsmError as exc:
                err_console.print(f"[red]Error:[/] {exc}")
                continue
            break
    console.print(f"Reviewed {done} draft(s); no more drafts waiting.")

"""Working the draft queue: `outbox`, `show`, `approve`, `skip`, `edit`, `review`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from csm.cli.common import console, err_console, print_json, runtime
from csm.cli.completion import playbook_names
from csm.cli.values import same_person, why
from csm.templating.filters import plural

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
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only drafts in this status (repeat for several): draft, approved, sent…"),
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every draft, sent and skipped too.")] = False,
    owner: Annotated[str | None, typer.Option(help="Only this CSM's drafts.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the same drafts).")] = False,
) -> None:
    """List what waits (draft, approved, unknown, deferred); --all or --status for the history."""
    from csm.mail import outbox as core

    if everything and status:
        raise typer.BadParameter("give --all or --status, not both", param_hint="--all")
    conn = runtime(ctx).conn
    waiting = not (everything or status)
    wanted = core.WAITING if waiting else status
    items = core.listing(conn, status=wanted, owner=owner)
    if as_json:
        print_json(items)
        return
    if items:
        _print_outbox(items)
    elif waiting:
        console.print("Nothing waits for a person in the outbox.")
    else:
        console.print("No drafts" + (f" with status {' or '.join(status)}." if status else "."))
    if waiting:
        rest = {k: n for k, n in core.counts(conn, owner=owner).items() if k not in core.WAITING}
        if rest:
            history = ", ".join(f"{n:,} {k}" for k, n in rest.items())
            console.print(f"+ {history}: csm outbox --all", highlight=False)


_COLUMNS = ("id", "status", "account", "subject", "step")
# Columns that give up room when the terminal is narrow: (weight, narrowest); the subject keeps most.
_SHRINK = {"account": (1, 8), "subject": (2, 16), "step": (1, 10)}


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _widths(rows: list[tuple[str, ...]], room: int) -> dict[str, int]:
    widths = {name: max(len(name), *(len(r[i]) for r in rows)) for i, name in enumerate(_COLUMNS)}
    room -= 2 * (len(_COLUMNS) - 1)
    while sum(widths.values()) > room:
        name = max(_SHRINK, key=lambda n: widths[n] / _SHRINK[n][0])
        if widths[name] <= _SHRINK[name][1]:
            break
        widths[name] -= 1
    return widths


def _print_outbox(items: list[dict[str, Any]]) -> None:
    """One line per draft, the same columns whatever the filter."""
    rows = [
        (
            str(d["id"]),
            d["status"],
            d["account_name"] or d["account_id"],
            d["subject"],
            f"{d['playbook']} › {d['step']}",
        )
        for d in items
    ]
    widths = _widths(rows, console.width)
    for cells, style in ((_COLUMNS, "dim"), *((row, "") for row in rows)):
        text = "  ".join(_fit(c, widths[n]).ljust(widths[n]) for n, c in zip(_COLUMNS, cells, strict=True))
        console.print(text.rstrip(), style=style, markup=False, no_wrap=True, overflow="crop")


def _with_overlaps(conn: sqlite3.Connection, draft: dict[str, Any]) -> dict[str, Any]:
    """The draft with the other pending drafts to the same person (csm.recipients)."""
    from csm.mail.overlaps import also_to_same_person

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
    if draft.get("cc_internal"):
        console.print("[bold]Cc (internal):[/] " + ", ".join(draft["cc_internal"]), highlight=False)
    console.print(f"[bold]Subject:[/] {draft['subject']}\n", highlight=False)
    console.print(draft["body"], markup=False, highlight=False)


def show(
    ctx: typer.Context,
    draft_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one draft: headers, body, and why it was drafted."""
    from csm.mail import outbox as core

    conn = runtime(ctx).conn
    draft = _with_overlaps(conn, core.get(conn, draft_id))
    if as_json:
        print_json(draft)
    else:
        _print_draft(draft)


def approve(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(metavar="ID...", help="Draft ids.")] = None,
    playbook: Annotated[
        str | None, typer.Option(help="Approve every draft of this playbook.", autocompletion=playbook_names)
    ] = None,
) -> None:
    """Approve drafts for `csm send`."""
    from csm.mail import outbox as core

    rt = runtime(ctx)
    if bool(ids) == bool(playbook):
        raise typer.BadParameter("give draft IDs or --playbook, not both or neither", param_hint="ID...")
    if playbook:
        approved = core.approve_playbook(rt.conn, playbook, rt.now(), owner=None)
    else:
        result = core.approve(rt.conn, ids or [], rt.now())
        approved = result.approved
        for draft_id in result.already:
            console.print(f"#{draft_id} is already approved.")
        if not approved:
            return
    console.print(f"Approved {plural(len(approved), 'draft')}. Next: `csm send --dry-run`, then `csm send`.")


def skip(
    ctx: typer.Context,
    draft_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why it should not go out.")],
) -> None:
    """Skip a draft, with the reason (it is never sent)."""
    from csm.mail import outbox as core

    rt = runtime(ctx)
    core.skip(rt.conn, draft_id, reason, rt.now())
    console.print(f"Skipped draft #{draft_id}.")


def _edit(rt: Runtime, draft_id: int) -> None:
    from csm.mail import editing
    from csm.mail import outbox as core

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
    from csm.errors import CsmError
    from csm.mail import outbox as core

    if not sys.stdin.isatty():
        err_console.print(
            "Error: csm review needs a terminal.\n"
            "Use `csm outbox`, `csm show ID`, `csm approve ID... | --playbook P`"
            " and `csm skip ID --reason R`."
        )
        raise typer.Exit(2)
    rt = runtime(ctx)
    drafts = core.listing(rt.conn, status="draft", owner=owner or rt.me)
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
                    console.print(f"Reviewed {plural(done, 'draft')}.")
                    return
                elif key != "n":
                    continue
            except CsmError as exc:
                err_console.print(f"[red]Error:[/] {exc}")
                continue
            break
    console.print(f"Reviewed {plural(done, 'draft')}; no more drafts waiting.")

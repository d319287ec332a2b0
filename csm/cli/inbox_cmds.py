"""`csm inbox`: read replies and bounces from the mailbox in csm.toml (or a Maildir / mbox)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from csm.cli.common import console, err_console, print_json, today, workspace
from csm.templating.filters import plural

if TYPE_CHECKING:
    from csm.mail.inbox import InboxReport
    from csm.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("inbox")(inbox)


def inbox(
    ctx: typer.Context,
    maildir: Annotated[
        Path | None,
        typer.Option("--maildir", help="Read this Maildir folder instead of [inbox].", metavar="DIR"),
    ] = None,
    mbox: Annotated[
        Path | None, typer.Option("--mbox", help="Read this mbox export instead of [inbox].", metavar="FILE")
    ] = None,
    keep_body: Annotated[
        bool, typer.Option("--keep-body", help="Store each reply's text too (default: who, when, subject).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be recorded; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Record replies to what csm sent, and bounces, from the CSM's mailbox.

    A reply (In-Reply-To/References naming a sent draft, or mail from a
    contact) goes on the account's timeline as a touch and stops follow-ups
    that wait for silence; a bounce marks the address as bouncing. Reads only
    what is new since the last run; running it twice records nothing twice.
    """
    from csm.mail.inbox import Reader
    from csm.mail.mailboxes import open_mailbox
    from csm.runtime import open_runtime

    if maildir is not None and mbox is not None:
        raise typer.BadParameter("give --maildir or --mbox, not both", param_hint="--mbox")
    ws = workspace(ctx)
    mailbox = open_mailbox(ws.settings.inbox, root=ws.root, environ=os.environ, maildir=maildir, mbox=mbox)
    with open_runtime(ws, today(ctx, ws)) as rt:
        # The playbooks say which follow-ups a reply stops; inbox renders nothing, so no template gate.
        # Mail arrives on the real clock: a pinned --today changes evaluation, never these stamps.
        reader = Reader(rt.conn, rt.playbooks(), _ours(ws), _stamp, keep_body=keep_body)
        report = reader.read(mailbox, dry_run=dry_run)
    if as_json:
        print_json(report.as_json())
        return
    _show(report)


def _stamp() -> str:
    from csm.mail.claims import wall_clock

    return wall_clock().isoformat(timespec="seconds")


def _ours(ws: Workspace) -> frozenset[str]:
    """The addresses mail from which is the CSM's own: owners, me, the sender, the mailbox's user."""
    settings = ws.settings
    found = {*settings.owners, settings.me, settings.send.get("from"), settings.inbox.get("user")}
    return frozenset(str(a).lower() for a in found if isinstance(a, str) and "@" in a)


def _show(report: InboxReport) -> None:
    verb = "Would record" if report.dry_run else "Recorded"
    replies, bounces = len(report.replies), len(report.bounces)
    console.print(
        f"Read {plural(report.read, 'message')} from {report.mailbox}:"
        f" {plural(replies, 'reply', 'replies')}, {plural(bounces, 'bounce')}.",
        markup=False,
        soft_wrap=True,
    )
    if report.replies:
        console.print(f"\n[bold]{verb}: replies[/]")
    for r in report.replies:
        answers = f"answers draft #{r['draft']}" if r["draft"] else "from a contact"
        console.print(
            f"  {r['at'][:16].replace('T', ' ')}  {r['account']}  {r['from']}:"
            f" “{escape(r['subject'])}”, {answers}",
            no_wrap=True,
            overflow="ellipsis",
            highlight=False,
        )
    if report.bounces:
        console.print(f"\n[bold]{verb}: bouncing addresses[/] (left out of every send from now on)")
    for b in report.bounces:
        console.print(
            f"  {b['address']} ({', '.join(b['accounts'])}): {b['reason']}", markup=False, soft_wrap=True
        )
    for s in report.stopped:
        console.print(
            f"\nStopped {s['playbook']} › {s['step']} for {s['account']} (they replied):"
            f" {plural(s['drafts'], 'draft')} withdrawn, {plural(s['tasks'], 'task')} closed.",
            markup=False,
            soft_wrap=True,
        )
    left = ", ".join(f"{n} {why}" for why, n in sorted(report.ignored.items()))
    if left:
        console.print(f"\nLeft alone: {left}.", markup=False, soft_wrap=True)
    if report.dry_run:
        err_console.print("Dry run: nothing was written. Run without --dry-run to record.")

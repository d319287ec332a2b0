"""`csm send`, `resolve`, `unsubscribe`, `notify`: what leaves, and only once."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from csm.cli.common import console, err_console, print_json, runtime
from csm.templating.filters import plural

if TYPE_CHECKING:
    from csm.mail.sending import SendReport


def register(app: typer.Typer) -> None:
    app.command("send")(send)
    app.command("resolve")(resolve)
    app.command("unsubscribe")(unsubscribe)
    app.command("notify")(notify)


def send(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go; connect to nothing, write nothing.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Send at most N drafts.", metavar="N", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON.")] = False,
) -> None:
    """Send approved drafts through the transport in csm.toml, each at most once.

    Exit 3 when some drafts failed, were left approved, or have an unknown outcome.
    """
    from csm.mail.sending import LEDGER_KEYS, Ledger
    from csm.mail.transports import make_transport

    rt = runtime(ctx)
    ledger = Ledger(rt)  # the real clock: a pinned today changes which drafts may go, not their dates
    if dry_run:
        _dry_run(ledger, limit, as_json)
        return
    transport = make_transport(
        rt.ws.settings.send, root=rt.ws.root, environ=os.environ, other_keys=LEDGER_KEYS
    )
    drafts = len(ledger.approved(limit))
    from csm.cli.progress import progress

    with progress("Sending", "drafts", total=drafts) as update:
        report = ledger.send(transport, limit=limit, on_progress=lambda _: update(advance=1))
    if as_json:
        print_json(
            {
                "outcomes": [o.__dict__ for o in report.outcomes],
                "stopped": report.stopped,
                "recovered_unknown": report.recovered,
            }
        )
    else:
        _summary(report, transport.name)
    if not report.ok:
        raise typer.Exit(3)


def _dry_run(ledger, limit: int | None, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for draft in ledger.approved(limit):
        skip = ledger.why_not(draft)
        wait = None if skip else ledger.must_wait(draft)
        reason = skip or wait
        email, notes = ledger.outgoing(draft)
        rows.append(
            {
                "id": draft["id"],
                "account": draft["account_id"],
                "to": [addr for _, addr in (*email.to, *email.cc)],
                "subject": email.subject,
                "would": "defer" if wait else ("skip" if reason else "send"),
                "reason": reason,
                "notes": [] if reason else notes,
            }
        )
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(
        title=f"Dry run: {plural(len(rows), 'approved draft')}; nothing is sent or written",
        title_justify="left",
    )
    for column in ("id", "to", "subject", "would"):
        table.add_column(column)
    for row in rows:
        would = f"{row['would']}: {row['reason']}" if row["reason"] else "; ".join(["send", *row["notes"]])
        table.add_row(f"#{row['id']}", ", ".join(row["to"]), row["subject"], would)
    console.print(table)
    if rows:
        console.print("Next: `csm send` sends the drafts marked send.")


def _summary(report: SendReport, transport: str) -> None:
    from rich.table import Table

    if report.recovered:
        ids = ", ".join(f"#{i}" for i in report.recovered)
        err_console.print(
            f"Found {ids} cut off mid-send earlier: marked unknown (`csm resolve ID --sent|--retry`)."
        )
    console.print(
        f"Sent {report.count('sent')} via {transport}; {report.count('skipped')} skipped, "
        f"{report.count('failed')} failed, {report.count('unknown')} unknown, "
        f"{report.count('approved')} left approved"
        + (f", {report.count('deferred')} deferred by the touch budget." if report.count("deferred") else ".")
    )
    problems = [o for o in report.outcomes if o.status != "sent" or o.detail]
    if problems:
        table = Table(title_justify="left")
        for column in ("draft", "account", "outcome", "why"):
            table.add_column(column)
        for o in problems:
            table.add_row(f"#{o.draft_id}", o.account_id, o.status, o.detail)
        console.print(table)
    if report.stopped:
        err_console.print(f"[red]Stopped:[/] {report.stopped}. The rest stay approved.", highlight=False)
    if report.count("unknown"):
        console.print("Settle unknown outcomes with `csm resolve ID --sent` or `--retry`.")


def resolve(
    ctx: typer.Context,
    draft_id: Annotated[int, typer.Argument(metavar="ID")],
    sent: Annotated[bool, typer.Option("--sent", help="It did arrive: record it as sent.")] = False,
    again: Annotated[
        bool, typer.Option("--retry", help="It did not arrive: approve it to send again.")
    ] = False,
) -> None:
    """Settle a draft whose send outcome is unknown."""
    from csm.mail import outbox
    from csm.mail.claims import wall_clock

    if sent == again:
        raise typer.BadParameter("give exactly one of --sent or --retry", param_hint="--sent / --retry")
    rt = runtime(ctx)
    remaining = outbox.resolve(rt.conn, draft_id, sent=sent, now=wall_clock().isoformat())
    if sent and not remaining:
        console.print(f"Draft #{draft_id} is sent.")
    elif remaining:
        console.print(
            f"Draft #{draft_id} is approved again; `csm send` will send it to {', '.join(remaining)} only.",
            highlight=False,
        )
    else:
        console.print(f"Draft #{draft_id} is approved again; `csm send` will send it.")


def unsubscribe(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(metavar="[EMAIL]")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="The token of a List-Unsubscribe link or mail: unsubscribe whoever it was sent to."
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "asked to unsubscribe",
) -> None:
    """Never email this address again (it is left out of every draft at send time)."""
    from csm.mail import suppression

    if (address is None) == (token is None):
        raise typer.BadParameter(
            "give an EMAIL or --token, not both or neither", param_hint="EMAIL / --token"
        )
    rt = runtime(ctx)
    if token is not None:
        address, contacts = suppression.unsubscribe_token(rt.conn, token, reason, rt.now())
    else:
        contacts = suppression.unsubscribe(rt.conn, address or "", reason, rt.now())
    console.print(f"Unsubscribed {(address or '').strip()} ({plural(contacts, 'contact')}).", highlight=False)


def notify(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the digest; post nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the payload as JSON.")] = False,
) -> None:
    """Post a digest of what waits, per CSM, to the webhook in [notify] webhook_env."""
    from csm.mail.claims import wall_clock
    from csm.reporting import notify as core

    rt = runtime(ctx)
    payload = core.message(core.digest(rt.conn, rt.today, wall_clock()), rt.today, rt.stale_list())
    if dry_run or as_json:
        if as_json:
            print_json(payload)
        else:
            console.print(payload["text"], markup=False)
        if dry_run:
            return
    name, url = core.webhook_url(rt.ws.settings.notify, os.environ, str(rt.ws.settings_path))
    core.post(url, name, payload)
    if not as_json:
        err_console.print(f"Posted the digest to the webhook in ${name}.")

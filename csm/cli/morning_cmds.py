"""`csm today` and `csm account`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from csm.cli.common import console, database_label, print_json, runtime, write_html
from csm.cli.completion import account_ids
from csm.cli.pictures import MARKS, print_trend, sparkline, wanted
from csm.cli.values import same_person, show, why
from csm.templating.filters import plural

if TYPE_CHECKING:
    from csm.reporting.morning import Morning
    from csm.runtime import Runtime

SHOWN = 10  # rows per section in the terminal; --json has them all


def register(app: typer.Typer) -> None:
    app.command("today")(today)
    app.command("account")(account)


def _item(head: str, text: str, detail: str, warning: str = "") -> None:
    """Two lines per item: what it is, then (dimmed) why it is here; a warning below, if any."""
    console.print(f"  {head:<6}{text}", no_wrap=True, overflow="ellipsis", highlight=False)
    if detail:
        console.print(f"        [dim]{detail}[/]", no_wrap=True, overflow="ellipsis", highlight=False)
    if warning:
        console.print(f"        [yellow]{warning}[/]", highlight=False)


def _section(
    title: str, rows: list[dict[str, Any]], render: Callable[[dict[str, Any]], tuple[str, ...]]
) -> None:
    if not rows:
        return
    console.print(f"\n[bold]{title}[/] ({len(rows)})")
    for row in rows[:SHOWN]:
        _item(*render(row))
    if len(rows) > SHOWN:
        console.print(f"  [dim]… and {len(rows) - SHOWN} more (--json lists all)[/]")


_STATE_STYLE = {"overdue": "bold red", "due": "yellow", "upcoming": "default"}


def _task_detail(t: dict[str, Any], owner: str | None) -> str:
    """A task's second line: its type, who does it when that is not you, the step and why."""
    step = f"{t['playbook'] or 'manual'} › {t['step'] or ''}: {why(t['why'])}"
    extra = [t["type"]] if t["type"] != "other" else []
    if t["assignee"] and t["assignee"] != (owner or t["assignee"]):
        extra.append(f"for {t['assignee']}")
    return " · ".join([" ".join(extra), step]) if extra else step


def _print_stale(m: Morning) -> None:
    """Stale data first and loudly: what it held back matters more than anything below it."""
    if not m.stale:
        return
    console.print("\n[bold red]Stale data[/]: steps that read it did not fire today.", highlight=False)
    for item in m.stale:
        console.print(f"  [red]{item['summary']}[/]", highlight=False)
    if m.held_back:
        console.print(f"  [dim]held back: {', '.join(m.held_back)}[/]", highlight=False)
    console.print("  Import or sync fresh data, then run again.")


def _print_morning(m: Morning) -> None:
    who = m.owner or "everyone"
    console.print(f"[bold]Good morning.[/] {m.today}, the book of {who}.", highlight=False)
    _print_stale(m)
    _section(
        "Replies",
        m.replies,
        lambda r: (
            r["at"][5:10],
            f"{r['account_name']} ({r['account']}): {r['from']} wrote “{r['subject']}”",
            f"answers {r['playbook']} › {r['step']} (draft #{r['draft']})"
            if r["draft"]
            else "from a contact",
        ),
    )
    _section(
        "Drafts to review",
        m.drafts,
        lambda d: (
            f"#{d['id']}",
            d["subject"] if d["account_name"] in d["subject"] else f"{d['account_name']}: {d['subject']}",
            f"{d['playbook']} › {d['step']}: {why(d['why'])}",
            same_person(d["also_to_same_person"]) if d["also_to_same_person"] else "",
        ),
    )
    _section(
        "Deferred by the touch budget",
        m.deferred,
        lambda d: (
            f"#{d['id']}",
            d["subject"] if d["account_name"] in d["subject"] else f"{d['account_name']}: {d['subject']}",
            f"{d['playbook']} › {d['step']}",
            d["reason"] or "",
        ),
    )
    _section(
        "Tasks",
        m.tasks,
        lambda t: (
            f"#{t['id']}",
            f"[{_STATE_STYLE[t['state']]}]{t['state']} {t['due_date'][5:]}[/] "
            f"{t['account_name']}: {t['title']}",
            _task_detail(t, m.owner),
        ),
    )
    _section(
        "Renewals coming up",
        m.renewals,
        lambda r: (
            f"{r['days_to_renewal']}d",
            f"{r['name']} ({r['account']}) renews {r['renewal_date']}",
            why({k: r[k] for k in ("arr", "health", "days_since_touch") if k in r}),
        ),
    )
    _section(
        "Health falling",
        m.health_drops,
        lambda r: (
            "",
            f"{r['name']} ({r['account']})",
            why({k: v for k, v in r.items() if k not in ("account", "name", "owner")}),
        ),
    )
    _section(
        "Silent accounts",
        m.silent,
        lambda r: (
            f"{r['days_since_touch']}d",
            f"{r['name']} ({r['account']})",
            f"no touch since {r['last_touch_at'] or 'the start'}, arr={show('arr', r['arr'])}",
        ),
    )
    if not (m.replies or m.drafts or m.deferred or m.tasks or m.renewals or m.health_drops or m.silent):
        console.print("\nNothing needs you today.")
    elif m.drafts:
        console.print("\nNext: `csm review` to work the drafts, or `csm show ID`.")


def today(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Show this CSM's book (default: me).")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every CSM's accounts.")] = False,
    no_run: Annotated[bool, typer.Option("--no-run", help="Skip evaluating playbooks first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The morning list: replies, drafts to review, tasks, renewals, health drops, silent accounts."""
    from csm.reporting.morning import morning

    rt = runtime(ctx)
    who = None if everyone else (owner or rt.me)
    held: list[str] = []
    if not no_run:
        from csm.collector import paused
        from csm.engine import incremental

        with paused():  # a run makes no cycles
            held = incremental.run(rt).held_back  # nothing changed since the last run: nothing evaluated
    report = morning(rt, who, held)
    if as_json:
        print_json(report.as_json())
    else:
        _print_morning(report)


def account(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(metavar="ID", help="Account id.", autocompletion=account_ids)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the account as one self-contained HTML page: trends with touches marked, timeline.",
            metavar="FILE",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """One account: key fields, trend, renewal countdown, contacts, open items, timeline."""
    from csm.reporting.account import account_view

    rt = runtime(ctx)
    if html is not None:
        from csm.reporting.html.account_page import account_html

        write_html(html, account_html(rt, account_id, database_label(rt.ws, short=True)))
        return
    view = account_view(rt, account_id)
    if as_json:
        print_json(view.as_json())
        return
    a = view.account
    console.print(
        f"[bold]{a['name']}[/] ({a['id']})  {a['plan'] or ''}  owner {a['owner'] or '—'}",
        highlight=False,
    )
    util = a.get("seat_utilization")
    console.print(
        f"ARR {show('arr', a['arr'])} · seats {show('seats_used', a['seats_used'])}"
        f"/{show('seats_licensed', a['seats_licensed'])}"
        + (f" ({util:.0%})" if util is not None else "")
        + f" · NPS {a['nps'] if a['nps'] is not None else '—'} · tickets {a['open_tickets'] or 0}"
        + f" · stage {a['lifecycle_stage']}",
        highlight=False,
    )
    days = a.get("days_to_renewal")
    if days is not None:
        when = (
            f"Renews {a['renewal_date']}: [bold]{plural(days, 'day')}[/] to go"
            if days >= 0
            else f"Renewal date {a['renewal_date']} passed {plural(-days, 'day')} ago"
        )
        console.print(when, highlight=False)
    if a.get("health") is not None:
        change = a.get("health_change_30d")
        moved = f", {change:+g} in 30 days" if change is not None else ""
        console.print(f"Health {a['health']:g} ({a['health_band']}{moved})", highlight=False)
    if wanted(console):
        _print_trends(rt, account_id)
    elif view.trend:
        values = [v for _, v in view.trend]
        console.print(f"{view.trend_label:<14}{sparkline(values)}  {values[0]:g} → {values[-1]:g}")
    console.print(
        f"Last touch {a['last_touch_at'] or 'never'}"
        + (f" ({plural(a['days_since_touch'], 'day')})" if a["days_since_touch"] is not None else "")
        + f" · last reply {a['last_reply_at'] or 'never'}",
        highlight=False,
    )
    if view.contacts:
        console.print("\n[bold]Contacts[/]")
        for c in view.contacts:
            flags = " [dim](primary)[/]" if c["is_primary"] else ""
            flags += " [red](unsubscribed)[/]" if c["unsubscribed"] else ""
            flags += f" [red](bouncing since {c['bounced_at'][:10]})[/]" if c["bounced_at"] else ""
            console.print(f"  {c['name']} <{c['email']}> {c['role'] or ''}{flags}", highlight=False)
    for t in view.tasks:
        console.print(f"[magenta]task[/] #{t['id']} due {t['due_date']}: {t['title']}", highlight=False)
    for d in view.drafts:
        console.print(f"[cyan]{d['status']}[/] #{d['id']}: {d['subject']}", highlight=False)
    for z in view.snoozes:
        console.print(
            f"[yellow]snoozed[/] {z['playbook'] or 'all playbooks'} until {z['until']}: {z['reason']}",
            highlight=False,
        )
    if view.timeline:
        console.print("\n[bold]Timeline[/]")
        for e in view.timeline:
            console.print(f"  {e['at'][:10]}  {e['kind']:<10} {e['summary']}", highlight=False)


def _print_trends(rt: Runtime, account_id: str) -> None:
    """Health and usage as small charts, the days an email was sent or a task done marked beneath."""
    from csm.reporting.account import history

    past = history(rt, account_id)
    days = (past.start, past.end)
    for label, points, scale in (("health", past.health, (0.0, 100.0)), (past.metric, past.usage, None)):
        if points:
            print_trend(console, label, points, past.touches, days, scale)
    if past.touches:
        console.print(
            f"{'':<21}" + "  ".join(f"[magenta]{mark}[/] {kind}" for kind, mark in MARKS.items()),
            highlight=False,
        )

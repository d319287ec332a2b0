"""Tasks, account snoozes and notes: `task done|snooze|list`, `snooze`, `snoozes`, `log`."""

from __future__ import annotations

from typing import Annotated

import typer

from csm.cli.common import console, parse_date, print_json, runtime
from csm.cli.completion import account_ids, playbook_names

task_app = typer.Typer(help="Tasks playbooks created for you.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
    app.command("snooze")(snooze)
    app.command("snoozes")(snoozes)
    app.command("log")(log)


@task_app.command("list")
def task_list(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="This CSM's tasks (default: me).")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every CSM's tasks.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Open tasks, soonest first: type, who does it, account, title (yours include those assigned to you)."""
    from csm.engine import tasks

    rt = runtime(ctx)
    items = tasks.open_tasks(rt.conn, rt.today, owner=None if everyone else (owner or rt.me))
    if as_json:
        print_json(items)
        return
    for t in items:
        console.print(
            f"#{t['id']:<5} {t['due_date']}  {t['type']:<10} {t['assignee'] or '—'}  {t['account_name']}:"
            f" {t['title']}",
            highlight=False,
        )
    if not items:
        console.print("No open tasks.")


@task_app.command("done")
def task_done(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    note: Annotated[str | None, typer.Option(help="What happened (goes on the timeline).")] = None,
) -> None:
    """Mark a task done; it is recorded on the account's timeline as a touch."""
    from csm.engine import tasks

    rt = runtime(ctx)
    task = tasks.done(rt.conn, task_id, rt.now(), note)
    console.print(f"Done: #{task_id} {task['title']} ({task['account_name']}).", highlight=False)


@task_app.command("snooze")
def task_snooze(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    until: Annotated[str, typer.Option(help="Back on your list on this date (YYYY-MM-DD).")],
    reason: Annotated[str, typer.Option(help="Why it waits.")],
) -> None:
    """Put a task away until a date."""
    from csm.engine import tasks

    rt = runtime(ctx)
    day = parse_date(until, "--until")
    assert day is not None
    tasks.snooze(rt.conn, task_id, day, reason, rt.today)
    console.print(f"Snoozed task #{task_id} until {day}.")


def snooze(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT", autocompletion=account_ids)],
    until: Annotated[str, typer.Option(help="Playbooks fire again from this date (YYYY-MM-DD).")],
    reason: Annotated[str, typer.Option(help="Why the account is muted.")],
    playbook: Annotated[
        str | None, typer.Option(help="Only this playbook (default: all).", autocompletion=playbook_names)
    ] = None,
) -> None:
    """Stop a playbook (or all) firing for an account until a date."""
    from csm.engine import tasks

    rt = runtime(ctx)
    if playbook is not None:
        rt.playbooks([playbook])  # a typo is an error, not a silent no-op
    day = parse_date(until, "--until")
    assert day is not None
    tasks.snooze_account(rt.conn, account_id, day, reason, rt.today, rt.now(), playbook)
    console.print(f"Snoozed {playbook or 'all playbooks'} for {account_id} until {day}.")


def snoozes(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Account snoozes still in force (they expire on their own)."""
    from csm.engine import tasks

    rt = runtime(ctx)
    items = tasks.active_snoozes(rt.conn, rt.today)
    if as_json:
        print_json(items)
        return
    for z in items:
        console.print(
            f"{z['account_name']} ({z['account_id']}): {z['playbook'] or 'all playbooks'} until "
            f"{z['until']} — {z['reason']}",
            highlight=False,
        )
    if not items:
        console.print("No snoozes in force.")


def log(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT", autocompletion=account_ids)],
    note: Annotated[str, typer.Argument(help="What happened.")],
    kind: Annotated[str, typer.Option(help="note, call or meeting.")] = "note",
) -> None:
    """Record a touch on the account's timeline (resets days_since_touch)."""
    from csm.data import timeline

    rt = runtime(ctx)
    timeline.log_note(rt.conn, account_id, note, rt.now(), kind)
    console.print(f"Logged a {kind} on {account_id}.")

"""`csm backtest`: what the playbooks would have done on past days, beside what was really done."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from csm.cli.common import console, err_console, parse_date, print_json, runtime
from csm.cli.completion import playbook_names

if TYPE_CHECKING:
    from csm.reporting.backtest import Backtest, StepBacktest


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)


def backtest(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).", metavar="DATE")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).", metavar="DATE")],
    playbook: Annotated[
        list[str] | None,
        typer.Option("--playbook", "-p", help="Only this playbook.", autocompletion=playbook_names),
    ] = None,
    accounts: Annotated[bool, typer.Option("--accounts", help="List the accounts of each step.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay the playbooks as they stand over past days, on each day's values; write nothing."""
    from csm.reporting.backtest import backtest as run_backtest
    from csm.runtime import sql_params

    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    assert first is not None and last is not None
    rt = runtime(ctx)
    selected = rt.playbooks(playbook or ())
    found = run_backtest(
        rt.conn,
        selected,
        rt.fields,
        lambda day: sql_params(rt.ws, day),
        first,
        last,
        stale_on=lambda day: rt.stale_on(day, past=True),
        touch_budget=rt.ws.settings.touch_budget,
    )
    if as_json:
        print_json(backtest_json(found))
        return
    _print(found, accounts)


def _accounts(step: StepBacktest) -> dict[str, list[str]]:
    return {
        "matched": sorted(step.first_matched),
        "acted": sorted(step.acted),
        "really_acted": sorted(step.real),
        "held_out": sorted(step.held_out),
    }


def backtest_json(found: Backtest) -> dict[str, Any]:
    return {
        "from": found.start.isoformat(),
        "to": found.end.isoformat(),
        "history_from": found.history_from,
        "steps": [
            {
                "playbook": s.playbook,
                "step": s.step,
                "weeks": [
                    {**vars(w), "matched": len(w.matched)}
                    for w in sorted(s.weeks.values(), key=lambda w: w.week)
                ],
                "accounts": _accounts(s),
                "both": len(s.acted & s.real),
                "outcomes": {**s.outcomes, "undecided": len(s.first_matched) - sum(s.outcomes.values())},
            }
            for s in found.steps
        ],
    }


def _print(found: Backtest, show_accounts: bool) -> None:
    days = (found.end - found.start).days + 1
    console.print(
        f"[bold]Backtest {found.start} to {found.end}[/] ({days} days), the playbooks as they stand today,"
        " each day on its own values",
        highlight=False,
    )
    for step in found.steps:
        _print_step(step, show_accounts)
    if found.history_from is None or found.history_from > found.start.isoformat():
        since = f"since {found.history_from}" if found.history_from else "yet: no import has changed a value"
        err_console.print(
            f"\n[yellow]Note:[/] account values are recorded {since}; before that, the oldest values kept"
            " stand in.",
            highlight=False,
        )


def _print_step(step: StepBacktest, show_accounts: bool) -> None:
    console.print(
        f"\n[bold]{escape(step.playbook)} › {escape(step.step)}[/]  {escape(step.title)}", highlight=False
    )
    if not step.weeks or not (step.first_matched or step.real):
        console.print("  [dim]no match, nothing done[/]")
        return
    table = Table(box=None, pad_edge=False, header_style="dim")
    table.add_column("week")
    for column in ("matched", "drafts", "deferred", "tasks", "│", "really drafted", "sent", "tasks", "done"):
        table.add_column(column, justify="center" if column == "│" else "right")
    for week in sorted(step.weeks.values(), key=lambda w: w.week):
        counts = (
            week.drafts,
            week.deferred,
            week.tasks,
            "│",
            week.real_drafts,
            week.real_sent,
            week.real_tasks,
            week.real_done,
        )
        table.add_row(week.week, str(len(week.matched)), *map(str, counts))
    console.print(table)
    both = len(step.acted & step.real)
    held = f", {len(step.held_out)} of them held out" if step.held_out else ""
    console.print(
        f"  {len(step.first_matched)} accounts matched{held}; {len(step.acted)} would get a draft or task,"
        f" {len(step.real)} really did ({both} the same accounts)",
        highlight=False,
    )
    stale_days = sum(week.stale_days for week in step.weeks.values())
    if stale_days:
        console.print(
            f"  held back {stale_days} day{'' if stale_days == 1 else 's'}: data it reads was stale then",
            highlight=False,
        )
    renewed, churned = step.outcomes["renewed"], step.outcomes["churned"]
    if renewed or churned:
        console.print(
            f"  after matching: {renewed} renewed, {churned} churned"
            f" ({renewed / (renewed + churned):.0%} renewed of those decided)",
            highlight=False,
        )
    if show_accounts:
        for label, ids in _accounts(step).items():
            if ids:
                console.print(
                    f"  [dim]{label.replace('_', ' ')}:[/] {escape(', '.join(ids))}", highlight=False
                )

"""`csm report` and `csm outcome`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from csm.cli.common import console, database_label, parse_date, print_json, runtime, write_html
from csm.cli.completion import account_ids
from csm.cli.pictures import bar
from csm.templating.filters import plural

if TYPE_CHECKING:
    from csm.reporting.report import Group, Holdout, Interval, Report, StepReport

# (JSON key, column header): two-line headers keep the table inside 80 columns.
_PIPELINE = (
    ("matched", "matched"),
    ("held_out", "held\nout"),
    ("drafted", "drafted"),
    ("approved", "appr-\noved"),
    ("sent", "sent"),
    ("replied", "rep-\nlied"),
    ("reply_rate", "reply\nrate"),
    ("skipped", "skipped"),
    ("withdrawn", "with-\ndrawn"),
    ("tasks", "tasks"),
    ("tasks_done", "done"),
)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("outcome")(outcome)


def report(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only what happened from this date (YYYY-MM-DD).", metavar="DATE")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the report to FILE: one self-contained HTML page with charts.",
            metavar="FILE",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """What each playbook did and what happened after: touched against not touched and held out."""
    from csm.reporting.report import build

    start = parse_date(since, "--since")
    rt = runtime(ctx)
    if html is not None:
        from csm.reporting.html.report_page import report_html

        write_html(html, report_html(rt, start, database_label(rt.ws, short=True)))
        return
    result = build(rt.conn, rt.today, start)
    if as_json:
        print_json(result.as_json())
    else:
        _print(result)


def outcome(
    ctx: typer.Context,
    account_id: Annotated[
        str, typer.Argument(metavar="ACCOUNT", help="Account id.", autocompletion=account_ids)
    ],
    result: Annotated[str, typer.Argument(metavar="renewed|churned", help="How the renewal went.")],
    date: Annotated[
        str | None, typer.Option("--date", help="When it was decided (default: today).", metavar="DATE")
    ] = None,
) -> None:
    """Record a renewal outcome by hand (imports record them from the status column)."""
    from csm.data import outcomes

    day = parse_date(date, "--date")
    rt = runtime(ctx)
    day = day or rt.today
    outcomes.record(rt.conn, account_id, result.strip().lower(), day, rt.now())
    console.print(f"Recorded: {account_id} {result.strip().lower()} on {day}.", highlight=False)


def _print(r: Report) -> None:
    span = f"since {r.since}" if r.since else "all time"
    console.print(f"[bold]Playbook report[/], {span}, as of {r.today}", highlight=False)
    if not r.steps:
        console.print("Nothing yet: `csm run` records what each playbook matches and drafts.")
        return
    table = _table("playbook, step")
    for _key, header in _PIPELINE:
        table.add_column(header, justify="right")
    for s, first in _by_playbook(r.steps):
        if first:
            table.add_row(f"[bold]{s.playbook}[/]")
        figures = s.as_json()
        table.add_row(f"  {s.step}", *(_cell(figures[key]) for key, _header in _PIPELINE))
    console.print(table)
    for s in r.steps:
        if s.skipped:
            reasons = ", ".join(f"{reason} ({n})" for reason, n in s.skipped.items())
            console.print(f"  [dim]{s.playbook} › {s.step} skipped:[/] {reasons}", highlight=False)
    _print_outcomes(r.steps)
    if r.holdouts:
        _print_holdouts(r.holdouts)


def _cell(value: float | None) -> str:
    """A count as it is, a rate (a float) as a percentage; none as a dash."""
    if value is None:
        return "—"
    return f"{value:.0%}" if isinstance(value, float) else str(value)


def _table(first_column: str) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="dim")
    table.add_column(first_column, no_wrap=True, overflow="ellipsis", max_width=24)
    return table


def _by_playbook(steps: list[StepReport]) -> Iterator[tuple[StepReport, bool]]:
    """Each step, and whether it is its playbook's first (to print the playbook above it)."""
    previous = None
    for s in steps:
        yield s, s.playbook != previous
        previous = s.playbook


def _rate(group: Group) -> str:
    value = group.renewal.value
    if value is None:
        return "[dim]no outcomes yet[/]"
    return f"{bar(value, 1.0, 10)} {value:>4.0%} of {group.renewal.total:<3}"


def _change(group: Group, days: int) -> str:
    median = group.median_change(days)
    return "—" if median is None else f"{median:+.1f}"


def _print_outcomes(steps: list[StepReport]) -> None:
    from csm.reporting.report import HORIZONS

    console.print("\n[bold]After the touch[/]: renewal rate; median health change 30, 60, 90 days on")
    table = _table("playbook, step")
    table.add_column("group")
    table.add_column("accts", justify="right")
    table.add_column("renewed")
    for days in HORIZONS:
        table.add_column(f"{days}d", justify="right")
    for s, first in _by_playbook(steps):
        if first:
            table.add_row(f"[bold]{s.playbook}[/]")
        groups = [
            (label, g) for label, g in (("touched", s.touched), ("not touched", s.not_touched)) if g.accounts
        ]
        for n, (label, group) in enumerate(groups):
            table.add_row(
                f"  {s.step}" if n == 0 else "",
                label,
                str(group.accounts),
                _rate(group),
                *(_change(group, d) for d in HORIZONS),
            )
    console.print(table)


def _interval(interval: Interval | None, unit: str) -> str:
    if interval is None:
        return "[dim]too few to tell[/]"
    scale = 100 if unit == "pp" else 1
    return (
        f"{interval.estimate * scale:+.1f} {unit}"
        f" [dim](95% CI {interval.low * scale:+.1f} to {interval.high * scale:+.1f})[/]"
    )


def _print_holdouts(holdouts: list[Holdout]) -> None:
    console.print("\n[bold]Holdouts[/]: touched against held-out accounts (picked by hash)")
    for h in holdouts:
        console.print(f"  [bold]{h.playbook}[/]", highlight=False)
        for label, group in (("touched", h.touched), ("held out", h.held_out)):
            change = group.changes[30]
            mean = f"{sum(change) / len(change):+.1f}" if change else "—"
            console.print(
                f"    {label:<9}{group.accounts:>5} {plural(group.accounts, 'account', with_count=False):<8}"
                f"  renewed {_rate(group)}  health 30d mean {mean}",
                highlight=False,
            )
        console.print(f"    renewal lift   {_interval(h.renewal_lift, 'pp')}", highlight=False)
        console.print(f"    health lift    {_interval(h.health_lift_30d, 'points')}", highlight=False)
        lift = h.renewal_lift
        if lift is not None and lift.low <= 0 <= lift.high:
            console.print("    [dim]The interval spans zero: no lift shown yet at these counts.[/]")
    console.print(
        "[dim]The CSM chose whom to touch, which can flatter the lift; the held-out accounts are the"
        " fair comparison.[/]"
    )

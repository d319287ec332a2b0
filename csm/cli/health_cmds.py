"""`csm health` and `csm health ACCOUNT`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from csm.cli.common import console, print_json, runtime
from csm.cli.completion import account_ids
from csm.cli.pictures import bar, column, wanted
from csm.cli.values import show

if TYPE_CHECKING:
    from csm.health.model import HealthModel
    from csm.health.score import Explanation, Part, Summary

SHOWN = 10
_BAND_STYLE = {"red": "red", "yellow": "yellow", "green": "green"}


def register(app: typer.Typer) -> None:
    app.command("health")(health)


def health(
    ctx: typer.Context,
    account_id: Annotated[
        str | None,
        typer.Argument(metavar="[ACCOUNT]", help="Explain one account's score.", autocompletion=account_ids),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only accounts owned by this CSM email.")] = None,
    days: Annotated[int, typer.Option(help="Compare with the snapshot this many days ago.", min=1)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score every account, store today's snapshot, show the distribution and the biggest drops."""
    from csm.health import score as core

    rt = runtime(ctx)
    rt.snapshot_health()
    if account_id is not None:
        explanation = core.explain(rt.conn, rt.health_model, account_id, rt.today, days)
        if as_json:
            print_json(explanation.as_json())
        else:
            _print_explanation(explanation, rt.health_model, days)
        return
    report = core.summary(rt.conn, rt.health_model, rt.fields, rt.params, rt.today, owner)
    if as_json:
        print_json(report.as_json())
    else:
        _print_summary(report, rt.health_model)


def _band(band: str | None, text: str) -> str:
    style = _BAND_STYLE.get(band or "", "default")
    return f"[{style}]{text}[/]"


def _print_summary(s: Summary, model: HealthModel) -> None:
    data = s.as_json()
    total = data["accounts"]
    console.print(f"[bold]Health[/] of {total} active accounts on {s.today}", highlight=False)
    if not total:
        console.print("No account has a score yet: import accounts and usage first.")
        return
    widest = max(s.bands.values())
    for band, count in s.bands.items():
        console.print(f"  {band:<7}{count:>5}  {_band(band, bar(count, widest))}", highlight=False)
    console.print("\n[bold]Scores[/]")
    if wanted(console):
        _print_columns(s.buckets, model)
    else:
        widest = max(s.buckets)
        for row in data["distribution"]:
            console.print(
                f"  {row['scores']:>6}{row['accounts']:>5}  {bar(row['accounts'], widest)}", highlight=False
            )
    if not s.drops:
        console.print("\nNo account's health fell by 10 points or more in 30 days.")
        return
    console.print(f"\n[bold]Biggest drops in 30 days[/] ({len(s.drops)})")
    for d in s.drops[:SHOWN]:
        why = ", ".join(f"{w['measure']} {w['change']:+g}" for w in d["why"])
        now = _band(d["band"], f"{d['health']:g} {d['band']}")
        console.print(
            f"  {d['health_change_30d']:>+6.1f}  {d['name']} ({d['account']}) now {now}",
            highlight=False,
            no_wrap=True,
            overflow="ellipsis",
        )
        console.print(f"          [dim]{why}[/]", highlight=False, no_wrap=True, overflow="ellipsis")
    if len(s.drops) > SHOWN:
        console.print(f"  [dim]… and {len(s.drops) - SHOWN} more (--json lists all)[/]")
    console.print(f"\nNext: `csm health {s.drops[0]['account']}` to see why a score fell.")


def _print_columns(buckets: list[int], model: HealthModel, height: int = 8) -> None:
    """The distribution as columns, one per ten points, each in the colour of its band."""
    widest = max(buckets)
    cells = [column(n, widest, height) for n in buckets]
    bands = [
        "green" if 10 * i + 5 >= model.green else "yellow" if 10 * i + 5 >= model.yellow else "red"
        for i in range(len(buckets))
    ]
    for row in range(height):
        line = " ".join(_band(band, c[row] * 4) for c, band in zip(cells, bands, strict=True))
        console.print(f"  {line}", highlight=False)
    console.print("  " + " ".join(f"{n:<4}" for n in buckets), highlight=False)
    console.print(
        "  " + " ".join(f"{10 * i:<4}" for i in range(len(buckets))) + " [dim]score[/]", highlight=False
    )


def _value(model: HealthModel, part: Part, value: Any) -> str:
    """A measure's value as a CSM reads it: 82% for a share, — for nothing."""
    measure = model.measure(part.id)
    field = measure.value.source if measure and measure.value.fields == (measure.value.source,) else ""
    return show(field, value)


def _head(head: dict[str, Any] | None) -> str:
    if head is None:
        return "no snapshot"
    profile = f", {head['profile']} profile" if head["profile"] else ""
    score = _band(head["band"], f"{head['score']:g} {head['band']}")
    return f"{score} on {head['date']}{profile}"


def _print_explanation(e: Explanation, model: HealthModel, days: int) -> None:
    console.print(f"[bold]{e.name}[/] ({e.account_id})", highlight=False)
    ago = f"{days} days ago"
    console.print(f"  {'now':<{len(ago)}}  {_head(e.now)}", highlight=False)
    console.print(f"  {ago}  {_head(e.then) if e.then else 'no snapshot yet'}", highlight=False)
    if e.now is None:
        console.print("No score: none of the health model's measures has a value for this account.")
        return
    table = Table(box=None, pad_edge=False, header_style="dim")
    table.add_column("measure")
    for name in ("value then", "value now", "points then", "points now", "change"):
        table.add_column(name, justify="right")
    for p in e.parts:
        table.add_row(
            p.title,
            _value(model, p, p.value_then),
            _value(model, p, p.value_now),
            show("", p.points_then),
            show("", p.points_now),
            f"{p.change:+g}" if e.then else "",
        )
    console.print(table)
    if e.change is None:
        return
    moved = [p for p in e.parts if abs(p.change) >= 1]
    if not moved:
        console.print(f"\nHealth held steady ({e.change:+g}) over {days} days.")
        return
    direction = "fell" if e.change < 0 else "rose"
    reasons = "; ".join(
        f"{p.title.lower()} {p.change:+g}"
        f" ({_value(model, p, p.value_then)} → {_value(model, p, p.value_now)})"
        for p in sorted(moved, key=lambda p: -abs(p.change))[:3]
    )
    console.print(f"\nHealth {direction} {abs(e.change):g} points: {reasons}.", highlight=False)

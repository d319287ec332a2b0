"""Small terminal pictures: sparklines, bars, columns and a trend with its touched days.

Pictures are for a person at a colour terminal (:func:`wanted`); with NO_COLOR or in a
pipe the commands print their plain text lines instead, which scripts and screen readers
read as they always have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console

_TICKS = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▁▂▃▄▅▆▇█"  # a cell filled 0/8 to 8/8 from the bottom
MARKS = {"email sent": "●", "task done": "◆"}


def wanted(console: Console) -> bool:
    """Draw pictures? Only on a terminal that may show colour (not NO_COLOR, not a pipe)."""
    return console.is_terminal and not console.no_color


def sparkline(values: Sequence[float], width: int = 30) -> str:
    """A one-line trend, resampled to at most ``width`` points."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width - 1)] + [values[-1]]
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(_TICKS[int((v - low) / span * (len(_TICKS) - 1))] for v in values)


def bar(value: float, maximum: float, width: int = 20) -> str:
    if maximum <= 0:
        return ""
    filled = max(0, min(width, round(value / maximum * width)))
    return "█" * filled + "·" * (width - filled)


def column(value: float, maximum: float, height: int) -> list[str]:
    """One vertical bar ``height`` cells tall, top cell first, filled in eighths of a cell."""
    eighths = round(max(0.0, value) / maximum * height * 8) if maximum > 0 else 0
    return [_EIGHTHS[max(0, min(8, eighths - 8 * row))] for row in range(height - 1, -1, -1)]


@dataclass(frozen=True)
class Trend:
    """A trend drawn in cells: ``rows`` top first, ``marks`` the row of touched days beneath."""

    rows: list[str]
    marks: str
    low: float
    high: float


def trend(
    points: Sequence[tuple[str, float]],
    touches: Sequence[tuple[str, str]],
    days: tuple[dt.date, dt.date],
    scale: tuple[float, float] | None = None,
    width: int = 60,
    height: int = 5,
) -> Trend:
    """Each cell a day span; its height the last value on or before it, so gaps hold steady.

    ``touches`` are (day, kind) with kinds from :data:`MARKS`; a task done wins a cell it shares.
    """
    start, end = days
    span = max((end - start).days, 1)

    def cell(day: str) -> int:
        return round((dt.date.fromisoformat(day) - start).days / span * (width - 1))

    values: list[float | None] = [None] * width
    for day, value in points:
        values[cell(day)] = value
    last = None
    for x, value in enumerate(values):
        values[x] = last = value if value is not None else last
    known = [v for v in values if v is not None]
    low, high = scale or (min([0.0, *known]), max(known, default=1.0))
    cells = [column((v - low) if v is not None else 0, (high - low) or 1, height) for v in values]
    rows = ["".join(c[row] for c in cells) for row in range(height)]
    marks = [" "] * width
    for day, kind in touches:
        if start <= dt.date.fromisoformat(day) <= end and marks[cell(day)] != MARKS["task done"]:
            marks[cell(day)] = MARKS[kind]
    return Trend(rows, "".join(marks), low, high)


def print_trend(
    console: Console,
    label: str,
    points: Sequence[tuple[str, float]],
    touches: Sequence[tuple[str, str]],
    days: tuple[dt.date, dt.date],
    scale: tuple[float, float] | None = None,
) -> None:
    """A labelled trend: its top and bottom values on the axis, the days under it, touches marked."""
    drawn = trend(points, touches, days, scale, width=min(60, console.width - 24))
    axis = [f"{drawn.high:g}"] + [""] * (len(drawn.rows) - 2) + [f"{drawn.low:g}"]
    for n, (row, value) in enumerate(zip(drawn.rows, axis, strict=True)):
        console.print(f"{label if n == 0 else '':<14}{value:>6} ┤[blue]{row}[/]", highlight=False)
    console.print(f"{'':<14}{'':>6} └[magenta]{drawn.marks}[/]", highlight=False)
    first, last = days[0].isoformat(), days[1].isoformat()
    console.print(f"{'':<22}{first}{last:>{len(drawn.marks) - len(first)}}", highlight=False)

"""The report's charts as inline SVG strings (drawn with csm.reporting.svg).

Each mark carries its numbers twice: ``data-*`` attributes (what a test or a
script reads) and a ``<title>`` in words (what a screen reader and a tooltip
say). Series differ by pattern or shape as well as colour, so a chart reads in
black and white. The page shows each chart's numbers in a table beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from csm.reporting.svg import Scale, element, esc, frame, legend, line, nice_ticks, num, shorten, text

WIDTH = 680
_LABELS = 170  # room for row labels left of horizontal bars


@dataclass(frozen=True)
class Series:
    """Values in order of the chart's categories; ``style`` is the CSS class that draws them."""

    name: str
    values: Sequence[float]
    style: str


def stacked_columns(
    chart_id: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], unit: str
) -> str:
    """One column per category, its series stacked bottom up (the book's bands by week)."""
    height, top, bottom, left = 300, 34, 40, 44
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    ticks = nice_ticks(0, max(totals, default=0) or 1)
    y = Scale(0, ticks[-1], height - bottom, top)
    slot = (WIDTH - left - 10) / max(len(categories), 1)
    parts = [_y_axis(ticks, y, left, WIDTH - 10)]
    for i, category in enumerate(categories):
        x, base = left + i * slot + slot * 0.15, 0.0
        for s in series:
            value = s.values[i]
            rect = element(
                "rect",
                element("title", esc(f"{category}: {s.name} {value:g} {unit}")),
                x=num(x),
                y=num(y(base + value)),
                width=num(slot * 0.7),
                height=num(y(base) - y(base + value)),
                class_=f"mark {s.style}",
                data_category=category,
                data_series=s.name,
                data_value=f"{value:g}",
            )
            parts.append(rect)
            base += value
        if i % max(1, round(len(categories) / 8)) == 0 or i == len(categories) - 1:
            parts.append(text(x + slot * 0.35, height - bottom + 16, category[5:], "middle", "tick"))
    parts.append(legend([(s.name, s.style) for s in series], left, 16))
    return frame(chart_id, title, desc, WIDTH, height, "".join(parts), "stacked-columns")


def _y_axis(ticks: Sequence[float], y: Scale, left: float, right: float) -> str:
    return "".join(
        line(left, y(t), right, y(t), "grid") + text(left - 6, y(t) + 4, f"{t:g}", "end", "tick")
        for t in ticks
    )


@dataclass(frozen=True)
class BarRow:
    """One row of a horizontal bar chart: its label and one value per series."""

    label: str
    values: Sequence[float]
    group: str = ""  # rows of one group follow each other under its name (a playbook's steps)


def _named(row: BarRow) -> str:
    return f"{row.group} › {row.label}" if row.group else row.label


def bar_rows(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[BarRow],
    series: Sequence[tuple[str, str]],
    unit: str,
) -> str:
    """Horizontal bars, one group per row and one bar per series; negative values go left of zero."""
    bar, gap, heading = 11, 10, 18
    group = bar * len(series) + gap
    top = 30 if len(series) > 1 else 10
    headings = len({r.group for r in rows if r.group})
    height = top + group * len(rows) + heading * headings + 24
    values = [v for r in rows for v in r.values]
    ticks = nice_ticks(min(0.0, *values) if values else 0.0, max(0.0, *values) if values else 1.0)
    x = Scale(ticks[0], ticks[-1], _LABELS, WIDTH - 16)
    parts = [
        line(x(t), top - 4, x(t), height - 20, "grid") + text(x(t), height - 6, f"{t:g}", "middle", "tick")
        for t in ticks
    ]
    y0, previous = float(top), ""
    for row in rows:
        if row.group and row.group != previous:
            parts.append(text(8, y0 + 13, shorten(row.group, 28), "start", "label group"))
            y0 += heading
        previous = row.group
        parts.append(text(_LABELS - 8, y0 + group / 2 - 1, shorten(row.label), "end"))
        for s_index, ((name, style), value) in enumerate(zip(series, row.values, strict=True)):
            left, right = sorted((x(0), x(value)))
            parts.append(
                element(
                    "rect",
                    element("title", esc(f"{_named(row)}: {name} {value:g} {unit}".rstrip())),
                    x=num(left),
                    y=num(y0 + s_index * bar),
                    width=num(max(right - left, 0.5)),
                    height=num(bar - 2),
                    class_=f"mark {style}" + (" negative" if value < 0 else ""),
                    data_category=_named(row),
                    data_series=name,
                    data_value=f"{value:g}",
                )
            )
        y0 += group
    parts.append(line(x(0), top - 4, x(0), height - 20, "axis"))
    if len(series) > 1:
        parts.append(legend(list(series), _LABELS, 16))
    return frame(chart_id, title, desc, WIDTH, height, "".join(parts), "bars")


@dataclass(frozen=True)
class IntervalRow:
    """An estimate and its confidence interval, e.g. a renewal lift of +8 pp (−3 to +19)."""

    label: str
    estimate: float
    low: float
    high: float


def intervals(chart_id: str, title: str, desc: str, rows: Sequence[IntervalRow], unit: str) -> str:
    """A forest plot: each estimate a dot, its interval a line, zero marked (no effect)."""
    row_height, top = 34, 20
    height = top + row_height * len(rows) + 30
    ends = [v for r in rows for v in (r.low, r.high)]
    ticks = nice_ticks(min(0.0, *ends) if ends else -1.0, max(0.0, *ends) if ends else 1.0)
    x = Scale(ticks[0], ticks[-1], _LABELS, WIDTH - 16)
    parts = [
        line(x(t), top - 6, x(t), height - 26, "grid") + text(x(t), height - 10, f"{t:+g}", "middle", "tick")
        for t in ticks
    ]
    parts.append(line(x(0), top - 6, x(0), height - 26, "axis zero"))
    for i, r in enumerate(rows):
        cy = top + i * row_height + row_height / 2
        words = f"{r.label}: {r.estimate:+g} {unit} (95% CI {r.low:+g} to {r.high:+g})"
        parts.append(text(_LABELS - 8, cy + 4, shorten(r.label), "end"))
        parts.append(
            element(
                "g",
                element("title", esc(words))
                + line(x(r.low), cy, x(r.high), cy, "interval")
                + line(x(r.low), cy - 6, x(r.low), cy + 6, "interval")
                + line(x(r.high), cy - 6, x(r.high), cy + 6, "interval")
                + element("circle", cx=num(x(r.estimate)), cy=num(cy), r="5", class_="estimate"),
                class_="mark",
                data_category=r.label,
                data_value=f"{r.estimate:g}",
                data_low=f"{r.low:g}",
                data_high=f"{r.high:g}",
            )
        )
    return frame(chart_id, title, desc, WIDTH, height, "".join(parts), "intervals")


@dataclass(frozen=True)
class Mark:
    """A day something happened on the account: an email sent, a task done."""

    day: str
    kind: str  # a CSS class and the legend's word: "email sent", "task done"


MARK_STYLES = {"email sent": "mark-email", "task done": "mark-task"}


def trend(
    chart_id: str,
    title: str,
    desc: str,
    points: Sequence[tuple[str, float]],
    marks: Sequence[Mark],
    days: tuple[dt.date, dt.date],
    scale: tuple[float, float] | None = None,
) -> str:
    """A line over days, with the days of ``marks`` drawn as shaped ticks along the bottom.

    ``scale`` fixes the y axis (health runs 0 to 100); else it fits the values.
    """
    height, top, bottom, left = 220, 30, 46, 44
    start, end = days
    x = Scale(0, max((end - start).days, 1), left, WIDTH - 12)
    values = [v for _, v in points]
    ticks = nice_ticks(*(scale or (min(values, default=0), max(values, default=1))))
    y = Scale(ticks[0], ticks[-1], height - bottom, top)

    def px(day: str) -> float:
        return x((dt.date.fromisoformat(day) - start).days)

    parts = [_y_axis(ticks, y, left, WIDTH - 12)]
    for month in _month_starts(start, end):
        parts.append(text(px(month.isoformat()), height - 8, month.strftime("%b %-d"), "middle", "tick"))
    path = " ".join(f"{'M' if i == 0 else 'L'}{num(px(d))},{num(y(v))}" for i, (d, v) in enumerate(points))
    if path:
        parts.append(element("path", d=path, class_="trend-line"))
    for d, v in points:
        parts.append(
            element(
                "circle",
                element("title", esc(f"{d}: {v:g}")),
                cx=num(px(d)),
                cy=num(y(v)),
                r="2.5",
                class_="point",
                data_day=d,
                data_value=f"{v:g}",
            )
        )
    base = height - bottom + 14  # touched days sit under the plot, the months under them
    inside = [m for m in marks if start <= dt.date.fromisoformat(m.day) <= end]
    parts.extend(_event(px(m.day), base, top, m) for m in inside)
    shown = [(kind, style) for kind, style in MARK_STYLES.items() if any(m.kind == kind for m in inside)]
    parts.append(legend(shown, left, 16, {"email sent": "circle"}))
    return frame(chart_id, title, desc, WIDTH, height, "".join(parts), "trend")


def _event(cx: float, base: float, top: float, m: Mark) -> str:
    style = MARK_STYLES[m.kind]
    shape = (
        element("circle", cx=num(cx), cy=num(base), r="5", class_=style)
        if m.kind == "email sent"
        else element("rect", x=num(cx - 4.5), y=num(base - 4.5), width="9", height="9", class_=style)
    )
    return element(
        "g",
        element("title", esc(f"{m.day}: {m.kind}")) + line(cx, top, cx, base - 6, f"event {style}") + shape,
        class_="event",
        data_day=m.day,
        data_kind=m.kind,
    )


def _month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    first = dt.date(start.year, start.month, 1)
    months = []
    while first <= end:
        if first >= start:
            months.append(first)
        first = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return months

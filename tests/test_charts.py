"""The charts are well-formed SVG whose marks hold their numbers, to scale, in data and in words."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from csm.reporting import charts

NS = {"s": "http://www.w3.org/2000/svg"}


def _marks(svg: str, tag: str = "rect") -> list[ET.Element]:
    return [m for m in ET.fromstring(svg).iter(f"{{{NS['s']}}}{tag}") if "mark" in m.get("class", "").split()]


def _title(mark: ET.Element) -> str:
    return mark.find("s:title", NS).text  # type: ignore[union-attr]


def test_stacked_columns_stack_each_category_to_scale() -> None:
    svg = charts.stacked_columns(
        "c",
        "Bands",
        "Two weeks",
        ["2026-11-16", "2026-11-23"],
        [charts.Series("red", [10, 30], "band-red"), charts.Series("green", [90, 70], "band-green")],
        "accounts",
    )
    marks = _marks(svg)
    assert [(m.get("data-category"), m.get("data-series"), m.get("data-value")) for m in marks] == [
        ("2026-11-16", "red", "10"),
        ("2026-11-16", "green", "90"),
        ("2026-11-23", "red", "30"),
        ("2026-11-23", "green", "70"),
    ]
    heights = [float(m.get("height")) for m in marks]
    assert heights[0] * 3 == pytest.approx(heights[2])
    assert heights[0] + heights[1] == pytest.approx(heights[2] + heights[3])
    # Stacked: green sits right on top of red.
    assert float(marks[1].get("y")) + heights[1] == pytest.approx(float(marks[0].get("y")))
    assert _title(marks[2]) == "2026-11-23: red 30 accounts"


def test_bars_grow_from_zero_both_ways_and_name_their_group() -> None:
    svg = charts.bar_rows(
        "m",
        "Movers",
        "Falls and rises",
        [charts.BarRow("Acme <Ltd>", [-30]), charts.BarRow("Globex", [15], "rises")],
        [("change", "s-change")],
        "points",
    )
    fall, rise = _marks(svg)
    assert fall.get("class") == "mark s-change negative"
    zero = float(fall.get("x")) + float(fall.get("width"))
    assert float(rise.get("x")) == zero
    assert float(fall.get("width")) == 2 * float(rise.get("width"))
    assert _title(fall) == "Acme <Ltd>: change -30 points"
    assert rise.get("data-category") == "rises › Globex"
    assert "rises" in [t.text for t in ET.fromstring(svg).iter(f"{{{NS['s']}}}text")]


def test_an_interval_is_drawn_from_its_low_to_its_high_around_the_estimate() -> None:
    svg = charts.intervals("l", "Lift", "One", [charts.IntervalRow("renewal-ahead", 8.0, -3.5, 19.5)], "pp")
    (group,) = _marks(svg, "g")
    assert (group.get("data-value"), group.get("data-low"), group.get("data-high")) == ("8", "-3.5", "19.5")
    span, *_caps = group.findall("s:line", NS)
    dot = group.find("s:circle", NS)
    x1, x2, cx = float(span.get("x1")), float(span.get("x2")), float(dot.get("cx"))
    assert x1 < cx < x2
    assert (cx - x1) / (x2 - x1) == 11.5 / 23
    assert _title(group) == "renewal-ahead: +8 pp (95% CI -3.5 to +19.5)"


def test_a_trend_marks_touched_days_inside_its_window_only() -> None:
    window = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    svg = charts.trend(
        "t",
        "Health",
        "Falling",
        [("2026-11-01", 80), ("2026-11-15", 60), ("2026-11-30", 40)],
        [charts.Mark("2026-10-20", "email sent"), charts.Mark("2026-11-10", "task done")],
        window,
        (0, 100),
    )
    root = ET.fromstring(svg)
    points = [c for c in root.iter(f"{{{NS['s']}}}circle") if c.get("class") == "point"]
    assert [(p.get("data-day"), p.get("data-value")) for p in points] == [
        ("2026-11-01", "80"),
        ("2026-11-15", "60"),
        ("2026-11-30", "40"),
    ]
    ys = [float(p.get("cy")) for p in points]
    assert ys[1] - ys[0] == pytest.approx(ys[2] - ys[1]) and ys[1] > ys[0]  # to scale, lower is lower down
    events = [g for g in root.iter(f"{{{NS['s']}}}g") if g.get("class") == "event"]
    assert [(e.get("data-day"), e.get("data-kind")) for e in events] == [("2026-11-10", "task done")]
    legend = [t.text for g in root.iter(f"{{{NS['s']}}}g") if g.get("class") == "legend" for t in g]
    assert "task done" in legend and "email sent" not in legend

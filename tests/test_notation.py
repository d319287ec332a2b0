"""The test files' compact notation: promtool's series and days relative to today."""

from __future__ import annotations

import datetime as dt

import pytest

from csm.playtest.notation import expand_series, is_relative, relative_day

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("10+5x3", [10, 15, 20, 25]),
        ("7x2", [7, 7, 7]),
        ("1 2 3", [1, 2, 3]),
        ("5-1x2 _ _x2 0.5", [5, 4, 3, None, None, None, 0.5]),
        ("40x1 12.5", [40, 40, 12.5]),
        ("-3", [-3]),
    ],
)
def test_a_series_expands_as_promtool_expands_it(text: str, values: list[object]) -> None:
    assert expand_series(text) == values


@pytest.mark.parametrize("text", ["", "lots", "1 2 x3", "1+x3", "3x", "1,2"])
def test_anything_else_is_not_a_series(text: str) -> None:
    assert expand_series(text) is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("today", TODAY),
        ("+91d", dt.date(2027, 2, 22)),
        ("-2w", dt.date(2026, 11, 9)),
        ("today+3d", dt.date(2026, 11, 26)),
    ],
)
def test_days_count_from_today(text: str, day: dt.date) -> None:
    assert is_relative(text) and relative_day(text, TODAY) == day


@pytest.mark.parametrize("raw", ["2026-11-23", "+91", "91d", 91, None, "tomorrow"])
def test_other_values_are_not_relative_days(raw: object) -> None:
    assert not is_relative(raw)

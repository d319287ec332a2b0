"""Terminal pictures: columns and trends in eighths of a cell, and only for a person at a colour
terminal; NO_COLOR and pipes get the plain text lines."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from csm.cli import health_cmds, morning_cmds, pictures

DAYS = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def test_a_column_fills_from_the_bottom_in_eighths() -> None:
    assert pictures.column(10, 10, 2) == ["█", "█"]
    assert pictures.column(5, 10, 2) == [" ", "█"]
    assert pictures.column(3, 8, 1) == ["▃"]
    assert pictures.column(0, 0, 2) == [" ", " "]


def test_a_trend_holds_each_value_until_the_next_and_marks_touched_days() -> None:
    drawn = pictures.trend(
        [("2026-11-01", 100), ("2026-11-15", 50)],
        [("2026-11-15", "email sent"), ("2026-11-15", "task done"), ("2026-11-30", "email sent")],
        DAYS,
        scale=(0, 100),
        width=30,
        height=2,
    )
    assert drawn.rows == ["█" * 14 + " " * 16, "█" * 30]
    assert drawn.marks == " " * 14 + "◆" + " " * 14 + "●"  # a task done wins a shared cell
    assert (drawn.low, drawn.high) == (0, 100)


def test_a_fitted_trend_starts_at_zero_for_counts() -> None:
    drawn = pictures.trend([("2026-11-01", 4), ("2026-11-30", 8)], [], DAYS, width=4, height=1)
    assert (drawn.low, drawn.high) == (0, 8)
    assert drawn.rows == ["▄▄▄█"]


def _terminal(monkeypatch: pytest.MonkeyPatch, *modules: object, no_color: bool) -> io.StringIO:
    out = io.StringIO()
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    console = Console(file=out, force_terminal=True, width=100, highlight=False)
    for module in modules:
        monkeypatch.setattr(module, "console", console)
    return out


def test_health_draws_its_distribution_as_coloured_columns_on_a_terminal(
    demo: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    out = _terminal(monkeypatch, health_cmds, no_color=False)
    assert invoke("-w", str(demo), "health").exit_code == 0
    text = out.getvalue()
    assert "\x1b[32m████" in text  # green columns, in colour
    assert "  0    10   20   30   40   50   60   70   80   90   " in text
    assert " 257 " in text  # each column's count under it


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR on a terminal", "a pipe"])
def test_without_colour_or_a_terminal_health_prints_text_rows(
    demo: Path, invoke, monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:  # type: ignore[no-untyped-def]
    if no_color:
        out = _terminal(monkeypatch, health_cmds, no_color=True)
        assert invoke("-w", str(demo), "health").exit_code == 0
        text = out.getvalue()
    else:
        text = invoke("-w", str(demo), "health").output
    assert "   80-89  257  ████████████████████" in text
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", text)  # no colour (bold is allowed with NO_COLOR)
    assert "  0    10   20" not in text


def test_account_draws_health_and_usage_with_touched_days_on_a_terminal(
    demo: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    out = _terminal(monkeypatch, morning_cmds, no_color=False)
    # A1004: an email sent and a task done on days far enough apart to mark both
    assert invoke("-w", str(demo), "account", "A1004").exit_code == 0
    lines = out.getvalue().splitlines()
    axis = [n for n, line in enumerate(lines) if "┤" in line]
    assert len(axis) == 10  # two charts, five rows each
    assert lines[axis[0]].startswith("health") and "100 ┤" in lines[axis[0]]
    assert lines[axis[5]].startswith("active_users")
    under = lines[axis[4] + 1]
    assert "●" in under and "◆" in under
    assert "email sent" in out.getvalue() and "task done" in out.getvalue()


def test_account_in_a_pipe_keeps_its_sparkline(demo: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    output = invoke("-w", str(demo), "account", "A1329").output
    assert "┤" not in output
    assert any(line.startswith("health        ") and "→ 37.3" in line for line in output.splitlines())

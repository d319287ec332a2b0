"""The book's health by week (last snapshot of each account each week) and its biggest movers."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from csm.reporting.book import movers, weekly_bands

MONDAY = dt.date(2026, 11, 23)


def _snapshots(conn: sqlite3.Connection, rows: list[tuple[str, str, str]]) -> None:
    conn.executemany("INSERT INTO health_history (account_id, date, score, band) VALUES (?, ?, 50, ?)", rows)


def test_each_account_counts_once_a_week_in_its_last_band(conn: sqlite3.Connection) -> None:
    _snapshots(
        conn,
        [
            ("A", "2026-11-16", "green"),  # Monday
            ("A", "2026-11-22", "red"),  # Sunday, same week: A ends the week red
            ("B", "2026-11-18", "yellow"),
            ("A", "2026-11-23", "yellow"),  # the next Monday: a new week
            ("B", "2026-11-24", "green"),  # after today: not yet
            ("C", "2026-08-24", "red"),  # before the quarter
        ],
    )
    weeks = weekly_bands(conn, MONDAY)
    assert [(w.week, w.bands) for w in weeks] == [
        ("2026-11-16", {"red": 1, "yellow": 1, "green": 0}),
        ("2026-11-23", {"red": 0, "yellow": 1, "green": 0}),
    ]
    assert weeks[0].accounts == 2


def test_a_quarter_is_thirteen_weeks(conn: sqlite3.Connection) -> None:
    first, last = MONDAY - dt.timedelta(weeks=12), MONDAY + dt.timedelta(days=1)
    _snapshots(conn, [("A", d.isoformat(), "green") for d in (first - dt.timedelta(days=1), first, last)])
    assert [w.week for w in weekly_bands(conn, last)] == [first.isoformat(), MONDAY.isoformat()]


def test_movers_are_the_biggest_falls_then_the_biggest_rises(demo: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    from csm import workspace
    from csm.runtime import open_runtime

    drops = json.loads(invoke("-w", str(demo), "health", "--json").output)["drops"]
    with open_runtime(workspace.load(explicit=demo)) as rt:
        found = movers(rt.conn, rt.fields, rt.params)
    falls, rises = found[:5], found[5:]
    assert [(m.account, m.change) for m in falls] == [
        (d["account"], d["health_change_30d"]) for d in drops[:5]
    ]
    assert len(rises) == 5 and all(m.change > 0 for m in rises)
    assert [m.change for m in rises] == sorted((m.change for m in rises), reverse=True)
    shown = json.loads(invoke("-w", str(demo), "account", rises[0].account, "--json").output)["account"]
    assert shown["health_change_30d"] == rises[0].change and shown["health"] == rises[0].health

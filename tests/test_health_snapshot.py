"""A snapshot taken again the same day rescores only what changed, and stores what a full one stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from csm.data import timeline
from csm.health import score as health
from csm.health.model import HealthModel
from csm.runtime import fields_for
from tests.test_health_score import PARAMS, TODAY, model

TOMORROW = TODAY + dt.timedelta(days=1)
DAY_TABLES = ("health_history", "health_parts", "health_models")

# A measure of each kind of input: the usage windows, the timeline, the day, a column.
MODEL = """\
thresholds: { green: 70, yellow: 40 }
measures:
  - { id: trend, value: usage_change_30d, weight: 30, linear: { from: -50%, to: 50% } }
  - { id: touch, value: days_since_touch, weight: 20, linear: { from: 60, to: 0 } }
  - { id: login, value: days_since_login, weight: 20, linear: { from: 30, to: 0 } }
  - id: nps
    value: nps
    weight: 30
    missing: 50
    bands: [{ at_least: 9, score: 100 }, { score: 20 }]
profiles:
  onboarding:
    weights: { trend: 0, touch: 40, login: 30, nps: 30 }
"""

# id, nps, start_date, last_login_at
ACCOUNTS = [
    ("A1", 9, "2025-01-01", "2026-11-20"),
    ("A2", 6, "2025-01-01", "2026-10-30"),
    ("A3", None, "2026-11-01", "2026-11-22"),  # onboarding
    ("A4", 10, "2025-01-01", None),
]


@pytest.fixture
def conn(db: Any) -> Any:
    db.executemany(
        "INSERT INTO accounts (id, name, status, nps, start_date, last_login_at, renewal_date)"
        " VALUES (?, ?, 'active', ?, ?, ?, '2027-09-01')",
        [(i, f"Account {i}", nps, start, login) for i, nps, start, login in ACCOUNTS],
    )
    db.executemany(
        "INSERT INTO usage (account_id, metric, date, value) VALUES (?, 'active_users', ?, ?)",
        [
            (account, (TODAY - dt.timedelta(days=d)).isoformat(), base + (d < 30) * 5)
            for account, base in (("A1", 20), ("A2", 40))
            for d in range(60)
        ],
    )
    timeline.record(db, "A1", "note", "called", "2026-11-02T10:00:00+00:00")
    return db


def snap(conn: Any, m: HealthModel, day: dt.date) -> int:
    return health.snapshot(conn, m, fields_for(conn), {**PARAMS, "today": day.isoformat()}, [day])


def stored(conn: Any, day: dt.date) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a snapshot stores for ``day``, by table."""
    return {
        table: [
            tuple(row)
            for row in conn.execute(f"SELECT * FROM {table} WHERE date = ? ORDER BY 1, 2", (day.isoformat(),))
        ]
        for table in DAY_TABLES
    }


def taken_afresh(conn: Any, m: HealthModel, day: dt.date) -> dict[str, list[tuple[Any, ...]]]:
    """What a full snapshot of ``day`` stores: the day's snapshot dropped, then taken."""
    for table in DAY_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE date = ?", (day.isoformat(),))
    snap(conn, m, day)
    return stored(conn, day)


def test_taken_again_after_imports_touches_and_a_new_day_it_stores_what_a_full_snapshot_stores(
    conn: Any,
) -> None:
    m = model(MODEL, conn)
    snap(conn, m, TODAY)
    # An import: a column and the usage change, an account arrives; a touch on the timeline.
    conn.execute("UPDATE accounts SET nps = 10 WHERE id = 'A2'")
    conn.execute("UPDATE usage SET value = 90 WHERE account_id = 'A2' AND date = ?", (TODAY.isoformat(),))
    conn.execute(
        "INSERT INTO accounts (id, name, status, nps, start_date) VALUES ('A5', 'New', 'active', 8, ?)",
        (TODAY.isoformat(),),
    )
    timeline.record(conn, "A3", "note", "kick-off", f"{TODAY}T09:00:00+00:00")
    assert snap(conn, m, TODAY) == 5
    again = stored(conn, TODAY)
    assert again == taken_afresh(conn, m, TODAY)
    # The next day every day count moves on: its snapshot is the day's own, yesterday's stands.
    snap(conn, m, TOMORROW)
    timeline.record(conn, "A4", "email_sent", "hello", f"{TOMORROW}T08:00:00+00:00")
    conn.execute("UPDATE accounts SET last_login_at = ? WHERE id = 'A1'", (TOMORROW.isoformat(),))
    snap(conn, m, TOMORROW)
    assert stored(conn, TOMORROW) == taken_afresh(conn, m, TOMORROW)
    assert stored(conn, TODAY) == again
    touch = {p.id: p.value_now for p in health.explain(conn, m, "A4", TOMORROW).parts}["touch"]
    assert touch == 0


def rescored(conn: Any, m: HealthModel) -> set[str]:
    """The accounts a snapshot taken again today scores anew (the others' rows are not rewritten)."""
    conn.execute("UPDATE health_history SET score = -1 WHERE date = ?", (TODAY.isoformat(),))
    snap(conn, m, TODAY)
    rows = conn.execute("SELECT account_id, score FROM health_history WHERE date = ?", (TODAY.isoformat(),))
    return {account for account, score in rows if score != -1}


def test_taken_again_it_rescores_only_the_accounts_whose_values_or_model_changed(conn: Any) -> None:
    m = model(MODEL, conn)
    snap(conn, m, TODAY)
    assert rescored(conn, m) == set()
    conn.execute("UPDATE accounts SET nps = 10 WHERE id = 'A2'")
    timeline.record(conn, "A3", "note", "kick-off", f"{TODAY}T09:00:00+00:00")
    assert rescored(conn, m) == {"A2", "A3"}
    assert rescored(conn, model(MODEL.replace("green: 70", "green: 80"), conn)) == {"A1", "A2", "A3", "A4"}

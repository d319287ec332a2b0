"""Dates in conditions: a shifted or counted date column is tested as a range the index serves."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from condition_book import make_world, world_fields

from csm.language.compiler import compile_condition


@pytest.fixture
def world(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(make_world(tmp_path / "t.db")) as conn:
        yield conn


def plan(conn: sqlite3.Connection, source: str) -> str:
    condition = compile_condition(source, world_fields(conn))
    params = {**condition.params, "today": "2026-06-01", "primary_metric": "logins"}
    rows = conn.execute(f"EXPLAIN QUERY PLAN SELECT a.id FROM accounts a WHERE {condition.sql}", params)
    return " | ".join(row["detail"] for row in rows)


@pytest.mark.parametrize(
    "source",
    [
        "renewal_date - 45 days <= today",
        "today + 2 weeks >= renewal_date",
        "days_until(renewal_date) between 30 and 45",
        "days_until(renewal_date - 45 days) < 0",
        "days_to_renewal <= 30",
    ],
)
def test_a_date_column_against_today_is_a_range_on_the_column(world: sqlite3.Connection, source: str) -> None:
    condition = compile_condition(source, world_fields(world))
    assert "julianday" not in condition.sql and 'date((a."renewal_date"))' not in condition.sql
    assert "USING INDEX accounts_renewal (renewal_date" in plan(world, source)


def test_an_event_collection_is_served_by_the_events_index(world: sqlite3.Connection) -> None:
    detail = plan(world, "count(ticket within 30d where severity = 'P1') > 0")
    assert (
        "USING INDEX events_account_kind (account_id=? AND kind=? AND occurred_at>? AND occurred_at<?)"
        in detail
    )


@pytest.mark.parametrize("op", ["<=", "<", "=", "!=", ">", ">="])
@pytest.mark.parametrize("n", [0, 1, 2])
def test_a_date_time_column_counts_by_its_day(world: sqlite3.Connection, op: str, n: int) -> None:
    """days_since(last_login_at) of 23:59 yesterday is 1, as of midnight today 0."""
    moments = ["2026-05-30T23:59:59", "2026-05-31T00:00:00", "2026-05-31T23:59:59", "2026-06-01T00:00:00"]
    world.executemany(
        "INSERT INTO accounts (id, name, last_login_at) VALUES (?, 'x', ?)", list(enumerate(moments))
    )
    condition = compile_condition(f"days_since(last_login_at) {op} {n}", world_fields(world))
    assert "julianday" not in condition.sql
    sql = f"SELECT a.last_login_at FROM accounts a WHERE {condition.sql}"
    got = {
        row[0] for row in world.execute(sql, {**condition.params, "today": dt.date(2026, 6, 1).isoformat()})
    }
    days = {m: (dt.date(2026, 6, 1) - dt.date.fromisoformat(m[:10])).days for m in moments}
    ops = {
        "<=": int.__le__,
        "<": int.__lt__,
        "=": int.__eq__,
        "!=": int.__ne__,
        ">": int.__gt__,
        ">=": int.__ge__,
    }
    assert got == {m for m, d in days.items() if ops[op](d, n)}

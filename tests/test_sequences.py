"""csm/engine/sequences.py: business days in SQL, follow-up matching in the step's one query,
and where an account stands in a sequence (what `csm explain` shows), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csm.data import store
from csm.data.backend import SQLITE, dialect_of
from csm.engine import matching, sequences
from csm.language.fields import FieldSet, standard_fields
from csm.language.playbooks import Playbook, parse_playbook

PLAYBOOK = """\
playbook: ping
title: Ping
steps:
  - id: hello
    when: days_since_start >= 0
    email: { template: silent-account/hello.md.j2, to: [champion] }
  - id: call
    after: hello
    wait: 5 business days
    unless: replied
    task: { title: "No reply: call", due_in: 1d }
  - id: later
    after: hello
    wait: 7 days
    task: { title: "A week on", due_in: 1d }
"""
SENT = "2026-11-20T23:30:00+00:00"  # a Friday in UTC, already Saturday in Auckland


def reference_business_days(start: dt.date, end: dt.date, holidays: set[dt.date]) -> int:
    """Business days in (start, end], counted a day at a time; negative when end is before start."""
    if end < start:
        return -reference_business_days(end, start, holidays)
    return sum(
        1
        for n in range(1, (end - start).days + 1)
        if (day := start + dt.timedelta(days=n)).weekday() < 5 and day not in holidays
    )


DAYS = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def calendar(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A connection to count business days on, one per backend for the module (Hypothesis runs
    hundreds of examples on it)."""
    if request.param == "sqlite":
        conn: Any = sqlite3.connect(":memory:")
    else:
        conn = store.connect(request.getfixturevalue("pg_cluster").new_database(), create=True)
    yield conn
    conn.close()


@settings(max_examples=300, deadline=None)
@given(start=DAYS, span=st.integers(0, 400), holidays=st.sets(DAYS, max_size=8))
def test_business_days_in_sql_agree_with_counting_them(
    calendar: Any, start: dt.date, span: int, holidays: set[dt.date]
) -> None:
    end = start + dt.timedelta(days=span)
    d = SQLITE if isinstance(calendar, sqlite3.Connection) else dialect_of(calendar)
    sql = sequences.business_days_sql(d, ":start", ":end")
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "holidays": json.dumps(sorted(day.isoformat() for day in holidays)),
    }
    assert calendar.execute(f"SELECT {sql}", params).fetchone()[0] == reference_business_days(
        start, end, holidays
    )
    # ...and the day a wait of that many business days ends is the first such day.
    count = reference_business_days(start, end, holidays)
    if count > 0:
        ends = sequences.add_business_days(start, count, sorted(holidays))
        assert reference_business_days(start, ends, holidays) == count
        assert (
            ends <= end and reference_business_days(start, ends - dt.timedelta(days=1), holidays) == count - 1
        )


def fields_of(conn: Any) -> FieldSet:
    return standard_fields(dialect=dialect_of(conn))


@pytest.fixture
def playbook(db: Any) -> Playbook:
    found, problems = parse_playbook(PLAYBOOK, Path("playbooks/ping.yaml"), fields_of(db), lambda t: True)
    assert problems == [] and found is not None
    return found


def seed(conn: Any, *, sent_at: str | None = SENT) -> None:
    with store.transaction(conn):
        conn.execute("INSERT INTO accounts (id, name, start_date) VALUES ('A1', 'Acme', '2026-01-01')")
        conn.execute("INSERT INTO accounts (id, name, start_date) VALUES ('A2', 'Beta', '2026-01-01')")
        for account in ("A1", "A2"):
            conn.execute(
                "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, subject, body,"
                " template, status, sent_at, created_at, updated_at)"
                " VALUES (?, 'ping', 'hello', ?, '[]', 'Hi', 'Hi', 't', ?, ?, ?, ?)",
                (
                    f"ping:hello:{account}:once",
                    account,
                    "sent" if sent_at else "approved",
                    sent_at,
                    SENT,
                    SENT,
                ),
            )


def matched(
    conn: Any,
    playbook: Playbook,
    step: str,
    today: str,
    tz: str = "UTC",
    holidays: tuple[str, ...] = (),
) -> list[tuple[str, str]]:
    fields = fields_of(conn)
    sql, params = matching.step_query(playbook, playbook.step(step), fields, dt.date.fromisoformat(today))
    base = {
        "today": today,
        "primary_metric": "active_users",
        "holidays": json.dumps(holidays),
        "timezone": tz,
    }
    return [(row[0], row[3]) for row in conn.execute(sql, {**base, **params})]


def test_a_follow_up_matches_when_the_wait_is_over_once_per_email_it_follows(
    db: Any, playbook: Playbook
) -> None:
    seed(db)
    # Sent Friday 20 Nov (UTC): the 5th business day after is Friday 27 Nov.
    assert matched(db, playbook, "call", "2026-11-26") == []
    assert matched(db, playbook, "call", "2026-11-27") == [("A1", "once@1"), ("A2", "once@2")]
    # Thanksgiving off: one day later. A calendar wait counts every day.
    assert matched(db, playbook, "call", "2026-11-27", holidays=("2026-11-26",)) == []
    assert matched(db, playbook, "later", "2026-11-27") == [("A1", "once@1"), ("A2", "once@2")]
    assert matched(db, playbook, "later", "2026-11-26") == []
    # Due for LATE_DAYS more days, then it lapses.
    assert [a for a, _ in matched(db, playbook, "later", "2026-12-17")] == ["A1", "A2"]
    assert matched(db, playbook, "later", "2026-12-18") == []
    assert [a for a, _ in matched(db, playbook, "call", "2026-12-25")] == ["A1", "A2"]  # 25 business days
    assert matched(db, playbook, "call", "2026-12-28") == []


def test_the_wait_counts_in_the_workspace_timezone(db: Any, playbook: Playbook) -> None:
    seed(db)
    # In Auckland it went out on Saturday 21 Nov: five business days end on Friday 27 Nov as well,
    # but a 7-day wait ends a day later than in UTC.
    assert matched(db, playbook, "later", "2026-11-27", tz="Pacific/Auckland") == []
    assert [a for a, _ in matched(db, playbook, "later", "2026-11-28", tz="Pacific/Auckland")] == [
        "A1",
        "A2",
    ]


def test_only_a_sent_email_starts_the_wait_and_a_reply_since_stops_it(db: Any, playbook: Playbook) -> None:
    seed(db, sent_at=None)
    assert matched(db, playbook, "call", "2026-12-10") == []
    db.execute("UPDATE outbox SET status = 'sent', sent_at = ? WHERE account_id = 'A1'", (SENT,))
    with store.transaction(db):
        for account, at in (("A1", "2026-11-19T09:00:00+00:00"), ("A2", "2026-11-23T09:00:00+00:00")):
            db.execute(
                "INSERT INTO replies (message_key, account_id, address, at, subject, matched_by, recorded_at)"
                " VALUES (?, ?, 'kim@acme.example', ?, 'Re: Hi', 'sender', ?)",
                (f"<{account}@x>", account, at, at),
            )
    # A1's reply came before the email went out: it does not count. A2's email never went out.
    assert matched(db, playbook, "call", "2026-12-10") == [("A1", "once@1")]
    db.execute(  # in the email's thread, it counts whatever the sender's clock said
        "UPDATE replies SET draft_id = 1, matched_by = 'thread' WHERE account_id = 'A1'"
    )
    assert matched(db, playbook, "call", "2026-12-10") == []
    db.execute("UPDATE replies SET draft_id = NULL, matched_by = 'sender' WHERE account_id = 'A1'")
    db.execute("UPDATE outbox SET status = 'sent', sent_at = ? WHERE account_id = 'A2'", (SENT,))
    assert matched(db, playbook, "call", "2026-12-10") == [("A1", "once@1")]  # A2 replied
    assert [a for a, _ in matched(db, playbook, "later", "2026-12-10")] == ["A1", "A2"]  # no `unless`


def test_position_says_where_each_account_is(db: Any, playbook: Playbook) -> None:
    seed(db)

    def where(account: str, today: str) -> list[tuple[str, str, str]]:
        found = sequences.position(
            db,
            playbook,
            account,
            dt.date.fromisoformat(today),
            timezone="UTC",
            holidays=[dt.date(2026, 11, 26)],
        )
        return [(p.step, p.state, p.detail) for p in found]

    assert where("A1", "2026-11-24") == [
        ("call", "waiting", "'hello' sent 2026-11-20; waiting 5 business days, until 2026-11-30"),
        ("later", "waiting", "'hello' sent 2026-11-20; waiting 7 days, until 2026-11-27"),
    ]
    assert where("A1", "2026-11-30")[0] == (
        "call",
        "due",
        "no reply 5 business days after 2026-11-20: follow-up due",
    )
    with store.transaction(db):
        db.execute(
            "INSERT INTO tasks (dedupe_key, playbook, step, account_id, title, created_at)"
            " VALUES ('ping:call:A1:once@1', 'ping', 'call', 'A1', 'No reply: call', ?)",
            (SENT,),
        )
        db.execute(
            "INSERT INTO replies (message_key, account_id, address, at, subject, matched_by, recorded_at)"
            " VALUES ('<r@x>', 'A2', 'kim@beta.example', '2026-11-23T08:00:00+00:00', 'Re: Hi', 'thread', ?)",
            (SENT,),
        )
    assert where("A1", "2026-11-30")[0] == ("call", "done", "followed up: task #1 (open)")
    assert where("A2", "2026-11-30")[0] == (
        "call",
        "replied",
        "kim@beta.example replied 2026-11-23: no follow-up",
    )
    assert where("A2", "2026-12-30")[0] == (
        "call",
        "replied",
        "kim@beta.example replied 2026-11-23: no follow-up",
    )
    assert where("A1", "2026-12-28")[1] == (
        "later",
        "lapsed",
        "no reply to 'hello' of 2026-11-20; too late now",
    )
    db.execute("DELETE FROM outbox")
    assert where("A1", "2026-11-30")[0] == ("call", "not-started", "no email of 'hello' sent yet")

"""The fields conditions read about replies and bounces (csm/language/fields.py): replied,
days_since_reply, last_reply_at, bounced_contacts, and a reply as a touch."""

from __future__ import annotations

import sqlite3

import pytest

from csm.data import timeline
from csm.language.compiler import compile_condition
from csm.language.fields import standard_fields

FIELDS = standard_fields()
NAMES = ("replied", "days_since_reply", "last_reply_at", "bounced_contacts", "days_since_touch")


@pytest.fixture
def db(conn: sqlite3.Connection) -> sqlite3.Connection:
    with conn:
        for account in ("NEVER", "ANSWERED", "ANSWERED_BEFORE", "ONLY_REPLY"):
            conn.execute(
                "INSERT INTO accounts (id, name, start_date) VALUES (?, ?, '2026-01-01')", (account, account)
            )
        for account, kind, at in (
            ("ANSWERED", "email_sent", "2026-11-10T10:00:00+00:00"),
            ("ANSWERED", "reply", "2026-11-12T09:00:00+00:00"),
            ("ANSWERED_BEFORE", "reply", "2026-11-01T09:00:00+00:00"),
            ("ANSWERED_BEFORE", "email_sent", "2026-11-10T10:00:00+00:00"),
            ("ONLY_REPLY", "reply", "2026-11-20T09:00:00+00:00"),
            ("ONLY_REPLY", "reply", "2026-11-25T09:00:00+00:00"),  # after "today"
        ):
            timeline.record(conn, account, kind, "x", at)
        conn.executemany(
            "INSERT INTO contacts (account_id, email, bounced_at) VALUES (?, ?, ?)",
            [
                ("ANSWERED", "a@x.example", "2026-11-11"),
                ("ANSWERED", "b@x.example", None),
                ("NEVER", "c@x.example", None),
            ],
        )
    return conn


def values(db: sqlite3.Connection, account: str) -> dict[str, object]:
    columns = ", ".join(f"({FIELDS.sql(name)})" for name in NAMES)
    row = db.execute(
        f"SELECT {columns} FROM accounts a WHERE a.id = :id", {"id": account, "today": "2026-11-23"}
    )
    return dict(zip(NAMES, row.fetchone(), strict=True))


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("NEVER", (0, None, None, 0, 326)),
        ("ANSWERED", (1, 11, "2026-11-12", 1, 11)),  # the reply is the last touch
        ("ANSWERED_BEFORE", (0, 22, "2026-11-01", 0, 13)),  # csm wrote again since: not answered yet
        ("ONLY_REPLY", (1, 3, "2026-11-20", 0, 3)),  # never emailed by csm: any reply counts
    ],
)
def test_reply_fields(db: sqlite3.Connection, account: str, expected: tuple[object, ...]) -> None:
    assert tuple(values(db, account).values()) == expected


def test_the_language_reads_them_as_bool_and_numbers(db: sqlite3.Connection) -> None:
    condition = compile_condition("not replied and (days_since_reply > 14 or bounced_contacts >= 1)", FIELDS)
    sql = f"SELECT a.id FROM accounts a WHERE {condition.sql} ORDER BY a.id"
    found = [row[0] for row in db.execute(sql, {**condition.params, "today": "2026-11-23"})]
    assert found == ["ANSWERED_BEFORE"]

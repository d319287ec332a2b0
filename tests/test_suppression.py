"""Suppression checks stay index lookups, whatever the size of the book; an unsubscribe on both backends."""

from __future__ import annotations

import sqlite3
from typing import Any

from csm.mail import suppression

NOW = "2026-11-23T09:00:00+00:00"


def test_a_recipient_is_checked_by_index_whatever_its_case(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO contacts (account_id, email, unsubscribed) VALUES ('A1', 'Pat@Example.com', 1)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)  # the SQL as run, its values filled in
    assert suppression.blocked(conn, ["pat@example.COM", "other@example.com"]) == {"pat@example.com"}
    conn.set_trace_callback(None)
    plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statements[-1]}"))
    assert "SCAN contacts" not in plan and "contacts USING INDEX contacts_email_nocase" in plan, plan


def test_an_unsubscribe_suppresses_the_address_whatever_its_case_on_both_backends(db: Any) -> None:
    db.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Acme')")
    db.execute("INSERT INTO contacts (account_id, email) VALUES ('A1', 'Pat@Example.com')")
    assert suppression.unsubscribe(db, "PAT@example.com", "asked", NOW) == 1
    assert suppression.unsubscribe(db, "pat@example.com", "asked again", NOW) == 1  # once, reason kept new
    assert suppression.blocked(db, ["pat@EXAMPLE.com", "kim@example.com"]) == {"pat@example.com"}
    assert [tuple(r) for r in db.execute("SELECT email, reason FROM suppressions")] == [
        ("pat@example.com", "asked again")
    ]
    assert [tuple(r) for r in db.execute("SELECT unsubscribed FROM contacts")] == [(1,)]
    assert db.execute("SELECT count(*) FROM timeline WHERE kind = 'unsubscribed'").fetchone()[0] == 2
    assert suppression.bouncing(db, ["pat@example.com"]) == set()

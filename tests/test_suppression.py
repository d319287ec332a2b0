"""Suppression checks stay index lookups, whatever the size of the book."""

from __future__ import annotations

import sqlite3

from csm.mail import suppression


def test_a_recipient_is_checked_by_index_whatever_its_case(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO contacts (account_id, email, unsubscribed) VALUES ('A1', 'Pat@Example.com', 1)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)  # the SQL as run, its values filled in
    assert suppression.blocked(conn, ["pat@example.COM", "other@example.com"]) == {"pat@example.com"}
    conn.set_trace_callback(None)
    plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statements[-1]}"))
    assert "SCAN contacts" not in plan and "contacts USING INDEX contacts_email_nocase" in plan, plan

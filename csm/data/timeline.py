"""The timeline: every touch and event on an account, newest last."""

from __future__ import annotations

import sqlite3
from typing import Any

from csm.data import rollup
from csm.errors import InputError, NotFound

# Kinds that count as touching the customer (they reset days_since_touch). A reply is the
# strongest touch of all: the customer wrote back.
TOUCH_KINDS = frozenset({"email_sent", "task_done", "note", "call", "meeting", "reply"})
# What `csm log` may record by hand; the others are recorded by what they describe.
LOGGED_KINDS = ("note", "call", "meeting")


def record(
    conn: sqlite3.Connection,
    account_id: str | None,
    kind: str,
    summary: str,
    at: str,
    ref: str | None = None,
) -> None:
    """Add one event; the caller owns the transaction."""
    touch = kind in TOUCH_KINDS
    conn.execute(
        "INSERT INTO timeline (account_id, at, kind, touch, summary, ref) VALUES (?, ?, ?, ?, ?, ?)",
        (account_id, at, kind, int(touch), summary, ref),
    )
    if touch and account_id is not None:
        rollup.touched(conn, account_id)


def require_account(conn: sqlite3.Connection, account_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise NotFound(
            f"no account '{account_id}'", hint="Check the id with `csm outbox` or your import file."
        )
    return dict(row)


def log_note(conn: sqlite3.Connection, account_id: str, note: str, at: str, kind: str = "note") -> None:
    """`csm log`: a touch the CSM had outside csm (a call, a meeting, a note)."""
    from csm.data.store import transaction

    if not note.strip():
        raise InputError("the note is empty", hint='Write what happened: csm log ACCOUNT "Call: ..."')
    if kind not in LOGGED_KINDS:
        raise InputError(f"unknown kind '{kind}'", hint="Use note, call or meeting.")
    require_account(conn, account_id)
    with transaction(conn):
        record(conn, account_id, kind, note.strip(), at)


def recent(conn: sqlite3.Connection, account_id: str, limit: int = 10) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT at, kind, touch, summary FROM timeline"
        " WHERE account_id = ? ORDER BY at DESC, id DESC LIMIT ?",
        (account_id, limit),
    )
    return [dict(r) for r in rows]

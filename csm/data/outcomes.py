"""Renewal outcomes: renewed or churned, from imports or `csm outcome`.

An import records an outcome when it moves an account's ``status`` to
renewed or churned; an account that stays renewed import after import is one
outcome, not one per import. `csm outcome` records one by hand. One outcome
per account per date: recording the same date again replaces it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from csm.data import timeline
from csm.data.store import transaction
from csm.errors import InputError

OUTCOMES = ("renewed", "churned")
# One outcome per account per date: recording the same date again replaces it.
_REPLACING = (
    " ON CONFLICT (account_id, date) DO UPDATE SET outcome = excluded.outcome,"
    " source = excluded.source, recorded_at = excluded.recorded_at"
)
_DECIDED = "SELECT id, status FROM accounts WHERE status IN ('renewed', 'churned')"


def decided(conn: sqlite3.Connection) -> dict[str, str]:
    """Accounts whose status is an outcome: read before an import, for :func:`record_imported`."""
    return {row[0]: row[1] for row in conn.execute(_DECIDED)}


def record_imported(conn: sqlite3.Connection, before: dict[str, str], now: str) -> int:
    """Record the outcomes an import just made; the caller owns the transaction.

    The outcome's date is the account's renewal date when that has passed
    (the renewal it decided), else the day of the import.
    """
    day = now[:10]
    rows = [
        (
            row["id"],
            min(row["renewal_date"] or day, day),
            row["status"],
            now,
        )
        for row in conn.execute(_DECIDED.replace("id, status", "id, status, renewal_date"))
        if before.get(row["id"]) != row["status"]
    ]
    conn.executemany(
        "INSERT INTO outcomes (account_id, date, outcome, source, recorded_at)"
        " VALUES (?, ?, ?, 'import', ?)" + _REPLACING,
        rows,
    )
    return len(rows)


def record(conn: sqlite3.Connection, account_id: str, outcome: str, day: dt.date, now: str) -> None:
    """`csm outcome`: a renewal decided, by hand. A churn also marks the account churned."""
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome '{outcome}'", hint="Use renewed or churned.")
    timeline.require_account(conn, account_id)
    with transaction(conn):
        conn.execute(
            "INSERT INTO outcomes (account_id, date, outcome, source, recorded_at)"
            " VALUES (?, ?, ?, 'manual', ?)" + _REPLACING,
            (account_id, day.isoformat(), outcome, now),
        )
        if outcome == "churned":
            conn.execute("UPDATE accounts SET status = 'churned' WHERE id = ?", (account_id,))
        timeline.record(conn, account_id, "outcome", f"{outcome} on {day.isoformat()}", now)


def listing(conn: sqlite3.Connection, account_id: str | None = None) -> list[dict[str, str]]:
    sql = "SELECT account_id, date, outcome, source FROM outcomes"
    params: tuple[str, ...] = ()
    if account_id is not None:
        sql += " WHERE account_id = ?"
        params = (account_id,)
    return [dict(r) for r in conn.execute(sql + " ORDER BY date, account_id", params)]

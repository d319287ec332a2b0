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
_BEFORE = "csm_decided_before"  # a TEMP table: the accounts decided before an import


def decided(conn: sqlite3.Connection) -> None:
    """Note the accounts whose status is an outcome, before an import, for :func:`record_imported`."""
    conn.execute(f"DROP TABLE IF EXISTS {_BEFORE}")
    conn.execute(f"CREATE TEMP TABLE {_BEFORE} AS {_DECIDED}")


def record_imported(conn: sqlite3.Connection, now: str) -> int:
    """Record the outcomes an import just made; the caller owns the transaction.

    The outcome's date is the account's renewal date when that has passed
    (the renewal it decided), else the day of the import. One statement, set-based:
    a first import of a large book decides thousands of accounts at once.
    """
    recorded = conn.execute(
        "INSERT INTO outcomes (account_id, date, outcome, source, recorded_at)"
        " SELECT a.id, CASE WHEN a.renewal_date <> '' AND a.renewal_date < :day"
        " THEN a.renewal_date ELSE :day END, a.status, 'import', :now FROM accounts a"
        " WHERE a.status IN ('renewed', 'churned')"
        f" AND NOT EXISTS (SELECT 1 FROM {_BEFORE} b WHERE b.id = a.id AND b.status = a.status)" + _REPLACING,
        {"day": now[:10], "now": now},
    ).rowcount
    conn.execute(f"DROP TABLE {_BEFORE}")
    return recorded


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

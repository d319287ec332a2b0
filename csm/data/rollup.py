"""The per-account rollup: one day's usage windows and last touch, read by the derived fields.

``usage_30d``, ``usage_prev_30d`` (and so ``usage_change_30d``) and the last
touch (``last_touch_at``, ``days_since_touch``) each cost a range scan or an
index search per account, and the health snapshot, several steps and the
morning list read them again and again. The rollup holds them per account for
one day (``usage_rollup``, the day and metric in ``usage_rollup_day``); a
field reads its row when the rollup is for the day being evaluated, and
computes the value itself otherwise (another day, a condition's ``for:``
days, a rollup an import made stale). Each value is stored as computed by the
field's own SQL (:data:`csm.language.fields.ROLLED_UP`), so reading the
rollup gives exactly what computing gives.

This module is its one writer, and keeps it true:

- :func:`ensure` builds it for a day: the first run of the day that writes
  (`csm run`, `csm today`) calls it, before the health snapshot;
- :func:`invalidate`: an import of accounts or usage (re-imported,
  backdated, new accounts) drops it in the import's own transaction, and the
  next run builds it again;
- :func:`touched`: a touch on the timeline recomputes that account's last
  touch in the same transaction as the row (``csm.data.timeline.record``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from csm.language.fields import ROLLED_UP

_COLUMNS = ", ".join(ROLLED_UP)
_VALUES = ", ".join(ROLLED_UP.values())


def current(conn: sqlite3.Connection, day: dt.date, metric: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM usage_rollup_day WHERE day = ? AND metric = ?", (day.isoformat(), metric)
    ).fetchone()
    return row is not None


def ensure(conn: sqlite3.Connection, day: dt.date, metric: str) -> bool:
    """Build the rollup for ``day`` unless it is built; inside the caller's transaction. Built now?"""
    if current(conn, day, metric):
        return False
    conn.execute("DELETE FROM usage_rollup_day")
    conn.execute("DELETE FROM usage_rollup")
    conn.execute(
        f"INSERT INTO usage_rollup (account_id, {_COLUMNS}) SELECT a.id, {_VALUES} FROM accounts a",
        {"today": day.isoformat(), "primary_metric": metric},
    )
    conn.execute("INSERT INTO usage_rollup_day (day, metric) VALUES (?, ?)", (day.isoformat(), metric))
    return True


def invalidate(conn: sqlite3.Connection) -> None:
    """The data under the rollup changed: fields compute their values until it is built again."""
    conn.execute("DELETE FROM usage_rollup_day")


def touched(conn: sqlite3.Connection, account_id: str) -> None:
    """A touch was recorded on this account: its last touch, as of the rollup's day, again."""
    built = conn.execute("SELECT day FROM usage_rollup_day").fetchone()
    if built is None:
        return
    conn.execute(
        f"UPDATE usage_rollup SET last_touch = (SELECT {ROLLED_UP['last_touch']}"
        " FROM accounts a WHERE a.id = :account) WHERE account_id = :account",
        {"account": account_id, "today": built[0]},
    )

"""Whether today's health snapshot stands: what `csm run` and `csm today` ask before scoring,
apart from the scoring itself (:mod:`csm.health.score`), which a run with today's snapshot
never needs to load."""

from __future__ import annotations

import datetime as dt
import sqlite3

from csm.data.store import get_meta

SEEN_IMPORT = "health_snapshot_import"  # meta: the last import (timeline id) the latest snapshot saw


def is_current(conn: sqlite3.Connection, day: dt.date) -> bool:
    """Is there a snapshot for ``day`` taken after the last import?"""
    if (
        conn.execute("SELECT 1 FROM health_history WHERE date = ? LIMIT 1", (day.isoformat(),)).fetchone()
        is None
    ):
        return False
    return last_import(conn) <= int(get_meta(conn, SEEN_IMPORT) or -1)


def last_import(conn: sqlite3.Connection) -> int:
    """The newest import's timeline id: an order no clock can upset (0: none yet).

    An import is the book's own row, of no account: the index on account_id finds it.
    """
    row = conn.execute("SELECT max(id) FROM timeline WHERE account_id IS NULL AND kind = 'import'").fetchone()
    return row[0] or 0

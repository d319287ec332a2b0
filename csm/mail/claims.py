"""Who is sending a draft: claimants, and the claims whose process is gone.

A draft is claimed (``approved -> sending``, :func:`csm.mail.outbox.claim`) by
one process, named by host and pid, before any copy goes out. When that
process is gone and the claim still stands, some copy may have arrived: the
draft becomes ``unknown``, and only a person settles it (``csm resolve``,
:func:`csm.mail.outbox.resolve`), so nothing is sent twice automatically.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3

from csm.data.store import transaction
from csm.mail import deliveries, outbox

STALE_CLAIM = dt.timedelta(hours=1)


def wall_clock() -> dt.datetime:
    """The real time, for every stamp of sending; a pinned "today" never reaches it."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(claimed_by: str | None, claimed_at: str | None, now: dt.datetime) -> bool:
    """Is the process that claimed a draft possibly still sending it?"""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return now - dt.datetime.fromisoformat(claimed_at or "") < STALE_CLAIM
    except ValueError:
        return False


def abandoned(conn: sqlite3.Connection, now: dt.datetime) -> list[int]:
    """Drafts in ``sending`` whose claiming process is gone (read only)."""
    rows = conn.execute("SELECT id, claimed_by, claimed_at FROM outbox WHERE status = 'sending'").fetchall()
    return [r["id"] for r in rows if not _alive(r["claimed_by"], r["claimed_at"], now)]


def recover_abandoned(conn: sqlite3.Connection, now: dt.datetime) -> list[int]:
    """Drafts left in ``sending`` by a process that is gone become ``unknown``."""
    stamp = now.isoformat()
    with transaction(conn):
        gone = abandoned(conn, now)
        for draft_id in gone:
            deliveries.abandon(conn, draft_id, "the sending process stopped while handing it over", stamp)
            reason = "the sending process stopped mid-send; it may have arrived"
            copies = deliveries.of(conn, draft_id)
            if len(copies) > 1:
                reason += f" ({deliveries.summary(copies)})"
            outbox.recover(conn, draft_id, reason, stamp)
    return gone

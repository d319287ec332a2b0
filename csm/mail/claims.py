"""Claims on drafts being sent, and settling the ones whose outcome is unknown.

A draft is claimed (``approved -> sending``) by one process, named by host and
pid, before any copy goes out. When that process is gone and the claim still
stands, some copy may have arrived: the draft becomes ``unknown``, and only a
person settles it (``csm resolve``), so nothing is sent twice automatically.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3

from csm.data import timeline
from csm.data.store import transaction
from csm.errors import StateError
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
            conn.execute(
                "UPDATE outbox SET status = 'unknown', updated_at = ?, reason = ?"
                " WHERE id = ? AND status = 'sending'",
                (stamp, reason, draft_id),
            )
    return gone


def resolve(conn: sqlite3.Connection, draft_id: int, *, sent: bool, now: str) -> list[str]:
    """Settle a draft whose outcome is unknown: its unsure copies arrived (``sent``) or did not.

    The draft is sent when every copy is; otherwise it is approved again for
    the recipients still to send, whom it returns.
    """
    with transaction(conn):
        draft = outbox.get(conn, draft_id)
        if draft["status"] != "unknown":
            raise StateError(
                f"draft #{draft_id} is {draft['status']}; only unknown drafts can be resolved",
                hint="`csm outbox --status unknown` lists the drafts waiting to be settled.",
            )
        remaining = deliveries.settle(conn, draft_id, arrived=sent, now=now)
        if sent and not remaining:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, updated_at = ?,"
                " reason = 'confirmed sent by hand'"
                " WHERE id = ?",
                (now, now, draft_id),
            )
            timeline.record(
                conn,
                draft["account_id"],
                "email_sent",
                f"sent “{draft['subject']}” (confirmed)",
                now,
                f"draft:{draft_id}",
            )
        else:
            conn.execute(
                "UPDATE outbox SET status = 'approved', updated_at = ?, reason = NULL WHERE id = ?",
                (now, draft_id),
            )
    return remaining

"""The copies of one draft: one per envelope recipient, each with its own unsubscribe token.

A draft goes out as one copy per recipient so that each copy can carry a
List-Unsubscribe link naming only that person. What became of each copy is
recorded per address:

    pending -> sending -> sent
       ^          \\-> failed (refused for good) | unknown (may have arrived)
       \\-- a temporary failure or a stopped batch puts it back

so sending a draft again never repeats a copy that went out, and a crash
mid-draft leaves a record of who got it.

Tokens are opaque random strings mapped here to the address and the draft:
there is no key to keep secret or rotate, and a token that is not in this
table was not issued by this workspace (``csm unsubscribe --token``).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_COLUMNS = "draft_id, address, token, status, detail"


@dataclass(frozen=True)
class Delivery:
    """One recipient's copy of a draft."""

    draft_id: int
    address: str
    token: str
    status: str  # pending, sending, sent, failed, unknown
    detail: str | None = None


def new_token() -> str:
    """128 random bits, URL- and subject-safe."""
    return secrets.token_urlsafe(16)


def plan(conn: sqlite3.Connection, draft_id: int, addresses: Sequence[str]) -> list[Delivery]:
    """The copies of a draft for ``addresses``: as recorded by an earlier attempt (same token,
    same status), else new and pending with a fresh token. Writes nothing."""
    recorded = {d.address: d for d in of(conn, draft_id)}
    return [recorded.get(a) or Delivery(draft_id, a, new_token(), "pending") for a in addresses]


def add(
    conn: sqlite3.Connection,
    copies: Sequence[Delivery],
    now: str,
    *,
    sending: str | None,
    message_id: str | None = None,
) -> None:
    """Record the copies not recorded yet, and mark the copy to ``sending`` as being handed over.

    ``message_id``: the Message-ID the copies carry, by which a reply to any
    of them finds its draft and recipient (``csm inbox``). Runs inside the
    caller's transaction (the claim of the draft).
    """
    conn.executemany(
        "INSERT INTO deliveries (draft_id, address, token, status, position, updated_at, message_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (draft_id, address) DO NOTHING",
        [(c.draft_id, c.address, c.token, c.status, i, now, message_id) for i, c in enumerate(copies)],
    )
    if sending is not None and copies:
        _set(conn, copies[0].draft_id, sending, "sending", None, now)


def record(conn: sqlite3.Connection, copy: Delivery, now: str, *, following: str | None = None) -> None:
    """Record what became of ``copy`` and, in the same write, that ``following`` is being handed over.

    Runs inside the caller's transaction.
    """
    _set(conn, copy.draft_id, copy.address, copy.status, copy.detail, now)
    if following is not None:
        _set(conn, copy.draft_id, following, "sending", None, now)


def of(conn: sqlite3.Connection, draft_id: int) -> list[Delivery]:
    """Every copy recorded for a draft, in recipient order."""
    return [
        Delivery(*row)
        for row in conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE draft_id = ? ORDER BY position, address", (draft_id,)
        )
    ]


def abandon(conn: sqlite3.Connection, draft_id: int, detail: str, now: str) -> None:
    """A copy being handed over when its process died may have arrived (inside the caller's transaction)."""
    conn.execute(
        "UPDATE deliveries SET status = 'unknown', detail = ?, updated_at = ?"
        " WHERE draft_id = ? AND status = 'sending'",
        (detail, now, draft_id),
    )


def settle(conn: sqlite3.Connection, draft_id: int, *, arrived: bool, now: str) -> list[str]:
    """A person says the unknown copies arrived (sent) or not (pending); returns the addresses still to send.

    Runs inside the caller's transaction.
    """
    conn.execute(
        "UPDATE deliveries SET status = ?, detail = ?, updated_at = ?"
        " WHERE draft_id = ? AND status = 'unknown'",
        ("sent", "confirmed sent by hand", now, draft_id)
        if arrived
        else ("pending", "confirmed not sent by hand", now, draft_id),
    )
    return [d.address for d in of(conn, draft_id) if d.status == "pending"]


def find(conn: sqlite3.Connection, token: str) -> Delivery | None:
    """The copy that carried ``token``, or None when this workspace never issued it."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE token = ?", (token,)).fetchone()
    return None if row is None else Delivery(*row)


def summary(copies: Iterable[Delivery]) -> str:
    """Who did not get a draft (and who did), for its reason: "sent to a; b not sent yet: 451 ..."."""
    copies = list(copies)
    trouble = [c for c in copies if c.status != "sent"]
    if not trouble:
        return ""
    if len(copies) == 1:
        return trouble[0].detail or f"{trouble[0].address} {_STATE[trouble[0].status]}"
    sent = [c.address for c in copies if c.status == "sent"]
    parts = [f"sent to {', '.join(sent)}"] if sent else []
    parts.extend(f"{c.address} {_STATE[c.status]}" + (f": {c.detail}" if c.detail else "") for c in trouble)
    return "; ".join(parts)


_STATE = {
    "pending": "not sent yet",
    "sending": "being sent",
    "failed": "not delivered",
    "unknown": "may have got it",
}


def _set(
    conn: sqlite3.Connection, draft_id: int, address: str, status: str, detail: str | None, now: str
) -> None:
    conn.execute(
        "UPDATE deliveries SET status = ?, detail = ?, updated_at = ? WHERE draft_id = ? AND address = ?",
        (status, detail, now, draft_id, address),
    )

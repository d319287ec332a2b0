"""Who must not be emailed: unsubscribes (by address or by the token of a sent copy), and
addresses that bounce (``contacts.bounced_at``, set by `csm inbox` from a delivery failure)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from csm.data import timeline
from csm.data.backend import dialect_of
from csm.data.store import transaction
from csm.errors import InputError
from csm.mail import deliveries


def blocked(conn: sqlite3.Connection, addresses: Sequence[str]) -> set[str]:
    """Those of ``addresses`` (lowercased) that are suppressed, or belong to an unsubscribed contact
    or to one whose address bounces."""
    if not addresses:
        return set()
    marks = ", ".join("?" for _ in addresses)
    email = dialect_of(conn).nocase("email")
    lowered = [a.lower() for a in addresses]
    return {
        row[0].lower()
        for row in conn.execute(
            f"SELECT email FROM suppressions WHERE {email} IN ({marks})"
            " UNION SELECT email FROM contacts"
            f" WHERE (unsubscribed = 1 OR bounced_at IS NOT NULL) AND {email} IN ({marks})",
            [*lowered, *lowered],
        )
    }


def bouncing(conn: sqlite3.Connection, addresses: Sequence[str]) -> set[str]:
    """Those of ``addresses`` (lowercased) that bounced (a contact's ``bounced_at``)."""
    if not addresses:
        return set()
    marks = ", ".join("?" for _ in addresses)
    email = dialect_of(conn).nocase("email")
    sql = f"SELECT email FROM contacts WHERE bounced_at IS NOT NULL AND {email} IN ({marks})"
    return {row[0].lower() for row in conn.execute(sql, [a.lower() for a in addresses])}


def unsubscribe(conn: sqlite3.Connection, address: str, reason: str, now: str) -> int:
    """Suppress an address for good; returns how many contacts carried it."""
    address = address.strip()
    if "@" not in address or any(c.isspace() for c in address):
        raise InputError(f"'{address}' is not an email address")
    email = dialect_of(conn).nocase("email")
    with transaction(conn):
        conn.execute(
            "INSERT INTO suppressions (email, reason, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT(email) DO UPDATE SET reason = excluded.reason",
            (address.lower(), reason, now),
        )
        cursor = conn.execute(f"UPDATE contacts SET unsubscribed = 1 WHERE {email} = ?", (address.lower(),))
        for row in conn.execute(f"SELECT account_id FROM contacts WHERE {email} = ?", (address.lower(),)):
            timeline.record(conn, row[0], "unsubscribed", f"{address} unsubscribed ({reason})", now)
    return cursor.rowcount


def unsubscribe_token(conn: sqlite3.Connection, token: str, reason: str, now: str) -> tuple[str, int]:
    """Unsubscribe the one address whose copy carried ``token``: (that address, contacts carrying it).

    Raises InputError for a token this workspace never issued (mistyped, cut short or forged).
    """
    copy = deliveries.find(conn, token.strip())
    if copy is None:
        raise InputError(
            "unknown unsubscribe token: no message sent from this workspace carried it, so nobody was"
            " unsubscribed",
            hint="Copy the whole token from the link (after token=) or the subject (after 'unsubscribe');"
            " `csm unsubscribe EMAIL` unsubscribes an address by hand.",
        )
    reason = f"{reason} (the unsubscribe link of draft #{copy.draft_id})"
    return copy.address, unsubscribe(conn, copy.address, reason, now)

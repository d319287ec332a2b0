"""Pending drafts to the same person: what `csm today` and `csm show` warn about.

A person can be a recipient at two accounts (the champion of both, say); each
account's draft is kept, and every pending draft names the others to the same
address, so the reviewer decides. Read from the outbox each time, never stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from csm.data.backend import dialect_of

PENDING = ("draft", "approved")
_CHUNK = 500


def addresses(to_addrs: str, cc: str) -> set[str]:
    """Every address a draft's To and Cc (as the outbox keeps them) name, lowercased."""
    found = {address.lower() for _name, address in json.loads(to_addrs)}
    found.update(_address(entry).lower() for entry in json.loads(cc))
    return found - {""}


def _address(entry: str) -> str:
    """The address of a cc entry: parseaddr only for "Name <address>" (it is slow; most are bare)."""
    if "<" not in entry:
        return entry.strip()
    from email.utils import parseaddr  # email's parser: only for the rare named entry

    return parseaddr(entry)[1]


# Each draft's To addresses, the JSON pairs unpacked by the database.
_TO_ADDRESSES = {
    "sqlite": "SELECT o.id, json_extract(j.value, '$[1]') FROM outbox o, json_each(o.to_addrs) j"
    " WHERE o.status IN ({marks})",
    "postgresql": "SELECT o.id, j.value ->> 1 FROM outbox o, jsonb_array_elements(o.to_addrs::jsonb) j"
    " WHERE o.status IN ({marks})",
}


def _pending_addresses(conn: sqlite3.Connection) -> dict[int, set[str]]:
    """Every pending draft's recipients (to and cc), lower-cased: the JSON read in SQL, where
    most drafts have no cc to parse."""
    marks = ", ".join("?" * len(PENDING))
    found: dict[int, set[str]] = {}
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(_TO_ADDRESSES[dialect_of(conn).name].format(marks=marks), PENDING)
    for draft_id, address in rows:
        found.setdefault(draft_id, set()).add(address.lower())
    copied = cursor.execute(f"SELECT id, cc FROM outbox WHERE status IN ({marks}) AND cc != '[]'", PENDING)
    for draft_id, cc in copied:
        found.setdefault(draft_id, set()).update(_address(entry).lower() for entry in json.loads(cc))
    for named in found.values():
        named.discard("")
    return found


def also_to_same_person(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """For each of these drafts that is pending, the other pending drafts sharing a recipient.

    Read from the outbox each time, so it is never out of date: once the other
    draft is sent or skipped, the warning goes.
    """
    wanted = set(ids)
    named = _pending_addresses(conn)
    by_address: dict[str, list[int]] = {}
    for draft_id, found in named.items():
        for address in found:
            by_address.setdefault(address, []).append(draft_id)
    shared: dict[int, dict[int, list[str]]] = {}
    for draft_id in wanted & named.keys():
        for address in sorted(named[draft_id]):
            for other in by_address[address]:
                if other != draft_id:
                    shared.setdefault(draft_id, {}).setdefault(other, []).append(address)
    others = _drafts_by_id(conn, sorted({other for found in shared.values() for other in found}))
    return {
        draft_id: [
            {
                "id": other,
                "account": others[other]["account_id"],
                "account_name": others[other]["account_name"],
                "status": others[other]["status"],
                "emails": emails,
            }
            for other, emails in sorted(shared.get(draft_id, {}).items())
        ]
        for draft_id in wanted
    }


def _drafts_by_id(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
    found: dict[int, sqlite3.Row] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(
            "SELECT o.id, o.status, o.account_id, a.name AS account_name FROM outbox o"
            f" LEFT JOIN accounts a ON a.id = o.account_id WHERE o.id IN ({', '.join('?' * len(chunk))})",
            tuple(chunk),
        )
        found.update((row["id"], row) for row in rows)
    return found

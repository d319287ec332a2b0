"""The outbox: every drafted email and its life.

    draft -> approved -> sending -> sent
      \\-> skipped (reason)     \\-> failed (reason) | unknown (a person settles it)

Every change is one guarded UPDATE (``WHERE status = ...``) inside a write
transaction, so two processes can never move the same draft twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from csm.data.store import transaction
from csm.errors import InputError, NotFound, StateError

STATUSES = ("draft", "approved", "sending", "sent", "failed", "skipped", "unknown", "withdrawn")
# What waits for a person: to review, to send, to settle. `csm outbox` lists these by default.
WAITING = ("draft", "approved", "unknown")

_LIST_COLUMNS = (
    "o.id, o.status, o.playbook, o.step, o.account_id, a.name AS account_name, o.owner,"
    " o.to_addrs, o.subject, o.priority, o.why, o.edited, o.reason, o.created_at, o.updated_at, o.sent_at"
)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    item = dict(row)
    for key in ("to_addrs", "cc", "why"):
        if key in item and isinstance(item[key], str):
            item[key] = json.loads(item[key])
    return item


def get(conn: sqlite3.Connection, draft_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT o.*, a.name AS account_name FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id"
        " WHERE o.id = ?",
        (draft_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no draft #{draft_id}", hint="`csm outbox` lists the drafts and their ids.")
    return _decode(row)


def _statuses(status: str | Sequence[str] | None) -> tuple[str, ...]:
    wanted = (status,) if isinstance(status, str) else tuple(status or ())
    for name in wanted:
        if name not in STATUSES:
            raise InputError(f"unknown status '{name}'", hint=f"Use one of: {', '.join(STATUSES)}.")
    return wanted


def _where(
    status: str | Sequence[str] | None, owner: str | None, playbook: str | None, account_id: str | None
) -> tuple[str, list[Any]]:
    where, params = [], []
    wanted = _statuses(status)
    if wanted:
        where.append(f"o.status IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    for column, value in (("o.owner", owner), ("o.playbook", playbook), ("o.account_id", account_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def listing(
    conn: sqlite3.Connection,
    *,
    status: str | Sequence[str] | None = None,
    owner: str | None = None,
    playbook: str | None = None,
    account_id: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Drafts in ``status`` (one or several; None: all), most urgent first."""
    where, params = _where(status, owner, playbook, account_id)
    sql = f"SELECT {_LIST_COLUMNS} FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id{where}"
    sql += (
        " ORDER BY CASE o.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END,"
        " o.id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_decode(r) for r in conn.execute(sql, params)]


def counts(conn: sqlite3.Connection, *, owner: str | None = None) -> dict[str, int]:
    """How many drafts are in each status (only statuses that have some), in lifecycle order."""
    where, params = _where(None, owner, None, None)
    found = dict(conn.execute(f"SELECT o.status, count(*) FROM outbox o{where} GROUP BY o.status", params))
    return {name: found[name] for name in STATUSES if found.get(name)}


def _move(
    conn: sqlite3.Connection,
    draft_id: int,
    allowed: Iterable[str],
    new: str,
    now: str,
    action: str,
    **changes: Any,
) -> None:
    allowed = tuple(allowed)
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    marks = ", ".join(f":s{i}" for i in range(len(allowed)))
    cursor = conn.execute(
        f"UPDATE outbox SET status = :new, updated_at = :now{', ' + sets if sets else ''}"
        f" WHERE id = :id AND status IN ({marks})",
        {
            "new": new,
            "now": now,
            "id": draft_id,
            **changes,
            **{f"s{i}": s for i, s in enumerate(allowed)},
        },
    )
    if cursor.rowcount == 0:
        current = get(conn, draft_id)["status"]
        raise StateError(
            f"draft #{draft_id} is {current}; only {' or '.join(allowed)} drafts can be {action}"
        )


@dataclass(frozen=True)
class Approval:
    approved: list[int]  # moved from draft to approved now
    already: list[int]  # approved before: nothing to do


def approve(conn: sqlite3.Connection, ids: Iterable[int], now: str) -> Approval:
    """Approve drafts for sending; all or none. Approving an approved draft again changes nothing."""
    approved: list[int] = []
    already: list[int] = []
    with transaction(conn):
        for draft_id in dict.fromkeys(ids):
            if get(conn, draft_id)["status"] == "approved":
                already.append(draft_id)
                continue
            _move(conn, draft_id, ("draft",), "approved", now, "approved")
            approved.append(draft_id)
    return Approval(approved, already)


def approve_playbook(
    conn: sqlite3.Connection, playbook: str, now: str, owner: str | None = None
) -> list[int]:
    with transaction(conn):
        sql = "SELECT id FROM outbox WHERE status = 'draft' AND playbook = ?"
        params: list[Any] = [playbook]
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        ids = [row[0] for row in conn.execute(sql, params)]
        for draft_id in ids:
            _move(conn, draft_id, ("draft",), "approved", now, "approved")
    return ids


def skip(conn: sqlite3.Connection, draft_id: int, reason: str, now: str) -> None:
    if not reason.strip():
        raise InputError("a skip needs a reason", hint='csm skip ID --reason "already spoke to them"')
    with transaction(conn):
        _move(conn, draft_id, ("draft", "approved"), "skipped", now, "skipped", reason=reason.strip())


def edit(conn: sqlite3.Connection, draft_id: int, subject: str, body: str, now: str) -> None:
    """Replace a draft's subject and body, keeping the original once."""
    subject = subject.strip()
    if not subject:
        raise InputError(f"draft #{draft_id}: the subject is empty", hint="Write a subject line.")
    if any(ord(ch) < 32 for ch in subject):
        raise InputError(f"draft #{draft_id}: the subject must be one line without control characters")
    if not body.strip():
        raise InputError(f"draft #{draft_id}: the body is empty", hint="Write the email, or skip the draft.")
    with transaction(conn):
        before = get(conn, draft_id)
        _move(
            conn,
            draft_id,
            ("draft", "approved"),
            "draft",
            now,
            "edited",
            subject=subject,
            body=body.rstrip() + "\n",
            edited=1,
            original_subject=before["original_subject"] or before["subject"],
            original_body=before["original_body"] or before["body"],
        )

"""The outbox: every drafted email and its life.

This module is the only writer of a draft's status. The statuses are
:data:`STATUSES`; a row is born in one of :data:`BORN` and moves only as
:data:`MOVES` allows, each move one guarded ``UPDATE ... WHERE status IN
(...)`` inside a write transaction (see :mod:`csm.data.lifecycle`), so two
processes can never move the same draft twice. The copies of a draft (one per
recipient) have their own life in :mod:`csm.mail.deliveries`.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from csm.data import lifecycle, timeline
from csm.data.backend import dialect_of
from csm.data.lifecycle import Move, Sql
from csm.data.store import transaction
from csm.errors import InputError, NotFound

STATUSES = ("draft", "approved", "sending", "sent", "failed", "skipped", "unknown", "withdrawn", "deferred")
# What waits: for a person to review, send or settle, or for a contact's touch budget.
# `csm outbox` lists these by default.
WAITING = ("draft", "approved", "unknown", "deferred")
# A new row is a draft, or skipped when nobody may receive it (it says why).
BORN = ("draft", "skipped")

# Every way a draft's status changes: action -> Move(from, to, "only <from> drafts can be <done>").
#   withdraw  the step's `until:` was met, or the customer replied to the email a follow-up follows
#   fail      a header is unusable, so nothing was handed over
#   claim     one process (host:pid) takes it to send
#   finish    as its copies came out: approved again when some wait for a later run
#   recover   the claiming process is gone, so some copy may have arrived
#   resolve   a person says whether the unsure copies arrived
#   defer     a contact's touch budget is spent (csm.mail.budget); the reason names what holds it
#   undefer   the budget allows it again: a draft to review once more
_SETTLE = "`csm outbox --status unknown` lists the drafts waiting to be settled."
# fmt: off
MOVES: dict[str, Move] = {
    "approve":  Move(("draft",),            ("approved",),                             "approved"),
    "edit":     Move(("draft", "approved"), ("draft",),                                "edited"),
    "skip":     Move(("draft", "approved", "deferred"), ("skipped",),                  "skipped"),
    "withdraw": Move(("draft", "approved", "deferred"), ("withdrawn",),                "withdrawn"),
    "defer":    Move(("draft", "approved", "deferred"), ("deferred",),                 "deferred"),
    "undefer":  Move(("deferred",),         ("draft",),                                "drafted again"),
    "fail":     Move(("approved",),         ("failed",),                               "failed"),
    "claim":    Move(("approved",),         ("sending",),                              "claimed"),
    "finish":   Move(("sending",),          ("sent", "failed", "approved", "unknown"), "finished"),
    "recover":  Move(("sending",),          ("unknown",),                              "recovered"),
    "resolve":  Move(("unknown",),          ("sent", "approved"),                      "resolved", _SETTLE),
}
# fmt: on

_LIST_COLUMNS = (
    "o.id, o.status, o.playbook, o.step, o.account_id, a.name AS account_name, o.owner,"
    " o.to_addrs, o.subject, o.priority, o.why, o.edited, o.reason, o.created_at, o.updated_at, o.sent_at"
)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    item = dict(row)
    for key in ("to_addrs", "cc", "cc_internal", "why"):
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


def reasons(conn: sqlite3.Connection, ids: Sequence[int]) -> Iterator[tuple[int, str | None]]:
    """Each of these drafts' id and reason, in the order of ``ids``, read a chunk at a time."""
    for chunk in lifecycle.chunks(list(ids)):
        marks = ", ".join("?" * len(chunk))
        found = dict(conn.execute(f"SELECT id, reason FROM outbox WHERE id IN ({marks})", chunk).fetchall())
        yield from ((i, found[i]) for i in chunk)


def counts(conn: sqlite3.Connection, *, owner: str | None = None) -> dict[str, int]:
    """How many drafts are in each status (only statuses that have some), in lifecycle order."""
    where, params = _where(None, owner, None, None)
    found = dict(conn.execute(f"SELECT o.status, count(*) FROM outbox o{where} GROUP BY o.status", params))
    return {name: found[name] for name in STATUSES if found.get(name)}


def move(conn: sqlite3.Connection, draft_id: int, action: str, new: str, now: str, **changes: Any) -> None:
    """Make ``action`` (one of :data:`MOVES`) move a draft to ``new``, setting ``changes`` too.

    Runs inside the caller's write transaction; raises StateError, changing
    nothing, when the draft's status does not allow the move.
    """
    if not _moved(conn, draft_id, action, new, now, **changes):
        raise lifecycle.refused("draft", draft_id, get(conn, draft_id)["status"], MOVES[action])


def _moved(conn: sqlite3.Connection, draft_id: int, action: str, new: str, now: str, **changes: Any) -> bool:
    stamped = {"updated_at": now, **changes}
    return lifecycle.shift(conn, "outbox", MOVES[action], new, "id = :id", {"id": draft_id}, stamped) == 1


class NewRow(NamedTuple):
    """An outbox row :func:`add` inserts. A tuple, built by position where a draft is made (a run
    adds tens of thousands); the columns a draft most often leaves at the table's default last."""

    dedupe_key: str
    playbook: str
    step: str
    account_id: str
    owner: str | None
    to_addrs: str  # JSON, as every JSON column here
    subject: str
    body: str
    template: str
    why: str
    cc: str = "[]"
    cc_internal: str = "[]"
    reply_to: str | None = None
    priority: str = "normal"
    touch_budget: str | None = None
    reason: str | None = None


# The columns' defaults in the table: a batch in which every row leaves one at its default
# does not bind it (each value bound costs; 6 of 19 columns, about 14 ms of 70 for 10,000 drafts).
_DEFAULTS = dict(NewRow._field_defaults)
_INDEXED = tuple(enumerate(NewRow._fields))


def add(conn: sqlite3.Connection, rows: Mapping[str, NewRow], status: str, now: str) -> dict[str, int]:
    """New rows (by dedupe key) born in ``status``, stamped ``now``.

    Runs inside the caller's write transaction; returns the ids of the rows
    whose key was new. A key already in the outbox is never added again.
    """
    if status not in BORN:
        raise ValueError(f"an outbox row is born {' or '.join(BORN)}, not {status}")
    kept = [
        i
        for i, name in _INDEXED
        if name not in _DEFAULTS or set(map(operator.itemgetter(i), rows.values())) - {_DEFAULTS[name]}
    ]
    names = [NewRow._fields[i] for i in kept]
    sql = (
        f"INSERT INTO outbox ({', '.join(names)}, status, created_at, updated_at)"
        f" VALUES ({', '.join('?' * (len(kept) + 3))})"
    )
    values, stamps = operator.itemgetter(*kept), (status, now, now)
    return lifecycle.insert_new(conn, "outbox", sql, {key: values(row) + stamps for key, row in rows.items()})


@dataclass(frozen=True)
class Approval:
    """What an approval moved, and what was approved already."""

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
            move(conn, draft_id, "approve", "approved", now)
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
            move(conn, draft_id, "approve", "approved", now)
    return ids


def skip(conn: sqlite3.Connection, draft_id: int, reason: str, now: str) -> None:
    if not reason.strip():
        raise InputError("a skip needs a reason", hint='csm skip ID --reason "already spoke to them"')
    with transaction(conn):
        move(conn, draft_id, "skip", "skipped", now, reason=reason.strip())


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
        move(
            conn,
            draft_id,
            "edit",
            "draft",
            now,
            subject=subject,
            body=body.rstrip() + "\n",
            edited=1,
            original_subject=before["original_subject"] or before["subject"],
            original_body=before["original_body"] or before["body"],
        )


def withdraw(
    conn: sqlite3.Connection,
    playbook: str,
    step: str,
    account_id: str,
    now: str,
    *,
    reason: str = "until met",
) -> int:
    """Withdraw a step's unsent drafts for an account, saying why (its `until:` was met, or the
    customer replied before a follow-up went out); how many.

    Runs inside the caller's write transaction.
    """
    where = "playbook = :playbook AND step = :step AND account_id = :account"
    keys = {"playbook": playbook, "step": step, "account": account_id}
    changes = {"updated_at": now, "reason": reason}
    return lifecycle.shift(conn, "outbox", MOVES["withdraw"], "withdrawn", where, keys, changes)


def defer(conn: sqlite3.Connection, draft_id: int, reason: str, now: str) -> bool:
    """A waiting draft waits for its contacts' touch budget, saying why (caller's transaction).

    False when it was no longer waiting (sent, skipped meanwhile).
    """
    return _moved(conn, draft_id, "defer", "deferred", now, reason=reason)


def defer_each(conn: sqlite3.Connection, reasons: Mapping[int, str], now: str) -> None:
    """:func:`defer` for each draft ``reasons`` names, all in one statement sent (caller's transaction);
    a draft deferred already for that same reason is left as it is."""
    rows = [{"id": i, "updated_at": now, "reason": why, "same": why} for i, why in reasons.items()]
    unchanged = "NOT (status = 'deferred' AND coalesce(reason, '') = :same)"
    lifecycle.shift_each(conn, "outbox", MOVES["defer"], "deferred", f"id = :id AND {unchanged}", rows)


def undefer_each(conn: sqlite3.Connection, draft_ids: Iterable[int], now: str) -> None:
    """Deferred drafts with room again: drafts to review, all in one statement sent (caller's transaction).

    One no longer deferred is left as it is."""
    rows = [{"id": i, "updated_at": now, "reason": None} for i in draft_ids]
    lifecycle.shift_each(conn, "outbox", MOVES["undefer"], "draft", "id = :id", rows)


def fail(conn: sqlite3.Connection, draft_id: int, reason: str, now: str) -> bool:
    """An approved draft that cannot go out (a header is unusable) fails; False when it was not approved."""
    with transaction(conn):
        return _moved(conn, draft_id, "fail", "failed", now, reason=reason)


def still_approved(conn: sqlite3.Connection, draft_id: int) -> bool:
    """Is the draft still waiting to be sent? A cheap look before a sender's checks (no lock)."""
    row = conn.execute("SELECT status FROM outbox WHERE id = ?", (draft_id,)).fetchone()
    return row is not None and row[0] == "approved"


def lock_approved(conn: sqlite3.Connection, draft_id: int) -> bool:
    """Hold an approved draft's row for this claim (caller's write transaction); False when it is
    no longer approved or another sender holds it now.

    On PostgreSQL the row is locked ``FOR UPDATE SKIP LOCKED``: ten senders never wait on one
    another's draft, each moves on to the next. SQLite's ``BEGIN IMMEDIATE`` already lets one
    claimer in at a time.
    """
    sql = "SELECT id FROM outbox WHERE id = ? AND status = 'approved'" + dialect_of(conn).skip_locked
    return conn.execute(sql, (draft_id,)).fetchone() is not None


def claim(conn: sqlite3.Connection, draft_id: int, claimant: str, now: str) -> bool:
    """``approved -> sending`` for ``claimant`` (host:pid); False when another process claimed it first.

    Runs inside the caller's write transaction, with the copies it records.
    """
    return _moved(
        conn,
        draft_id,
        "claim",
        "sending",
        now,
        claimed_by=claimant,
        claimed_at=now,
        attempts=Sql("attempts + 1"),
    )


def finish(
    conn: sqlite3.Connection,
    draft_id: int,
    status: str,
    reason: str | None,
    now: str,
    message_id: str | None = None,
) -> bool:
    """A claimed draft's outcome; a sent one keeps its Message-ID and time. False when it was not sending.

    Runs inside the caller's write transaction, with the last copy's fate.
    """
    sent = {"message_id": message_id, "sent_at": now} if status == "sent" else {}
    return _moved(conn, draft_id, "finish", status, now, reason=reason, **sent)


def recover(conn: sqlite3.Connection, draft_id: int, reason: str, now: str) -> bool:
    """A draft whose sending process is gone becomes ``unknown``, saying why (caller's transaction)."""
    return _moved(conn, draft_id, "recover", "unknown", now, reason=reason)


def resolve(conn: sqlite3.Connection, draft_id: int, *, sent: bool, now: str) -> list[str]:
    """Settle a draft whose outcome is unknown: its unsure copies arrived (``sent``) or did not.

    The draft is sent when every copy is; otherwise it is approved again for
    the recipients still to send, whom it returns.
    """
    from csm.mail import deliveries  # its copies: not for drafting

    with transaction(conn):
        draft = get(conn, draft_id)
        remaining = deliveries.settle(conn, draft_id, arrived=sent, now=now)
        if sent and not remaining:
            move(conn, draft_id, "resolve", "sent", now, sent_at=now, reason="confirmed sent by hand")
            timeline.record(
                conn,
                draft["account_id"],
                "email_sent",
                f"sent “{draft['subject']}” (confirmed)",
                now,
                f"draft:{draft_id}",
            )
        else:
            move(conn, draft_id, "resolve", "approved", now, reason=None)
    return remaining

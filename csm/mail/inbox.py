"""`csm inbox`: replies and bounces from the CSM's mailbox onto the accounts' timelines.

For each message not read before (see :mod:`csm.mail.mailboxes`):

1. a bounce (a delivery status notification) marks each failed address as
   bouncing on every contact that has it (``contacts.bounced_at``): sending
   leaves it out from then on, and ``bounced_contacts`` counts it;
2. a message whose In-Reply-To / References name the Message-ID a copy of a
   sent draft carried is a reply to that draft, on its account;
3. else a message from a contact's address is a reply on that contact's
   account(s), to no draft in particular;
4. anything else (the CSM's own mail, auto-replies, strangers) is left alone.

A reply is recorded once (``replies``, keyed by the message's Message-ID) and
goes on the timeline as kind ``reply``, a touch: who, when, the subject; the
body only when asked for. It stops the account's follow-ups that wait for
silence (:func:`csm.engine.sequences.withdraw_on_reply`). Each chunk of
messages is one write transaction with the folder's cursor, so a run cut off
keeps what it recorded and the next one goes on from there; ``dry_run`` does
all of it in one transaction and rolls it back.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from csm.data import timeline
from csm.data.backend import dialect_of
from csm.data.store import transaction
from csm.engine import sequences
from csm.language.playbooks import Playbook
from csm.mail.incoming import Bounce, Incoming, parse
from csm.mail.mailboxes import Cursor, Mailbox

_CHUNK = 200


@dataclass
class InboxReport:
    mailbox: str
    read: int = 0
    replies: list[dict[str, Any]] = field(default_factory=list)
    bounces: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[dict[str, Any]] = field(default_factory=list)  # follow-ups a reply withdrew
    ignored: Counter[str] = field(default_factory=Counter)  # why a message was left alone -> how many
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "dry_run": self.dry_run,
            "read": self.read,
            "replies": self.replies,
            "bounces": self.bounces,
            "follow_ups_stopped": self.stopped,
            "ignored": dict(sorted(self.ignored.items())),
        }


@dataclass(frozen=True)
class Reply:
    """One reply as the replies table keeps it: which message, from whom, matched how."""

    key: str
    account_id: str
    draft_id: int | None
    address: str
    who: str
    at: str
    subject: str
    matched_by: str


def record_reply(conn: sqlite3.Connection, reply: Reply, body: str, now: str) -> bool:
    """The reply's row, its touch on the timeline, and its sender's bounce cleared; False if already kept.

    Runs inside the caller's write transaction; what a reply stops is the caller's.
    """
    inserted = conn.execute(
        "INSERT INTO replies (message_key, account_id, draft_id, address, at, subject, matched_by, body,"
        " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            reply.key,
            reply.account_id,
            reply.draft_id,
            reply.address,
            reply.at,
            reply.subject,
            reply.matched_by,
            body,
            now,
        ),
    ).rowcount
    if not inserted:
        return False
    summary = f"{reply.who} replied: “{reply.subject}”" + (
        f" (to draft #{reply.draft_id})" if reply.draft_id else ""
    )
    timeline.record(conn, reply.account_id, "reply", summary, reply.at, f"reply:{reply.key}")
    # Mail from the address shows it works again.
    conn.execute(
        "UPDATE contacts SET bounced_at = NULL, bounce_reason = NULL"
        f" WHERE account_id = ? AND {dialect_of(conn).nocase('email')} = ?",
        (reply.account_id, reply.address.lower()),
    )
    return True


@dataclass(frozen=True)
class Reader:
    """One `csm inbox` run: the database, the playbooks whose follow-ups a reply stops, who "we" are."""

    conn: sqlite3.Connection
    playbooks: Sequence[Playbook]
    ours: frozenset[str]  # our own addresses (owners, the sender): their mail is no reply
    now: Callable[[], str]  # the real clock, for the stamps
    keep_body: bool = False

    def read(self, mailbox: Mailbox, *, dry_run: bool = False) -> InboxReport:
        report = InboxReport(mailbox.name, dry_run=dry_run)
        with mailbox:
            messages = mailbox.messages(_cursor(self.conn, mailbox.name))
            if dry_run:
                self._dry(messages, mailbox.name, report)
            else:
                for chunk in _chunks(messages):
                    with transaction(self.conn):
                        self._chunk(chunk, mailbox.name, report)
        return report

    def _dry(self, messages: Iterator[tuple[bytes, Cursor | None]], name: str, report: InboxReport) -> None:
        fetched = list(messages)  # off the network before taking the write lock
        self.conn.execute(dialect_of(self.conn).begin)
        try:
            self._chunk(fetched, name, report)
        finally:
            self.conn.execute("ROLLBACK")

    def _chunk(self, chunk: list[tuple[bytes, Cursor | None]], name: str, report: InboxReport) -> None:
        received = dt.datetime.fromisoformat(self.now())
        for raw, cursor in chunk:
            report.read += 1
            self._one(parse(raw, received, keep_body=self.keep_body), report)
            if cursor is not None:
                _save_cursor(self.conn, name, cursor, self.now())

    def _one(self, message: Incoming, report: InboxReport) -> None:
        if message.bounce is not None:
            self._bounce(message.bounce, report)
        elif message.sender in self.ours:
            report.ignored["from you"] += 1
        elif message.automatic:
            report.ignored["automatic reply"] += 1
        else:
            found = _thread(self.conn, message.references)
            how = "thread" if found else "sender"
            found = found or [(account, None) for account in _contact_accounts(self.conn, message.sender)]
            if not found:
                report.ignored["not from a contact, not in a thread csm sent"] += 1
            recorded = [self._reply(message, account, draft, how, report) for account, draft in found]
            if found and not any(recorded):
                report.ignored["recorded before"] += 1

    def _reply(
        self, message: Incoming, account_id: str, draft_id: int | None, how: str, report: InboxReport
    ) -> bool:
        now = self.now()
        who = f"{message.sender_name} <{message.sender}>" if message.sender_name else message.sender
        reply = Reply(
            message.key, account_id, draft_id, message.sender, who, message.at, message.subject, how
        )
        if not record_reply(self.conn, reply, message.body, now):
            return False
        reason = f"{message.sender} replied on {message.at[:10]}"
        for playbook, step, drafts, tasks in sequences.withdraw_on_reply(
            self.conn, self.playbooks, account_id, reason, now
        ):
            report.stopped.append(
                {"account": account_id, "playbook": playbook, "step": step, "drafts": drafts, "tasks": tasks}
            )
        report.replies.append(
            {
                "account": account_id,
                "from": message.sender,
                "name": message.sender_name,
                "at": message.at,
                "subject": message.subject,
                "draft": draft_id,
                "matched_by": how,
            }
        )
        return True

    def _bounce(self, bounce: Bounce, report: InboxReport) -> None:
        draft = _thread(self.conn, [bounce.original_id] if bounce.original_id else [])
        about = f" (draft #{draft[0][1]})" if draft else ""
        for address in bounce.recipients:
            accounts = _contact_accounts(self.conn, address)
            if not accounts:
                report.ignored["bounce for an address that is no contact"] += 1
                continue
            now = self.now()
            marked = [
                account
                for account in accounts
                if self.conn.execute(
                    "UPDATE contacts SET bounced_at = ?, bounce_reason = ?"
                    f" WHERE account_id = ? AND {dialect_of(self.conn).nocase('email')} = ?"
                    " AND bounced_at IS NULL",
                    (now, bounce.reason, account, address.lower()),
                ).rowcount
            ]
            for account in marked:
                timeline.record(
                    self.conn, account, "bounce", f"{address} bounced{about}: {bounce.reason}", now
                )
            if not marked:
                report.ignored["bounce already recorded"] += 1
            else:
                report.bounces.append({"address": address, "accounts": marked, "reason": bounce.reason})


def _thread(conn: sqlite3.Connection, references: Iterable[str]) -> list[tuple[str, int | None]]:
    """The (account, draft) of the first of ``references`` that is the Message-ID of a copy csm sent."""
    for ref in references:
        row = conn.execute(
            "SELECT o.account_id, o.id FROM deliveries d JOIN outbox o ON o.id = d.draft_id"
            " WHERE d.message_id = ? UNION ALL SELECT account_id, id FROM outbox WHERE message_id = ?"
            " LIMIT 1",
            (ref, ref),
        ).fetchone()
        if row is not None:
            return [(row[0], row[1])]
    return []


def _contact_accounts(conn: sqlite3.Connection, address: str) -> list[str]:
    if not address:
        return []
    rows = conn.execute(
        f"SELECT DISTINCT account_id FROM contacts WHERE {dialect_of(conn).nocase('email')} = ?"
        " ORDER BY account_id",
        (address.lower(),),
    )
    return [row[0] for row in rows]


def _chunks(messages: Iterator[tuple[bytes, Cursor | None]]) -> Iterator[list[tuple[bytes, Cursor | None]]]:
    chunk: list[tuple[bytes, Cursor | None]] = []
    for item in messages:
        chunk.append(item)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _cursor(conn: sqlite3.Connection, name: str) -> Cursor | None:
    row = conn.execute("SELECT uidvalidity, last_uid FROM mail_cursors WHERE mailbox = ?", (name,)).fetchone()
    return None if row is None else Cursor(row[0], row[1])


def _save_cursor(conn: sqlite3.Connection, name: str, cursor: Cursor, now: str) -> None:
    conn.execute(
        "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
        " last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        (name, cursor.uidvalidity, cursor.last_uid, now),
    )

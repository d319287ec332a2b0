"""The demo's mail coming back: customers answering what the demo sent, read by `csm inbox`'s own code.

Every reply is a real RFC 5322 message answering the Message-ID its email
carried, recorded through :class:`csm.mail.inbox.Reader` (so replies stop
follow-ups exactly as they would for a CSM). Last week's renewal heads-ups and
silent-account hellos are the sequences `csm today` picks up on the demo's
day: some answered, the rest due a call. ``inbox.mbox`` in the workspace holds
this weekend's mail, for the README's walk through `csm inbox`.
"""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import sqlite3
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from csm.demo.cohorts import DEMO_TODAY, OWNERS
from csm.language.playbooks import Playbook
from csm.mail.inbox import Reader
from csm.mail.mailboxes import Cursor
from csm.mail.message import message_id

LAST_WEEK = DEMO_TODAY - dt.timedelta(days=7)  # Monday 16 November: the heads-ups and hellos went out
EXPORT = "inbox.mbox"
_OURS = frozenset(email for email, _, _ in OWNERS)


def sent_message_id(dedupe_key: str, owner: str | None) -> str:
    """The Message-ID csm gives the email of ``dedupe_key`` sent from its owner's address."""
    return message_id(dedupe_key, (owner or OWNERS[0][0]).rpartition("@")[2])


class _Held:
    """Messages in hand, as a mailbox `csm inbox` reads."""

    def __init__(self, name: str, raws: Sequence[bytes]) -> None:
        self.name, self._raws = name, raws

    def __enter__(self) -> _Held:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def messages(self, cursor: Cursor | None) -> Iterator[tuple[bytes, Cursor | None]]:
        return ((raw, None) for raw in self._raws)


def answer(
    conn: sqlite3.Connection, playbooks: Sequence[Playbook], drafts: Sequence[int], days_later: Sequence[int]
) -> None:
    """The recipients of these sent drafts reply, each ``days_later`` days after it went out."""
    raws = [_reply(conn, draft, later) for draft, later in zip(drafts, days_later, strict=True)]
    for raw, stamp in sorted(raws, key=lambda pair: pair[1]):
        Reader(conn, playbooks, _OURS, lambda s=stamp: s).read(_Held("demo", [raw]))


def _reply(conn: sqlite3.Connection, draft_id: int, days_later: int) -> tuple[bytes, str]:
    row = conn.execute(
        "SELECT dedupe_key, owner, to_addrs, subject, sent_at FROM outbox WHERE id = ?", (draft_id,)
    ).fetchone()
    name, address = json.loads(row["to_addrs"])[0]
    when = dt.datetime.fromisoformat(row["sent_at"]) + dt.timedelta(days=days_later, hours=4 + draft_id % 5)
    ours = sent_message_id(row["dedupe_key"], row["owner"])
    body = "Thanks for reaching out. Happy to find a time; how does next week look?"
    raw = message(
        f"{name} <{address}>",
        row["owner"],
        f"Re: {row['subject']}",
        when,
        f"<demo.{draft_id}@reply>",
        body,
        ours,
    )
    return raw, when.isoformat()


def message(
    sender: str,
    to: str | None,
    subject: str,
    when: dt.datetime,
    msgid: str,
    body: str,
    in_reply_to: str | None = None,
    **headers: str,
) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to or OWNERS[0][0], subject
    m["Date"], m["Message-ID"] = format_datetime(when), msgid
    if in_reply_to:
        m["In-Reply-To"] = m["References"] = in_reply_to
    for header, value in headers.items():
        m[header.replace("_", "-")] = value
    m.set_content(body)
    return bytes(m)


def write_export(conn: sqlite3.Connection, root: Path) -> None:
    """This weekend's mail, not read yet: an answer to a heads-up, a note from a contact, an
    out-of-office, and a bounce, each about one of last week's unanswered emails."""
    waiting = _unanswered(conn)
    heads_up, hellos = waiting.get("heads-up", []), waiting.get("hello", [])
    saturday = dt.datetime.combine(DEMO_TODAY - dt.timedelta(days=2), dt.time(9, 12), dt.UTC)
    raws = []
    if heads_up:
        _, key, owner, name, address, subject = heads_up[0]
        text = "Yes, let's do the review. Could we include our new ops lead?"
        raws.append(
            message(
                f"{name} <{address}>", owner, f"Re: {subject}", saturday, "<sat.1@reply>", text,
                sent_message_id(key, owner),
            )
        )  # fmt: skip
    if len(hellos) >= 3:
        _, _, owner, name, address, _ = hellos[0]
        raws.append(
            message(f"{name} <{address}>", owner, "Question about exports", saturday + dt.timedelta(hours=30),
                    "<sun.2@mail>", "Quick one: can we export usage by team?")
        )  # fmt: skip
        _, key, owner, name, address, subject = hellos[1]
        raws.append(
            message(f"{name} <{address}>", owner, f"Automatic reply: {subject}", saturday, "<ooo.3@mail>",
                    "I am out of the office until 30 November.", sent_message_id(key, owner),
                    Auto_Submitted="auto-replied")
        )  # fmt: skip
        _, key, owner, _, address, _ = hellos[2]
        raws.append(_bounce(address, sent_message_id(key, owner), saturday + dt.timedelta(hours=2)))
    box = mailbox.mbox(root / EXPORT)
    for raw in raws:
        box.add(raw)
    box.close()


def _unanswered(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    """Last week's sent heads-ups and hellos nobody answered, by step, in id order."""
    found: dict[str, list[tuple]] = {}
    for row in conn.execute(
        "SELECT o.id, o.step, o.dedupe_key, o.owner, o.to_addrs, o.subject FROM outbox o"
        " WHERE o.status = 'sent' AND o.sent_at >= ? AND NOT EXISTS"
        " (SELECT 1 FROM replies r WHERE r.account_id = o.account_id AND r.at >= o.sent_at) ORDER BY o.id",
        (LAST_WEEK.isoformat(),),
    ):
        name, address = json.loads(row["to_addrs"])[0]
        found.setdefault(row["step"], []).append(
            (row["id"], row["dedupe_key"], row["owner"], name, address, row["subject"])
        )
    return found


def _bounce(address: str, original: str, when: dt.datetime) -> bytes:
    domain = address.rpartition("@")[2]
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.{domain}>\r\nTo: {OWNERS[0][0]}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {format_datetime(when)}\r\n"
        f"Message-ID: <bounce.4@mx.{domain}>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n\r\n'
        "--dsn\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--dsn\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.{domain}\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{address}>: user unknown (left the company)\r\n"
        f"--dsn\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original}\r\n--dsn--\r\n"
    ).encode()

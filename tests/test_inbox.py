"""csm/mail/inbox.py and incoming.py: what a message is (reply, bounce, auto-reply, our own), what is
recorded, once, from a Maildir and an mbox; bounced addresses are left out when sending; a reply
stops the account's follow-ups. On SQLite and PostgreSQL."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from importing import dump

from csm.data.backend import dialect_of
from csm.data.store import transaction
from csm.language.fields import standard_fields
from csm.language.playbooks import parse_playbook
from csm.mail import suppression
from csm.mail.inbox import Reader
from csm.mail.mailboxes import open_mailbox

NOW = "2026-11-24T18:00:00+00:00"
OURS = "<csm.abc@northbeam.example>"


@pytest.fixture
def book(db: Any) -> Any:
    with transaction(db):
        db.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Acme'), ('A2', 'Beta')")
        db.executemany(
            "INSERT INTO contacts (account_id, email, name, role) VALUES (?, ?, ?, 'champion')",
            [
                ("A1", "kim@acme.example", "Kim"),
                ("A2", "kim@acme.example", "Kim"),
                ("A2", "lee@beta.example", "Lee"),
            ],
        )
        db.execute(
            "INSERT INTO outbox (id, dedupe_key, playbook, step, account_id, to_addrs, subject, body,"
            " template, status, sent_at, message_id, created_at, updated_at) VALUES (7, 'k', 'ping',"
            " 'hello', 'A2', '[]', 'Hi', 'Hi', 't', 'sent', ?, ?, ?, ?)",
            (NOW, OURS, NOW, NOW),
        )
    return db


def message(sender: str, subject: str = "Re: Hi", msgid: str = "<m1@acme.example>", **headers: str) -> bytes:
    m = EmailMessage()
    m["From"], m["Subject"], m["Message-ID"] = sender, subject, msgid
    m["Date"] = "Tue, 24 Nov 2026 09:30:00 -0500"
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content("Sounds good, talk Thursday.\n")
    return bytes(m)


def dsn(recipient: str, original: str = OURS, action: str = "failed") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.acme.example>\r\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.acme.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: alex.morgan@northbeam.example\r\nMessage-ID: {original}\r\nSubject: Hi\r\n"
        "--B--\r\n"
    ).encode()


def read(db: Any, tmp_path: Path, raws: list[bytes], *, kind: str = "maildir", **kw: object):  # type: ignore[no-untyped-def]
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / ("Maildir" if kind == "maildir" else "box.mbox")
    box = mailbox.Maildir(path, create=True) if kind == "maildir" else mailbox.mbox(path)
    for raw in raws:
        box.add(raw)
    box.close()
    reader = Reader(db, [], frozenset({"alex.morgan@northbeam.example"}), lambda: NOW, **kw)  # type: ignore[arg-type]
    return reader.read(open_mailbox({}, root=tmp_path, environ={}, **{kind: path}))  # type: ignore[arg-type]


def rows(db: Any, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(sql)]


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_a_reply_in_the_thread_is_recorded_on_the_draft_s_account_once(
    book: Any, tmp_path: Path, kind: str
) -> None:
    raw = message("Kim <kim@acme.example>", In_Reply_To=OURS)
    report = read(book, tmp_path, [raw, raw], kind=kind)
    assert [(r["account"], r["draft"], r["matched_by"], r["at"]) for r in report.replies] == [
        ("A2", 7, "thread", "2026-11-24T14:30:00+00:00")
    ]
    assert report.ignored == {"recorded before": 1}
    assert rows(book, "SELECT account_id, kind, touch, summary FROM timeline") == [
        ("A2", "reply", 1, "Kim <kim@acme.example> replied: “Re: Hi” (to draft #7)")
    ]
    assert rows(book, "SELECT body FROM replies") == [(None,)]


def test_mail_from_a_contact_is_a_reply_on_each_of_their_accounts(book: Any, tmp_path: Path) -> None:
    report = read(book, tmp_path, [message("KIM@acme.example", subject="Quick question")], keep_body=True)
    assert [(r["account"], r["draft"], r["matched_by"]) for r in report.replies] == [
        ("A1", None, "sender"),
        ("A2", None, "sender"),
    ]
    assert rows(book, "SELECT account_id, body FROM replies") == [
        ("A1", "Sounds good, talk Thursday."),
        ("A2", "Sounds good, talk Thursday."),
    ]


def test_our_own_mail_auto_replies_and_strangers_are_left_alone(book: Any, tmp_path: Path) -> None:
    report = read(
        book,
        tmp_path,
        [
            message("alex.morgan@northbeam.example", msgid="<a@x>", In_Reply_To=OURS),
            message(
                "kim@acme.example", msgid="<b@x>", subject="Out of office", Auto_Submitted="auto-replied"
            ),
            message("lee@beta.example", msgid="<c@x>", X_Autoreply="yes"),
            message("someone@else.example", msgid="<d@x>"),
        ],
    )
    assert report.replies == []
    assert dict(report.ignored) == {
        "from you": 1,
        "automatic reply": 2,
        "not from a contact, not in a thread csm sent": 1,
    }
    assert rows(book, "SELECT count(*) FROM timeline") == [(0,)]


def test_a_bounce_marks_the_address_bouncing_and_sending_leaves_it_out(book: Any, tmp_path: Path) -> None:
    report = read(
        book,
        tmp_path,
        [dsn("lee@beta.example"), dsn("LEE@beta.example"), dsn("kim@acme.example", action="delayed")],
    )
    assert report.bounces == [
        {
            "address": "lee@beta.example",
            "accounts": ["A2"],
            "reason": "550 5.1.1 <x>: Recipient address rejected: User unknown",
        }
    ]
    assert report.replies == [] and report.ignored == {
        "bounce already recorded": 1,
        "not from a contact, not in a thread csm sent": 1,
    }
    # the day: PostgreSQL keeps bounced_at as the DATE an import may have brought already
    bounced_on = dialect_of(book).date_of("bounced_at")
    assert rows(book, f"SELECT email, {bounced_on} FROM contacts WHERE bounced_at IS NOT NULL") == [
        ("lee@beta.example", NOW[:10])
    ]
    assert rows(book, "SELECT account_id, kind, touch, summary FROM timeline") == [
        (
            "A2",
            "bounce",
            0,
            "lee@beta.example bounced (draft #7): 550 5.1.1 <x>: Recipient address rejected: User unknown",
        )
    ]
    assert suppression.blocked(book, ["Lee@Beta.example", "kim@acme.example"]) == {"lee@beta.example"}
    assert suppression.bouncing(book, ["lee@beta.example"]) == {"lee@beta.example"}
    # Mail from the address later says it works again.
    read(book, tmp_path / "later", [message("lee@beta.example", msgid="<e@x>")])
    assert suppression.blocked(book, ["lee@beta.example"]) == set()


def test_a_dry_run_reads_everything_and_writes_nothing(book: Any, tmp_path: Path) -> None:
    before = dump(book)
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    box.add(message("kim@acme.example", In_Reply_To=OURS))
    box.add(dsn("lee@beta.example"))
    box.close()
    reader = Reader(book, [], frozenset(), lambda: NOW)
    report = reader.read(open_mailbox({}, root=tmp_path, environ={}, maildir=path), dry_run=True)
    assert (len(report.replies), len(report.bounces), report.dry_run) == (1, 1, True)
    assert dump(book) == before


def test_a_message_with_broken_headers_is_read_as_far_as_it_can_be(book: Any, tmp_path: Path) -> None:
    raw = (
        b"From: kim@acme.example\r\nDate: not a date\r\nSubject: =?utf-8?q?broken\r\n"
        b"In-Reply-To: garbage\r\n\r\nhi\r\n"
    )
    report = read(book, tmp_path, [raw])
    assert [(r["account"], r["at"], r["matched_by"]) for r in report.replies] == [
        ("A1", NOW, "sender"),
        ("A2", NOW, "sender"),
    ]
    assert rows(book, "SELECT count(*) FROM replies WHERE message_key LIKE 'sha256:%'") == [(2,)]


SEQUENCE = """\
playbook: ping
title: Ping
steps:
  - id: hello
    when: days_since_start >= 0
    email: { template: t.md.j2, to: [champion] }
  - id: nudge
    after: hello
    wait: 3 business days
    unless: replied
    email: { template: t.md.j2, to: [champion] }
  - id: call
    after: hello
    wait: 5 business days
    unless: replied
    task: { title: "No reply: call", due_in: 1d }
  - id: later
    after: hello
    wait: 30 days
    task: { title: "A month on", due_in: 1d }
"""


def test_a_reply_withdraws_the_follow_ups_that_wait_for_silence(book: Any, tmp_path: Path) -> None:
    fields = standard_fields(dialect=dialect_of(book))
    playbook, problems = parse_playbook(SEQUENCE, Path("playbooks/ping.yaml"), fields, lambda t: True)
    assert problems == [] and playbook is not None
    with transaction(book):
        book.execute(
            "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, subject, body,"
            " template, status, created_at, updated_at) VALUES"
            " ('ping:nudge:A2:once@7', 'ping', 'nudge', 'A2', '[]', 'Hi', 'Hi', 't', 'draft', ?, ?),"
            " ('ping:nudge:A1:once@9', 'ping', 'nudge', 'A1', '[]', 'Hi', 'Hi', 't', 'draft', ?, ?)",
            (NOW, NOW, NOW, NOW),
        )
        book.execute(
            "INSERT INTO tasks (dedupe_key, playbook, step, account_id, title, created_at) VALUES"
            " ('ping:call:A2:once@7', 'ping', 'call', 'A2', 'No reply: call', ?),"
            " ('ping:later:A2:once@7', 'ping', 'later', 'A2', 'A month on', ?)",
            (NOW, NOW),
        )
    reader = Reader(book, [playbook], frozenset(), lambda: NOW)
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    box.add(message("Kim <kim@acme.example>", In_Reply_To=OURS))
    box.close()
    report = reader.read(open_mailbox({}, root=tmp_path, environ={}, maildir=path))
    assert report.stopped == [
        {"account": "A2", "playbook": "ping", "step": "nudge", "drafts": 1, "tasks": 0},
        {"account": "A2", "playbook": "ping", "step": "call", "drafts": 0, "tasks": 1},
    ]
    why = "kim@acme.example replied on 2026-11-24"
    assert rows(book, "SELECT account_id, status, reason FROM outbox WHERE step = 'nudge' ORDER BY id") == [
        ("A2", "withdrawn", why),
        ("A1", "draft", None),
    ]
    assert rows(book, "SELECT step, status, note FROM tasks ORDER BY id") == [
        ("call", "closed", why),
        ("later", "open", None),
    ]

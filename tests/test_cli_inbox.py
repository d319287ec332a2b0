"""`csm inbox` end to end: sent through loopback SMTP, answered into a real IMAP server (Dovecot),
read back, and what a sequence does about it; Maildir and mbox exports; bad settings."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import imap_server
import pytest
from conftest import build_file_tree, db_dump
from conftest import rows as sql
from loopback import Collect, free_port
from test_inbox import dsn
from test_sending import set_send, smtp_settings

SENT_AT = "2026-11-23T10:00:00+00:00"  # a Monday; the send's real time is pinned to it after sending
PLAYBOOK = """
playbook: ping
title: Ping
audience: status = 'active'
steps:
  - id: hello
    when: days_since_start >= 0
    email: { template: silent-account/hello.md.j2, to: [champion] }
  - id: call
    title: No answer to hello
    after: hello
    wait: 5 business days
    unless: replied
    task: { title: "No reply to hello: call", due_in: 1d }
  - id: nudge
    after: hello
    wait: 5 business days
    unless: replied
    email: { template: silent-account/hello.md.j2, to: [champion] }
"""


@pytest.fixture
def ws(workspace: Path, invoke: Any, tmp_path: Path) -> Path:
    """One account (A1, champion Dana) and the `ping` playbook: hello, then a call and a nudge
    5 business days on unless she replies. Thanksgiving is a holiday."""
    build_file_tree(
        tmp_path,
        {
            "accounts.csv": """
                id,name,owner,start_date,renewal_date,status
                A1,Acme,dana@northwind-cs.example,2026-01-05,2027-06-30,active
                """,
            "contacts.csv": """
                account_id,email,name,role,is_primary
                A1,kim@acme.example,Kim Lee,champion,1
                """,
        },
    )
    build_file_tree(workspace, {"playbooks/ping.yaml": PLAYBOOK})
    settings = workspace / "csm.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("\n[", "holidays = [2026-11-26]\n\n[", 1), encoding="utf-8")
    for kind in ("accounts", "contacts"):
        assert invoke("-w", str(workspace), "import", kind, str(tmp_path / f"{kind}.csv")).exit_code == 0
    return workspace


def send_hello(ws: Path, invoke: Any, smtp_server: Any) -> EmailMessage:
    """Draft, approve and send hello through loopback SMTP; what arrived (its send pinned to SENT_AT)."""
    handler = Collect()
    server = smtp_server(handler)
    set_send(ws, smtp_settings(server.port))
    assert invoke("-w", str(ws), "--today", "2026-11-23", "run", "ping").exit_code == 0
    assert invoke("-w", str(ws), "approve", "--playbook", "ping").exit_code == 0
    result = invoke("-w", str(ws), "send")
    assert result.exit_code == 0, result.output
    sql(ws, "UPDATE outbox SET sent_at = ? WHERE status = 'sent'", SENT_AT)
    sql(ws, "UPDATE timeline SET at = ? WHERE kind = 'email_sent'", SENT_AT)
    (envelope,) = handler.envelopes
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def reply_to(
    sent: EmailMessage, *, body: str = "Thanks, all good here.", date: str = "Tue, 24 Nov 2026 09:30:00 +0000"
) -> bytes:
    message = EmailMessage()
    message["From"] = "Kim Lee <kim@acme.example>"
    message["To"] = sent["From"]
    message["Subject"] = "Re: " + str(sent["Subject"])
    message["Date"] = date
    message["Message-ID"] = f"<{uuid.uuid4().hex}@acme.example>"
    message["In-Reply-To"] = sent["Message-ID"]
    message["References"] = sent["Message-ID"]
    message.set_content(body)
    return bytes(message)


def imap_settings(ws: Path, server: imap_server.Dovecot, folder: str, extra: str = "") -> None:
    settings = ws / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + f'\n[inbox]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
        f'user = "{imap_server.USER}"\npassword_env = "CSM_TEST_IMAP"\nfolder = "{folder}"\n{extra}',
        encoding="utf-8",
    )


@pytest.fixture
def imap_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSM_TEST_IMAP", imap_server.PASSWORD)


def follow_ups(ws: Path) -> list[tuple[str, str, str]]:
    drafts = sql(ws, "SELECT 'draft', step, status FROM outbox WHERE step != 'hello'")
    return drafts + sql(ws, "SELECT 'task', step, status FROM tasks WHERE playbook = 'ping'")


def test_a_reply_over_imap_means_no_follow_up(
    ws: Path, invoke: Any, smtp_server: Any, dovecot: Any, imap_env: None
) -> None:
    sent = send_hello(ws, invoke, smtp_server)
    folder = f"t{uuid.uuid4().hex[:8]}"
    dovecot.append(reply_to(sent), folder)
    imap_settings(ws, dovecot, folder)
    result = invoke("-w", str(ws), "inbox", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (reply,) = report["replies"]
    draft_id = sql(ws, "SELECT id FROM outbox WHERE step = 'hello'")[0][0]
    assert reply == {
        "account": "A1",
        "from": "kim@acme.example",
        "name": "Kim Lee",
        "at": "2026-11-24T09:30:00+00:00",
        "subject": "Re: " + str(sent["Subject"]),
        "draft": draft_id,
        "matched_by": "thread",
    }
    timeline = sql(ws, "SELECT kind, touch, summary, at FROM timeline WHERE kind = 'reply'")
    assert timeline == [
        (
            "reply",
            1,
            f"Kim Lee <kim@acme.example> replied: “Re: {sent['Subject']}” (to draft #{draft_id})",
            reply["at"],
        )
    ]
    assert sql(ws, "SELECT body FROM replies") == [(None,)]  # never the body unless asked
    for day in ("2026-12-01", "2026-12-10"):
        assert invoke("-w", str(ws), "--today", day, "run", "ping").exit_code == 0
    assert follow_ups(ws) == []


def test_no_reply_and_the_follow_up_comes_after_5_business_days(
    ws: Path, invoke: Any, smtp_server: Any, dovecot: Any, imap_env: None
) -> None:
    send_hello(ws, invoke, smtp_server)
    folder = f"t{uuid.uuid4().hex[:8]}"
    other = EmailMessage()
    other["From"], other["Subject"], other["Message-ID"] = (
        "news@vendor.example",
        "Our newsletter",
        "<n1@vendor.example>",
    )
    other.set_content("Hello")
    dovecot.append(bytes(other), folder)
    imap_settings(ws, dovecot, folder)
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 0, result.output
    assert "0 replies, 0 bounces" in result.stdout
    # Mon 23 Nov sent; Thu 26 is a holiday: the 5th business day after is Tue 1 Dec.
    assert invoke("-w", str(ws), "--today", "2026-11-30", "run", "ping").exit_code == 0
    assert follow_ups(ws) == []
    assert invoke("-w", str(ws), "--today", "2026-12-01", "run", "ping").exit_code == 0
    assert sorted(follow_ups(ws)) == [("draft", "nudge", "draft"), ("task", "call", "open")]
    assert sql(ws, "SELECT why FROM tasks WHERE step = 'call'") == [
        ('{"after": "hello sent 2026-11-23, no reply"}',)
    ]
    assert invoke("-w", str(ws), "--today", "2026-12-08", "run", "ping").exit_code == 0
    assert len(follow_ups(ws)) == 2, "a follow-up fires once per email it follows"


def test_a_reply_after_the_follow_up_was_drafted_withdraws_it(
    ws: Path, invoke: Any, smtp_server: Any, tmp_path: Path
) -> None:
    sent = send_hello(ws, invoke, smtp_server)
    assert invoke("-w", str(ws), "--today", "2026-12-01", "run", "ping").exit_code == 0
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(reply_to(sent, date="Tue, 01 Dec 2026 15:00:00 +0000"))
    box.close()
    result = invoke("-w", str(ws), "inbox", "--maildir", str(tmp_path / "Maildir"))
    assert result.exit_code == 0, result.output
    assert "Stopped ping › nudge for A1 (they replied): 1 draft withdrawn, 0 tasks closed." in result.stdout
    assert "Stopped ping › call for A1 (they replied): 0 drafts withdrawn, 1 task closed." in result.stdout
    assert sql(ws, "SELECT status, reason FROM outbox WHERE step = 'nudge'") == [
        ("withdrawn", "kim@acme.example replied on 2026-12-01")
    ]
    assert sql(ws, "SELECT status, note FROM tasks WHERE step = 'call'") == [
        ("closed", "kim@acme.example replied on 2026-12-01")
    ]


def test_reading_twice_records_nothing_twice(
    ws: Path, invoke: Any, smtp_server: Any, dovecot: Any, imap_env: None, tmp_path: Path
) -> None:
    sent = send_hello(ws, invoke, smtp_server)
    folder = f"t{uuid.uuid4().hex[:8]}"
    raw = reply_to(sent)
    dovecot.append(raw, folder)
    imap_settings(ws, dovecot, folder)
    assert invoke("-w", str(ws), "inbox").exit_code == 0
    assert sql(ws, "SELECT last_uid FROM mail_cursors") == [(1,)]
    before = db_dump(ws)
    again = invoke("-w", str(ws), "inbox")
    assert again.exit_code == 0 and "Read 0 messages" in again.stdout  # the folder's cursor is past it
    # The same message in an export (read whole) is known by its Message-ID.
    box = mailbox.mbox(tmp_path / "export.mbox")
    box.add(raw)
    box.close()
    export = invoke("-w", str(ws), "inbox", "--mbox", str(tmp_path / "export.mbox"))
    assert export.exit_code == 0 and "Left alone: 1 recorded before." in export.stdout
    assert db_dump(ws) == before
    # A folder whose UIDVALIDITY changed (recreated on the server) is read again from the start.
    sql(ws, "UPDATE mail_cursors SET uidvalidity = 1")
    reread = invoke("-w", str(ws), "inbox")
    assert "Read 1 message" in reread.stdout and "Left alone: 1 recorded before." in reread.stdout
    assert sql(ws, "SELECT count(*) FROM replies") == [(1,)]
    assert sql(ws, "SELECT uidvalidity != 1, last_uid FROM mail_cursors") == [(1, 1)]


def test_tls_by_default_against_a_self_signed_server(
    ws: Path, invoke: Any, dovecot: Any, imap_env: None
) -> None:
    settings = ws / "csm.toml"
    base = settings.read_text(encoding="utf-8")
    tls = (
        f'\n[inbox]\nhost = "127.0.0.1"\nport = {dovecot.tls_port}\nuser = "{imap_server.USER}"\n'
        'password_env = "CSM_TEST_IMAP"\n'
    )
    settings.write_text(base + tls, encoding="utf-8")
    refused = invoke("-w", str(ws), "inbox")
    assert refused.exit_code == 1
    assert (
        "TLS with the IMAP server 127.0.0.1" in refused.stderr
        and "certificate verify failed" in refused.stderr
    )
    (ws / "ca.pem").write_bytes(dovecot.cafile.read_bytes())
    settings.write_text(base + tls + 'cafile = "ca.pem"\n', encoding="utf-8")
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 0, result.output
    assert f"imap://{imap_server.USER}@127.0.0.1:{dovecot.tls_port}/INBOX" in result.stdout
    # STARTTLS on the plaintext port, with the same CA.
    starttls = (
        tls.replace(str(dovecot.tls_port), str(dovecot.port)) + 'security = "starttls"\ncafile = "ca.pem"\n'
    )
    settings.write_text(base + starttls, encoding="utf-8")
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 0, result.output
    assert f"imap://{imap_server.USER}@127.0.0.1:{dovecot.port}/INBOX" in result.stdout


SERVER = 'host = "imap.example.com"\nuser = "a@b.example"\n'


@pytest.mark.parametrize(
    ("inbox", "message"),
    [
        (SERVER, "inbox.password_env: required"),
        (
            SERVER + 'password_env = "NOPE_NOT_SET"',
            "environment variable NOPE_NOT_SET is not set",
        ),
        (
            SERVER + 'password_env = "CSM_TEST_IMAP"\nsecurity = "none"',
            "'none' sends the password in the clear",
        ),
        (
            SERVER + 'password_env = "CSM_TEST_IMAP"\nsecurty = "tls"',
            "inbox.securty: unknown setting (did you mean 'security'?)",
        ),
        ('maildir = "mail"\nhost = "x"', "name one mailbox"),
    ],
)
def test_bad_mailbox_settings_are_one_clear_error(
    ws: Path, invoke: Any, imap_env: None, inbox: str, message: str
) -> None:
    settings = ws / "csm.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + f"\n[inbox]\n{inbox}\n", encoding="utf-8")
    before = db_dump(ws)
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert "Traceback" not in result.output
    assert db_dump(ws) == before


def test_an_unreachable_server_is_one_clear_error_and_nothing_recorded(
    ws: Path, invoke: Any, imap_env: None
) -> None:
    port = free_port()
    settings = ws / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + f'\n[inbox]\nhost = "127.0.0.1"\nport = {port}\nuser = "u@x.example"\n'
        + 'password_env = "CSM_TEST_IMAP"\n',
        encoding="utf-8",
    )
    before = db_dump(ws)
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(f"Error: cannot reach the IMAP server 127.0.0.1:{port}:")
    assert db_dump(ws) == before


def test_a_refused_login_and_a_missing_folder(
    ws: Path, invoke: Any, dovecot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSM_TEST_IMAP", "wrong")
    imap_settings(ws, dovecot, "INBOX")
    before = db_dump(ws)
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 1
    assert f"refused the login of {imap_server.USER}" in result.stderr
    assert "wrong" not in result.output  # never the password
    monkeypatch.setenv("CSM_TEST_IMAP", imap_server.PASSWORD)
    settings = ws / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace('folder = "INBOX"', 'folder = "INBX"'), encoding="utf-8"
    )
    result = invoke("-w", str(ws), "inbox")
    assert result.exit_code == 1
    assert "no folder 'INBX' on 127.0.0.1 (did you mean 'INBOX'?)" in result.stderr
    assert db_dump(ws) == before


def test_a_missing_export_is_one_clear_error(ws: Path, invoke: Any, tmp_path: Path) -> None:
    both = invoke("-w", str(ws), "inbox", "--maildir", "a", "--mbox", "b")
    assert both.exit_code == 2 and "give --maildir or --mbox, not both" in both.output
    for flag, what in (("--maildir", "a Maildir folder"), ("--mbox", "an mbox file")):
        result = invoke("-w", str(ws), "inbox", flag, str(tmp_path / "nope"))
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {tmp_path / 'nope'} is not {what}")


def test_csm_check_reports_the_inbox_table_at_its_line(ws: Path, invoke: Any) -> None:
    settings = ws / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8") + '\n[inbox]\nhost = "imap.example.com"\nuser = "a@b.example"\n',
        encoding="utf-8",
    )
    line = settings.read_text(encoding="utf-8").splitlines().index("[inbox]") + 1
    result = invoke("-w", str(ws), "check")
    assert result.exit_code == 1
    assert f"csm.toml:{line}:1: inbox.password_env: required" in result.output


def test_a_bounce_shows_on_the_account_and_the_address_is_left_out_of_sending(
    ws: Path, invoke: Any, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(dsn("kim@acme.example"))
    box.close()
    result = invoke("-w", str(ws), "inbox", "--maildir", str(tmp_path / "Maildir"))
    assert result.exit_code == 0, result.output
    assert (
        "bouncing addresses (left out of every send from now on)\n  kim@acme.example (A1): 550 5.1.1 <x>:"
        in result.stdout
    )
    shown = invoke("-w", str(ws), "account", "A1").stdout
    assert "Kim Lee <kim@acme.example> champion (primary) (bouncing since" in shown
    assert "bounce     kim@acme.example bounced: 550 5.1.1" in shown
    # Nobody left to write to: hello becomes a task for the CSM instead of a draft.
    assert invoke("-w", str(ws), "--today", "2026-11-23", "run", "ping").exit_code == 0
    assert sql(ws, "SELECT status FROM outbox") == [("skipped",)]


def test_a_bounce_before_sending_skips_the_approved_draft(
    ws: Path, invoke: Any, smtp_server: Any, tmp_path: Path
) -> None:
    handler = Collect()
    set_send(ws, smtp_settings(smtp_server(handler).port))
    assert invoke("-w", str(ws), "--today", "2026-11-23", "run", "ping").exit_code == 0
    assert invoke("-w", str(ws), "approve", "--playbook", "ping").exit_code == 0
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(dsn("kim@acme.example"))
    box.close()
    assert invoke("-w", str(ws), "inbox", "--maildir", str(tmp_path / "Maildir")).exit_code == 0
    result = invoke("-w", str(ws), "--today", "2026-11-23", "send")
    assert handler.envelopes == []
    assert sql(ws, "SELECT status, reason FROM outbox") == [
        ("skipped", "every recipient has unsubscribed or bounces (kim@acme.example)")
    ]
    assert result.exit_code == 0, result.output

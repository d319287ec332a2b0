"""`csm send` and the send ledger against real servers on loopback (aiosmtpd, pytest-httpserver)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import connect, db_dump
from loopback import Busy, Collect, Stall, free_port
from pytest_httpserver import HTTPServer

from csm.mail.message import message_id
from tests.conftest import rows

PASSWORD = "s3cret-Pa55word"


def set_send(ws: Path, body: str) -> None:
    """Replace the [send] table of the workspace's csm.toml."""
    path = ws / "csm.toml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\[send\]\n.*?(?=\n\[|\Z)", "[send]\n" + body.strip() + "\n", text, flags=re.S)
    path.write_text(text, encoding="utf-8")


def smtp_settings(port: int, extra: str = "") -> str:
    return f'transport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 2\n{extra}'


# This morning's drafts: the demo's outbox also holds its summer history, all sent or skipped.
TODAYS = "created_at >= '2026-11-23'"


def statuses(ws: Path) -> dict[str, int]:
    with connect(ws) as conn:
        query = f"SELECT status, count(*) FROM outbox WHERE {TODAYS} GROUP BY status"
        return dict(conn.execute(query).fetchall())


def copies(ws: Path, where: str, *params: Any) -> int:
    """How many recipients (To and Cc, each once) the drafts ``where`` selects have."""
    found = rows(ws, f"SELECT to_addrs, cc FROM outbox WHERE {where}", *params)
    return sum(len(dict.fromkeys([a for _, a in json.loads(t)] + json.loads(c))) for t, c in found)


@pytest.fixture
def approved(demo: Path, invoke: Any) -> Path:
    """The demo with its onboarding drafts (17) approved."""
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    result = invoke("-w", str(demo), "approve", "--playbook", "onboarding")
    assert "Approved 17 drafts" in result.stdout
    return demo


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def test_smtp_send_delivers_each_approved_draft_once(approved: Path, invoke: Any, smtp_server: Any) -> None:
    handler = Collect()
    server = smtp_server(handler)
    set_send(approved, smtp_settings(server.port))
    drafts = rows(
        approved, "SELECT id, dedupe_key, to_addrs, cc FROM outbox WHERE status = 'approved' ORDER BY id"
    )
    first_id, key, to, _ = drafts[0]
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 0, result.output
    assert "Sent 17 via smtp; 0 skipped, 0 failed, 0 unknown, 0 left approved." in result.stdout
    # One copy per recipient, each to its own envelope recipient, each recipient once.
    expected = sorted(
        (message_id(k, "northbeam.example"), addr)
        for _, k, t, c in drafts
        for addr in dict.fromkeys([a for _, a in json.loads(t)] + json.loads(c))
    )
    assert len(expected) > 17
    arrived = sorted((parse(e.content)["Message-ID"], rcpt) for e in handler.envelopes for rcpt in e.rcpt_tos)
    assert arrived == expected
    assert all(len(e.rcpt_tos) == 1 for e in handler.envelopes)
    message = parse(handler.envelopes[0].content)
    assert message["Message-ID"] == message_id(key, "northbeam.example")
    assert message["From"] == "Alex Morgan <alex.morgan@northbeam.example>"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert handler.envelopes[0].rcpt_tos == [json.loads(to)[0][1]]
    assert statuses(approved)["sent"] == 17
    touches = rows(approved, "SELECT kind, ref FROM timeline WHERE ref = ?", f"draft:{first_id}")
    assert touches == [("email_sent", f"draft:{first_id}")]
    again = invoke("-w", str(approved), "send")
    assert "Sent 0 via smtp" in again.stdout and len(handler.envelopes) == len(expected)


def test_dry_run_connects_to_nothing_and_writes_nothing(approved: Path, invoke: Any) -> None:
    set_send(approved, smtp_settings(free_port(), 'username = "u"\npassword_env = "CSM_SMTP_PASSWORD"'))
    before = db_dump(approved)
    result = invoke("-w", str(approved), "send", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: 17 approved drafts" in result.stdout
    assert db_dump(approved) == before


def test_limit_sends_at_most_n(approved: Path, invoke: Any) -> None:
    result = invoke("-w", str(approved), "send", "--limit", "5")
    assert "Sent 5 via eml" in result.stdout
    files = list((approved / "outbox-eml").glob("*.eml"))
    assert len(files) == copies(approved, f"status = 'sent' AND {TODAYS}") > 5  # one file per recipient
    assert all(
        len(parse(f.read_bytes())["To"].addresses) == 1 and "Cc" not in parse(f.read_bytes()) for f in files
    )
    assert statuses(approved) == {**statuses(approved), "approved": 12, "sent": 5}


def test_recheck_skips_snoozed_unsubscribed_and_no_longer_matching(approved: Path, invoke: Any) -> None:
    three = rows(
        approved,
        "SELECT id, account_id, to_addrs, cc FROM outbox WHERE status = 'approved' ORDER BY id LIMIT 3",
    )
    (snoozed_id, snoozed_acct, _, _), (unsub_id, _, unsub_to, unsub_cc), (moved_id, moved_acct, _, _) = three
    invoke("-w", str(approved), "snooze", snoozed_acct, "--until", "2026-12-31", "--reason", "mid-migration")
    everyone = [addr for _, addr in json.loads(unsub_to)] + json.loads(unsub_cc)
    for addr in everyone:
        assert invoke("-w", str(approved), "unsubscribe", addr).exit_code == 0
    rows(approved, "UPDATE accounts SET start_date = '2026-01-01' WHERE id = ?", moved_acct)
    dry = invoke("-w", str(approved), "send", "--dry-run", "--json")
    would = {row["id"]: row["reason"] for row in json.loads(dry.stdout)}
    assert would[snoozed_id].startswith("account snoozed until 2026-12-31 (mid-migration)")
    assert would[unsub_id] == f"every recipient has unsubscribed ({', '.join(everyone)})"
    assert would[moved_id].startswith("the account no longer matches onboarding › welcome")
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 0
    reasons = dict(rows(approved, f"SELECT id, reason FROM outbox WHERE status = 'skipped' AND {TODAYS}"))
    assert set(reasons) == {snoozed_id, unsub_id, moved_id}
    assert len(list((approved / "outbox-eml").glob("*.eml"))) == copies(
        approved, f"status = 'sent' AND {TODAYS}"
    )
    assert statuses(approved)["sent"] == 14


def test_temporary_failures_are_retried_then_left_approved(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    server = smtp_server(Busy())
    set_send(approved, smtp_settings(server.port, "max_attempts = 2"))
    result = invoke("-w", str(approved), "send", "--limit", "2")
    assert result.exit_code == 3
    assert "0 failed, 0 unknown, 2 left approved" in result.stdout
    assert "451 4.3.0 Try again later" in result.stdout
    assert statuses(approved)["approved"] == 17
    assert rows(approved, "SELECT max(attempts) FROM outbox")[0][0] == 1


def test_a_permanent_failure_marks_the_draft_and_the_batch_goes_on(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    handler = Collect()
    server = smtp_server(handler)
    set_send(approved, smtp_settings(server.port))
    first = rows(approved, "SELECT min(id) FROM outbox WHERE status = 'approved'")[0][0]
    rows(
        approved,
        "UPDATE outbox SET to_addrs = ?, cc = '[]' WHERE id = ?",
        json.dumps([["No Body", "nobody@x.example"]]),
        first,
    )
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 3
    assert "Sent 16 via smtp; 0 skipped, 1 failed" in result.stdout
    assert rows(approved, "SELECT status FROM outbox WHERE id = ?", first) == [("failed",)]
    assert "550" in rows(approved, "SELECT reason FROM outbox WHERE id = ?", first)[0][0]


def test_refused_login_stops_the_batch_and_never_shows_the_password(
    approved: Path, invoke: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiosmtpd.smtp import AuthResult

    server = smtp_server(
        Collect(), authenticator=lambda *a: AuthResult(success=False), auth_require_tls=False
    )
    monkeypatch.setenv("CSM_SMTP_PASSWORD", PASSWORD)
    set_send(approved, smtp_settings(server.port, 'username = "alex"\npassword_env = "CSM_SMTP_PASSWORD"'))
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 3
    assert "Stopped:" in result.stderr
    assert PASSWORD not in result.output
    assert statuses(approved) == {
        "approved": 17,
        **{k: v for k, v in statuses(approved).items() if k != "approved"},
    }
    assert sum(statuses(approved).get(s, 0) for s in ("sent", "failed", "unknown")) == 0


def test_nothing_listening_leaves_everything_approved(approved: Path, invoke: Any) -> None:
    set_send(approved, smtp_settings(free_port()))
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 3
    assert statuses(approved)["approved"] == 17


def test_a_stall_after_data_is_unknown_and_a_person_resolves_it(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    server = smtp_server(Stall())
    set_send(approved, smtp_settings(server.port))
    result = invoke("-w", str(approved), "send", "--limit", "1")
    assert result.exit_code == 3
    assert "1 unknown" in result.stdout and "csm resolve ID --sent" in result.stdout
    (draft_id,) = rows(approved, "SELECT id FROM outbox WHERE status = 'unknown'")[0]
    again = invoke("-w", str(approved), "send", "--dry-run", "--json")
    assert draft_id not in {row["id"] for row in json.loads(again.stdout)}
    assert invoke("-w", str(approved), "resolve", str(draft_id), "--retry").exit_code == 0
    assert rows(approved, "SELECT status FROM outbox WHERE id = ?", draft_id) == [("approved",)]
    bad = invoke("-w", str(approved), "resolve", str(draft_id), "--sent")
    assert bad.exit_code == 1
    assert f"draft #{draft_id} is approved; only unknown drafts can be resolved" in bad.stderr
    usage = invoke("-w", str(approved), "resolve", str(draft_id))
    assert usage.exit_code == 2


def test_an_injected_header_is_refused_and_never_reaches_the_wire(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    handler = Collect()
    server = smtp_server(handler)
    set_send(approved, smtp_settings(server.port))
    first = rows(approved, "SELECT min(id) FROM outbox WHERE status = 'approved'")[0][0]
    rows(approved, "UPDATE outbox SET subject = 'Hello\r\nBcc: everyone@evil.example' WHERE id = ?", first)
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 3
    reason = rows(approved, "SELECT status, reason FROM outbox WHERE id = ?", first)[0]
    assert reason[0] == "failed" and f"draft {first}: the Subject header contains a line break" in reason[1]
    assert all(b"evil.example" not in e.content for e in handler.envelopes)
    assert len(handler.envelopes) == copies(approved, "status = 'sent' AND id != ? AND " + TODAYS, first)
    assert statuses(approved)["sent"] == 16
    assert rows(approved, "SELECT count(*) FROM deliveries WHERE draft_id = ?", first) == [(0,)]


def test_http_api_with_429_then_success_and_an_idempotency_key(
    approved: Path, invoke: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSM_EMAIL_TOKEN", "tok-123")
    httpserver.expect_oneshot_request("/email").respond_with_data(
        "slow down", 429, headers={"Retry-After": "0"}
    )
    httpserver.expect_request("/email").respond_with_json({"id": "msg-1"})
    set_send(
        approved, f'transport = "http"\nurl = "{httpserver.url_for("/email")}"\ntoken_env = "CSM_EMAIL_TOKEN"'
    )
    result = invoke("-w", str(approved), "send", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "Sent 2 via http" in result.stdout
    keys = [r.headers["Idempotency-Key"] for r, _ in httpserver.log]
    sent = copies(approved, f"status = 'sent' AND {TODAYS}")
    assert len(httpserver.log) == 1 + sent and keys[0] == keys[1] and len(set(keys)) == sent
    for request, _ in httpserver.log:  # an API delivers to whoever the JSON names: one recipient a copy
        assert len(request.json["to"]) == 1 and "cc" not in request.json
    assert "tok-123" not in result.output


def test_an_email_api_failure_never_prints_a_key_in_its_url(
    approved: Path, invoke: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", True)  # its access log names the URL
    monkeypatch.setenv("CSM_EMAIL_TOKEN", "tok-123")
    httpserver.expect_request("/email").respond_with_data("no such key", 403)
    url = httpserver.url_for("/email") + "?api_key=SECRET123"
    set_send(approved, f'transport = "http"\nurl = "{url}"\ntoken_env = "CSM_EMAIL_TOKEN"')
    result = invoke("-w", str(approved), "send", "--limit", "1")
    assert result.exit_code != 0
    assert "the email API at" in result.output + str(rows(approved, "SELECT reason FROM outbox"))
    shown = result.output + str(rows(approved, "SELECT reason FROM outbox WHERE reason IS NOT NULL"))
    assert "SECRET123" not in shown and "api_key=***" in shown


def test_check_reports_bad_send_settings(demo: Path, invoke: Any) -> None:
    set_send(demo, 'transport = "smtp"\nhots = "x"\nrate_per_minute = "fast"')
    result = invoke("-w", str(demo), "check")
    assert result.exit_code == 1
    assert "send.host: required" in result.stderr
    assert "send.hots: unknown setting (did you mean 'host'?)" in result.stderr
    assert "send.rate_per_minute: expected a number, got 'fast'" in result.stderr


def test_unsubscribe_rejects_a_non_address(demo: Path, invoke: Any) -> None:
    result = invoke("-w", str(demo), "unsubscribe", "not an address")
    assert result.exit_code == 1
    assert "Error: 'not an address' is not an email address" in result.stderr


# -- notify ---------------------------------------------------------------------------------------


def test_notify_posts_the_digest_and_retries_a_5xx(
    approved: Path, invoke: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", True)  # its access log names the URL
    url = httpserver.url_for("/hooks/T000/SECRET")
    monkeypatch.setenv("CSM_SLACK_WEBHOOK", url)
    path = approved / "csm.toml"
    path.write_text(path.read_text() + '\n[notify]\nwebhook_env = "CSM_SLACK_WEBHOOK"\n')
    httpserver.expect_oneshot_request("/hooks/T000/SECRET").respond_with_data(
        "oops", 500, headers={"Retry-After": "0"}
    )
    httpserver.expect_request("/hooks/T000/SECRET", method="POST").respond_with_data("ok")
    result = invoke("-w", str(approved), "notify")
    assert result.exit_code == 0, result.output
    assert "SECRET" not in result.output
    payload = json.loads(httpserver.log[-1][0].data)
    assert payload["text"].startswith("*csm: what waits on 2026-11-23*")
    assert re.search(
        r"• \*alex\.morgan@northbeam\.example\*: \d+ drafts to review, \d+ overdue", payload["text"]
    )
    assert len(httpserver.log) == 2


def test_notify_without_the_variable_names_it(demo: Path, invoke: Any) -> None:
    path = demo / "csm.toml"
    path.write_text(path.read_text() + '\n[notify]\nwebhook_env = "CSM_SLACK_WEBHOOK"\n')
    result = invoke("-w", str(demo), "notify")
    assert result.exit_code == 1
    assert "the environment variable CSM_SLACK_WEBHOOK (notify.webhook_env) is not set" in result.stderr
    dry = invoke("-w", str(demo), "notify", "--dry-run")
    assert dry.exit_code == 0 and "csm: what waits on 2026-11-23" in dry.stdout


def test_rate_limit_paces_the_batch_and_list_unsubscribe_is_set(approved: Path) -> None:
    import datetime as dt

    from csm.mail.sending import Ledger
    from csm.mail.transports.eml import MaildirTransport
    from csm.runtime import open_runtime
    from csm.workspace import load

    set_send(
        approved,
        'transport = "eml"\nrate_per_minute = 20\nlist_unsubscribe = "mailto:stop@northbeam.example"',
    )
    slept: list[float] = []
    with open_runtime(load(explicit=approved)) as rt:
        ledger = Ledger(rt, clock=lambda: dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC), sleep=slept.append)
        report = ledger.send(MaildirTransport(approved / "mail"), limit=3)
    assert report.count("sent") == 3 and slept == [3.0, 3.0]
    for path in (approved / "mail" / "cur").iterdir():
        message = parse(path.read_bytes())
        link = re.fullmatch(
            r"<mailto:stop@northbeam\.example\?subject=unsubscribe%20([\w-]{22})>",
            message["List-Unsubscribe"],
        )
        assert link, message["List-Unsubscribe"]
        [(address,)] = rows(approved, "SELECT address FROM deliveries WHERE token = ?", link.group(1))
        assert message["To"].addresses[0].addr_spec == address
        assert "List-Unsubscribe-Post" not in message
    rt.conn.close()


# -- the Date header and every stamp are the moment of sending -------------------------------------


def only(ws: Path, draft_id: int) -> None:
    """Leave ``draft_id`` the only approved draft."""
    rows(
        ws,
        "UPDATE outbox SET status = 'skipped', reason = 'test' WHERE status = 'approved' AND id != ?",
        draft_id,
    )


def test_sent_mail_is_dated_when_it_is_sent_not_on_the_pinned_day(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    import datetime as dt

    handler = Collect()
    set_send(approved, smtp_settings(smtp_server(handler).port))
    (draft_id,) = rows(approved, "SELECT min(id) FROM outbox WHERE status = 'approved'")[0]
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = invoke("-w", str(approved), "--today", "2026-11-23", "send", "--limit", "1")
    after = dt.datetime.now(dt.UTC)
    assert result.exit_code == 0, result.output
    date = parse(handler.envelopes[0].content)["Date"].datetime
    assert before <= date <= after, (before, date, after)
    [(sent_at, claimed_at)] = rows(approved, "SELECT sent_at, claimed_at FROM outbox WHERE id = ?", draft_id)
    [(touched,)] = rows(approved, "SELECT at FROM timeline WHERE ref = ?", f"draft:{draft_id}")
    for stamp in (sent_at, claimed_at, touched):
        assert before <= dt.datetime.fromisoformat(stamp) <= after, stamp


def test_every_ledger_stamp_comes_from_its_clock_whatever_today_is(approved: Path) -> None:
    import datetime as dt

    from csm.mail.sending import Ledger
    from csm.mail.transports.eml import MaildirTransport
    from csm.runtime import open_runtime
    from csm.workspace import load

    moment = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    (draft_id,) = rows(approved, "SELECT min(id) FROM outbox WHERE status = 'approved'")[0]
    with open_runtime(load(explicit=approved), dt.date(2026, 11, 23)) as rt:
        report = Ledger(rt, clock=lambda: moment).send(MaildirTransport(approved / "mail"), limit=1)
    assert report.count("sent") == 1
    for path in (approved / "mail" / "cur").iterdir():
        assert parse(path.read_bytes())["Date"] == "Tue, 06 May 2031 07:08:09 +0000"
    stamp = moment.isoformat()
    assert rows(approved, "SELECT sent_at, claimed_at, updated_at FROM outbox WHERE id = ?", draft_id) == [
        (stamp, stamp, stamp)
    ]
    assert rows(approved, "SELECT at FROM timeline WHERE ref = ?", f"draft:{draft_id}") == [(stamp,)]
    assert {
        r[0] for r in rows(approved, "SELECT updated_at FROM deliveries WHERE draft_id = ?", draft_id)
    } == {stamp}


# -- suppression is per recipient ---------------------------------------------------------------------


def test_an_unsubscribed_to_leaves_the_draft_to_its_subscribed_cc(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    handler = Collect()
    set_send(approved, smtp_settings(smtp_server(handler).port))
    draft_id, to, cc = rows(
        approved, "SELECT id, to_addrs, cc FROM outbox WHERE status = 'approved' AND cc != '[]' ORDER BY id"
    )[0]
    only(approved, draft_id)
    [(_, gone)], [kept] = json.loads(to), json.loads(cc)
    assert invoke("-w", str(approved), "unsubscribe", gone).exit_code == 0
    notes = [f"left out {gone} (unsubscribed)", f"moved {kept} from Cc to To"]
    note = "; ".join(notes)

    dry = invoke("-w", str(approved), "send", "--dry-run", "--json")
    assert [(r["would"], r["to"], r["notes"]) for r in json.loads(dry.stdout)] == [("send", [kept], notes)]
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 0, result.output
    assert "Sent 1 via smtp; 0 skipped" in result.stdout and "left out" in result.stdout
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == [kept]
    message = parse(envelope.content)
    assert [a.addr_spec for a in message["To"].addresses] == [kept] and "Cc" not in message
    assert rows(approved, "SELECT status, reason FROM outbox WHERE id = ?", draft_id) == [("sent", note)]
    shown = invoke("-w", str(approved), "show", str(draft_id))
    assert f"Reason: {note}" in " ".join(shown.stdout.split())  # unwrapped


# -- header text: control and bidi characters, internationalised addresses ---------------------------


def test_an_account_named_with_a_right_to_left_override_sends_a_clean_subject(
    demo: Path, invoke: Any, smtp_server: Any
) -> None:
    rows(demo, "UPDATE accounts SET name = ? || name", "\u202e")  # reads backwards in a subject
    rows(demo, "UPDATE contacts SET name = name || ?", "\x07\u200f")
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    assert "Approved 17 drafts" in invoke("-w", str(demo), "approve", "--playbook", "onboarding").stdout
    handler = Collect()
    set_send(demo, smtp_settings(smtp_server(handler).port))
    result = invoke("-w", str(demo), "send")
    assert result.exit_code == 0, result.output
    assert handler.envelopes
    for envelope in handler.envelopes:
        message = parse(envelope.content)
        for header in ("Subject", "To", "Cc"):
            assert not set(str(message.get(header, ""))) & {"\u202e", "\x07", "\u200f"}, message[header]
    sent = rows(demo, f"SELECT to_addrs, reason FROM outbox WHERE status = 'sent' AND {TODAYS}")
    assert len(sent) == 17
    for to, reason in sent:
        [(_, addr)] = json.loads(to)
        assert reason == f"removed U+202E from the Subject; removed U+0007, U+200F from the To name of {addr}"


def test_internationalised_addresses_go_out_and_smtputf8_is_used_only_when_offered(
    approved: Path, invoke: Any, smtp_server: Any
) -> None:
    ascii_local, utf8_local = (
        r[0] for r in rows(approved, "SELECT id FROM outbox WHERE status = 'approved' LIMIT 2")
    )
    rows(
        approved,
        "UPDATE outbox SET status = 'skipped' WHERE status = 'approved' AND id NOT IN (?, ?)",
        ascii_local,
        utf8_local,
    )
    rows(
        approved,
        """UPDATE outbox SET to_addrs = '[["Ann", "ann@bücher.de"]]', cc = '[]' WHERE id = ?""",
        ascii_local,
    )
    rows(
        approved,
        """UPDATE outbox SET to_addrs = '[["Jörg", "jörg@bücher.de"]]', cc = '[]' WHERE id = ?""",
        utf8_local,
    )

    plain = Collect()
    set_send(approved, smtp_settings(smtp_server(plain, enable_SMTPUTF8=False).port))
    result = invoke("-w", str(approved), "send")
    assert result.exit_code == 3, result.output
    assert "Sent 1 via smtp; 0 skipped, 1 failed" in result.stdout
    [envelope] = plain.envelopes
    assert envelope.rcpt_tos == ["ann@xn--bcher-kva.de"]
    assert parse(envelope.content)["To"] == "Ann <ann@xn--bcher-kva.de>"
    [(status, reason)] = rows(approved, "SELECT status, reason FROM outbox WHERE id = ?", utf8_local)
    assert status == "failed"
    assert reason.endswith(
        "does not offer SMTPUTF8, which jörg@xn--bcher-kva.de needs (a non-ASCII name before the @)"
    )

    rows(approved, "UPDATE outbox SET status = 'approved' WHERE id = ?", utf8_local)
    rows(approved, "UPDATE deliveries SET status = 'pending' WHERE draft_id = ?", utf8_local)
    international = Collect()
    set_send(approved, smtp_settings(smtp_server(international, enable_SMTPUTF8=True).port))
    again = invoke("-w", str(approved), "send")
    assert again.exit_code == 0, again.output
    [envelope] = international.envelopes
    assert envelope.rcpt_tos == ["jörg@xn--bcher-kva.de"] and "SMTPUTF8" in envelope.mail_options
    assert "To: Jörg <jörg@xn--bcher-kva.de>".encode() in envelope.original_content


# -- unknown outcomes never look like success ----------------------------------------------------------


def test_notify_counts_unknown_sends_and_ones_cut_off_mid_send(approved: Path, invoke: Any) -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a real process id that has ended
    owner = "alex.morgan@northbeam.example"
    ids = rows(approved, "SELECT id FROM outbox WHERE status = 'approved' AND owner = ? LIMIT 2", owner)
    (first,), (second,) = ids
    rows(approved, "UPDATE outbox SET status = 'unknown' WHERE id = ?", first)
    rows(
        approved,
        "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = ? WHERE id = ?",
        f"{socket.gethostname()}:{gone.pid}",
        "2026-11-23T09:00:00+00:00",
        second,
    )
    result = invoke("-w", str(approved), "notify", "--dry-run")
    assert result.exit_code == 0
    assert re.search(rf"• \*{re.escape(owner)}\*: [^\n]*, 2 sends to settle\n", result.stdout), result.stdout
    assert rows(approved, "SELECT status FROM outbox WHERE id = ?", second) == [("sending",)]  # wrote nothing


def test_check_refuses_an_unsubscribe_setting_that_would_hide_the_token(demo: Path, invoke: Any) -> None:
    set_send(demo, 'transport = "eml"\nlist_unsubscribe = "mailto:stop@northbeam.example?subject=stop"')
    result = invoke("-w", str(demo), "check")
    assert result.exit_code == 1
    assert "send.list_unsubscribe: csm adds each recipient's token itself" in result.stderr

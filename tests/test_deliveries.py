"""One copy per recipient: its own one-click unsubscribe token, its own delivery record.

Real servers on loopback (aiosmtpd, pytest-httpserver) and real files; the demo's onboarding drafts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import db_dump
from conftest import rows as sql
from loopback import Collect, Picky
from pytest_httpserver import HTTPServer
from test_sending import approved, parse, set_send, smtp_settings  # noqa: F401  (a fixture)
from werkzeug import Request, Response

UNSUB = 'list_unsubscribe = "https://northbeam.example/unsub"'
LINK = re.compile(r"<https://northbeam\.example/unsub\?token=([\w-]{22})>")


@pytest.fixture
def pair(approved: Path) -> tuple[Path, int, str, str]:  # noqa: F811
    """(workspace, draft id, its To address, its Cc address): the only approved draft left."""
    draft_id, to, cc = sql(
        approved, "SELECT id, to_addrs, cc FROM outbox WHERE status = 'approved' AND cc != '[]' ORDER BY id"
    )[0]
    sql(
        approved,
        "UPDATE outbox SET status = 'skipped', reason = 'test' WHERE status = 'approved' AND id != ?",
        draft_id,
    )
    [(_, to_addr)], [cc_addr] = json.loads(to), json.loads(cc)
    return approved, draft_id, to_addr, cc_addr


def token_in(link: str) -> str:
    """The token of a List-Unsubscribe value (folded onto its own line when long)."""
    found = LINK.fullmatch(link.strip())
    assert found, link
    return found.group(1)


def copies_of(ws: Path, draft_id: int) -> dict[str, tuple[str, str]]:
    """address -> (status, token) of each recorded copy of a draft."""
    rows = sql(ws, "SELECT address, status, token FROM deliveries WHERE draft_id = ?", draft_id)
    return {address: (status, token) for address, status, token in rows}


def test_each_recipient_gets_a_copy_with_its_own_one_click_link(
    pair: tuple[Path, int, str, str], invoke: Any, smtp_server: Any
) -> None:
    ws, draft_id, to, cc = pair
    handler = Collect()
    set_send(ws, smtp_settings(smtp_server(handler).port, UNSUB))
    result = invoke("-w", str(ws), "send")
    assert result.exit_code == 0, result.output
    assert "Sent 1 via smtp" in result.stdout
    assert [e.rcpt_tos for e in handler.envelopes] == [[to], [cc]]
    first, second = (parse(e.content) for e in handler.envelopes)
    for header in ("From", "To", "Cc", "Subject", "Message-ID"):
        assert first[header] == second[header], header  # the same message to see...
    assert [a.addr_spec for a in first["To"].addresses] == [to]
    assert [a.addr_spec for a in first["Cc"].addresses] == [cc]
    tokens = [token_in(m["List-Unsubscribe"]) for m in (first, second)]  # ...its own link
    assert tokens[0] != tokens[1]
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in (first, second))
    assert copies_of(ws, draft_id) == {to: ("sent", tokens[0]), cc: ("sent", tokens[1])}

    clicked = invoke("-w", str(ws), "unsubscribe", "--token", tokens[1])
    assert clicked.exit_code == 0, clicked.output
    assert clicked.stdout == f"Unsubscribed {cc} (1 contact).\n"
    unsubscribed = dict(sql(ws, "SELECT email, unsubscribed FROM contacts WHERE email IN (?, ?)", to, cc))
    assert unsubscribed == {to: 0, cc: 1}
    [(reason,)] = sql(ws, "SELECT reason FROM suppressions WHERE email = ?", cc.lower())
    assert reason == f"asked to unsubscribe (the unsubscribe link of draft #{draft_id})"


@pytest.mark.parametrize("forged", ["not-a-token", "x" * 22, "", "TOKEN"])
def test_an_unknown_or_forged_token_unsubscribes_nobody(
    pair: tuple[Path, int, str, str], invoke: Any, forged: str
) -> None:
    ws, *_ = pair
    assert invoke("-w", str(ws), "send").exit_code == 0
    [(real,)] = sql(ws, "SELECT token FROM deliveries LIMIT 1")
    forged = real[:-1] + ("A" if real[-1] != "A" else "B") if forged == "TOKEN" else forged
    before = db_dump(ws)
    result = invoke("-w", str(ws), "unsubscribe", "--token", forged)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown unsubscribe token: no message sent from this workspace")
    assert "Unsubscribed" not in result.stdout
    assert db_dump(ws) == before


def test_unsubscribe_takes_an_address_or_a_token(demo: Path, invoke: Any) -> None:
    assert invoke("-w", str(demo), "unsubscribe").exit_code == 2
    assert invoke("-w", str(demo), "unsubscribe", "a@b.example", "--token", "t").exit_code == 2


def test_a_temporary_failure_for_one_recipient_never_resends_to_the_other(
    pair: tuple[Path, int, str, str], invoke: Any, smtp_server: Any
) -> None:
    ws, draft_id, to, cc = pair
    handler = Picky(busy={cc})
    set_send(ws, smtp_settings(smtp_server(handler).port, f"max_attempts = 1\n{UNSUB}"))
    first = invoke("-w", str(ws), "send")
    assert first.exit_code == 3
    assert "Sent 0 via smtp; 0 skipped, 0 failed, 0 unknown, 1 left approved." in first.stdout
    [(status, reason)] = sql(ws, "SELECT status, reason FROM outbox WHERE id = ?", draft_id)
    assert status == "approved"
    assert reason == (
        f"sent to {to}; {cc} not sent yet: the SMTP server refused the recipient {cc} (nothing was sent):"
        " 451 4.2.1 Mailbox busy, try later"
    )
    tokens = copies_of(ws, draft_id)
    assert {a: s for a, (s, _) in tokens.items()} == {to: "sent", cc: "pending"}

    handler.busy.clear()
    second = invoke("-w", str(ws), "send")
    assert second.exit_code == 0, second.output
    assert [e.rcpt_tos for e in handler.envelopes] == [[to], [cc]]  # the To copy went once, not twice
    assert copies_of(ws, draft_id) == {a: ("sent", t) for a, (_, t) in tokens.items()}  # same tokens
    assert token_in(parse(handler.envelopes[1].content)["List-Unsubscribe"]) == tokens[cc][1]
    assert sql(ws, "SELECT status, reason FROM outbox WHERE id = ?", draft_id) == [("sent", None)]
    assert sql(ws, "SELECT count(*) FROM timeline WHERE ref = ?", f"draft:{draft_id}") == [(1,)]


def test_a_refused_recipient_is_named_and_the_send_exits_3(
    pair: tuple[Path, int, str, str], invoke: Any, smtp_server: Any
) -> None:
    ws, draft_id, to, cc = pair
    handler = Picky(refused={cc})
    set_send(ws, smtp_settings(smtp_server(handler).port))
    result = invoke("-w", str(ws), "send", "--json")
    assert result.exit_code == 3
    [outcome] = json.loads(result.stdout)["outcomes"]
    assert (outcome["status"], outcome["partial"]) == ("sent", True)
    assert outcome["detail"].startswith(f"sent to {to}; {cc} not delivered: the SMTP server refused")
    assert sql(ws, "SELECT status FROM outbox WHERE id = ?", draft_id) == [("sent",)]
    assert [e.rcpt_tos for e in handler.envelopes] == [[to]]


def test_the_http_api_gets_one_request_per_recipient_naming_only_them(
    pair: tuple[Path, int, str, str], invoke: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, draft_id, to, cc = pair
    monkeypatch.setenv("CSM_EMAIL_TOKEN", "tok-123")
    httpserver.expect_request("/email").respond_with_handler(lambda r: Response('{"id": "m1"}', 200))
    set_send(
        ws,
        f'transport = "http"\nurl = "{httpserver.url_for("/email")}"\ntoken_env = "CSM_EMAIL_TOKEN"\n{UNSUB}',
    )
    result = invoke("-w", str(ws), "send")
    assert result.exit_code == 0, result.output
    requests: list[Request] = [r for r, _ in httpserver.log]
    assert [[a.split("<")[-1].rstrip(">") for a in r.json["to"]] for r in requests] == [[to], [cc]]
    assert all("cc" not in r.json for r in requests)
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 2
    tokens = [token_in(r.json["headers"]["List-Unsubscribe"]) for r in requests]
    assert copies_of(ws, draft_id) == {to: ("sent", tokens[0]), cc: ("sent", tokens[1])}


def test_eml_files_one_per_recipient_each_addressed_to_them_alone(
    pair: tuple[Path, int, str, str], invoke: Any
) -> None:
    ws, draft_id, to, cc = pair
    set_send(ws, f'transport = "eml"\n{UNSUB}')
    assert invoke("-w", str(ws), "send").exit_code == 0
    files = sorted((ws / "outbox-eml").glob("*.eml"))
    messages = {parse(p.read_bytes())["To"].addresses[0].addr_spec: parse(p.read_bytes()) for p in files}
    assert sorted(messages) == sorted([to, cc]) and len(files) == 2
    assert all("Cc" not in m for m in messages.values())
    tokens = {a: token_in(m["List-Unsubscribe"]) for a, m in messages.items()}
    assert copies_of(ws, draft_id) == {a: ("sent", t) for a, t in tokens.items()}
    assert {p.name.split("-to-")[-1] for p in files} == {f"{to}.eml", f"{cc}.eml"}


def test_resolving_a_copy_as_arrived_still_sends_to_those_never_tried(
    pair: tuple[Path, int, str, str], invoke: Any, smtp_server: Any
) -> None:
    ws, draft_id, to, cc = pair
    # As a process killed while handing over the To copy leaves it, once found: the Cc copy never tried.
    sql(ws, "UPDATE outbox SET status = 'unknown' WHERE id = ?", draft_id)
    for position, (address, status) in enumerate([(to, "unknown"), (cc, "pending")]):
        sql(
            ws,
            "INSERT INTO deliveries (draft_id, address, token, status, position, updated_at)"
            " VALUES (?, ?, ?, ?, ?, '2026-11-23T09:00:00+00:00')",
            draft_id,
            address,
            f"token-{position}",
            status,
            position,
        )
    settled = invoke("-w", str(ws), "resolve", str(draft_id), "--sent")
    assert settled.exit_code == 0
    assert settled.stdout == f"Draft #{draft_id} is approved again; `csm send` will send it to {cc} only.\n"
    handler = Collect()
    set_send(ws, smtp_settings(smtp_server(handler).port))
    assert invoke("-w", str(ws), "send").exit_code == 0
    assert [e.rcpt_tos for e in handler.envelopes] == [[cc]]
    assert sql(ws, "SELECT status FROM outbox WHERE id = ?", draft_id) == [("sent",)]
    assert {a: s for a, (s, _) in copies_of(ws, draft_id).items()} == {to: "sent", cc: "sent"}

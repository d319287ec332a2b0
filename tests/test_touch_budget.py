"""The touch budget: at most N emails to one contact in D days, the higher priority first, the rest
deferred (not lost), re-checked at send; and a step's cooldown."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import database_of, own_book, rows, settings_error

from csm.data.store import connect, transaction
from csm.mail import budget, deliveries, outbox
from csm.mail.overlaps import addresses
from csm.workspace import TouchBudget

ME = "dana@northwind-cs.example"
ACCOUNTS = f"""\
id,name,owner,plan,start_date,renewal_date,status
A1,Acme,{ME},team,2024-01-07,2027-06-07,active
A2,Globex,{ME},team,2024-01-07,2027-06-07,active
"""
CONTACTS = """\
account_id,email,name,role,is_primary
A1,ann@acme.example,Ann Archer,champion,true
A2,gil@globex.example,Gil Gray,champion,true
"""


def _playbook(name: str, priority: str, extra: str = "") -> str:
    return f"""\
playbook: {name}
title: {name.capitalize()}
priority: {priority}
{extra}steps:
  - id: touch
    when: status = 'active'
    email: {{ template: test/hi.md.j2, to: [champion] }}
"""


@pytest.fixture
def book(workspace: Path, invoke: Any) -> Path:
    """Two accounts, one champion each, and three playbooks that all want to write to them today."""
    playbooks = {
        "nudge.yaml": _playbook("nudge", "low"),
        "rescue.yaml": _playbook("rescue", "urgent"),
        "hello.yaml": _playbook("hello", "normal"),
    }
    return own_book(invoke, workspace, playbooks, accounts=ACCOUNTS, contacts=CONTACTS)


def statuses(ws: Path, account: str = "A1") -> dict[str, str]:
    return dict(rows(ws, "SELECT playbook, status FROM outbox WHERE account_id = ? ORDER BY id", account))


def test_the_two_highest_priorities_are_drafted_and_the_third_deferred_with_why(
    book: Path, invoke: Any
) -> None:
    result = invoke("-w", str(book), "run")
    assert result.exit_code == 0, result.output
    assert statuses(book) == {"hello": "draft", "nudge": "deferred", "rescue": "draft"}
    assert "2 drafts deferred by the touch budget" in result.output
    ((reason,),) = rows(book, "SELECT reason FROM outbox WHERE playbook = 'nudge' AND account_id = 'A1'")
    rescue, hello = (
        rows(book, "SELECT id FROM outbox WHERE playbook = ? AND account_id = 'A1'", name)[0][0]
        for name in ("rescue", "hello")
    )
    assert reason == (
        f"deferred: Acme's champion Ann Archer already has “Rescue for Acme” (draft #{rescue})"
        f" and “Hello for Acme” (draft #{hello}) within 7 days (budget 2 per 7 days)"
    )


def test_today_lists_the_deferred_drafts_and_why(book: Path, invoke: Any) -> None:
    result = invoke("-w", str(book), "today")
    assert result.exit_code == 0, result.output
    section = result.output.split("Deferred by the touch budget (2)")[1].split("\n\n")[0]
    assert "Nudge for Acme" in section
    assert "deferred: Acme's champion Ann Archer already has “Rescue for Acme”" in section
    data = json.loads(invoke("-w", str(book), "today", "--no-run", "--json").stdout)
    assert [(d["account"], d["playbook"]) for d in data["deferred"]] == [("A1", "nudge"), ("A2", "nudge")]
    assert data["deferred"][0]["reason"].startswith("deferred: Acme's champion Ann Archer")


def test_a_deferred_draft_is_drafted_again_once_the_contact_has_room(book: Path, invoke: Any) -> None:
    invoke("-w", str(book), "run")
    ((rescue,),) = rows(book, "SELECT id FROM outbox WHERE playbook = 'rescue' AND account_id = 'A1'")
    assert invoke("-w", str(book), "skip", str(rescue), "--reason", "called them instead").exit_code == 0
    invoke("-w", str(book), "run")
    assert statuses(book) == {"hello": "draft", "nudge": "draft", "rescue": "skipped"}
    assert statuses(book, "A2")["nudge"] == "deferred"  # Globex's champion is still full
    ((reason,),) = rows(book, "SELECT reason FROM outbox WHERE playbook = 'nudge' AND account_id = 'A1'")
    assert reason is None


def test_a_deferred_draft_is_never_drafted_twice(book: Path, invoke: Any) -> None:
    invoke("-w", str(book), "run")
    invoke("-w", str(book), "run")
    assert rows(book, "SELECT count(*) FROM outbox")[0][0] == 6


def test_a_playbooks_own_budget_judges_its_drafts(book: Path, invoke: Any) -> None:
    text = _playbook("nudge", "low", "touch_budget: { max_emails: 3, per_days: 7 }\n")
    (book / "playbooks" / "nudge.yaml").write_text(text, encoding="utf-8")
    assert invoke("-w", str(book), "run").exit_code == 0
    assert statuses(book) == {"hello": "draft", "nudge": "draft", "rescue": "draft"}


def test_a_budget_of_zero_turns_it_off(book: Path, invoke: Any) -> None:
    settings = book / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("max_emails = 2", "max_emails = 0"), encoding="utf-8"
    )
    invoke("-w", str(book), "run")
    assert set(statuses(book).values()) == {"draft"}


def test_sending_defers_an_approved_draft_whose_contact_was_mailed_meanwhile(book: Path, invoke: Any) -> None:
    """Two approved drafts to one contact with a budget of one: the first goes, the second waits."""
    settings = book / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("max_emails = 2", "max_emails = 1"), encoding="utf-8"
    )
    (book / "playbooks" / "nudge.yaml").unlink()
    invoke("-w", str(book), "run")
    ids = [r[0] for r in rows(book, "SELECT id FROM outbox WHERE account_id = 'A1' ORDER BY id")]
    conn = connect(database_of(book))
    with transaction(conn):  # a person approved the deferred one before the budget moved it
        conn.execute("UPDATE outbox SET status = 'approved' WHERE id IN (?, ?)", ids)
    conn.close()
    result = invoke("-w", str(book), "send", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert rows(book, "SELECT status FROM outbox WHERE id IN (?, ?) ORDER BY id", *ids) == [
        ("sent",),
        ("deferred",),
    ]
    ((reason,),) = rows(book, "SELECT reason FROM outbox WHERE id = ?", ids[1])
    assert reason.startswith("deferred: Acme's champion Ann Archer already has “Hello for Acme” (sent ")
    assert reason.endswith(" within 7 days (budget 1 per 7 days)")
    assert "1 deferred by the touch budget" in result.output


# The plan itself, on a bare outbox.

TODAY = __import__("datetime").date(2026, 11, 23)
NOW = "2026-11-23T08:00:00+00:00"


def _add(conn: sqlite3.Connection, key: str, priority: str, *, status: str = "draft", **extra: Any) -> int:
    now, sent = extra.pop("now", NOW), extra.pop("sent", None)
    row = {
        "dedupe_key": key,
        "playbook": key,
        "step": "s",
        "account_id": "A1",
        "owner": ME,
        "to_addrs": json.dumps([["Ann", "ann@acme.example"]]),
        "cc": "[]",
        "reply_to": None,
        "subject": key,
        "body": "b",
        "template": "t",
        "why": "{}",
        "priority": priority,
        "reason": None,
        **extra,
    }
    with transaction(conn):
        (draft_id,) = outbox.add(conn, {key: outbox.NewRow(**row)}, "draft", now).values()
        if status != "draft":
            conn.execute(
                "UPDATE outbox SET status = ?, sent_at = ? WHERE id = ?",
                (status, sent, draft_id),
            )
    return draft_id


def test_mail_sent_within_the_window_counts_and_older_mail_does_not(db: Any) -> None:
    _add(db, "old", "normal", status="sent", sent="2026-11-16T10:00:00+00:00")  # 8 days ago
    recent = _add(db, "recent", "normal", status="sent", sent="2026-11-17T10:00:00+00:00")  # day 1 of 7
    first = _add(db, "first", "normal")
    second = _add(db, "second", "normal")
    plan = budget.plan(db, TouchBudget(2, 7), TODAY)
    assert plan.keep == [first]
    assert plan.defer[second] == (
        f"deferred: ann@acme.example already has “recent” (sent 2026-11-17) and “first” (draft #{first})"
        " within 7 days (budget 2 per 7 days)"
    )
    assert recent not in plan.defer


@pytest.mark.parametrize(
    ("to_addrs", "cc", "counts"),
    [
        ([["Bob", "bob@acme.example"]], ["ANN@acme.example"], True),  # a bare cc, in capitals
        ([["Bob", "bob@acme.example"]], ["Ann Archer <Ann@Acme.example>"], True),  # a named cc
        ([['Ann "the" Archer', "ann@acme.example"]], [], True),  # an escape in the JSON
        ([["ann@acme.example", "bob@acme.example"]], [], False),  # her address as someone's name
        ([["Ann", "ANN@Acme.example"]], [], True),  # in To, in capitals
        ([["Bob", "bob@acme.example"]], [" ann@acme.example "], True),  # a bare cc with spaces
        ([["Bob", "bob@acme.example"]], ["cy@acme.example"], False),  # another's cc
    ],
)
def test_sent_mail_counts_by_every_address_it_reached_and_only_those(
    db: Any, to_addrs: list[list[str]], cc: list[str], counts: bool
) -> None:
    sent = "2026-11-20T10:00:00+00:00"
    _add(db, "sent", "normal", status="sent", sent=sent, to_addrs=json.dumps(to_addrs), cc=json.dumps(cc))
    waiting = _add(db, "waiting", "normal")
    plan = budget.plan(db, TouchBudget(1, 7), TODAY)
    assert (waiting in plan.defer) is counts
    assert (plan.keep == [waiting]) is not counts


def _copies(conn: Any, draft_id: int, *addresses: str) -> None:
    """The copies a send recorded for ``draft_id`` (csm.mail.deliveries), every one sent."""
    copies = [deliveries.Delivery(draft_id, a, deliveries.new_token(), "sent") for a in addresses]
    with transaction(conn):
        deliveries.add(conn, copies, NOW, sending=None)


def _approved(conn: Any) -> dict[str, Any]:
    draft_id = _add(conn, "approved", "normal", status="approved")
    return dict(conn.execute("SELECT * FROM outbox WHERE id = ?", (draft_id,)).fetchone())


def test_the_send_check_counts_each_email_gone_to_the_contact_once_by_its_copies(db: Any) -> None:
    """Two copies of one sent email reached her (her address in two spellings): one email, room left."""
    first = _add(db, "first", "normal", status="sent", sent="2026-11-20T10:00:00+00:00")
    _copies(db, first, "ann@acme.example", "Ann@Acme.example")
    draft = _approved(db)
    assert budget.spent_at_send(db, draft, TouchBudget(2, 7), TODAY) is None
    second = _add(db, "second", "normal", status="sent", sent="2026-11-21T10:00:00+00:00")
    _copies(db, second, "ANN@acme.example")
    assert budget.spent_at_send(db, draft, TouchBudget(2, 7), TODAY) == (
        "deferred: ann@acme.example already has “first” (sent 2026-11-20) and “second” (sent 2026-11-21)"
        " within 7 days (budget 2 per 7 days)"
    )


def _steps(conn: sqlite3.Connection, draft: dict[str, Any]) -> int:
    """The SQLite VM steps (in thousands) that the send check takes: what it reads."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 1000)
    budget.spent_at_send(conn, draft, TouchBudget(2, 7), TODAY)
    conn.set_progress_handler(None, 0)
    return steps[0]


def test_the_send_check_reads_the_contacts_copies_not_the_windows_sent_mail(conn: sqlite3.Connection) -> None:
    """The check at send costs the same beside 3,000 emails sent to others in the window: it starts
    from the copies to her address, never from the outbox's sent mail (which grows with the book)."""
    mine = _add(conn, "mine", "normal", status="sent", sent="2026-11-20T10:00:00+00:00")
    _copies(conn, mine, "ann@acme.example")
    draft = _approved(conn)
    alone = _steps(conn, draft)
    others = json.dumps([["Bob", "bob@globex.example"]])
    with transaction(conn):
        for i in range(3000):
            conn.execute(
                "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, cc, subject, body,"
                " template, why, priority, status, sent_at, created_at, updated_at)"
                " VALUES (?, 'p', 's', 'A2', ?, '[]', 's', 'b', 't', '{}', 'normal', 'sent', ?, ?, ?)",
                (f"other-{i}", others, "2026-11-21T10:00:00+00:00", NOW, NOW),
            )
    assert _steps(conn, draft) <= alone + 1


@pytest.mark.parametrize(
    ("to", "cc"),
    [
        ([["Ann", "Ann@Acme.example"], ["", "bob@acme.example"]], [" Cy@acme.example", "dee@acme.example"]),
        ([[None, "ann@acme.example"]], []),  # a null name
        ([['Ann "the" Archer', "ann@acme.example"]], ["Zoë <zoe@acme.example>"]),  # escapes, a named cc
        ([["ann@acme.example", "bob@acme.example"]], ["Nullman <n@acme.example>"]),
        ([["Zoë", "ZOË@acme.example"]], ["\tcy@acme.example\n"]),  # Python lowercases and strips more
        ([], [""]),
    ],
)
def test_the_plan_reads_the_addresses_the_parse_reads(db: Any, to: list[Any], cc: list[str]) -> None:
    """The database reads the outbox's JSON for the plan: an email counts against exactly the
    addresses csm.mail.overlaps parses from it."""
    to_addrs, cc_text = json.dumps(to), json.dumps(cc)
    _add(db, "sent", "normal", status="sent", sent="2026-11-20T10:00:00+00:00", to_addrs=to_addrs, cc=cc_text)
    named = ["ann@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example", "n@acme.example"]
    named += ["zoe@acme.example", "zoë@acme.example", "ann archer", "archer"]
    waiting = {a: _add(db, a, "normal", to_addrs=json.dumps([["", a]])) for a in named}
    plan = budget.plan(db, TouchBudget(1, 7), TODAY)
    assert {a for a, i in waiting.items() if i in plan.defer} == addresses(to_addrs, cc_text)


def test_approved_drafts_keep_their_place_and_ties_go_to_the_older_draft(db: Any) -> None:
    approved = _add(db, "approved", "low", status="approved")
    newer = _add(db, "newer", "high", now="2026-11-23T09:00:00+00:00")
    older = _add(db, "older", "high", now="2026-11-22T09:00:00+00:00")
    urgent = _add(db, "urgent", "urgent", now="2026-11-23T10:00:00+00:00")
    plan = budget.plan(db, TouchBudget(3, 7), TODAY)
    assert plan.keep == [urgent, older]
    assert set(plan.defer) == {newer}
    assert approved not in plan.keep  # held, not ranked


def test_rebalance_moves_only_through_the_outbox(db: Any) -> None:
    first = _add(db, "first", "normal")
    second = _add(db, "second", "normal")
    with transaction(db):
        budget.rebalance(db, TouchBudget(1, 7), TODAY, NOW)
    assert outbox.get(db, second)["status"] == "deferred"
    with transaction(db):
        outbox.move(db, first, "skip", "skipped", NOW, reason="called instead")
        budget.rebalance(db, TouchBudget(1, 7), TODAY, NOW)
    assert outbox.get(db, second)["status"] == "draft"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[touch_budget]\nmax_emails = 2\nper_dyas = 3\n",
            "csm.toml:3: setting 'touch_budget.per_dyas': unknown setting (did you mean 'per_days'?)",
        ),
        (
            "[touch_budget]\nmax_emails = -1\n",
            "csm.toml:2: setting 'touch_budget.max_emails': expected a whole number from 0 to 365, got -1",
        ),
        (
            'touch_budget = { per_days = "7d" }\n',
            "csm.toml:1: setting 'touch_budget.per_days': expected a whole number from 1 to 365, got '7d'",
        ),
    ],
)
def test_budget_settings_are_checked_with_their_line(text: str, message: str) -> None:
    assert settings_error(text) == message


# Cooldown.

COOLING = """\
playbook: hello
title: Hello
steps:
  - id: touch
    when: status = 'active'
    once_per: week
    cooldown: 30d
    email: { template: test/hi.md.j2, to: [champion] }
"""


def test_a_cooldown_keeps_the_step_from_firing_again_whatever_once_per_says(book: Path, invoke: Any) -> None:
    for name in ("nudge", "rescue"):
        (book / "playbooks" / f"{name}.yaml").unlink()
    (book / "playbooks" / "hello.yaml").write_text(COOLING, encoding="utf-8")
    invoke("-w", str(book), "--today", "2026-11-02", "run")
    invoke("-w", str(book), "--today", "2026-11-23", "run")  # another week, 21 days later
    assert rows(book, "SELECT count(*) FROM outbox WHERE account_id = 'A1'")[0][0] == 1
    dry = json.loads(invoke("-w", str(book), "--today", "2026-11-23", "run", "--dry-run", "--json").stdout)
    assert dry["steps"][0]["matches"] == []
    invoke("-w", str(book), "--today", "2026-12-02", "run")  # 30 days on: free again
    assert rows(book, "SELECT count(*) FROM outbox WHERE account_id = 'A1'")[0][0] == 2


def test_a_cooldown_does_not_stop_its_own_draft_from_being_sent(book: Path, invoke: Any) -> None:
    for name in ("nudge", "rescue"):
        (book / "playbooks" / f"{name}.yaml").unlink()
    (book / "playbooks" / "hello.yaml").write_text(COOLING, encoding="utf-8")
    invoke("-w", str(book), "run")
    ((draft_id,),) = rows(book, "SELECT id FROM outbox WHERE account_id = 'A1'")
    invoke("-w", str(book), "approve", str(draft_id))
    assert invoke("-w", str(book), "send").exit_code == 0
    assert rows(book, "SELECT status FROM outbox WHERE id = ?", draft_id) == [("sent",)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("    cooldown: 800d", "'cooldown' must be a duration from 1d to 730d like 30d or 6w, got '800d'"),
        ("    cooldown: 3m", "'cooldown' must be a duration from 1d to 730d like 30d or 6w, got '3m'"),
        ("    cooldwn: 30d", "unknown key 'cooldwn' in a step (did you mean 'cooldown'?)"),
    ],
)
def test_a_bad_cooldown_is_named_with_its_place(book: Path, invoke: Any, line: str, message: str) -> None:
    (book / "playbooks" / "hello.yaml").write_text(
        COOLING.replace("    cooldown: 30d", line), encoding="utf-8"
    )
    result = invoke("-w", str(book), "check")
    assert result.exit_code == 1
    assert f"hello.yaml:7:{5 if 'cooldwn' in line else 15}: {message}" in result.stderr


def test_a_bad_playbook_budget_is_named_with_its_place(book: Path, invoke: Any) -> None:
    text = _playbook("nudge", "low", "touch_budget: { max_emails: 3, per_day: 7 }\n")
    (book / "playbooks" / "nudge.yaml").write_text(text, encoding="utf-8")
    result = invoke("-w", str(book), "check")
    assert result.exit_code == 1
    assert (
        "nudge.yaml:4:32: unknown key 'per_day' in touch_budget (did you mean 'per_days'?)" in result.stderr
    )
    assert (
        "nudge.yaml:4:15: touch_budget needs per_days: a whole number from 1 to 365, got None"
        in result.stderr
    )


def test_the_outbox_lists_deferred_drafts_among_what_waits(book: Path, invoke: Any) -> None:
    invoke("-w", str(book), "run")
    listed = json.loads(invoke("-w", str(book), "outbox", "--json").stdout)
    assert sorted(d["playbook"] for d in listed if d["status"] == "deferred") == ["nudge", "nudge"]
    ((nudge,),) = rows(book, "SELECT id FROM outbox WHERE playbook = 'nudge' AND account_id = 'A1'")
    refused = invoke("-w", str(book), "approve", str(nudge))
    assert refused.exit_code == 1
    assert f"draft #{nudge} is deferred; only draft drafts can be approved" in refused.stderr


def _explained(ws: Path, invoke: Any, *args: str) -> list[dict[str, Any]]:
    result = invoke("-w", str(ws), *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["steps"]


def test_explain_names_the_deferral_and_its_reason(book: Path, invoke: Any) -> None:
    invoke("-w", str(book), "run")
    ((draft, reason),) = rows(
        book, "SELECT id, reason FROM outbox WHERE playbook = 'nudge' AND account_id = 'A1'"
    )
    (step,) = _explained(book, invoke, "explain", "A1", "nudge")
    found = [r for r in step["reasons"] if r["kind"] == "deferred"]
    assert found and found[0]["message"] == f"draft #{draft} deferred: {reason}"
    assert found[0]["blocking"] is True


def test_explain_says_a_cooling_step_does_not_match_and_why(book: Path, invoke: Any) -> None:
    for name in ("nudge", "rescue"):
        (book / "playbooks" / f"{name}.yaml").unlink()
    (book / "playbooks" / "hello.yaml").write_text(COOLING, encoding="utf-8")
    invoke("-w", str(book), "--today", "2026-11-02", "run")
    (step,) = _explained(book, invoke, "--today", "2026-11-23", "explain", "A1", "hello")
    assert step["matched"] is False  # as the dry run says: the cooldown keeps it out
    assert [r["kind"] for r in step["reasons"]] == ["cooldown"]
    (free,) = _explained(book, invoke, "--today", "2026-12-02", "explain", "A1", "hello")
    assert free["matched"] is True and free["reasons"] == []

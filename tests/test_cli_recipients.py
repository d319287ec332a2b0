"""Who a draft goes to: roles checked, no silent stand-in, the same person warned about."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import db_dump
from conftest import rows as sql
from test_review_tty import _read_until, start_review

ME = "dana@northwind-cs.example"
# Today is pinned to 2026-11-23: a renewal on 2027-01-07 is 45 days out (renewal-ahead › check-in,
# to the economic buyer), one on 2027-03-03 is 100 days out (heads-up, to champion and economic buyer).
ACCOUNTS = f"""\
id,name,owner,plan,arr,seats_licensed,seats_used,start_date,renewal_date,status
A1,Acme,{ME},team,12000,20,15,2024-01-07,2027-01-07,active
A2,Globex,{ME},team,12000,20,15,2024-01-07,2027-01-07,active
A3,Initech,{ME},team,12000,20,15,2024-03-03,2027-03-03,active
A4,Umbrella,{ME},team,12000,20,15,2024-03-03,2027-03-03,active
A5,Hooli,{ME},team,12000,20,15,2024-03-03,2027-03-03,active
"""
CONTACTS = """\
account_id,email,name,role,is_primary
A1,ann@acme.example,Ann Archer,champion,true
A2,gil@globex.example,Gil Gray,economic_buyer,true
A3,ira@initech.example,Ira Ives,champion,true
A4,pat@consult.example,Pat Park,champion,true
A5,pat@consult.example,Pat Park,champion,true
A5,hal@hooli.example,Hal Hart,economic_buyer,false
A5,bo@hooli.example,Bo Berg,billing,false
"""
SPONSOR = """\
playbook: sponsor
title: Sponsor
audience: status = 'active'
steps:
  - id: escalate
    title: Escalation
    when: days_to_renewal between 31 and 60
    email:
      template: renewal/check-in.md.j2
      to: [executive_sponsor]
  - id: escalate-anyway
    title: Escalation to someone
    when: days_to_renewal between 31 and 60
    email:
      template: renewal/check-in.md.j2
      to: [executive_sponsor]
      fallback: primary
"""
ACME_TASK = "No economic buyer on file for the Renewal check-in email: add one or send it by hand"


def load(invoke: Any, ws: Path, kind: str, text: str) -> None:
    path = ws / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    result = invoke("-w", str(ws), "import", kind, str(path))
    assert result.exit_code == 0, result.output


@pytest.fixture
def book(workspace: Path, invoke: Any) -> Path:
    """Five accounts: Acme has no economic buyer, Umbrella and Hooli share a champion."""
    load(invoke, workspace, "accounts", ACCOUNTS)
    load(invoke, workspace, "contacts", CONTACTS)
    return workspace


def outbox(ws: Path) -> dict[str, tuple[str, list[str], str | None]]:
    """Today's outbox by dedupe key: status, addresses (to then cc), reason."""
    return {
        key: (status, [e for _, e in json.loads(to)] + json.loads(cc), reason)
        for key, status, to, cc, reason in sql(
            ws, "SELECT dedupe_key, status, to_addrs, cc, reason FROM outbox ORDER BY id"
        )
    }


def draft_id(ws: Path, key: str) -> int:
    return sql(ws, "SELECT id FROM outbox WHERE dedupe_key = ?", key)[0][0]


# -- roles at check time ------------------------------------------------------------------------


def test_check_names_an_unknown_role_with_a_did_you_mean(invoke: Any, book: Path) -> None:
    path = book / "playbooks" / "sponsor.yaml"
    path.write_text(
        SPONSOR.replace("to: [executive_sponsor]\n      fallback", "to: [admin, champoin]\n      fallback")
    )
    result = invoke("-w", str(book), "check")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"{path}:16:19: unknown contact role 'champoin' (did you mean 'champion'?)\n"
        "          to: [admin, champoin]\n"
        "                      ^\n"
    )
    assert "1 problem in" in result.stderr
    run = invoke("-w", str(book), "run", "sponsor")  # a run loads the same way: nothing is drafted
    assert run.exit_code == 1 and "unknown contact role 'champoin'" in run.stderr
    assert sql(book, "SELECT count(*) FROM outbox") == [(0,)]


def test_check_knows_the_roles_contacts_hold_and_lists_them_when_nothing_is_close(
    invoke: Any, book: Path
) -> None:
    path = book / "playbooks" / "sponsor.yaml"
    path.write_text(SPONSOR.replace("[executive_sponsor]\n      fallback", "[billing]\n      fallback"))
    assert invoke("-w", str(book), "check").exit_code == 0  # `billing` is held by Bo at Hooli
    path.write_text(SPONSOR.replace("to: [executive_sponsor]\n", "to: cfo\n", 1))
    result = invoke("-w", str(book), "check")
    assert result.exit_code == 1
    assert (
        f"{path}:10:11: unknown contact role 'cfo': it is not built in and no contact holds it"
        " (known roles: admin, billing, champion, economic_buyer, executive_sponsor, primary, respondent,"
        " user)"
    ) in result.stderr


def test_fallback_is_validated(invoke: Any, book: Path) -> None:
    path = book / "playbooks" / "sponsor.yaml"
    path.write_text(SPONSOR.replace("fallback: primary", "fallback: anyone"))
    result = invoke("-w", str(book), "check")
    assert result.exit_code == 1
    assert f"{path}:17:17: 'fallback' must be one of skip, primary, got 'anyone'" in result.stderr


# -- recipients at draft time -------------------------------------------------------------------


def test_a_missing_role_is_skipped_with_a_reason_and_a_task_never_sent_to_the_primary(
    invoke: Any, book: Path
) -> None:
    result = invoke("-w", str(book), "run", "renewal-ahead")
    assert result.exit_code == 0, result.output
    rows = outbox(book)
    skipped_key = "renewal-ahead:check-in:A1:2027-01-07:no-recipient"
    assert rows[skipped_key] == ("skipped", [], "no economic_buyer on file for Acme")
    assert "renewal-ahead:check-in:A1:2027-01-07" not in rows  # nothing went to Ann, the primary
    assert rows["renewal-ahead:check-in:A2:2027-01-07"] == ("draft", ["gil@globex.example"], None)
    skip_id = draft_id(book, skipped_key)
    out = " ".join(result.stdout.split())
    assert (
        f"skip #{skip_id} renewal-ahead › check-in Acme: not drafted, no economic_buyer on file for Acme"
    ) in out
    assert f"task #4 renewal-ahead › check-in Acme: {ACME_TASK}" in out
    assert (
        "Added 4 drafts and 4 tasks as of 2026-11-23. 1 email not drafted:"
        " nobody in the step's roles to write to; a task for each says what to do."
    ) in out
    tasks = sql(
        book, "SELECT account_id, title, due_date, status FROM tasks WHERE dedupe_key = ?", skipped_key
    )
    assert tasks == [("A1", ACME_TASK, "2026-11-23", "open")]
    today = json.loads(invoke("-w", str(book), "today", "--json", "--no-run").stdout)
    assert ACME_TASK in [t["title"] for t in today["tasks"] if t["account"] == "A1"]
    shown = invoke("-w", str(book), "show", str(skip_id))
    assert "Reason: no economic_buyer on file for Acme" in shown.stdout


def test_rerunning_never_duplicates_the_skipped_row_or_its_task(invoke: Any, book: Path) -> None:
    first = json.loads(invoke("-w", str(book), "run", "--json", "renewal-ahead").stdout)
    assert [(s["account_id"], s["summary"]) for s in first["skipped"]] == [
        ("A1", "no economic_buyer on file for Acme")
    ]
    before = db_dump(book)
    again = json.loads(invoke("-w", str(book), "run", "--json", "renewal-ahead").stdout)
    assert (again["added"], again["skipped"]) == ([], [])
    invoke("-w", str(book), "today", "--json")  # `today` runs the playbooks too
    invoke("-w", str(book), "run", "--quiet")
    count = "SELECT count(*) FROM {} WHERE dedupe_key LIKE '%:no-recipient'"
    assert sql(book, count.format("outbox")) == [(1,)] and sql(book, count.format("tasks")) == [(1,)]
    assert [line for line in db_dump(book) if "no-recipient" in line] == [
        line for line in before if "no-recipient" in line
    ]


def test_once_a_contact_holds_the_role_the_email_is_drafted_and_the_task_closes(
    invoke: Any, book: Path
) -> None:
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    load(invoke, book, "contacts", "account_id,email,name,role\nA1,eve@acme.example,Eve Ek,economic_buyer\n")
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    key = "renewal-ahead:check-in:A1:2027-01-07"
    assert outbox(book)[key] == ("draft", ["eve@acme.example"], None)
    assert sql(book, "SELECT status, note FROM tasks WHERE dedupe_key = ?", key + ":no-recipient") == [
        ("closed", "drafted: a contact holds the role now")
    ]


def test_an_email_the_csm_sent_by_hand_is_not_drafted_later(invoke: Any, book: Path) -> None:
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    (task,) = sql(book, "SELECT id FROM tasks WHERE dedupe_key LIKE '%:no-recipient'")[0]
    assert invoke("-w", str(book), "task", "done", str(task)).exit_code == 0
    load(invoke, book, "contacts", "account_id,email,name,role\nA1,eve@acme.example,Eve Ek,economic_buyer\n")
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    assert "renewal-ahead:check-in:A1:2027-01-07" not in outbox(book)


def test_some_roles_held_goes_to_the_holders_and_names_the_missing_one(invoke: Any, book: Path) -> None:
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    key = "renewal-ahead:heads-up:A3:2027-03-03"
    assert outbox(book)[key] == ("draft", ["ira@initech.example"], None)
    assert outbox(book)["renewal-ahead:heads-up:A5:2027-03-03"][1] == [
        "pat@consult.example",
        "hal@hooli.example",
    ]
    shown = json.loads(invoke("-w", str(book), "show", "--json", str(draft_id(book, key))).stdout)
    assert shown["why"] == {
        "days_to_renewal": 100,
        "recipients": "no economic_buyer on file for Initech; to the champion only",
    }
    text = invoke("-w", str(book), "show", str(draft_id(book, key))).stdout
    assert (
        "Why: days_to_renewal=100, recipients=no economic_buyer on file for Initech; to the champion only"
        in text
    )


def test_a_builtin_role_nobody_holds_passes_check_and_then_skips_or_falls_back(
    invoke: Any, book: Path
) -> None:
    (book / "playbooks" / "sponsor.yaml").write_text(SPONSOR)
    assert invoke("-w", str(book), "check").exit_code == 0
    assert invoke("-w", str(book), "run", "--quiet", "sponsor").exit_code == 0
    rows = outbox(book)
    assert rows["sponsor:escalate:A1:once:no-recipient"] == (
        "skipped",
        [],
        "no executive_sponsor on file for Acme",
    )
    assert "sponsor:escalate:A1:once" not in rows
    assert rows["sponsor:escalate-anyway:A1:once"] == ("draft", ["ann@acme.example"], None)
    assert rows["sponsor:escalate-anyway:A2:once"] == ("draft", ["gil@globex.example"], None)
    why = json.loads(
        sql(book, "SELECT why FROM outbox WHERE dedupe_key = 'sponsor:escalate-anyway:A1:once'")[0][0]
    )
    assert why["recipients"] == (
        "no executive_sponsor on file for Acme; to the primary contact instead (fallback: primary)"
    )
    titles = sql(book, "SELECT title FROM tasks WHERE account_id = 'A1' AND playbook = 'sponsor'")
    assert titles == [("No executive sponsor on file for the Escalation email: add one or send it by hand",)]


def test_dry_run_shows_the_skip_and_the_missing_role_and_writes_nothing(invoke: Any, book: Path) -> None:
    before = db_dump(book)
    result = invoke("-w", str(book), "run", "--dry-run", "renewal-ahead")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "  not drafted A1: no economic_buyer on file for Acme (a skipped row and a task instead)" in out
    assert "  note A3: no economic_buyer on file for Initech; to the champion only" in out
    data = json.loads(invoke("-w", str(book), "run", "--dry-run", "--json", "renewal-ahead").stdout)
    matches = {(s["step"], m["account"]): m["recipients"] for s in data["steps"] for m in s["matches"]}
    assert matches["check-in", "A1"] == {
        "to": [],
        "skipped": "no economic_buyer on file for Acme",
        "note": None,
    }
    assert matches["check-in", "A2"] == {"to": ["gil@globex.example"], "skipped": None, "note": None}
    assert matches["heads-up", "A5"]["to"] == ["pat@consult.example", "hal@hooli.example"]
    assert db_dump(book) == before


def test_preview_does_not_fall_back_silently(invoke: Any, book: Path) -> None:
    refused = invoke("-w", str(book), "preview", "renewal-ahead", "--account", "A1", "--step", "check-in")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "Error: renewal-ahead › check-in would not be drafted: no economic_buyer on file for Acme\n"
    )
    (book / "playbooks" / "sponsor.yaml").write_text(SPONSOR)
    stood_in = invoke("-w", str(book), "preview", "sponsor", "--account", "A1", "--step", "escalate-anyway")
    assert stood_in.exit_code == 0, stood_in.output
    assert "To: Ann Archer <ann@acme.example>" in stood_in.stdout
    assert (
        "Note: no executive_sponsor on file for Acme; to the primary contact instead (fallback: primary)"
        in stood_in.stderr
    )


# -- the same person in two drafts --------------------------------------------------------------


def test_two_drafts_to_the_same_person_are_kept_and_each_names_the_other(invoke: Any, book: Path) -> None:
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    # Addresses match whatever their case (a template's cc can spell one differently).
    sql(
        book,
        "UPDATE outbox SET to_addrs = replace(to_addrs, 'pat@consult', 'Pat@Consult')"
        " WHERE account_id = 'A5'",
    )
    umbrella = draft_id(book, "renewal-ahead:heads-up:A4:2027-03-03")
    hooli = draft_id(book, "renewal-ahead:heads-up:A5:2027-03-03")
    shown = json.loads(invoke("-w", str(book), "show", "--json", str(umbrella)).stdout)
    assert shown["also_to_same_person"] == [
        {
            "id": hooli,
            "account": "A5",
            "account_name": "Hooli",
            "status": "draft",
            "emails": ["pat@consult.example"],
        }
    ]
    text = invoke("-w", str(book), "show", str(hooli)).stdout
    assert (
        f"Also to the same person: #{umbrella} Umbrella (A4, draft, pat@consult.example);"
        " read them together before you approve."
    ) in " ".join(text.split())
    today = json.loads(invoke("-w", str(book), "today", "--json", "--no-run").stdout)
    overlaps = {d["id"]: [o["id"] for o in d["also_to_same_person"]] for d in today["drafts"]}
    assert overlaps[umbrella] == [hooli] and overlaps[hooli] == [umbrella]
    assert [d for d, others in overlaps.items() if others and d not in (umbrella, hooli)] == []
    morning = invoke("-w", str(book), "today", "--no-run").stdout
    assert f"Also to the same person: #{hooli} Hooli (A5, draft," in morning
    # Read from the outbox each time: once one is skipped, the other stands alone.
    invoke("-w", str(book), "skip", str(hooli), "--reason", "one email to Pat is enough")
    again = json.loads(invoke("-w", str(book), "show", "--json", str(umbrella)).stdout)
    assert again["also_to_same_person"] == []


def test_review_warns_about_the_same_person(invoke: Any, book: Path) -> None:
    invoke("-w", str(book), "run", "--quiet", "renewal-ahead")
    sql(book, "UPDATE outbox SET status = 'skipped' WHERE account_id NOT IN ('A4', 'A5')")
    hooli = draft_id(book, "renewal-ahead:heads-up:A5:2027-03-03")
    master, proc = start_review(book, columns=200)
    seen = bytearray()
    try:
        _read_until(master, b"[a]pprove", seen)
        os.write(master, b"q\n")
        _read_until(master, b"Reviewed 0 drafts.", seen)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        os.close(master)
    assert f"Also to the same person: #{hooli} Hooli (A5, draft, pat@consult.example)".encode() in seen


def test_the_detractor_follow_up_goes_to_the_person_who_answered(invoke: Any, demo: Path) -> None:
    """On the demo, each answer of 6 or below this week is followed up with whoever gave it."""
    assert invoke("-w", str(demo), "run", "at-risk").exit_code == 0
    drafted = sql(
        demo,
        "SELECT o.account_id, o.to_addrs, o.cc FROM outbox o"
        " WHERE o.step = 'detractor-answered' AND o.status = 'draft' ORDER BY o.account_id",
    )
    answers = sql(
        demo,
        "SELECT e.account_id, e.contact, c.role, e.attributes FROM events e"
        " JOIN contacts c ON c.account_id = e.account_id AND c.email = e.contact"
        " WHERE e.kind = 'nps_response' AND e.occurred_at >= '2026-11-21' ORDER BY e.account_id",
    )
    answered = [(a, contact, role) for a, contact, role, said in answers if json.loads(said)["score"] <= 6]
    assert len(drafted) >= 3
    assert [(a, [e for _, e in json.loads(to)], json.loads(cc)) for a, to, cc in drafted] == [
        (account, [contact], []) for account, contact, _ in answered
    ]
    assert {role for _, _, role in answered} - {"champion"}  # not the champion, who did not answer


def test_nobody_writes_to_a_champion_who_left(invoke: Any, demo: Path) -> None:
    assert invoke("-w", str(demo), "run", "at-risk").exit_code == 0
    left = {r[0] for r in sql(demo, "SELECT email FROM contacts WHERE left_at IS NOT NULL")}
    addressed = {e for (to,) in sql(demo, "SELECT to_addrs FROM outbox") for _, e in json.loads(to)}
    assert left and not left & addressed
    drafted = sql(demo, "SELECT count(*) FROM outbox WHERE step = 'champion-left' AND status = 'draft'")
    assert drafted[0][0] >= 3

"""Tasks for someone else (assignee, type) and internal copies (cc_internal) that never reach a customer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import own_book, rows

ME = "dana@northwind-cs.example"
AE = "ae@northwind-cs.example"
LEAD = "cs-lead@northwind-cs.example"
ACCOUNTS = f"""\
id,name,owner,plan,status,account_executive
A1,Acme,{ME},team,active,{AE}
A2,Globex,{ME},team,active,
A3,Initech,{ME},team,active,ceo@initech.example
A4,Umbrella,{ME},team,active,pat@northwind-cs.example
"""
CONTACTS = """\
account_id,email,name,role,is_primary
A1,ann@acme.example,Ann Archer,champion,true
A2,gil@globex.example,Gil Gray,champion,true
A3,ira@initech.example,Ira Ives,champion,true
A4,una@umbrella.example,Una Upton,champion,true
A4,pat@northwind-cs.example,Pat Park,admin,false
"""
RENEW = f"""\
playbook: renew
title: Renew
audience: status = 'active'
steps:
  - id: call
    when: plan = 'team'
    task: {{ title: "Call the buyer", type: call, assignee: account_executive }}
  - id: note
    when: plan = 'team'
    email:
      template: test/hi.md.j2
      to: [champion]
      cc_internal: [account_executive, {LEAD}]
"""


@pytest.fixture
def book(workspace: Path, invoke: Any) -> Path:
    own_book(invoke, workspace, {"renew.yaml": RENEW}, accounts=ACCOUNTS, contacts=CONTACTS)
    result = invoke("-w", str(workspace), "run")
    assert result.exit_code == 0, result.output
    return workspace


def test_the_task_goes_to_the_account_executive_else_the_owner(book: Path, invoke: Any) -> None:
    tasks = json.loads(invoke("-w", str(book), "task", "list", "--json").stdout)
    assert [(t["account_id"], t["type"], t["assignee"]) for t in tasks] == [
        ("A1", "call", AE),
        ("A2", "call", ME),  # nobody in the column: the owner
        ("A3", "call", ME),  # a customer's address: never theirs to do
        ("A4", "call", "pat@northwind-cs.example"),  # a colleague (who is also a contact)
    ]
    why = dict(rows(book, "SELECT account_id, why FROM tasks WHERE account_id = 'A3'"))
    assert json.loads(why["A3"])["assignee"] == (
        "ceo@initech.example (account_executive) is not one of your own addresses: assigned to the owner"
    )


def test_an_assignees_list_holds_the_tasks_assigned_to_them(book: Path, invoke: Any) -> None:
    listed = json.loads(invoke("-w", str(book), "task", "list", "--owner", AE, "--json").stdout)
    assert [t["account_id"] for t in listed] == ["A1"]
    morning = json.loads(invoke("-w", str(book), "today", "--owner", AE, "--no-run", "--json").stdout)
    assert [(t["account"], t["assignee"], t["type"]) for t in morning["tasks"]] == [("A1", AE, "call")]
    text = invoke("-w", str(book), "task", "list", "--owner", AE).stdout
    assert f"call       {AE}  Acme: Call the buyer" in text


def test_the_owners_morning_says_whose_task_it_is(book: Path, invoke: Any) -> None:
    text = invoke("-w", str(book), "today", "--no-run").stdout
    assert f"        call for {AE} · renew › call: plan=team" in text
    assert "        call · renew › call: plan=team" in text  # Globex's, the owner's own


def test_internal_copies_are_colleagues_only(book: Path) -> None:
    found = rows(book, "SELECT account_id, cc_internal, why FROM outbox ORDER BY account_id")
    copies = {account: json.loads(cc) for account, cc, _ in found}
    assert copies == {"A1": [AE, LEAD], "A2": [LEAD], "A3": [LEAD], "A4": [LEAD]}
    why = {account: json.loads(text).get("cc_internal") for account, _, text in found}
    assert why == {
        "A1": None,
        "A2": None,
        "A3": "ceo@initech.example (account_executive) is not one of your own addresses",
        "A4": "pat@northwind-cs.example (account_executive) is not one of your own addresses",
    }


def test_sending_copies_the_colleagues_and_checks_them_again(book: Path, invoke: Any) -> None:
    ((acme,),) = rows(book, "SELECT id FROM outbox WHERE account_id = 'A1'")
    assert invoke("-w", str(book), "approve", str(acme)).exit_code == 0
    # Since the draft was made, the lead's address became a customer's contact: never copied now.
    extra = book / "more.csv"
    extra.write_text(f"account_id,email,name,role\nA2,{LEAD},Lee Lead,user\n", encoding="utf-8")
    assert invoke("-w", str(book), "import", "contacts", str(extra)).exit_code == 0
    result = invoke("-w", str(book), "send")
    assert result.exit_code == 0, result.output
    assert rows(book, "SELECT address FROM deliveries WHERE draft_id = ? ORDER BY position", acme) == [
        ("ann@acme.example",),
        (AE,),
    ]
    ((reason,),) = rows(book, "SELECT reason FROM outbox WHERE id = ?", acme)
    assert f"left out {LEAD} ({LEAD}) is not one of your own addresses" in reason


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "assignee: account_executive",
            "assignee: acount_executive",
            "renew.yaml:7:60: 'assignee' must be an account column holding an address, or an address;"
            " got 'acount_executive' (did you mean 'account_executive'?)",
        ),
        (
            "type: call",
            "type: cal",
            "renew.yaml:7:44: 'type' must be one of call, meeting, review,"
            " escalation, email, other, got 'cal' (did you mean 'call'?)",
        ),
        (
            f"cc_internal: [account_executive, {LEAD}]",
            "cc_internal: [account_executive, boss@initech.example]",
            "renew.yaml:13:40: 'boss@initech.example' is not in your own domains (northwind-cs.example):"
            " cc_internal copies colleagues only; name customers by role in to:",
        ),
        (
            "assignee: account_executive",
            "assignee: someone@",
            "renew.yaml:7:60: 'assignee' is not an email address: 'someone@'",
        ),
        (
            "assignee: account_executive",
            "assignee: ira@initech.example",
            "renew.yaml:7:60: 'ira@initech.example' is not in your own domains (northwind-cs.example):"
            " a task is for a colleague",
        ),
        (
            "to: [champion]",
            "to: [champoin]",
            "renew.yaml:12:12: unknown contact role 'champoin' (did you mean 'champion'?)",
        ),
    ],
)
def test_check_names_each_mistake_with_its_place(
    book: Path, invoke: Any, old: str, new: str, message: str
) -> None:
    path = book / "playbooks" / "renew.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    result = invoke("-w", str(book), "check")
    assert result.exit_code == 1
    assert message in result.stderr

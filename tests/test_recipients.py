"""Choosing a draft's recipients from contact roles: never a silent stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from csm.engine.recipients import choose


def contact(email: str, role: str, *, primary: bool = False, reachable: bool = True) -> dict[str, Any]:
    return {
        "name": email.split("@")[0].title(),
        "email": email,
        "role": role,
        "title": "",
        "is_primary": int(primary),
        "reachable": int(reachable),
    }


ANN = contact("ann@acme.example", "champion", primary=True)
EVE = contact("eve@acme.example", "economic_buyer")
GONE = contact("gus@acme.example", "economic_buyer", reachable=False)  # unsubscribed or suppressed
UMA = contact("uma@acme.example", "user")


@pytest.mark.parametrize(
    ("contacts", "roles", "fallback", "to", "outcome"),
    [
        ([ANN, EVE], ("champion", "economic_buyer"), "skip", ["ann", "eve"], None),
        ([EVE, ANN], ("champion", "economic_buyer"), "skip", ["ann", "eve"], None),  # the roles' order
        (
            [ANN, UMA],
            ("champion", "economic_buyer"),
            "skip",
            ["ann"],
            "note: no economic_buyer on file for Acme; to the champion only",
        ),
        ([ANN], ("economic_buyer",), "skip", [], "reason: no economic_buyer on file for Acme"),
        (
            [ANN],
            ("economic_buyer", "executive_sponsor"),
            "skip",
            [],
            "reason: no economic_buyer or executive_sponsor on file for Acme",
        ),
        (
            [ANN, GONE],
            ("economic_buyer",),
            "skip",
            [],
            "reason: no economic_buyer to write to for Acme (economic_buyer unsubscribed)",
        ),
        (
            [ANN],
            ("economic_buyer",),
            "primary",
            ["ann"],
            "note: no economic_buyer on file for Acme; to the primary contact instead (fallback: primary)",
        ),
        (
            [UMA, GONE],
            ("economic_buyer",),
            "primary",
            [],
            "reason: no economic_buyer to write to for Acme (economic_buyer unsubscribed)"
            " and no primary contact to fall back to",
        ),
        ([UMA, ANN], ("primary",), "skip", ["ann"], None),
        ([UMA], ("primary",), "primary", [], "reason: no primary contact on file for Acme"),
        ([], ("admin",), "skip", [], "reason: no admin on file for Acme"),
    ],
)
def test_choose(
    contacts: list[dict[str, Any]], roles: tuple[str, ...], fallback: str, to: list[str], outcome: str | None
) -> None:
    choice = choose(contacts, roles, fallback)  # type: ignore[arg-type]
    assert [p.email.split("@")[0] for p in choice.people] == to
    if choice.people:
        note = choice.note("Acme")
        assert (f"note: {note}" if note else None) == outcome
    else:
        assert f"reason: {choice.reason('Acme')}" == outcome


def test_the_task_names_the_roles_in_words_and_the_email() -> None:
    choice = choose([ANN, GONE], ("economic_buyer", "primary"), "skip")
    assert [p.email for p in choice.people] == ["ann@acme.example"]  # the primary is named, not a stand-in
    nobody = choose([GONE], ("economic_buyer", "executive_sponsor"), "skip")
    assert nobody.task_title("Renewal check-in") == (
        "No economic buyer or executive sponsor to write to for the Renewal check-in email:"
        " add one or send it by hand"
    )


@pytest.mark.parametrize(
    ("contacts", "respondent", "to", "outcome"),
    [
        ([ANN, UMA], "uma@acme.example", ["uma"], None),
        ([ANN, UMA], "UMA@acme.example", ["uma"], None),  # addresses compare without case
        ([ANN, UMA], "stranger@elsewhere.example", [], "reason: no respondent on file for Acme"),
        ([ANN, UMA], None, [], "reason: no respondent on file for Acme"),
        (
            [ANN, GONE],
            "gus@acme.example",
            [],
            "reason: no respondent to write to for Acme (respondent unsubscribed)",
        ),
    ],
)
def test_the_respondent_is_one_of_the_accounts_own_reachable_contacts(
    contacts: list[dict[str, Any]], respondent: str | None, to: list[str], outcome: str | None
) -> None:
    """An address on an event alone is never written to: only the contact who holds it."""
    choice = choose(contacts, ("respondent",), "skip", respondent)  # type: ignore[arg-type]
    assert [p.email.split("@")[0] for p in choice.people] == to
    assert (None if choice.people else f"reason: {choice.reason('Acme')}") == outcome


def test_respondents_are_the_contacts_of_the_latest_events_the_condition_tested(conn: Any) -> None:
    from pathlib import Path

    from csm.engine.recipients import account_contacts, respondents
    from csm.language.playbooks import parse_playbook
    from csm.runtime import fields_for

    conn.executemany("INSERT INTO accounts (id, name) VALUES (?, ?)", [("A1", "Acme"), ("A2", "Globex")])
    conn.executemany(
        "INSERT INTO contacts (account_id, email, role, left_at) VALUES (?, ?, ?, ?)",
        [("A1", "ann@acme.example", "champion", None), ("A1", "uma@acme.example", "user", None),
         ("A1", "old@acme.example", "champion", "2026-05-01")],
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO events (id, account_id, kind, contact, occurred_at, attributes)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [("n1", "A1", "nps_response", "uma@acme.example", "2026-05-31T09:00:00", '{"score": 3}'),
         ("n2", "A1", "nps_response", "ann@acme.example", "2026-05-31T10:00:00", '{"score": 9}'),
         ("n3", "A1", "nps_response", "late@acme.example", "2026-06-02", '{"score": 1}'),
         ("n4", "A2", "nps_response", None, "2026-05-31", '{"score": 2}')],
    )  # fmt: skip
    text = (
        "playbook: nps\ntitle: NPS\nsteps:\n  - id: d\n"
        "    when: any(nps_response within 2d where score <= 6)\n"
        "    email: { template: x.md.j2, to: [respondent] }\n"
    )
    playbook, problems = parse_playbook(text, Path("playbooks/nps.yaml"), fields_for(conn))
    assert problems == [] and playbook is not None
    params = {"today": "2026-06-01", "primary_metric": "logins"}
    # The latest answer that passed the filter (not ann's 9, not the one after today); A2's has no contact.
    assert respondents(conn, playbook.steps[0], params, ["A1", "A2"]) == {"A1": "uma@acme.example"}
    assert [r["email"] for r in account_contacts(conn, ["A1"])["A1"]] == [
        "ann@acme.example",
        "uma@acme.example",
    ]


def test_contact_addresses_are_found_whatever_their_case_on_each_backend(db: Any) -> None:
    from csm.engine.recipients import contact_addresses

    db.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Acme')")
    for email in ("Ann@Acme.example", "JÖRG@acme.example"):
        db.execute("INSERT INTO contacts (account_id, email) VALUES ('A1', ?)", (email,))
    on_file = contact_addresses(db)
    assert "ann@acme.example" in on_file
    assert "jörg@acme.example" in on_file  # beyond ASCII, lowercased as Python does
    assert "bob@acme.example" not in on_file
    assert "ann@acme.example.org" not in on_file

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

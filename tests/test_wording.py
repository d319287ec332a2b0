"""What a person reads: money as money and counts with the right noun, in the CLI and the built-in emails."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import connect
from test_render import BUILTIN, golden_context

from csm.templating import filters


@pytest.mark.parametrize(
    ("value", "args", "kwargs", "expected"),
    [
        (1, ("seat",), {}, "1 seat"),
        (0, ("seat",), {}, "0 seats"),
        (3, ("support ticket",), {}, "3 support tickets"),
        (1234, ("account",), {}, "1,234 accounts"),
        (2.0, ("day",), {}, "2 days"),
        (1.5, ("hour",), {}, "1.5 hours"),
        (2, ("company",), {}, "2 companies"),
        (2, ("day",), {}, "2 days"),
        (2, ("box",), {}, "2 boxes"),
        (2, ("person", "people"), {}, "2 people"),
        ("1", ("seat",), {}, "1 seat"),
        (1, ("it", "them"), {"with_count": False}, "it"),
        (4, ("is", "are"), {"with_count": False}, "are"),
    ],
)
def test_plural(value: Any, args: tuple[str, ...], kwargs: dict[str, Any], expected: str) -> None:
    assert filters.FILTERS["plural"](value, *args, **kwargs) == expected


def test_plural_refuses_an_empty_value() -> None:
    with pytest.raises(filters.FilterError, match="plural: the value is empty"):
        filters.plural(None, "seat")


# Counts of one (and one of one) for every number a built-in template prints.
DAYS = {"days_to_renewal": 1, "days_since_start": 1}
ONES = [
    {"seats_used": 1, "seats_licensed": 2, "open_tickets": 1, "nps": 4, **DAYS},
    {"seats_used": 1, "seats_licensed": 1, "open_tickets": 1, "nps": 4, **DAYS},
]
WRONG = re.compile(
    r"\b1 (?:support |unused )?(?:seats|tickets|days)\b"  # one, but a plural noun
    r"|\b1 of your \d+ seats? are\b"  # one seat "are" in use
    r"|\b(?:1|one) (?:unused seat|support ticket)\b[^.]*\bthem\b"  # one of them, "them"
)


@pytest.mark.parametrize("name", BUILTIN.names())
@pytest.mark.parametrize("counts", ONES, ids=["one-of-two", "one-of-one"])
def test_builtin_templates_read_well_with_counts_of_one(name: str, counts: dict[str, int]) -> None:
    ctx = golden_context(name)
    ctx["account"].update(counts, seat_utilization=counts["seats_used"] / counts["seats_licensed"])
    email = BUILTIN.render(name, ctx)
    text = f"{email.subject}\n{email.body}"
    assert not WRONG.search(text), WRONG.search(text)


def test_one_ticket_is_followed_up_as_it() -> None:
    ctx = golden_context("at-risk/check-in.md.j2")
    ctx["account"].update(open_tickets=1)
    body = BUILTIN.render("at-risk/check-in.md.j2", ctx).body
    assert "I can see 1 support ticket still open, and I'm following up on it myself." in body


def test_the_cli_shows_money_and_day_counts(demo: Path, invoke: Any) -> None:
    with connect(demo) as conn:
        account, arr, renewal = conn.execute(
            "SELECT id, arr, renewal_date FROM accounts WHERE status = 'active'"
            " AND arr = CAST(arr AS INTEGER) AND arr >= 1000 AND renewal_date > '2026-11-24'"
            " ORDER BY id LIMIT 1"
        ).fetchone()
    day_before = (dt.date.fromisoformat(renewal) - dt.timedelta(days=1)).isoformat()
    shown = invoke("-w", str(demo), "--today", day_before, "account", account).stdout
    assert f"ARR ${int(arr):,} · seats " in shown
    assert f"Renews {renewal}: 1 day to go" in shown
    assert ".0 ·" not in shown

    morning = invoke("-w", str(demo), "today", "--no-run").stdout
    silent = morning[morning.index("Silent accounts") :]
    assert re.search(r"arr=\$\d{1,3}(,\d{3})*\n", silent), silent
    renewals = morning[morning.index("Renewals coming up") : morning.index("Silent accounts")]
    assert re.search(r"arr=\$\d{1,3}(,\d{3})*, health=", renewals), renewals


# The house rules for a built-in email (README, "Writing a playbook"): short, specific to the
# account, one clear ask, written as a person, no hard sell; a subject never reads like monitoring.
_SIGN_OFF = re.compile(r"\n(?:Best|Thanks|Thank you|Congratulations again),\n.*", re.S)
_MONITORING = re.compile(r"%|\busage\b|\bactivity\b|\balert\b|\bdropped\b|\bup \d", re.I)
_HARD_SELL = re.compile(
    r"\b(?:limited time|discount|act now|don't miss|upgrade today|exclusive offer)\b", re.I
)


@pytest.mark.parametrize("name", BUILTIN.names())
def test_builtin_emails_keep_the_house_rules(name: str) -> None:
    ctx = golden_context(name)
    email = BUILTIN.render(name, ctx)
    body = _SIGN_OFF.sub("", email.body)
    assert len(body.split()) <= 140, f"{name}: {len(body.split())} words"
    assert body.count("?") == 1, f"{name}: one clear ask, found {body.count('?')} questions"
    assert ctx["account"]["name"] in email.subject + body or ctx["contact"]["first_name"] in email.subject
    assert not _MONITORING.search(email.subject), email.subject
    assert not _HARD_SELL.search(body)
    assert " I " in body or body.startswith("I") or "I'" in body, "written as a person"


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("Slack", {}, "Slack"),
        ("Slack\nJira", {}, "Slack and Jira"),
        (["Slack", "Jira", "Asana"], {}, "Slack, Jira and Asana"),
        ("Slack\nJira", {"word": "or"}, "Slack or Jira"),
        ("Close in 3 days\nOne dashboard", {"quote": True}, "“Close in 3 days” and “One dashboard”"),
    ],
)
def test_join_and_reads_a_list_field_as_a_sentence(value: Any, kwargs: dict[str, Any], expected: str) -> None:
    assert filters.join_and(value, **kwargs) == expected


def test_as_list_takes_a_list_field_and_empty_is_no_items() -> None:
    assert filters.as_list("Cut churn\n\n Grow seats \n") == ["Cut churn", "Grow seats"]
    assert filters.as_list(None) == []
    with pytest.raises(filters.FilterError, match="join_and: the list is empty"):
        filters.join_and(None)
    with pytest.raises(filters.FilterError, match="as_list: expected text or a list"):
        filters.as_list(3)

"""The demo's events and the signals the event, contact and metric steps read.

NPS answers (the detractors who answered this week among them, and a few
promoters and passives, each from one of their own contacts), open support
tickets (a P1 where usage is falling fast, a few open for weeks), a champion
who left, a second usage metric, exports, that falls at a few accounts whose
people are still logging in, and automations, which a few adopting accounts
have not tried. Drawn from their own seeded ``random.Random`` after every
other row, so those rows stay as they were.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from csm.demo.cohorts import DEMO_TODAY, Cohort

Rows = list[dict[str, Any]]

EXPORT_DAYS = 60
_ANSWERED_THIS_WEEK = 4  # of the detractor cohort: the respondent gets the follow-up
_DEPARTED = 4  # steady accounts whose champion left this month
_EXPORTS_FALLING = 4  # steady accounts whose exports fell this month
_ESCALATION_TREND = -0.36  # falling at least this fast: an open P1 ticket too
_ANSWERED_LATELY = 5  # steady promoters, and as many passives, who answered this week
_LONG_OPEN = 5  # steady accounts with a ticket open for weeks
_NO_AUTOMATIONS = 6  # steady accounts with dashboards and no automation yet
AUTOMATION_WEEKS = 5  # automations is counted weekly over the last five weeks


@dataclass(frozen=True)
class Member:
    """One account as drawn: its cohort, row, contacts and the usage trend it was given."""

    cohort: Cohort
    account: dict[str, Any]
    people: Rows
    trend: float


def signals(rng: random.Random, members: list[Member]) -> tuple[Rows, Rows]:
    """Events and exports usage rows; departed champions get their ``left_at`` (in ``people``)."""
    events: Rows = []
    steady = [m for m in members if m.cohort.name == "steady"]
    quiet = [m for m in steady if m.account["open_tickets"] == 0 and m.account["nps"] is not None]
    lately = {
        m.account["id"]
        for scores in ((9, 10), (7, 8))
        for m in [m for m in quiet if m.account["nps"] in scores][:_ANSWERED_LATELY]
    }
    ticketed = [m for m in steady if m.account["open_tickets"]]
    long_open = {m.account["id"] for m in ticketed[:_LONG_OPEN]}
    for member in members:
        events.extend(_nps_answers(rng, member, lately=member.account["id"] in lately))
        events.extend(_tickets(rng, member, long_open=member.account["id"] in long_open))
    for member in steady[:_DEPARTED]:
        member.people[0]["left_at"] = _day(rng.randint(5, 30))  # people[0] is the champion
    falling = {m.account["id"] for m in steady[_DEPARTED : _DEPARTED + _EXPORTS_FALLING]}
    exports = [
        row
        for m in members
        if m.cohort.dss is None and m.cohort.status == "active"
        for row in _exports(rng, m, falling=m.account["id"] in falling)
    ]
    untried = {m.account["id"] for m in steady[-_NO_AUTOMATIONS:]}
    automations = [row for m in members for row in _automations(rng, m, tried=m.account["id"] not in untried)]
    return events, exports + automations


def _day(days_ago: int) -> str:
    return (DEMO_TODAY - dt.timedelta(days=days_ago)).isoformat()


def _moment(rng: random.Random, days_ago: int) -> str:
    return f"{_day(days_ago)}T{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:00"


def _nps_answers(rng: random.Random, member: Member, *, lately: bool) -> Rows:
    """The answer behind the account's NPS: this week for a few detractors, promoters and passives
    (``lately``), from a contact we may write to; the others' before the summer's runs or after them."""
    nps = member.account["nps"]
    if nps is None:
        return []
    detractors = member.cohort.name == "detractor"
    this_week = lately or (detractors and int(str(member.account["id"])[1:]) % 2 == 0)
    reachable = [p for p in member.people if not p["unsubscribed"]]
    respondent = reachable[-1] if this_week else member.people[0]
    days_ago = rng.randint(1, 2) if this_week else rng.randint(20, 150)
    if not this_week and days_ago >= 50:  # the summer's weekly runs would follow it up
        days_ago += 80
    return [
        {
            "id": f"nps-{member.account['id']}",
            "account_id": member.account["id"],
            "kind": "nps_response",
            "contact": respondent["email"],
            "occurred_at": _moment(rng, days_ago),
            "closed_at": None,
            "attributes": {"score": nps, **({"comment": _DETRACTOR_COMMENT} if detractors else {})},
        }
    ]


_DETRACTOR_COMMENT = "Exports keep timing out and support is slow to answer."


def _tickets(rng: random.Random, member: Member, *, long_open: bool) -> Rows:
    """One open ticket per the account's open_tickets, opened in the last two weeks; the first a P1
    where usage falls fast, or open for weeks (``long_open``)."""
    account = member.account
    escalated = member.cohort.name == "falling" and member.trend <= _ESCALATION_TREND
    rows = []
    for n in range(int(account["open_tickets"])):
        severity = "P1" if escalated and n == 0 else rng.choice(("P2", "P3", "P3"))
        rows.append(
            {
                "id": f"ticket-{account['id']}-{n + 1}",
                "account_id": account["id"],
                "kind": "ticket",
                "contact": member.people[-1]["email"],
                "occurred_at": _moment(rng, _ticket_age(rng, severity, long_open and n == 0)),
                "closed_at": None,
                "attributes": {"severity": severity, "subject": _SUBJECTS[severity]},
            }
        )
    return rows


def _ticket_age(rng: random.Random, severity: str, long_open: bool) -> int:
    if severity == "P1":
        return rng.randint(2, 6)
    days_ago = rng.randint(1, 13)
    return days_ago + 20 if long_open else days_ago


def _automations(rng: random.Random, member: Member, *, tried: bool) -> Rows:
    """Automations built so far, counted weekly: adopting accounts have some, unless not ``tried``."""
    if member.cohort.dss is not None or member.cohort.status != "active":
        return []
    count = rng.randint(1, 3) if tried else 0
    return [
        {"account_id": member.account["id"], "metric": "automations", "date": _day(7 * week), "value": count}
        for week in range(AUTOMATION_WEEKS - 1, -1, -1)
    ]


_SUBJECTS = {
    "P1": "Exports fail for the whole team",
    "P2": "Dashboard loads slowly",
    "P3": "Question about user roles",
}


def _exports(rng: random.Random, member: Member, *, falling: bool) -> Rows:
    """Exports a day over the last EXPORT_DAYS; falling: 45% fewer over the last 30."""
    level = max(2.0, int(member.account["seats_used"]) * 0.3)
    rows = []
    for days_ago in range(EXPORT_DAYS - 1, -1, -1):
        day = DEMO_TODAY - dt.timedelta(days=days_ago)
        shape = 0.55 if falling and days_ago < 30 else 1.0
        weekday = 1.0 if day.weekday() < 5 else 0.3
        value = int(level * shape * weekday * rng.uniform(0.9, 1.1) + rng.random())
        rows.append(
            {"account_id": member.account["id"], "metric": "exports", "date": day.isoformat(), "value": value}
        )
    return rows

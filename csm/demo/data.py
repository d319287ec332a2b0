"""The demo's rows: accounts, contacts, usage and timeline, drawn from the cohorts.

Everything comes from one seeded ``random.Random``: the same rows every time.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from csm.demo.cohorts import ACCOUNT_EXECUTIVES, COHORTS, DEMO_TODAY, OWNERS, PLANS, Cohort
from csm.demo.signals import Member, signals

Rows = list[dict[str, object]]

USAGE_DAYS = 180
_PLAN_WEIGHTS = (25, 35, 28, 12)
_SEATS = {"starter": (5, 12), "team": (10, 40), "business": (40, 150), "enterprise": (150, 800)}
_SEAT_PRICE = {"starter": 360, "team": 540, "business": 720, "enterprise": 600}

_NAME_HEADS = (  # noqa: SIM905 (a word list reads better as one string)
    "Northwind Bluefin Cedar Harbor Summit Quartz Ember Lumen Atlas Juniper Orchid Granite "
    "Silverline Redwood Brightwater Copper Falcon Meadow Pioneer Riverstone Sable Tidewater "
    "Everglade Kestrel Ironbark Lighthouse Maple Obsidian Pinecrest Saffron Starling Thistle "
    "Vantage Willow Aurora Beacon Cobalt Driftwood Evergreen Foxglove Halcyon Marigold"
).split()
_NAME_TAILS = (  # noqa: SIM905 (a word list reads better as one string)
    "Logistics Analytics Health Foods Robotics Capital Studios Labs Energy Freight Dental "
    "Insurance Manufacturing Media Retail Software Travel Legal Biotech Outdoor Realty "
    "Education Security Consulting Apparel"
).split()
_FIRST = (  # noqa: SIM905 (a word list reads better as one string)
    "Ava Ben Chloe Daniel Elena Farid Grace Hiro Isla Jonas Kara Leo Maya Nikhil Olivia Pablo "
    "Quinn Rosa Sven Tara Umar Vera Wes Ximena Yusuf Zoe Amara Bruno Carmen Dmitri Eshe Felix"
).split()
_LAST = (  # noqa: SIM905 (a word list reads better as one string)
    "Adams Bauer Chen Diaz Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Lopez Moreau "
    "Nakamura Osei Patel Rossi Schmidt Tanaka Ueda Varga Walsh Yilmaz Zhang Novak Silva"
).split()
_ROLES = (
    ("champion", ("Head of Operations", "Director of Customer Operations", "Product Lead")),
    ("economic_buyer", ("VP Finance", "COO", "Chief Revenue Officer")),
    ("admin", ("IT Administrator", "Systems Manager", "Platform Owner")),
    ("user", ("Analyst", "Team Lead", "Operations Specialist")),
    ("user", ("Analyst", "Account Manager", "Coordinator")),
)
_EMAIL_SUBJECTS = (
    "Quarterly business review notes",
    "Your new dashboards",
    "Invitation: admin training webinar",
    "Release notes and what they mean for your team",
    "Following up on our call",
)
# Why they bought, from the sales handoff: (goals, use case, success criteria), chosen by the
# account's number so the rows drawn at random stay as they were; every sixth has none on file.
_WHY = (
    (
        "Cut month-end close from 8 days to 3; Retire the regional reporting spreadsheets",
        "month-end reporting",
        "Close done in 3 working days by June",
    ),
    (
        "Give every store manager the same weekly numbers",
        "store performance reporting",
        "Every manager opens the Monday dashboard; Fewer than 5 report requests a week to the data team",
    ),
    (
        "Halve the time from order to invoice",
        "order-to-invoice tracking",
        "Invoices out within 2 days of delivery",
    ),
    (
        "Replace three tools with one; Onboard new hires in a week, not a month",
        "team operations",
        "One tool in use by every team by the renewal",
    ),
    ("Answer customer escalations the same day", "escalation handling", None),
)
# The integrations an account connected, in the order accounts connect them (the usage metric
# `integrations` counts them; the account field names them).
_INTEGRATIONS = ("Slack", "Salesforce", "Jira", "HubSpot", "Google Drive", "Zendesk")
_CALL_TOPICS = ("roadmap questions", "rollout plan", "reporting needs", "quarterly review")
_NOTES = (
    "Champion asked about SSO; sent the guide",
    "Support escalation resolved, customer happy",
    "Budget planning starts next quarter",
    "New team onboarding next month",
)


def generate(rng: random.Random) -> tuple[Rows, Rows, Rows, Rows, Rows]:
    """The demo's accounts, contacts, usage, timeline and event rows, in insertion order."""
    drawn = [(cohort, _OWNER_PATTERN[i % 4]) for cohort in COHORTS for i in range(cohort.count)]
    rng.shuffle(drawn)
    names = _company_names(rng, len(drawn))
    days = [DEMO_TODAY - dt.timedelta(days=t) for t in range(USAGE_DAYS)]
    iso_days = [d.isoformat() for d in days]
    weekday = [d.weekday() < 5 for d in days]
    accounts: Rows = []
    contacts: Rows = []
    usage: Rows = []
    timeline: Rows = []
    members: list[Member] = []
    for i, ((cohort, owner), name) in enumerate(zip(drawn, names, strict=True)):
        account, profile = _account(rng, cohort, f"A{1001 + i}", name, OWNERS[owner][0])
        accounts.append(account)
        people = _contacts(rng, account["id"], name)
        contacts.extend(people)
        usage.extend(_usage(rng, cohort, account, profile, iso_days, weekday))
        timeline.extend(_timeline(rng, cohort, account, profile, people))
        members.append(Member(cohort, account, people, profile.trend))
    # After every other draw, from a generator of its own: the rows above stay as they were.
    events, exports = signals(random.Random(rng.getrandbits(64)), members)
    return accounts, contacts, usage + exports, timeline, events


# Half of every cohort goes to "me", a quarter to each other CSM.
_OWNER_PATTERN = (0, 1, 0, 2)


@dataclass(frozen=True)
class _Profile:
    """What the usage and timeline generators need beyond the account row."""

    days_since_start: int
    days_active: int  # days the series ends before today (churned: since renewal)
    login_days: int
    level: float  # active users on the last day of use
    trend: float
    integrations: int


def _account(
    rng: random.Random, cohort: Cohort, account_id: str, name: str, owner: str
) -> tuple[dict[str, object], _Profile]:
    plan = rng.choices(cohort.plans, [_PLAN_WEIGHTS[PLANS.index(p)] for p in cohort.plans])[0]
    licensed = rng.randint(*_SEATS[plan])
    used = _seats_used(rng, licensed, cohort.util)
    if cohort.dss is not None:
        dss = rng.randint(*cohort.dss)
        start = DEMO_TODAY - dt.timedelta(days=dss)
        renewal = start.replace(year=start.year + 1)
    else:
        renewal = DEMO_TODAY + dt.timedelta(days=rng.randint(*cohort.dtr))
        # Annual terms; a first year that began under 100 days ago would be onboarding.
        years = rng.randint(1, 4)
        if (renewal - DEMO_TODAY).days > 260:
            years += 1
        start = renewal.replace(year=renewal.year - years)
        dss = (DEMO_TODAY - start).days
    ended = max(0, (DEMO_TODAY - renewal).days) if cohort.status == "churned" else 0
    login_days = min(dss, ended + rng.randint(*cohort.login))
    # Today's logins came before the 07:00 import: the demo is a CSM's Monday morning.
    hour = rng.randint(5, 6) if login_days == 0 else rng.randint(7, 18)
    login_at = dt.datetime.combine(
        DEMO_TODAY - dt.timedelta(days=login_days), dt.time(hour, rng.randint(0, 59))
    )
    nps = None
    if cohort.nps is not None and rng.random() >= cohort.nps_null:
        nps = rng.randint(*cohort.nps)
    account = {
        "id": account_id,
        "name": name,
        "owner": owner,
        "plan": plan,
        "arr": round(licensed * _SEAT_PRICE[plan] * rng.uniform(0.9, 1.1), -2),
        "seats_licensed": licensed,
        "seats_used": used,
        "start_date": start.isoformat(),
        "renewal_date": renewal.isoformat(),
        "status": cohort.status,
        "nps": nps,
        "open_tickets": rng.randint(*cohort.tickets),
        "last_login_at": login_at.isoformat(timespec="seconds") + "+00:00",
        # By the account number, not the generator: the other data stays as it was.
        "account_executive": ACCOUNT_EXECUTIVES[int(account_id[1:]) % 2] if plan in PLANS[2:] else None,
    }
    number = int(account_id[1:])
    why = _WHY[number % len(_WHY)] if number % 6 else (None, None, None)
    account["goals"], account["use_case"], account["success_criteria"] = why
    profile = _Profile(
        days_since_start=dss,
        days_active=ended,
        login_days=login_days,
        level=used * rng.uniform(*cohort.activity),
        trend=rng.uniform(*cohort.trend),
        integrations=rng.randint(*cohort.integrations),
    )
    account["integrations"] = "; ".join(_INTEGRATIONS[: profile.integrations]) or None
    return account, profile


def _seats_used(rng: random.Random, licensed: int, util: tuple[float, float]) -> int:
    """A seat count whose utilization falls inside ``util`` (clamped to 1..licensed)."""
    low = max(1, math.ceil(round(util[0] * licensed, 6)))
    high = min(licensed, int(util[1] * licensed))
    return rng.randint(low, max(low, high))


def _company_names(rng: random.Random, count: int) -> list[str]:
    pairs = [(h, t) for h in _NAME_HEADS for t in _NAME_TAILS]
    return [f"{h} {t}" for h, t in rng.sample(pairs, count)]


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _contacts(rng: random.Random, account_id: object, company: str) -> Rows:
    rows: Rows = []
    for n, (role, titles) in enumerate(_ROLES[: rng.randint(2, 5)]):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first}.{last}@{_slug(company)}.example".lower()
        if any(row["email"] == email for row in rows):
            email = email.replace("@", f"{n}@")
        rows.append(
            {
                "account_id": account_id,
                "email": email,
                "name": f"{first} {last}",
                "role": role,
                "title": rng.choice(titles),
                "is_primary": int(role == "champion"),
                "unsubscribed": int(role == "user" and rng.random() < 0.1),
            }
        )
    return rows


def _usage(
    rng: random.Random,
    cohort: Cohort,
    account: dict[str, object],
    profile: _Profile,
    iso_days: list[str],
    weekday: list[bool],
) -> Iterator[dict[str, object]]:
    """active_users (daily gauge), dashboards and integrations (cumulative) per day.

    Established accounts follow ``(1 + trend) ** (-t / 30)`` over their last
    60 days (flat before), so usage_change_30d lands on ``trend``; falling
    ones drop twice as fast over the last 30 days only (usage_change_30d near
    ``trend``, but none 30 days ago: their health fell this month); new accounts
    ramp up over their first 30 days; nobody is active after the last login.
    Counts round at random, so small accounts keep their trend on average.
    """
    first = profile.days_active
    last = min(USAGE_DAYS - 1, profile.days_since_start)
    if first > last:  # churned before the series begins
        return
    connect_days = [rng.randint(first, last) for _ in range(profile.integrations)]
    dashboards = rng.randint(1, 4)
    account_id = account["id"]
    # A few new accounts have built no dashboard yet (the nurture playbook's first guide).
    builds = not (
        cohort.name == "onboarding" and profile.days_since_start <= 50 and int(str(account_id)[1:]) % 3 == 0
    )
    dashboards *= builds
    for t in range(last, first - 1, -1):
        if cohort.dss is not None:
            shape = min(1.0, 0.3 + 0.7 * (profile.days_since_start - t) / 30)
        else:
            window = cohort.trend_days
            shape = (1 + profile.trend) ** (-min(t - first, window) * 2 / window)
        active = profile.level * shape * rng.uniform(0.92, 1.08) * (1 if weekday[t] else 0.35)
        if t < profile.login_days:
            active = 0
        elif weekday[t] and rng.random() < 0.04 * shape:
            dashboards += builds
        day = iso_days[t]
        connected = sum(1 for c in connect_days if c >= t)
        yield {
            "account_id": account_id,
            "metric": "active_users",
            "date": day,
            "value": int(active + rng.random()),
        }
        yield {"account_id": account_id, "metric": "dashboards", "date": day, "value": dashboards}
        yield {"account_id": account_id, "metric": "integrations", "date": day, "value": connected}


def _touch_summary(rng: random.Random, kind: str, champion: str) -> str:
    if kind == "email_sent":
        return "Sent: " + rng.choice(_EMAIL_SUBJECTS)
    if kind == "call":
        return f"Call with {champion}: {rng.choice(_CALL_TOPICS)}"
    return rng.choice(_NOTES)


def _timeline(
    rng: random.Random,
    cohort: Cohort,
    account: dict[str, object],
    profile: _Profile,
    people: Rows,
) -> Iterator[dict[str, object]]:
    """Past touches: a sales handoff note at the start, then emails, calls, notes."""
    dss = profile.days_since_start
    touches = {dss} if 0 < dss <= 365 else set()
    if dss > 14:
        latest = profile.days_active + rng.randint(*cohort.touch)
        if latest < dss:
            touches.add(latest)
            touches.update(rng.randint(latest + 1, min(dss, latest + 150)) for _ in range(3))
    champion = str(people[0]["name"]).split()[0]
    for days_ago in sorted(touches, reverse=True):
        when = dt.datetime.combine(
            DEMO_TODAY - dt.timedelta(days=days_ago),
            dt.time(rng.randint(8, 17), rng.choice((0, 15, 30, 45))),
        )
        if days_ago == dss:
            kind, summary = "note", "Handoff from sales: goals and success plan agreed"
        else:
            kind = rng.choice(("email_sent", "call", "note"))
            summary = _touch_summary(rng, kind, champion)
        yield {
            "account_id": account["id"],
            "at": when.isoformat(timespec="seconds") + "+00:00",
            "kind": kind,
            "touch": 1,
            "summary": summary,
            "ref": None,
        }

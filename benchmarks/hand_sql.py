"""The baseline for evaluating the built-in playbooks: one hand-written query per step.

Each query is what a careful engineer would write for that step's audience and
`when` (and `for`/`until`) straight against the schema, with the dates worked
out in Python first, and no csm code. ``params(today)`` gives the dates.
``queries("postgresql")`` gives the same queries in PostgreSQL's words (its JSON
operator, ``left`` for a timestamp's date, ``double precision``), ``%(name)s``
placeholders for psycopg.
"""

from __future__ import annotations

import datetime as dt
import re

_NOT_SNOOZED = "a.id NOT IN (SELECT account_id FROM snoozes WHERE until > :today)"
_UTIL = "CAST(a.seats_used AS REAL) / nullif(a.seats_licensed, 0)"
_LATEST = (
    "(SELECT u.value FROM usage u WHERE u.account_id = a.id AND u.metric = '{metric}'"
    " AND u.date <= :today ORDER BY u.date DESC LIMIT 1)"
)
_AVG = (
    "(SELECT avg(u.value) FROM usage u WHERE u.account_id = a.id AND u.metric = '{metric}'"
    " AND u.date > {after} AND u.date <= {upto})"
)


def _change(metric: str) -> str:
    now = _AVG.format(metric=metric, after=":d30", upto=":today")
    before = _AVG.format(metric=metric, after=":d60", upto=":d30")
    return f"({now} - {before}) / nullif({before}, 0)"


_CHANGE = _change("active_users")
_DETRACTOR_ANSWERED = (
    "EXISTS (SELECT 1 FROM events e WHERE e.account_id = a.id AND e.kind = 'nps_response'"
    " AND e.occurred_at >= :d2 AND e.occurred_at < :tomorrow AND json_extract(e.attributes, '$.score') <= 6)"
)
_OPEN_P1 = (
    "EXISTS (SELECT 1 FROM events e WHERE e.account_id = a.id AND e.kind = 'ticket'"
    " AND e.occurred_at < :tomorrow AND json_extract(e.attributes, '$.severity') = 'P1'"
    " AND (e.closed_at IS NULL OR e.closed_at >= :tomorrow))"
)
_CHAMPION_LEFT = (
    "EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = a.id AND c.role = 'champion'"
    " AND c.left_at BETWEEN :d90 AND :today)"
    " AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = a.id AND c.role = 'champion'"
    " AND c.left_at IS NULL)"
)
_SCORE = (
    "(SELECT h.{column} FROM health_history h WHERE h.account_id = a.id AND h.date <= {day}"
    " ORDER BY h.date DESC LIMIT 1)"
)
_LAST_TOUCH = (
    "coalesce((SELECT date(max(t.at)) FROM timeline t WHERE t.account_id = a.id AND t.touch = 1"
    " AND t.at < :tomorrow), a.start_date)"
)

_ADOPTION = "a.status = 'active' AND a.start_date < :d60"
_ESTABLISHED = "a.status = 'active' AND a.start_date <= :d90"
_EXPANSION = f"{_ESTABLISHED} AND a.open_tickets <= 2 AND (a.nps IS NULL OR a.nps >= 7)"
_ONBOARDING = "a.status = 'active' AND a.start_date BETWEEN :d90 AND :today"

STEPS: dict[str, tuple[str, str]] = {
    "adoption-milestones › roll-out-help": (_ADOPTION, f"{_UTIL} < 0.4"),
    "adoption-milestones › first-integration": (_ADOPTION, f"{_LATEST.format(metric='integrations')} = 0"),
    "adoption-milestones › milestone": (_ADOPTION, f"{_UTIL} >= 0.8 AND {_CHANGE} >= 0"),
    "at-risk › health-falling": (
        _ESTABLISHED,
        f"{_SCORE.format(column='score', day=':today')} - {_SCORE.format(column='score', day=':d30')}"
        " <= -15 AND (a.nps IS NULL OR a.nps > 6)",
    ),
    "at-risk › red-band": (
        _ESTABLISHED,
        " AND ".join(f"{_SCORE.format(column='band', day=day)} = 'red'" for day in (":today", ":d1", ":d2")),
    ),
    "at-risk › ticket-spike": (_ESTABLISHED, "a.open_tickets >= 5"),
    "at-risk › detractor-answered": (_ESTABLISHED, _DETRACTOR_ANSWERED),
    "at-risk › escalation": (_ESTABLISHED, f"{_CHANGE} <= -0.3 AND {_OPEN_P1}"),
    "at-risk › usage-drop": (_ESTABLISHED, f"({_CHANGE} <= -0.3 OR {_change('exports')} <= -0.3)"),
    "at-risk › champion-left": (_ESTABLISHED, _CHAMPION_LEFT),
    "at-risk › detractor": (_ESTABLISHED, f"a.nps <= 6 AND NOT {_DETRACTOR_ANSWERED}"),
    "expansion › seats-nearly-full": (_EXPANSION, f"{_UTIL} >= 0.9 AND a.nps >= 7"),
    "expansion › next-plan": (_EXPANSION, f"a.plan IN ('starter', 'team') AND {_CHANGE} >= 0.25"),
    "onboarding › welcome": (_ONBOARDING, "a.start_date >= :d14"),
    "onboarding › first-value": (
        _ONBOARDING,
        "a.start_date BETWEEN :d45 AND :d30"
        f" AND {_LATEST.format(metric='active_users')} < a.seats_licensed * 0.25",
    ),
    "onboarding › stalled": (
        _ONBOARDING,
        "a.start_date BETWEEN :d60 AND :d21 AND date(a.last_login_at) <= :d14",
    ),
    "renewal-ahead › heads-up": ("a.status = 'active'", "a.renewal_date BETWEEN :p91 AND :p120"),
    "renewal-ahead › check-in": ("a.status = 'active'", "a.renewal_date BETWEEN :p31 AND :p60"),
    "renewal-ahead › at-risk": (
        "a.status = 'active'",
        "a.renewal_date BETWEEN :today AND :p60"
        f" AND (a.nps <= 6 OR a.open_tickets >= 5 OR {_CHANGE} <= -0.2)",
    ),
    "silent-account › hello": (_ESTABLISHED, f"{_LAST_TOUCH} <= :d60"),
    "silent-account › call": (_ESTABLISHED, f"{_LAST_TOUCH} <= :d90"),
}


# SQLite's words, as PostgreSQL spells them: the JSON attribute (as a number where compared
# with one), the date of an ISO timestamp, the float type, a DATE column against text.
_POSTGRESQL = (
    (
        re.compile(r"json_extract\(e\.attributes, '\$\.score'\)"),
        "CAST(e.attributes::jsonb ->> 'score' AS numeric)",
    ),
    (re.compile(r"json_extract\(e\.attributes, '\$\.(\w+)'\)"), r"(e.attributes::jsonb ->> '\1')"),
    (re.compile(r"\bdate\(([^()]*(?:\([^()]*\))?)\)"), r"left(\1, 10)"),
    (re.compile(r"AS REAL\)"), "AS double precision)"),
    (
        re.compile(r"left_at BETWEEN :(\w+) AND :(\w+)"),
        r"left_at BETWEEN CAST(:\1 AS date) AND CAST(:\2 AS date)",
    ),
    (re.compile(r"(?<!:):(\w+)"), r"%(\1)s"),
)


def queries(dialect: str = "sqlite") -> list[str]:
    sqls = _queries()
    if dialect == "postgresql":
        for pattern, replacement in _POSTGRESQL:
            sqls = [pattern.sub(replacement, sql) for sql in sqls]
    return sqls


def _queries() -> list[str]:
    return [
        f"SELECT a.id, a.name, a.owner FROM accounts a WHERE {audience} AND {_NOT_SNOOZED} AND {when}"
        " ORDER BY a.id"
        for audience, when in STEPS.values()
    ]


def params(today: dt.date) -> dict[str, str]:
    days = {f"d{n}": today - dt.timedelta(days=n) for n in (1, 2, 14, 21, 30, 45, 60, 90)}
    days |= {f"p{n}": today + dt.timedelta(days=n) for n in (31, 60, 91, 120)}
    return {"today": today.isoformat(), "tomorrow": (today + dt.timedelta(days=1)).isoformat()} | {
        k: v.isoformat() for k, v in days.items()
    }

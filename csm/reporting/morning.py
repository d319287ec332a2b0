"""`csm today`: the morning list, most urgent first, every line with its why."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from csm.engine import tasks
from csm.health.score import DROP_POINTS, has_history
from csm.mail import outbox
from csm.mail.overlaps import also_to_same_person
from csm.runtime import Runtime

USAGE_DROP = -0.2  # without 30 days of health history: usage down 20% or more
REPLY_DAYS = 7  # replies of the last week: someone wrote back, so answer them first


@dataclass(frozen=True)
class Morning:
    today: str
    owner: str | None
    stale: list[dict[str, Any]]  # data past its [freshness] limit, first: it held steps back
    held_back: list[str]  # the steps that did not fire because of it
    replies: list[dict[str, Any]]
    drafts: list[dict[str, Any]]
    deferred: list[dict[str, Any]]  # drafts waiting for a contact's touch budget
    tasks: list[dict[str, Any]]
    renewals: list[dict[str, Any]]
    health_drops: list[dict[str, Any]]
    silent: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _accounts(
    rt: Runtime, fields: list[str], where: str, order: str, owner: str | None
) -> list[dict[str, Any]]:
    columns = ", ".join(f'({rt.fields.sql(name)}) AS "{name}"' for name in fields)
    params = dict(rt.params)
    # The owner first: SQLite tests AND terms in order, so the derived fields run for one book only.
    mine = ""
    if owner is not None:
        mine = " AND a.owner = :owner"
        params["owner"] = owner
    sql = (
        f"SELECT a.id AS account, a.name, a.owner, {columns} FROM accounts a"
        f" WHERE a.status = 'active'{mine} AND {where}"
    )
    return [dict(r) for r in rt.conn.execute(f"{sql} ORDER BY {order}", params)]


def morning(rt: Runtime, owner: str | None, held_back: list[str] | None = None) -> Morning:
    """The morning list for ``owner`` (None: everyone); ``held_back``: the steps stale data kept
    from firing in the run just before, if any."""
    return Morning(
        today=rt.today.isoformat(),
        owner=owner,
        stale=[s.as_json() | {"summary": str(s)} for s in rt.stale_list()],
        held_back=held_back or [],
        replies=_replies(rt, owner),
        drafts=_drafts(rt, owner),
        deferred=_deferred(rt, owner),
        tasks=_tasks(rt, owner),
        renewals=_renewals(rt, owner),
        health_drops=_health_drops(rt, owner),
        silent=_silent(rt, owner),
    )


def _listed(d: dict[str, Any]) -> dict[str, Any]:
    """What a listed draft shows first, wherever it waits."""
    return {
        "id": d["id"],
        "account": d["account_id"],
        "account_name": d["account_name"],
        "playbook": d["playbook"],
        "step": d["step"],
        "subject": d["subject"],
        "priority": d["priority"],
    }


def _deferred(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    """Drafts waiting for a contact's touch budget, and why (see csm.mail.budget)."""
    return [
        {**_listed(d), "reason": d["reason"]} for d in outbox.listing(rt.conn, status="deferred", owner=owner)
    ]


def _replies(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    """Replies of the last week (``csm inbox`` records them), newest first, with the email they answer."""
    today = dt.date.fromisoformat(rt.params["today"])  # the dates in Python: the same SQL on both backends
    params: dict[str, Any] = {
        "since": (today - dt.timedelta(days=REPLY_DAYS - 1)).isoformat(),
        "tomorrow": (today + dt.timedelta(days=1)).isoformat(),
    }
    mine = ""
    if owner is not None:
        mine = " AND a.owner = :owner"
        params["owner"] = owner
    rows = rt.conn.execute(
        'SELECT r.account_id AS account, a.name AS account_name, r.address AS "from", r.at, r.subject,'
        " r.draft_id AS draft, o.playbook, o.step FROM replies r JOIN accounts a ON a.id = r.account_id"
        " LEFT JOIN outbox o ON o.id = r.draft_id"
        f" WHERE r.at >= :since AND r.at < :tomorrow{mine}"
        " ORDER BY r.at DESC, r.account_id",
        params,
    )
    return [dict(row) for row in rows]


def _drafts(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    """Drafts waiting for review, each with the drafts to the same person it overlaps."""
    pending = outbox.listing(rt.conn, status="draft", owner=owner)
    overlaps = also_to_same_person(rt.conn, [d["id"] for d in pending])
    return [
        {
            **_listed(d),
            "edited": bool(d["edited"]),
            "why": d["why"],
            "also_to_same_person": overlaps[d["id"]],
        }
        for d in pending
    ]


def _tasks(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    """Open tasks due within a week: overdue, due today or upcoming."""
    today = rt.params["today"]
    return [
        {
            "id": t["id"],
            "account": t["account_id"],
            "account_name": t["account_name"],
            "title": t["title"],
            "type": t["type"],
            "assignee": t["assignee"],
            "due_date": t["due_date"],
            "state": _due_state(t["due_date"], today),
            "priority": t["priority"],
            "playbook": t["playbook"],
            "step": t["step"],
            "why": t["why"],
        }
        for t in tasks.open_tasks(rt.conn, rt.today, owner=owner, due_within_days=7)
    ]


def _due_state(due: str, today: str) -> str:
    return "overdue" if due < today else ("due" if due == today else "upcoming")


def _renewals(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    health = ["health"] if has_history(rt.conn, rt.today) else []
    return _accounts(
        rt,
        ["renewal_date", "days_to_renewal", "arr", *health, "days_since_touch"],
        f"({rt.fields.sql('days_to_renewal')}) BETWEEN 0 AND {int(rt.ws.settings.renewal_window_days)}",
        '"days_to_renewal", a.id',
        owner,
    )


def _health_drops(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    """Health down sharply in 30 days; with no health a month ago, usage down sharply instead."""
    if has_history(rt.conn, rt.today - dt.timedelta(days=30)):
        return _accounts(
            rt,
            ["health", "health_change_30d"],
            f"({rt.fields.sql('health_change_30d')}) <= {DROP_POINTS}",
            '"health_change_30d", a.id',
            owner,
        )
    return _accounts(
        rt,
        ["usage_30d", "usage_change_30d"],
        f"({rt.fields.sql('usage_change_30d')}) <= {USAGE_DROP}",
        '"usage_change_30d", a.id',
        owner,
    )


def _silent(rt: Runtime, owner: str | None) -> list[dict[str, Any]]:
    return _accounts(
        rt,
        ["days_since_touch", "last_touch_at", "arr"],
        f"({rt.fields.sql('days_since_touch')}) >= {int(rt.ws.settings.silent_after_days)}",
        '"days_since_touch" DESC, a.arr DESC, a.id',
        owner,
    )

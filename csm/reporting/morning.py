"""`csm today`: the morning list, most urgent first, every line with its why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from csm.engine import tasks
from csm.engine.recipients import also_to_same_person
from csm.health.score import DROP_POINTS, has_history
from csm.mail import outbox
from csm.runtime import Runtime

USAGE_DROP = -0.2  # without 30 days of health history: usage down 20% or more


@dataclass(frozen=True)
class Morning:
    today: str
    owner: str | None
    drafts: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    renewals: list[dict[str, Any]]
    health_drops: list[dict[str, Any]]
    silent: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today,
            "owner": self.owner,
            "drafts": self.drafts,
            "tasks": self.tasks,
            "renewals": self.renewals,
            "health_drops": self.health_drops,
            "silent": self.silent,
        }


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


def morning(rt: Runtime, owner: str | None) -> Morning:
    settings = rt.ws.settings
    month_ago = rt.today - dt.timedelta(days=30)
    has_health = has_history(rt.conn, rt.today)
    health_cols = ["health"] if has_health else []

    pending = outbox.listing(rt.conn, status="draft", owner=owner)
    overlaps = also_to_same_person(rt.conn, [d["id"] for d in pending])
    drafts = [
        {
            "id": d["id"],
            "account": d["account_id"],
            "account_name": d["account_name"],
            "playbook": d["playbook"],
            "step": d["step"],
            "subject": d["subject"],
            "priority": d["priority"],
            "edited": bool(d["edited"]),
            "why": d["why"],
            "also_to_same_person": overlaps[d["id"]],
        }
        for d in pending
    ]
    due = []
    for t in tasks.open_tasks(rt.conn, rt.today, owner=owner, due_within_days=7):
        state = (
            "overdue"
            if t["due_date"] < rt.params["today"]
            else ("due" if t["due_date"] == rt.params["today"] else "upcoming")
        )
        due.append(
            {
                "id": t["id"],
                "account": t["account_id"],
                "account_name": t["account_name"],
                "title": t["title"],
                "due_date": t["due_date"],
                "state": state,
                "priority": t["priority"],
                "playbook": t["playbook"],
                "step": t["step"],
                "why": t["why"],
            }
        )
    renewals = _accounts(
        rt,
        ["renewal_date", "days_to_renewal", "arr", *health_cols, "days_since_touch"],
        f"({rt.fields.sql('days_to_renewal')}) BETWEEN 0 AND {int(settings.renewal_window_days)}",
        '"days_to_renewal", a.id',
        owner,
    )
    if has_history(rt.conn, month_ago):
        drops = _accounts(
            rt,
            ["health", "health_change_30d"],
            f"({rt.fields.sql('health_change_30d')}) <= {DROP_POINTS}",
            '"health_change_30d", a.id',
            owner,
        )
    else:
        drops = _accounts(
            rt,
            ["usage_30d", "usage_change_30d"],
            f"({rt.fields.sql('usage_change_30d')}) <= {USAGE_DROP}",
            '"usage_change_30d", a.id',
            owner,
        )
    silent = _accounts(
        rt,
        ["days_since_touch", "last_touch_at", "arr"],
        f"({rt.fields.sql('days_since_touch')}) >= {int(settings.silent_after_days)}",
        '"days_since_touch" DESC, a.arr DESC, a.id',
        owner,
    )
    return Morning(rt.today.isoformat(), owner, drafts, due, renewals, drops, silent)

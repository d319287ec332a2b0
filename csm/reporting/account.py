"""`csm account ID`: one account, everything a CSM wants before a call."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from csm.data import timeline
from csm.engine import tasks
from csm.engine.matching import account_rows
from csm.errors import NotFound
from csm.mail import outbox
from csm.runtime import Runtime

TREND_DAYS = 90


@dataclass(frozen=True)
class AccountView:
    account: dict[str, Any]
    contacts: list[dict[str, Any]]
    trend_label: str
    trend: list[tuple[str, float]]
    tasks: list[dict[str, Any]]
    drafts: list[dict[str, Any]]
    snoozes: list[dict[str, Any]]
    timeline: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        fields = asdict(self)
        label, points = fields.pop("trend_label"), fields.pop("trend")
        trend = {"label": label, "points": [{"date": d, "value": v} for d, v in points]}
        return {
            "account": fields.pop("account"),
            "contacts": fields.pop("contacts"),
            "trend": trend,
            **fields,
        }


def account_view(rt: Runtime, account_id: str) -> AccountView:
    found = account_rows(rt.conn, rt.fields, rt.params, [account_id])
    if account_id not in found:
        raise NotFound(
            f"no account '{account_id}'", hint="Check the id in your import or `csm today --json`."
        )
    since = (rt.today - dt.timedelta(days=TREND_DAYS)).isoformat()
    health = rt.conn.execute(
        "SELECT date, score FROM health_history"
        " WHERE account_id = ? AND date > ? AND date <= ? ORDER BY date",
        (account_id, since, rt.params["today"]),
    ).fetchall()
    if health:
        label, trend = "health", [(r["date"], r["score"]) for r in health]
    else:
        rows = rt.conn.execute(
            "SELECT date, value FROM usage WHERE account_id = ? AND metric = ? AND date > ? AND date <= ?"
            " ORDER BY date",
            (account_id, rt.params["primary_metric"], since, rt.params["today"]),
        ).fetchall()
        label, trend = rt.params["primary_metric"], [(r["date"], r["value"]) for r in rows]
    contacts = [
        dict(r)
        for r in rt.conn.execute(
            "SELECT name, email, role, title, is_primary, unsubscribed FROM contacts WHERE account_id = ?"
            " ORDER BY is_primary DESC, role, name",
            (account_id,),
        )
    ]
    drafts = [
        d
        for d in outbox.listing(rt.conn, account_id=account_id)
        if d["status"] in ("draft", "approved", "unknown", "failed")
    ]
    return AccountView(
        account=found[account_id],
        contacts=contacts,
        trend_label=label,
        trend=trend,
        tasks=tasks.open_tasks(rt.conn, rt.today, account_id=account_id),
        drafts=drafts,
        snoozes=tasks.active_snoozes(rt.conn, rt.today, account_id),
        timeline=timeline.recent(rt.conn, account_id),
    )

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


@dataclass(frozen=True)
class History:
    """An account's last ``TREND_DAYS`` days: health and usage, and the days it was touched."""

    start: dt.date
    end: dt.date
    metric: str  # the usage metric shown (the workspace's primary one)
    health: list[tuple[str, float]]
    usage: list[tuple[str, float]]
    touches: list[tuple[str, str]]  # (day, "email sent" | "task done"), oldest first


def _health(rt: Runtime, account_id: str, since: dt.date) -> list[tuple[str, float]]:
    rows = rt.conn.execute(
        "SELECT date, score FROM health_history WHERE account_id = ? AND date > ? AND date <= ?"
        " ORDER BY date",
        (account_id, since.isoformat(), rt.params["today"]),
    )
    return [(r[0], r[1]) for r in rows]


def _usage(rt: Runtime, account_id: str, since: dt.date) -> list[tuple[str, float]]:
    """The workspace's primary usage metric."""
    rows = rt.conn.execute(
        "SELECT date, value FROM usage WHERE account_id = ? AND metric = ? AND date > ? AND date <= ?"
        " ORDER BY date",
        (account_id, rt.params["primary_metric"], since.isoformat(), rt.params["today"]),
    )
    return [(r[0], r[1]) for r in rows]


_TOUCHED = {"email_sent": "email sent", "task_done": "task done"}


def history(rt: Runtime, account_id: str, days: int = TREND_DAYS) -> History:
    """The account page's trend lines and the days an email was sent or a task done on them."""
    timeline.require_account(rt.conn, account_id)
    start = rt.today - dt.timedelta(days=days)
    span = (account_id, start.isoformat(), rt.params["today"])
    touches = rt.conn.execute(
        "SELECT DISTINCT date(at) AS day, kind FROM timeline WHERE account_id = ?"
        " AND kind IN ('email_sent', 'task_done') AND date(at) > ? AND date(at) <= ? ORDER BY day, kind",
        span,
    ).fetchall()
    return History(
        start,
        rt.today,
        rt.params["primary_metric"],
        _health(rt, account_id, start),
        _usage(rt, account_id, start),
        [(r["day"], _TOUCHED[r["kind"]]) for r in touches],
    )


def account_view(rt: Runtime, account_id: str) -> AccountView:
    found = account_rows(rt.conn, rt.fields, rt.params, [account_id])
    if account_id not in found:
        raise NotFound(
            f"no account '{account_id}'", hint="Check the id in your import or `csm today --json`."
        )
    since = rt.today - dt.timedelta(days=TREND_DAYS)
    health = _health(rt, account_id, since)
    label, trend = (
        ("health", health) if health else (rt.params["primary_metric"], _usage(rt, account_id, since))
    )
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
        if d["status"] in ("draft", "approved", "unknown", "failed", "deferred")
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

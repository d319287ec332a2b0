"""`csm report`: what each playbook did, and what happened to the accounts after.

Activity per step: accounts matched (and held out), drafts drafted, approved,
sent, skipped by reason and withdrawn, tasks made and done, and the reply rate:
the share of sent emails someone from the account answered (a reply in the
email's thread, or mail from the account after it and before csm's next email
to them, as ``csm inbox`` recorded them).

Outcomes per step, for two groups of the accounts it matched: *touched* (an
email of the step was sent or its task done; measured from that day) and *not
touched*, held out or not (measured from the day the step first matched them). For each: the
renewal rate among accounts with a renewal outcome after that day, and the
median health change 30, 60 and 90 days after it (only where that many days
have passed).

Holdouts, per playbook with held-out accounts: touched against held-out, the
renewal rate and health change 30 days on, the difference (the lift) with a
95% confidence interval. The held-out accounts were picked by hash, not by a
person, so they are the fair comparison; the touched ones were chosen by the
CSM, which can flatter the lift, and the report says so.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from csm.data.backend import dialect_of
from csm.language.dialect import SqlDialect

HORIZONS = (30, 60, 90)
Z95 = 1.959964


def _touches(d: SqlDialect) -> str:
    return f"""
SELECT playbook, step, account_id, min(day) AS day FROM (
    SELECT playbook, step, account_id, {d.date_of("sent_at")} AS day FROM outbox
    WHERE status = 'sent' AND sent_at IS NOT NULL
    UNION ALL
    SELECT playbook, step, account_id, {d.date_of("done_at")} FROM tasks
    WHERE status = 'done' AND playbook IS NOT NULL AND done_at IS NOT NULL
) AS t WHERE day >= :since GROUP BY playbook, step, account_id
"""


_SCORE_ON = (
    "(SELECT h.score FROM health_history h WHERE h.account_id = c.account_id"
    " AND h.date <= {day} AND h.date > {after} ORDER BY h.date DESC LIMIT 1)"
)


def _change_sql(days: int, d: SqlDialect) -> str:
    later = d.add_days("c.day", days)
    before = _SCORE_ON.format(day="c.day", after=d.add_days("c.day", -31))
    after = _SCORE_ON.format(day=later, after="c.day")
    return f"CASE WHEN {later} <= :today THEN {after} - {before} END AS change_{days}"


def _cohort(d: SqlDialect) -> str:
    """One row per matched account and step: its group, its day, its outcome and health changes."""
    return f"""
WITH touch AS ({_touches(d)}),
cohort AS (
    SELECT m.playbook, m.step, m.account_id, m.held_out,
           t.day IS NOT NULL AS touched, coalesce(t.day, m.first_matched) AS day
    FROM matches m LEFT JOIN touch t USING (playbook, step, account_id)
    WHERE m.last_matched >= :since
)
SELECT c.playbook, c.step, c.account_id, c.held_out, c.touched, c.day,
       (SELECT o.outcome FROM outcomes o WHERE o.account_id = c.account_id AND o.date > c.day
        ORDER BY o.date LIMIT 1) AS outcome,
       {", ".join(_change_sql(days, d) for days in HORIZONS)}
FROM cohort c ORDER BY c.playbook, c.step, c.account_id
"""


_ACTIVITY = """
SELECT playbook, step,
       sum(1 - held_out) AS matched, sum(held_out) AS held_out, 0 AS drafted, 0 AS approved,
       0 AS sent, 0 AS withdrawn, 0 AS tasks, 0 AS tasks_done
FROM matches WHERE last_matched >= :since GROUP BY playbook, step
UNION ALL
SELECT playbook, step, 0, 0, count(*),
       sum(CASE WHEN status IN ('approved', 'sending', 'sent', 'failed', 'unknown') THEN 1 ELSE 0 END),
       sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END),
       sum(CASE WHEN status = 'withdrawn' THEN 1 ELSE 0 END), 0, 0
FROM outbox WHERE created_at >= :since GROUP BY playbook, step
UNION ALL
SELECT playbook, step, 0, 0, 0, 0, 0, 0, count(*), sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END)
FROM tasks WHERE playbook IS NOT NULL AND created_at >= :since GROUP BY playbook, step
"""

_COUNTS = ("matched", "held_out", "drafted", "approved", "sent", "withdrawn", "tasks", "tasks_done")

_REPLIED = """
SELECT o.playbook, o.step, count(*) AS n FROM outbox o
WHERE o.status = 'sent' AND o.sent_at IS NOT NULL AND o.created_at >= :since AND EXISTS (
    SELECT 1 FROM replies r WHERE r.account_id = o.account_id AND (r.draft_id = o.id OR (
        r.draft_id IS NULL AND r.at >= o.sent_at AND NOT EXISTS (
            SELECT 1 FROM outbox n WHERE n.account_id = o.account_id AND n.status = 'sent'
            AND n.sent_at > o.sent_at AND n.sent_at <= r.at))))
GROUP BY o.playbook, o.step
"""

_SKIPPED = """
SELECT playbook, step, coalesce(nullif(trim(reason), ''), 'no reason given') AS reason, count(*) AS n
FROM outbox WHERE status = 'skipped' AND created_at >= :since
GROUP BY playbook, step, reason ORDER BY n DESC, reason
"""


@dataclass
class Rate:
    """A share with its count: renewed of those with an outcome."""

    hits: int = 0
    total: int = 0

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def as_json(self) -> dict[str, Any]:
        return {"renewed": self.hits, "with_outcome": self.total, "rate": _round(self.value, 4)}


@dataclass
class Group:
    """One group of accounts: touched, not touched, or held out."""

    accounts: int = 0
    renewal: Rate = field(default_factory=Rate)
    changes: dict[int, list[float]] = field(default_factory=lambda: {d: [] for d in HORIZONS})

    def add(self, row: sqlite3.Row) -> None:
        self.accounts += 1
        if row["outcome"] is not None:
            self.renewal.total += 1
            self.renewal.hits += row["outcome"] == "renewed"
        for days in HORIZONS:
            if row[f"change_{days}"] is not None:
                self.changes[days].append(float(row[f"change_{days}"]))

    def median_change(self, days: int) -> float | None:
        values = self.changes[days]
        return statistics.median(values) if values else None

    def as_json(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "renewal": self.renewal.as_json(),
            "median_health_change": {
                str(d): {"median": _round(self.median_change(d), 1), "accounts": len(self.changes[d])}
                for d in HORIZONS
            },
        }


@dataclass
class StepReport:
    playbook: str
    step: str
    matched: int = 0
    held_out: int = 0
    drafted: int = 0
    approved: int = 0
    sent: int = 0
    withdrawn: int = 0
    tasks: int = 0
    tasks_done: int = 0
    replied: int = 0  # sent emails someone from the account answered
    skipped: dict[str, int] = field(default_factory=dict)
    touched: Group = field(default_factory=Group)
    not_touched: Group = field(default_factory=Group)

    def as_json(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "step": self.step,
            "matched": self.matched,
            "held_out": self.held_out,
            "drafted": self.drafted,
            "approved": self.approved,
            "sent": self.sent,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": self.skipped,
            "withdrawn": self.withdrawn,
            "tasks": self.tasks,
            "tasks_done": self.tasks_done,
            "replied": self.replied,
            "reply_rate": _round(self.replied / self.sent, 4) if self.sent else None,
            "touched": self.touched.as_json(),
            "not_touched": self.not_touched.as_json(),
        }


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_json(self) -> dict[str, float]:
        return {"estimate": round(self.estimate, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


@dataclass
class Holdout:
    playbook: str
    touched: Group
    held_out: Group
    renewal_lift: Interval | None
    health_lift_30d: Interval | None  # difference of the mean 30-day health change, in points

    def as_json(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "touched": self.touched.as_json(),
            "held_out": self.held_out.as_json(),
            "renewal_lift": None if self.renewal_lift is None else self.renewal_lift.as_json(),
            "health_lift_30d": None if self.health_lift_30d is None else self.health_lift_30d.as_json(),
        }


@dataclass
class Report:
    today: dt.date
    since: dt.date | None
    steps: list[StepReport]
    holdouts: list[Holdout]

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "since": None if self.since is None else self.since.isoformat(),
            "steps": [s.as_json() for s in self.steps],
            "holdouts": [h.as_json() for h in self.holdouts],
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def wilson(hits: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    p = hits / total
    centre = p + Z95**2 / (2 * total)
    spread = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2))
    scale = 1 + Z95**2 / total
    return (centre - spread) / scale, (centre + spread) / scale


def rate_difference(a: Rate, b: Rate) -> Interval | None:
    """a - b with Newcombe's 95% interval (from two Wilson intervals; sound for small counts)."""
    if not a.total or not b.total:
        return None
    pa, pb = a.hits / a.total, b.hits / b.total
    (la, ua), (lb, ub) = wilson(a.hits, a.total), wilson(b.hits, b.total)
    d = pa - pb
    return Interval(d, d - math.hypot(pa - la, ub - pb), d + math.hypot(ua - pa, pb - lb))


def mean_difference(a: list[float], b: list[float]) -> Interval | None:
    """mean(a) - mean(b) with a normal 95% interval on Welch's standard error."""
    if len(a) < 2 or len(b) < 2:
        return None
    d = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return Interval(d, d - Z95 * se, d + Z95 * se)


def build(conn: sqlite3.Connection, today: dt.date, since: dt.date | None = None) -> Report:
    params = {"today": today.isoformat(), "since": "" if since is None else since.isoformat()}
    steps: dict[tuple[str, str], StepReport] = {}

    def step(playbook: str, step_id: str) -> StepReport:
        return steps.setdefault((playbook, step_id), StepReport(playbook, step_id))

    for row in conn.execute(_ACTIVITY, params):
        s = step(row["playbook"], row["step"])
        for name in _COUNTS:
            setattr(s, name, getattr(s, name) + (row[name] or 0))
    for row in conn.execute(_REPLIED, params):
        step(row["playbook"], row["step"]).replied = row["n"]
    for row in conn.execute(_SKIPPED, params):
        step(row["playbook"], row["step"]).skipped[row["reason"]] = row["n"]
    by_playbook: dict[str, dict[str, dict[str, sqlite3.Row]]] = defaultdict(lambda: defaultdict(dict))
    for row in conn.execute(_cohort(dialect_of(conn)), params):
        s = step(row["playbook"], row["step"])
        (s.touched if row["touched"] else s.not_touched).add(row)
        kind = "held_out" if row["held_out"] else "touched" if row["touched"] else None
        if kind is not None:
            # An account counts once per playbook: its earliest day over the steps.
            seen = by_playbook[row["playbook"]][kind]
            if row["account_id"] not in seen or row["day"] < seen[row["account_id"]]["day"]:
                seen[row["account_id"]] = row
    holdouts = [
        _holdout(playbook, groups.get("touched", {}).values(), groups["held_out"].values())
        for playbook, groups in sorted(by_playbook.items())
        if groups.get("held_out")
    ]
    return Report(today, since, sorted(steps.values(), key=lambda s: (s.playbook, s.step)), holdouts)


def _holdout(playbook: str, touched_rows: Iterable[sqlite3.Row], held_rows: Iterable[sqlite3.Row]) -> Holdout:
    touched, held = Group(), Group()
    for row in touched_rows:
        touched.add(row)
    for row in held_rows:
        held.add(row)
    return Holdout(
        playbook,
        touched,
        held,
        rate_difference(touched.renewal, held.renewal),
        mean_difference(touched.changes[30], held.changes[30]),
    )

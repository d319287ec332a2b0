"""Why a step whose conditions hold for an account would still not draft or add its task.

Each reason is one check in :data:`CHECKS`, a function of the :class:`Situation`
that returns the reasons it finds (none, usually). `csm explain` lists them all
and `csm test` asserts them (``suppressed:``); a suppression added to the run
adds its check here, so nothing it holds back is ever silent. Every check reads
what the run itself reads: the snoozes the step query excludes, the dedupe keys
drafting skips, the holdout's hash, the recipients drafting would choose.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from csm.engine.audience import shifted
from csm.engine.matching import dedupe_key, held_out, once_value, step_query, step_reads
from csm.engine.recipients import NO_RECIPIENT, account_contacts, choose, respondents
from csm.language.fields import FieldSet
from csm.language.playbooks import Playbook, Step


@dataclass(frozen=True)
class Reason:
    kind: str  # snoozed, until, for, holdout, once_per, no_recipient, unsubscribed, recipients, ...
    message: str
    blocking: bool = True  # False: it drafts, but the reviewer should know (a role nobody holds)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Situation:
    """One account and one step whose audience and `when` hold today."""

    conn: sqlite3.Connection
    playbook: Playbook
    step: Step
    account_id: str
    account_name: str
    fields: FieldSet
    params: dict[str, Any]
    today: dt.date
    stale: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # see csm.data.freshness.stale_data

    def value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """One SQL expression over the account's row."""
        row = self.conn.execute(
            f"SELECT ({sql}) FROM accounts a WHERE a.id = :account_id",
            {**self.params, **(params or {}), "account_id": self.account_id},
        ).fetchone()
        return row[0]


def snoozed(s: Situation) -> Iterator[Reason]:
    rows = s.conn.execute(
        "SELECT until, reason, playbook, created_at FROM snoozes WHERE account_id = ?"
        " AND (playbook IS NULL OR playbook = ?) AND until > ? ORDER BY until DESC",
        (s.account_id, s.playbook.id, s.today.isoformat()),
    )
    for until, why, playbook, created in rows:
        what = f"playbook {playbook}" if playbook else "all playbooks"
        yield Reason(
            "snoozed",
            f"snoozed ({what}) until {until}: {why}",
            details={"until": until, "reason": why, "playbook": playbook, "since": created},
        )


def until_met(s: Situation) -> Iterator[Reason]:
    until = s.step.until
    if until is not None and s.value(f"coalesce(({until.sql}), FALSE)", until.params):
        yield Reason("until", f"its exit holds (until: {until.source}): it does not enter")


def held_for(s: Situation) -> Iterator[Reason]:
    """`for: Nd`: on how many of the last N days `when` held, counting back from today."""
    days = s.step.for_days
    if days <= 1:
        return
    held = 0
    while held < days and s.value(
        f"coalesce(({shifted(s.step.when.sql, held, s.fields)}), FALSE)", s.step.when.params
    ):
        held += 1
    if held < days:
        yield Reason(
            "for",
            f"for: {days}d not yet held: {held} of {days} days in a row",
            details={"held_days": held, "for_days": days},
        )


def holdout(s: Situation) -> Iterator[Reason]:
    share = s.playbook.holdout
    if share and held_out(s.playbook.id, s.account_id, share):
        yield Reason(
            "holdout",
            f"held out: one of the {share:.0%} of {s.playbook.id}'s accounts set aside to measure it"
            " (matched and counted, never drafted)",
        )


def once_done(s: Situation) -> Iterator[Reason]:
    """The step's draft or task for this once_per value exists already (in any state)."""
    once = once_value(s.conn, s.step, s.fields, s.params, s.today, s.account_id)
    key = dedupe_key(s.playbook.id, s.step.id, s.account_id, once)
    per = f"once_per {s.step.once_per}" if s.step.once_per else "once ever"
    if s.step.email:
        for row in s.conn.execute(
            "SELECT id, status, created_at FROM outbox WHERE dedupe_key IN (?, ?) ORDER BY id",
            (key, key + NO_RECIPIENT),
        ):
            yield Reason(
                "once_per",
                f"already drafted ({per} = {once}): draft #{row[0]}, {row[1]}, on {row[2][:10]}",
                details={"draft": row[0], "status": row[1], "at": row[2], "once_value": once},
            )
    if s.step.task:
        for row in s.conn.execute("SELECT id, status, created_at FROM tasks WHERE dedupe_key = ?", (key,)):
            yield Reason(
                "once_per",
                f"task already added ({per} = {once}): task #{row[0]}, {row[1]}, on {row[2][:10]}",
                details={"task": row[0], "status": row[1], "at": row[2], "once_value": once},
            )


def recipients(s: Situation) -> Iterator[Reason]:
    """Who the email would go to: nobody (unsubscribed, or no contact holds the role), or not every role."""
    email = s.step.email
    if email is None:
        return
    contacts = account_contacts(s.conn, [s.account_id]).get(s.account_id, [])
    respondent = respondents(s.conn, s.step, s.params, [s.account_id]).get(s.account_id)
    choice = choose(contacts, email.to, email.fallback, respondent)
    if not choice.people:
        kind = "unsubscribed" if choice.unsubscribed else "no_recipient"
        yield Reason(
            kind,
            f"not drafted: {choice.reason(s.account_name)} (a task instead)",
            details={"missing": list(choice.missing), "unsubscribed": list(choice.unsubscribed)},
        )
    elif note := choice.note(s.account_name):
        yield Reason("recipients", note, blocking=False, details={"to": [p.email for p in choice.people]})


def stale_data(s: Situation) -> Iterator[Reason]:
    """The step reads a kind of data past its [freshness] limit: the run does not evaluate it."""
    for kind in sorted(step_reads(s.playbook, s.step)):
        for stale in s.stale.get(kind, ()):
            yield Reason("stale", f"held back: it reads stale data ({stale})", details={"data": str(stale)})


def cooling_down(s: Situation) -> Iterator[Reason]:
    """`cooldown:`: the step fired for the account lately; the run's own query (firing) keeps it out."""
    if not s.step.cooldown_days:
        return

    def matches(firing: bool) -> bool:
        sql, params = step_query(
            s.playbook, s.step, s.fields, s.today, account_id=s.account_id, firing=firing
        )
        return s.conn.execute(sql, {**s.params, **params}).fetchone() is not None

    if matches(firing=False) and not matches(firing=True):
        yield Reason(
            "cooldown",
            f"cooling down: it fired for this account within {s.step.cooldown_days} days",
            details={"cooldown_days": s.step.cooldown_days},
        )


def deferred(s: Situation) -> Iterator[Reason]:
    """The step's draft waits for a contact's touch budget (see csm.mail.budget)."""
    for draft_id, why in s.conn.execute(
        "SELECT id, reason FROM outbox WHERE playbook = ? AND step = ? AND account_id = ?"
        " AND status = 'deferred' ORDER BY id",
        (s.playbook.id, s.step.id, s.account_id),
    ):
        yield Reason("deferred", f"draft #{draft_id} deferred: {why}", details={"draft": draft_id})


Check = Callable[[Situation], Iterator[Reason]]

# In the order a person reads them: what keeps the account out, then what stops the draft.
CHECKS: tuple[Check, ...] = (
    stale_data,
    snoozed,
    until_met,
    held_for,
    holdout,
    cooling_down,
    once_done,
    deferred,
    recipients,
)
KINDS = (
    "snoozed",
    "until",
    "for",
    "holdout",
    "once_per",
    "no_recipient",
    "unsubscribed",
    "recipients",
    "stale",
    "cooldown",
    "deferred",
)


def found(situation: Situation) -> Iterator[Reason]:
    """Every reason, from every check."""
    for check in CHECKS:
        yield from check(situation)

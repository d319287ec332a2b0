"""Sequences: a step that follows another once its email went out and nobody answered.

A follow-up step (``after``/``wait``/``unless`` in the playbook, see
:mod:`csm.language.followups`) matches an account when the latest email of the
step it follows was sent (per the outbox), ``wait`` days have passed since, in
the workspace's timezone (business days skip weekends and the ``holidays`` of
csm.toml), and, with ``unless: replied``, no reply from the account came in
since it went out. It stays due for :data:`LATE_DAYS` more days, then lapses.
All of that is SQL inside the step's one query
(:func:`csm.engine.matching.step_query`); the calendar arithmetic is a plain
SQL expression (:func:`business_days_sql`); ``:holidays`` (a JSON list of ISO
dates) and ``:timezone`` come with every evaluation's parameters
(:func:`csm.runtime.sql_params`).

A follow-up fires once per email it follows: its once value carries that
draft's id. A reply withdraws the account's pending follow-up drafts and closes
their tasks (:func:`withdraw_on_reply`, called by ``csm inbox``).
:func:`position` says where an account stands in each sequence, for
``csm explain``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from csm.engine import tasks
from csm.language.dialect import SqlDialect
from csm.language.playbooks import Playbook, Step
from csm.mail import outbox

# The latest sent email of the step followed, per account, with its day in the workspace's timezone.
_PRIOR = (
    " JOIN (SELECT latest.account_id, latest.draft_id, latest.sent_at,"
    " local_date(latest.sent_at, :timezone) AS sent_on FROM"
    " (SELECT o.account_id, o.id AS draft_id, o.sent_at, row_number() OVER"
    " (PARTITION BY o.account_id ORDER BY o.sent_at DESC, o.id DESC) AS newest FROM outbox o"
    " WHERE o.playbook = :playbook_id AND o.step = :{key} AND o.status = 'sent' AND o.sent_at IS NOT NULL)"
    " AS latest WHERE latest.newest = 1) p ON p.account_id = a.id"
)
# A follow-up is due from the end of its wait for this many more (business) days, then lapses:
# a step added to an old workspace does not bring back calls about last year's emails.
LATE_DAYS = 20
# A reply in the email's own thread counts whatever its clock said; other mail from the account
# counts when it came after the email went out.
_REPLIED = (
    "EXISTS (SELECT 1 FROM replies r WHERE r.account_id = a.id"
    " AND (r.draft_id = p.draft_id OR r.at >= p.sent_at))"
)


def business_days_sql(d: SqlDialect, start: str, end: str) -> str:
    """SQL for the business days in (start, end]: weekdays, less the weekday ``:holidays``.

    ``start`` and ``end`` are SQL for ISO dates. Whole weeks give 5 each; the
    days left over are counted from a table-free closed form: with ``w`` the
    weekday of ``start`` (Monday 0) and g(x) the weekdays among the first x days
    of a week starting Monday (5·(x/7) + min(x%7, 5)), the leftover r days hold
    g(w + r + 1) - g(w + 1) weekdays. Negative when ``end`` is before ``start``.
    """
    days = d.days_between(end, start)
    weekday = d.weekday(start)

    def g(x: str) -> str:
        return f"(5 * (({x}) / 7) + {d.least(f'({x}) % 7', '5')})"

    left = f"(({days}) % 7)"
    weekdays = f"(5 * (({days}) / 7) + {g(f'{weekday} + {left} + 1')} - {g(f'{weekday} + 1')})"
    off = (
        f"(SELECT count(*) FROM {d.json_texts(':holidays', 'h')}"
        f" WHERE h.value > {start} AND h.value <= {end} AND {d.weekday('h.value')} < 5)"
    )
    return f"({weekdays} - {off})"


def elapsed_sql(d: SqlDialect, step: Step, start: str, end: str) -> str:
    """SQL for the days of the step's wait that have passed from ``start`` to ``end``."""
    assert step.follow is not None
    if step.follow.business:
        return business_days_sql(d, start, end)
    return d.days_between(end, start)


def query_parts(d: SqlDialect, step: Step) -> tuple[str, list[str], dict[str, Any], str]:
    """What a follow-up adds to its step's query: (a JOIN, WHERE terms, params, the once-value suffix)."""
    assert step.follow is not None
    key = "follow_after"
    wait = int(step.follow.wait_days)
    where = [f"{elapsed_sql(d, step, 'p.sent_on', ':today')} BETWEEN {wait} AND {wait + LATE_DAYS}"]
    if step.follow.unless_replied:
        where.append(f"NOT {_REPLIED}")
    return _PRIOR.format(key=key), where, {key: step.follow.after}, " || '@' || p.draft_id"


def why(step: Step, sent_on: str) -> str:
    """What a follow-up's match says: ``heads-up sent 2026-11-16, no reply``."""
    assert step.follow is not None
    return f"{step.follow.after} sent {sent_on}" + (", no reply" if step.follow.unless_replied else "")


def add_business_days(start: dt.date, count: int, holidays: Sequence[dt.date]) -> dt.date:
    """The day ``count`` business days after ``start`` (the Python twin of :func:`business_days_sql`,
    for saying when a wait ends; the match itself is decided in SQL)."""
    day, off = start, set(holidays)
    while count > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            count -= 1
    return day


def withdraw_on_reply(
    conn: sqlite3.Connection, playbooks: Iterable[Playbook], account_id: str, reason: str, now: str
) -> list[tuple[str, str, int, int]]:
    """A reply stops the account's follow-ups that wait for silence: their unsent drafts are
    withdrawn and their open tasks closed, saying why (caller's transaction).

    Returns (playbook, step, drafts withdrawn, tasks closed) for each step that had any.
    """
    stopped = []
    for playbook in playbooks:
        for step in playbook.steps:
            if step.follow is None or not step.follow.unless_replied:
                continue
            withdrawn = outbox.withdraw(conn, playbook.id, step.id, account_id, now, reason=reason)
            closed = tasks.close_step(conn, playbook.id, step.id, account_id, now, note=reason)
            if withdrawn or closed:
                stopped.append((playbook.id, step.id, withdrawn, closed))
    return stopped


@dataclass(frozen=True)
class Position:
    """Where one account stands at one follow-up step of a sequence."""

    playbook: str
    step: str
    after: str
    state: str  # not-started | waiting | replied | due | lapsed | done
    detail: str  # one line a CSM reads
    sent_at: str | None = None  # when the email followed went out
    wait_ends: str | None = None  # the first day the follow-up may fire
    replied_at: str | None = None
    follow_up: str | None = None  # "draft #12 (withdrawn)", "task #3 (open)"

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def position(
    conn: sqlite3.Connection,
    playbook: Playbook,
    account_id: str,
    today: dt.date,
    *,
    timezone: str,
    holidays: Sequence[dt.date] = (),
) -> list[Position]:
    """Where ``account_id`` is in each sequence of ``playbook``: one :class:`Position` per follow-up step.

    The core of ``csm explain``'s sequence lines. It reads what the outbox,
    the replies and the task list hold; whether the step matches today (its
    `when:`, the audience, snoozes) is for the step's query to say.
    """
    return [
        _position(conn, playbook, step, account_id, today, timezone, holidays)
        for step in playbook.steps
        if step.follow is not None
    ]


def _position(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    account_id: str,
    today: dt.date,
    timezone: str,
    holidays: Sequence[dt.date],
) -> Position:
    follow = step.follow
    assert follow is not None
    base = {"playbook": playbook.id, "step": step.id, "after": follow.after}
    prior = conn.execute(
        "SELECT id, sent_at, local_date(sent_at, ?) AS sent_on FROM outbox WHERE playbook = ? AND step = ?"
        " AND account_id = ? AND status = 'sent' AND sent_at IS NOT NULL ORDER BY sent_at DESC LIMIT 1",
        (timezone, playbook.id, follow.after, account_id),
    ).fetchone()
    if prior is None:
        return Position(**base, state="not-started", detail=f"no email of '{follow.after}' sent yet")
    sent_on = dt.date.fromisoformat(prior["sent_on"])

    def after(days: int) -> dt.date:
        return add_business_days(sent_on, days, holidays) if follow.business else sent_on + dt.timedelta(days)

    ends = after(follow.wait_days)
    sent = {**base, "sent_at": prior["sent_at"], "wait_ends": ends.isoformat()}
    made = _follow_up(conn, playbook.id, step.id, account_id, prior["id"])
    reply = conn.execute(
        "SELECT at, address FROM replies WHERE account_id = ? AND (draft_id = ? OR at >= ?)"
        " ORDER BY at LIMIT 1",
        (account_id, prior["id"], prior["sent_at"]),
    ).fetchone()
    if reply is not None and follow.unless_replied:
        detail = f"{reply['address']} replied {reply['at'][:10]}: no follow-up"
        return Position(**sent, state="replied", detail=detail, replied_at=reply["at"], follow_up=made)
    if made is not None:
        return Position(**sent, state="done", detail=f"followed up: {made}", follow_up=made)
    if today < ends:
        detail = f"'{follow.after}' sent {sent_on}; waiting {follow.wait_text}, until {ends}"
        return Position(**sent, state="waiting", detail=detail)
    if today > after(follow.wait_days + LATE_DAYS):
        return Position(
            **sent, state="lapsed", detail=f"no reply to '{follow.after}' of {sent_on}; too late now"
        )
    return Position(**sent, state="due", detail=f"no reply {follow.wait_text} after {sent_on}: follow-up due")


def _follow_up(
    conn: sqlite3.Connection, playbook: str, step: str, account_id: str, prior_id: int
) -> str | None:
    """The draft or task this follow-up made for the email ``prior_id``, as a person reads it."""
    pattern = f"{playbook}:{step}:{account_id}:%@{prior_id}"
    for table, noun in (("outbox", "draft"), ("tasks", "task")):
        row = conn.execute(
            f"SELECT id, status FROM {table} WHERE dedupe_key LIKE ? ORDER BY id LIMIT 1", (pattern,)
        ).fetchone()
        if row is not None:
            return f"{noun} #{row['id']} ({row['status']})"
    return None

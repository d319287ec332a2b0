"""`csm backtest`: what the playbooks as they stand would have done on each past day, against what was done.

Each day of the range is evaluated by the run's own engine
(:func:`csm.engine.matching.evaluate`) on that day's values:
:class:`csm.data.history.Shadow` puts the accounts and contacts as they stood
then (and the snoozes and suppressions that existed then) in TEMP tables, and
usage, health snapshots and the timeline are read as of the day, as every
derived field already does. What a run would have added follows the run's
dedupe rule: a step's draft or task is new unless its key was in the outbox or
the task list by then, really or earlier in the backtest. Nothing is written
to the workspace: the TEMP tables live and die with the connection's temporary
store.

The freshness gate applies as the loads stood by each day's end, and the
usage rollup (the usage windows, the latest values and windows of the metrics the
playbooks read, the last touch) is rolled forward a day at a time
(:class:`csm.data.rollup.Rolling`).
The touch budget is the run's own (:func:`csm.mail.budget.plan`), judged on the
mail of the backtest's world (:class:`_Budget`): a draft without room waits,
deferred, and is drafted on the first later day its contacts have room.

What a backtest cannot see: values before the oldest import that changed them
(the oldest values kept stand in), edits made outside imports (`csm outcome`,
`csm unsubscribe` are dated, a hand edit of the database is not), a health
snapshot on a day nobody took one (the latest before it counts), and `for:`
judged on earlier days with the day's own account values.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from csm.data.backend import dialect_of
from csm.data.freshness import Stale
from csm.data.history import Shadow, first_change
from csm.data.rollup import Rolling
from csm.engine.drafting import budget_text
from csm.engine.incremental import parts_read
from csm.engine.matching import Match, StepResult, dedupe_key, held_out, stale_reads, step_rows
from csm.engine.recipients import NO_RECIPIENT, addressing
from csm.errors import InputError
from csm.language.fields import FieldSet
from csm.language.playbooks import Playbook
from csm.mail import budget
from csm.mail.overlaps import addresses
from csm.workspace import TouchBudget

MAX_DAYS = 400


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Week:
    week: str
    matched: set[str] = field(default_factory=set)  # accounts matched on some day of the week
    drafts: int = 0  # new drafts a run would have added (or drafted again, once the touch budget had room)
    deferred: int = 0  # new drafts the touch budget deferred
    tasks: int = 0
    unaddressed: int = 0  # emails nobody could have received (a task instead)
    stale_days: int = 0  # days the step was held back: data it reads was stale then (csm.toml's [freshness])
    real_drafts: int = 0
    real_sent: int = 0
    real_tasks: int = 0
    real_done: int = 0


@dataclass
class StepBacktest:
    playbook: str
    step: str
    title: str
    weeks: dict[str, Week] = field(default_factory=dict)
    first_matched: dict[str, dt.date] = field(default_factory=dict)  # account -> first day it matched
    acted: set[str] = field(default_factory=set)  # accounts given a draft or task in the backtest
    held_out: set[str] = field(default_factory=set)
    real: set[str] = field(default_factory=set)  # accounts really given a draft or task in the range
    outcomes: dict[str, int] = field(default_factory=dict)  # renewed / churned, after the first match

    def week(self, name: str) -> Week:
        return self.weeks.setdefault(name, Week(name))


@dataclass(frozen=True)
class Backtest:
    start: dt.date
    end: dt.date
    steps: tuple[StepBacktest, ...]
    history_from: str | None  # the oldest change recorded: before it, the oldest values kept stand in


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise InputError(f"--to {end} is before --from {start}", hint="Give the earlier date to --from.")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InputError(f"{days} days is too long a backtest (at most {MAX_DAYS})", hint="Split the range.")
    return [start + dt.timedelta(days=n) for n in range(days)]


def backtest(
    conn: sqlite3.Connection,
    playbooks: list[Playbook],
    fields: FieldSet,
    params_for: Callable[[dt.date], dict[str, Any]],
    start: dt.date,
    end: dt.date,
    on_day: Callable[[dt.date], None] | None = None,
    stale_on: Callable[[dt.date], Mapping[str, Sequence[Stale]]] | None = None,
    touch_budget: TouchBudget | None = None,
) -> Backtest:
    """Evaluate each day from ``start`` to ``end`` (inclusive) as it stood; set it beside what was done.

    ``stale_on``: the kinds of data stale on a day, by the loads made by then; a
    step reading one is held back that day, as a run holds it back. ``touch_budget``:
    csm.toml's (the default one when None).
    """
    days = day_range(start, end)
    steps = {(p.id, s.id): StepBacktest(p.id, s.id, s.title) for p in playbooks for s in p.steps}
    # One transaction, rolled back: one picture of the workspace for the whole range, and the
    # TEMP tables' many small writes in it rather than one commit each.
    conn.execute("BEGIN")
    try:
        keys = _RealKeys(conn, {p.id for p in playbooks})
        shadow = Shadow(conn, start)
        rolling = Rolling(conn, start, end, params_for(start)["primary_metric"], parts_read(playbooks))
        mail = _Budget(conn, touch_budget or TouchBudget(), end)
        for day in days:
            shadow.move_to(day)
            rolling.move_to(day)
            stale = stale_on(day) if stale_on is not None else {}
            _day(conn, playbooks, fields, params_for(day), day, steps, keys, stale, mail)
            if on_day is not None:
                on_day(day)
        _real_activity(conn, steps, start, end)
        _outcomes(conn, steps.values())
        history_from = first_change(conn)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return Backtest(start, end, tuple(steps.values()), history_from)


class _RealKeys:
    """The dedupe keys in the outbox and task list, as they stood on each day, plus the backtest's own."""

    def __init__(self, conn: sqlite3.Connection, playbook_ids: set[str]) -> None:
        self.pending: list[tuple[str, str, str]] = []  # (day made, table, key), oldest first
        for table in ("outbox", "tasks"):
            for playbook in sorted(playbook_ids):
                rows = conn.execute(
                    f"SELECT date(created_at), dedupe_key FROM {table} WHERE playbook = ?", (playbook,)
                )
                self.pending.extend((made, table, key.removesuffix(NO_RECIPIENT)) for made, key in rows)
        self.pending.sort(reverse=True)
        self.have: dict[str, set[str]] = {"outbox": set(), "tasks": set()}

    def on(self, day: dt.date) -> dict[str, set[str]]:
        """The keys made before ``day`` (a run on the day itself is what the backtest replays)."""
        while self.pending and self.pending[-1][0] < day.isoformat():
            _made, table, key = self.pending.pop()
            self.have[table].add(key)
        return self.have


def _day(
    conn: sqlite3.Connection,
    playbooks: list[Playbook],
    fields: FieldSet,
    params: dict[str, Any],
    day: dt.date,
    steps: dict[tuple[str, str], StepBacktest],
    real: _RealKeys,
    stale: Mapping[str, Sequence[Stale]],
    mail: _Budget,
) -> None:
    """One day: each step's query (the run's), its matches counted per week, and what a run would add.

    The rows stay plain tuples: a backtest of 90 days sees millions of them.
    """
    have = real.on(day)
    week_name = week_of(day)
    new_emails = []
    for playbook in playbooks:
        for spec in playbook.steps:
            step = steps[playbook.id, spec.id]
            week = step.week(week_name)
            if stale_reads(playbook, spec, stale):
                week.stale_days += 1
                continue
            rows = step_rows(conn, playbook, spec, fields, params, day).fetchall()
            held: set[str] = set()
            if playbook.holdout:
                held = {r[0] for r in rows if held_out(playbook.id, r[0], playbook.holdout)}
                rows = [r for r in rows if r[0] not in held]
            touched = {dedupe_key(playbook.id, spec.id, r[0], r[3]): r for r in rows}  # key -> row
            ids = {r[0] for r in rows} | held
            week.matched |= ids
            step.first_matched.update(dict.fromkeys(ids - step.first_matched.keys(), day))
            step.held_out |= held
            if spec.task:
                tasks = touched.keys() - have["tasks"]
                have["tasks"] |= tasks
                week.tasks += len(tasks)
                step.acted.update(touched[key][0] for key in tasks)
            if spec.email:
                emails = touched.keys() - have["outbox"]
                have["outbox"] |= emails
                if emails:
                    matches = tuple(Match(*touched[k][:3], {}, str(touched[k][3])) for k in sorted(emails))
                    new_emails.append(StepResult(playbook, spec, matches))
    _address(conn, new_emails, params, day, steps, mail)
    for step, deferred in mail.settle(day):
        week = step.week(week_name)
        if deferred:
            week.deferred += 1
        else:
            week.drafts += 1


def _address(
    conn: sqlite3.Connection,
    results: list[StepResult],
    params: dict[str, Any],
    day: dt.date,
    steps: dict[tuple[str, str], StepBacktest],
    mail: _Budget,
) -> None:
    """New emails: drafts for the touch budget to judge, or nobody to write to then (a skipped row
    and a task, as a run does)."""
    chosen = addressing(conn, results, params)
    for result in results:
        step = steps[result.playbook.id, result.step.id]
        week = step.week(week_of(day))
        for match in result.matches:
            step.acted.add(match.account_id)
            people = chosen[result.playbook.id, result.step.id, match.account_id].people
            if people:
                mail.draft(step, result, match.account_id, people, day)
            else:
                week.unaddressed += 1
                week.tasks += 1


class _Budget:
    """The touch budget as a run applies it (:func:`csm.mail.budget.plan`), on the backtest's mail.

    The mail that counts against a contact: what was really sent before the day,
    and the backtest's own drafts, each taken as sent the day it has room (nobody
    reviews a backtest's drafts). :func:`~csm.mail.budget.plan` reads the outbox:
    while it judges a day, a TEMP view named ``outbox`` (which SQLite resolves
    before the workspace's table) shows it this mail, so the rule is the run's own.
    The recipients are the chosen people (To and Cc); a template's own ``cc`` is
    not rendered, so it is not counted.
    """

    def __init__(self, conn: sqlite3.Connection, default: TouchBudget, end: dt.date) -> None:
        self.conn, self.default = conn, default
        d = dialect_of(conn)
        own, self.temp = d.own_schema(conn), d.temp
        conn.execute(f"CREATE TEMP TABLE backtest_mail AS SELECT * FROM {own}.outbox WHERE 1 = 0")
        conn.execute("CREATE INDEX backtest_mail_id ON backtest_mail(id)")
        conn.execute("CREATE INDEX backtest_mail_status ON backtest_mail(status)")
        # Each email's recipients, so a day's view holds only the mail to the drafts' own contacts.
        conn.execute(
            d.ddl(
                "CREATE TEMP TABLE backtest_to (id INTEGER NOT NULL, address TEXT NOT NULL,"
                " PRIMARY KEY (id, address)) WITHOUT ROWID"
            )
        )
        conn.execute("CREATE INDEX backtest_to_address ON backtest_to(address)")
        self.next_id = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {own}.outbox").fetchone()[0]
        self.steps: dict[int, StepBacktest] = {}  # the backtest's drafts still to judge (draft, deferred)
        # The real mail sent before the last day, read once, latest first: each day moves in what
        # went out before it.
        cursor = conn.cursor()
        cursor.row_factory = None
        cursor.execute(
            f"SELECT sent_at, id, to_addrs, cc, * FROM {own}.outbox WHERE status = 'sent' AND sent_at < ?"
            " ORDER BY sent_at DESC",
            (end.isoformat(),),
        )
        self.insert_sent = (
            f"INSERT INTO {self.temp}.backtest_mail VALUES ({', '.join('?' * (len(cursor.description) - 4))})"
        )
        self.unsent: list[tuple[Any, ...]] = cursor.fetchall()  # (sent_at, id, to_addrs, cc, *row)
        self.new: list[tuple[Any, ...]] = []  # the day's drafts (rows of backtest_mail), and their recipients
        self.new_to: list[tuple[int, str]] = []

    def draft(
        self, step: StepBacktest, result: StepResult, account_id: str, people: Sequence[Any], day: dt.date
    ) -> None:
        """A new draft, judged with the day's others by :meth:`settle`."""
        playbook, draft_id = result.playbook, self.next_id
        self.new.append(
            (
                draft_id,
                playbook.id,
                step.step,
                account_id,
                json.dumps([[p.name, p.email] for p in people]),
                f"{step.title} (backtest)",
                result.step.priority,
                budget_text(playbook),
                day.isoformat(),
                day.isoformat(),
            )
        )
        self.new_to.extend((draft_id, p.email.lower()) for p in people)
        self.steps[draft_id] = step
        self.next_id += 1

    def settle(self, day: dt.date) -> list[tuple[StepBacktest, bool]]:
        """Judge the waiting drafts on ``day``: (step, deferred now) for each drafted or newly deferred."""
        self.conn.executemany(
            f"INSERT INTO {self.temp}.backtest_mail (id, status, playbook, step, account_id, to_addrs, cc,"
            " subject, priority, touch_budget, created_at, updated_at)"
            " VALUES (?, 'draft', ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?)",
            self.new,
        )
        self.conn.executemany(
            f"INSERT INTO {self.temp}.backtest_to (id, address) VALUES (?, ?) ON CONFLICT DO NOTHING",
            self.new_to,
        )
        self.new, self.new_to = [], []
        sent = []
        while self.unsent and self.unsent[-1][0] < day.isoformat():
            sent.append(self.unsent.pop())
        self.conn.executemany(self.insert_sent, [row[4:] for row in sent])
        self.conn.executemany(
            f"INSERT INTO {self.temp}.backtest_to (id, address) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(row[1], address) for row in sent for address in addresses(row[2], row[3])],
        )
        if not self.steps:
            return []
        # Mail to nobody a waiting draft writes to cannot change a verdict: left out, plan reads less.
        self.conn.execute(
            f"CREATE TEMP VIEW outbox AS SELECT * FROM {self.temp}.backtest_mail"
            f" WHERE status IN ('draft', 'deferred') OR id IN (SELECT t.id FROM {self.temp}.backtest_to t"
            f" WHERE t.address IN (SELECT w.address FROM {self.temp}.backtest_to w"
            f" JOIN {self.temp}.backtest_mail m ON m.id = w.id WHERE m.status IN ('draft', 'deferred')))"
        )
        try:
            found = budget.plan(self.conn, self.default, day)
        finally:
            self.conn.execute(f"DROP VIEW {self.temp}.outbox")
        settled = []
        for draft_id in found.keep:
            settled.append((self.steps.pop(draft_id), False))
        self._set("sent", found.keep, day)
        deferred = [i for i in found.defer if found.before[i] == "draft"]
        settled.extend((self.steps[i], True) for i in deferred)
        self._set("deferred", deferred, day)
        return settled

    def _set(self, status: str, ids: Sequence[int], day: dt.date) -> None:
        self.conn.executemany(
            f"UPDATE {self.temp}.backtest_mail SET status = ?, sent_at = ? WHERE id = ?",
            [(status, day.isoformat() if status == "sent" else None, i) for i in ids],
        )

    def close(self) -> None:
        self.conn.execute(f"DROP VIEW IF EXISTS {self.temp}.outbox")
        self.conn.execute(f"DROP TABLE IF EXISTS {self.temp}.backtest_mail")
        self.conn.execute(f"DROP TABLE IF EXISTS {self.temp}.backtest_to")


_REAL = {
    "real_drafts": (
        "SELECT playbook, step, account_id, date(created_at) FROM outbox"
        f" WHERE dedupe_key NOT LIKE '%{NO_RECIPIENT}' AND date(created_at) BETWEEN :start AND :end"
    ),
    "real_sent": (
        "SELECT playbook, step, account_id, date(sent_at) FROM outbox"
        " WHERE status = 'sent' AND date(sent_at) BETWEEN :start AND :end"
    ),
    "real_tasks": (
        "SELECT playbook, step, account_id, date(created_at) FROM tasks"
        " WHERE playbook IS NOT NULL AND date(created_at) BETWEEN :start AND :end"
    ),
    "real_done": (
        "SELECT playbook, step, account_id, date(done_at) FROM tasks"
        " WHERE playbook IS NOT NULL AND status = 'done' AND date(done_at) BETWEEN :start AND :end"
    ),
}


def _real_activity(
    conn: sqlite3.Connection, steps: dict[tuple[str, str], StepBacktest], start: dt.date, end: dt.date
) -> None:
    """What was really drafted, sent and done on the range's days, by the week it happened."""
    params = {"start": start.isoformat(), "end": end.isoformat()}
    for counter, sql in _REAL.items():
        for playbook, step_id, account_id, day in conn.execute(sql, params):
            step = steps.get((playbook, step_id))
            if step is None:  # a step since removed from the playbook
                continue
            week = step.week(week_of(dt.date.fromisoformat(day)))
            setattr(week, counter, getattr(week, counter) + 1)
            if counter in ("real_drafts", "real_tasks"):
                step.real.add(account_id)


def _outcomes(conn: sqlite3.Connection, steps: Iterable[StepBacktest]) -> None:
    """How the accounts each step matched renewed: the first outcome on or after its first match."""
    decided: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for account_id, day, outcome in conn.execute(
        "SELECT account_id, date, outcome FROM outcomes ORDER BY date"
    ):
        decided[account_id].append((day, outcome))
    for step in steps:
        counts = {"renewed": 0, "churned": 0}
        for account_id, first in step.first_matched.items():
            later = [o for d, o in decided.get(account_id, []) if d >= first.isoformat()]
            if later:
                counts[later[0]] += 1
        step.outcomes = counts

"""Queueing what evaluation found: drafts into the outbox, tasks into the task list.

The dedupe key (playbook, step, account, once_per value) is UNIQUE in both
tables, so evaluating again, or two runs at once, never adds anything twice.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field, replace

from csm.data import timeline
from csm.data.store import transaction
from csm.engine import drafting
from csm.engine.matching import Match, StepResult, account_rows
from csm.engine.recipients import NO_RECIPIENT, account_contacts
from csm.errors import TemplateError
from csm.language.fields import FieldSet
from csm.templating.filters import plural
from csm.templating.render import Templates
from csm.workspace import Workspace


@dataclass(frozen=True)
class Queued:
    kind: str  # "draft" or "task"
    id: int
    playbook: str
    step: str
    account_id: str
    account_name: str
    summary: str  # the subject or the task title


@dataclass
class QueueReport:
    added: list[Queued] = field(default_factory=list)
    skipped: list[Queued] = field(default_factory=list)  # emails nobody may receive (summary: why)
    not_drafted: list[tuple[str, str, str]] = field(default_factory=list)  # (key, account, reason)
    exited: list[tuple[str, str, str]] = field(default_factory=list)  # (playbook, step, account)


def _existing(conn: sqlite3.Connection, table: str, results: list[StepResult]) -> set[str]:
    keys: set[str] = set()
    for playbook_id in {r.playbook.id for r in results}:
        rows = conn.execute(f"SELECT dedupe_key FROM {table} WHERE playbook = ?", (playbook_id,))
        keys.update(row[0] for row in rows)
    return keys


def _sent_by_hand(conn: sqlite3.Connection, results: list[StepResult]) -> set[str]:
    """The keys of emails nobody could receive whose task the CSM has done: never drafted after."""
    keys: set[str] = set()
    for playbook_id in {r.playbook.id for r in results}:
        rows = conn.execute(
            "SELECT dedupe_key FROM tasks WHERE playbook = ? AND status = 'done' AND dedupe_key LIKE ?",
            (playbook_id, f"%{NO_RECIPIENT}"),
        )
        keys.update(row[0].removesuffix(NO_RECIPIENT) for row in rows)
    return keys


@dataclass
class _Batch:
    """What one queue() call will insert, keyed by dedupe key."""

    drafts: dict[str, tuple] = field(default_factory=dict)
    skipped: dict[str, tuple] = field(default_factory=dict)
    tasks: dict[str, tuple] = field(default_factory=dict)
    # Each row as the report names it (id 0 until inserted), by table and key: a step's
    # draft and task share a key.
    shown: dict[tuple[str, str], Queued] = field(default_factory=dict)

    def task(self, key: str, result: StepResult, match: Match, title: str, due: dt.date, now: str) -> None:
        self.tasks[key] = (
            key,
            result.playbook.id,
            result.step.id,
            match.account_id,
            match.owner,
            title,
            due.isoformat(),
            result.step.priority,
            _why_json(match.values),
            now,
        )
        self.shown["tasks", key] = _queued("task", result, match, title)


def _queued(kind: str, result: StepResult, match: Match, summary: str) -> Queued:
    return Queued(kind, 0, result.playbook.id, result.step.id, match.account_id, match.account_name, summary)


def queue(
    conn: sqlite3.Connection,
    ws: Workspace,
    templates: Templates,
    fields: FieldSet,
    base_params: dict,
    results: list[StepResult],
    today: dt.date,
    now: str,
) -> QueueReport:
    """Draft and store every new email and task the results call for.

    An email nobody may receive (see :mod:`csm.recipients`) leaves a skipped
    outbox row saying why and a task for the CSM, both under the step's key
    plus ``:no-recipient``: a later run drafts it once someone holds the role
    (closing that task), unless the CSM has done the task by hand.
    """
    report = QueueReport()
    have_drafts = _existing(conn, "outbox", results) | _sent_by_hand(conn, results)
    have_tasks = _existing(conn, "tasks", results)
    need_accounts = {
        m.account_id
        for r in results
        if r.step.email
        for m in r.matches
        if m.dedupe_key(r.playbook, r.step) not in have_drafts
    }
    accounts = account_rows(
        conn, fields, base_params, sorted(need_accounts), _read_fields(templates, results)
    )
    contacts = account_contacts(conn, sorted(need_accounts))
    batch = _Batch()
    for result in results:
        step = result.step
        for match in result.matches:
            key = match.dedupe_key(result.playbook, step)
            if step.email and key not in have_drafts:
                try:
                    made = drafting.draft(
                        ws,
                        templates,
                        contacts.get(match.account_id, []),
                        result.playbook,
                        step,
                        match,
                        accounts[match.account_id],
                        today,
                    )
                except TemplateError as exc:
                    report.not_drafted.append((key, match.account_id, str(exc.problems[0].message)))
                    continue
                if isinstance(made, drafting.Unaddressed):
                    _unaddressed(batch, result, match, made, today, now)
                else:
                    batch.drafts[key] = _draft_row(made, now)
                    batch.shown["outbox", key] = _queued("draft", result, match, made.subject)
            if step.task and key not in have_tasks:
                due = today + dt.timedelta(days=step.task.due_in_days)
                batch.task(key, result, match, step.task.title, due, now)
    with transaction(conn):
        _record_matches(conn, results, today)
        report.exited = _apply_exits(conn, results, now)
        draft_ids = _insert_new(conn, "outbox", _INSERT_DRAFT, batch.drafts)
        skipped_ids = _insert_new(conn, "outbox", _INSERT_SKIPPED, batch.skipped)
        task_ids = _insert_new(conn, "tasks", _INSERT_TASK, batch.tasks)
        _close_answered(conn, list(draft_ids), now)
    for table, ids, into in (
        ("outbox", draft_ids, report.added),
        ("tasks", task_ids, report.added),
        ("outbox", skipped_ids, report.skipped),
    ):
        into.extend(replace(batch.shown[table, key], id=row_id) for key, row_id in ids.items())
    report.added.sort(key=lambda q: (q.kind != "draft", q.id))
    return report


def _unaddressed(
    batch: _Batch,
    result: StepResult,
    match: Match,
    made: drafting.Unaddressed,
    today: dt.date,
    now: str,
) -> None:
    """A skipped outbox row saying why nobody may receive the email, and the CSM's task."""
    assert result.step.email is not None
    key = match.dedupe_key(result.playbook, result.step) + NO_RECIPIENT
    batch.skipped[key] = (
        key,
        result.playbook.id,
        result.step.id,
        match.account_id,
        match.owner,
        f"(not drafted: {made.reason})",
        result.step.email.template,
        _why_json(match.values),
        result.step.priority,
        made.reason,
        now,
        now,
    )
    batch.shown["outbox", key] = _queued("skipped", result, match, made.reason)
    batch.task(key, result, match, made.task_title, today, now)


def _draft_row(made: drafting.Draft, now: str) -> tuple:
    return (
        made.dedupe_key,
        made.playbook,
        made.step,
        made.account_id,
        made.owner,
        json.dumps([[r.name, r.email] for r in made.to]),
        json.dumps(list(made.cc)),
        made.reply_to,
        made.subject,
        made.body,
        made.template,
        _why_json(made.why),
        made.priority,
        now,
        now,
    )


def _close_answered(conn: sqlite3.Connection, drafted: list[str], now: str) -> None:
    """Close the "no recipient" task of each email drafted now that someone holds the role."""
    for start in range(0, len(drafted), _CHUNK):
        chunk = [key + NO_RECIPIENT for key in drafted[start : start + _CHUNK]]
        conn.execute(
            "UPDATE tasks SET status = 'closed', done_at = ?, note = 'drafted: a contact holds the role now'"
            f" WHERE status IN ('open', 'snoozed') AND dedupe_key IN ({', '.join('?' * len(chunk))})",
            (now, *chunk),
        )


def _read_fields(templates: Templates, results: list[StepResult]) -> set[str] | None:
    """The account fields the steps' templates read (None: any), so only those are computed."""
    needed: set[str] = set()
    for result in results:
        if result.step.email and result.matches:
            used = templates.account_fields(result.step.email.template)
            if used is None:
                return None
            needed |= used
    return needed


# One encoder for every why: json.dumps(..., default=str) builds a new one per call.
_why_json = json.JSONEncoder(default=str).encode

_INSERT_DRAFT = (
    "INSERT INTO outbox (dedupe_key, playbook, step, account_id, owner, to_addrs, cc, reply_to,"
    " subject, body, template, why, priority, status, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?)"
)
_INSERT_SKIPPED = (
    "INSERT INTO outbox (dedupe_key, playbook, step, account_id, owner, to_addrs, subject, body, template,"
    " why, priority, status, reason, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, '[]', ?, '', ?, ?, ?, 'skipped', ?, ?, ?)"
)
_INSERT_TASK = (
    "INSERT INTO tasks (dedupe_key, playbook, step, account_id, owner, title, due_date, priority,"
    " why, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHUNK = 500


def _keyed(conn: sqlite3.Connection, table: str, keys: list[str]) -> dict[str, int]:
    """The ids of the rows in ``table`` holding these dedupe keys, a chunk at a time."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT dedupe_key, id FROM {table} WHERE dedupe_key IN ({marks})"
        found.update(conn.execute(sql, chunk).fetchall())
    return found


def _insert_new(conn: sqlite3.Connection, table: str, sql: str, rows: dict[str, tuple]) -> dict[str, int]:
    """Insert the rows whose dedupe key is new, in one statement; their ids by key.

    Inside the run's write transaction no other run can add a key between the
    check and the insert, so this is what INSERT OR IGNORE row by row would do.
    """
    taken = _keyed(conn, table, list(rows))
    fresh = [key for key in rows if key not in taken]
    conn.executemany(sql, (rows[key] for key in fresh))
    return _keyed(conn, table, fresh)


def _record_matches(conn: sqlite3.Connection, results: list[StepResult], today: dt.date) -> None:
    """Remember each step match, touched or held out, for the report."""
    rows = [
        (r.playbook.id, r.step.id, m.account_id, today.isoformat(), int(held))
        for r in results
        for held, group in ((False, r.matches), (True, r.held_out))
        for m in group
    ]
    conn.executemany(
        "INSERT INTO matches (playbook, step, account_id, first_matched, last_matched, held_out)"
        " VALUES (?, ?, ?, ?, ?4, ?)"
        " ON CONFLICT (playbook, step, account_id) DO UPDATE SET"
        " last_matched = max(last_matched, excluded.last_matched)",
        rows,
    )


def _apply_exits(conn: sqlite3.Connection, results: list[StepResult], now: str) -> list[tuple[str, str, str]]:
    """`until:` met: close the step's open tasks, withdraw its unsent drafts, note it."""
    exited = []
    for r in results:
        for account_id in r.exits:
            keys = (r.playbook.id, r.step.id, account_id)
            tasks = conn.execute(
                "UPDATE tasks SET status = 'closed', done_at = ?, note = 'until met'"
                " WHERE playbook = ? AND step = ? AND account_id = ?"
                " AND status IN ('open', 'snoozed')",
                (now, *keys),
            ).rowcount
            drafts = conn.execute(
                "UPDATE outbox SET status = 'withdrawn', reason = 'until met', updated_at = ?"
                " WHERE playbook = ? AND step = ? AND account_id = ? AND status IN ('draft', 'approved')",
                (now, *keys),
            ).rowcount
            timeline.record(
                conn,
                account_id,
                "exit",
                f"{r.playbook.id} › {r.step.id}: until met; {plural(tasks, 'task')} closed,"
                f" {plural(drafts, 'draft')} withdrawn",
                now,
            )
            exited.append(keys)
    return exited

"""Queueing what evaluation found: drafts into the outbox, tasks into the task list.

The dedupe key (playbook, step, account, once_per value) is UNIQUE in both
tables, so evaluating again, or two runs at once, never adds anything twice.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field

from csm import drafting, timeline
from csm.engine import Match, StepResult, account_rows
from csm.errors import TemplateError
from csm.fields import FieldSet
from csm.render import Templates
from csm.store import transaction
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
    not_drafted: list[tuple[str, str, str]] = field(default_factory=list)  # (key, account, reason)
    exited: list[tuple[str, str, str]] = field(default_factory=list)  # (playbook, step, account)


def _existing(conn: sqlite3.Connection, table: str, results: list[StepResult]) -> set[str]:
    keys: set[str] = set()
    for playbook_id in {r.playbook.id for r in results}:
        rows = conn.execute(f"SELECT dedupe_key FROM {table} WHERE playbook = ?", (playbook_id,))
        keys.update(row[0] for row in rows)
    return keys


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
    """Draft and store every new email and task the results call for."""
    report = QueueReport()
    have_drafts = _existing(conn, "outbox", results)
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
    contacts = drafting.reachable_contacts(conn, sorted(need_accounts))
    drafts: list[tuple[drafting.Draft, str]] = []
    tasks: list[tuple[StepResult, Match]] = []
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
                if isinstance(made, str):
                    report.not_drafted.append((key, match.account_id, made))
                else:
                    drafts.append((made, match.account_name))
            if step.task and key not in have_tasks:
                tasks.append((result, match))
    draft_rows = {
        made.dedupe_key: (
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
        for made, _ in drafts
    }
    task_rows = {
        match.dedupe_key(result.playbook, result.step): (
            match.dedupe_key(result.playbook, result.step),
            result.playbook.id,
            result.step.id,
            match.account_id,
            match.owner,
            result.step.task.title,
            (today + dt.timedelta(days=result.step.task.due_in_days)).isoformat(),
            result.step.priority,
            _why_json(match.values),
            now,
        )
        for result, match in tasks
        if result.step.task is not None
    }
    with transaction(conn):
        _record_matches(conn, results, today)
        report.exited = _apply_exits(conn, results, now)
        draft_ids = _insert_new(conn, "outbox", _INSERT_DRAFT, draft_rows)
        task_ids = _insert_new(conn, "tasks", _INSERT_TASK, task_rows)
    for made, account_name in drafts:
        if made.dedupe_key in draft_ids:
            report.added.append(
                Queued(
                    "draft",
                    draft_ids[made.dedupe_key],
                    made.playbook,
                    made.step,
                    made.account_id,
                    account_name,
                    made.subject,
                )
            )
    for result, match in tasks:
        key = match.dedupe_key(result.playbook, result.step)
        if key in task_ids and result.step.task is not None:
            report.added.append(
                Queued(
                    "task",
                    task_ids[key],
                    result.playbook.id,
                    result.step.id,
                    match.account_id,
                    match.account_name,
                    result.step.task.title,
                )
            )
    return report


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
                f"{r.playbook.id} › {r.step.id}: until met; {tasks} task(s) closed,"
                f" {drafts} draft(s) withdrawn",
                now,
            )
            exited.append(keys)
    return exited

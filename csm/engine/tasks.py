"""Tasks for the CSM (call, review, escalate) and account snoozes.

This module is the only writer of a task's status: a task is born ``open``
and moves only as :data:`MOVES` allows (see :mod:`csm.data.lifecycle`).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from csm.data import lifecycle, timeline
from csm.data.backend import dialect_of
from csm.data.lifecycle import Move
from csm.data.store import transaction
from csm.errors import InputError, NotFound, StateError

FINISHED = ("done", "closed")  # closed: nobody needs to do it any more
# Every way a task's status changes: action -> Move(from, to, "only <from> tasks can be <done>").
# A task is born open; a snoozed one counts as open again once its date has come.
#   close  nobody needs to do it any more: its step's `until:` was met, or the email it
#          stood in for was drafted
# fmt: off
MOVES: dict[str, Move] = {
    "do":     Move(("open", "snoozed"), ("done",),    "done"),
    "snooze": Move(("open", "snoozed"), ("snoozed",), "snoozed"),
    "close":  Move(("open", "snoozed"), ("closed",),  "closed"),
}
# fmt: on
OPEN_SQL = "(t.status = 'open' OR (t.status = 'snoozed' AND t.snoozed_until <= :today))"


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    """A task as a dict, its ``why`` the object of matched values (as in every JSON output)."""
    task = dict(row)
    task["why"] = json.loads(task["why"]) if task.get("why") else {}
    task["assignee"] = task.get("assignee") or task.get("owner")  # NULL: the owner's
    return task


def get(conn: sqlite3.Connection, task_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT t.*, a.name AS account_name FROM tasks t LEFT JOIN accounts a ON a.id = t.account_id"
        " WHERE t.id = ?",
        (task_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no task #{task_id}", hint="`csm today` lists your tasks and their ids.")
    return _decode(row)


def open_tasks(
    conn: sqlite3.Connection,
    today: dt.date,
    *,
    owner: str | None = None,
    account_id: str | None = None,
    due_within_days: int | None = None,
) -> list[dict[str, Any]]:
    """Open tasks (snoozes that have run out included), most urgent first.

    ``owner``: the tasks on this CSM's accounts and those assigned to them elsewhere.
    """
    params: dict[str, Any] = {"today": today.isoformat()}
    where = [OPEN_SQL]
    if owner is not None:
        where.append("(t.owner = :owner OR t.assignee = :owner)")
        params["owner"] = owner
    if account_id is not None:
        where.append("t.account_id = :account")
        params["account"] = account_id
    if due_within_days is not None:
        where.append("t.due_date <= :horizon")
        params["horizon"] = (today + dt.timedelta(days=due_within_days)).isoformat()
    rows = conn.execute(
        "SELECT t.*, a.name AS account_name FROM tasks t LEFT JOIN accounts a ON a.id = t.account_id"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY t.due_date, CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1"
        " WHEN 'normal' THEN 2 ELSE 3 END, t.id",
        params,
    )
    return [_decode(r) for r in rows]


def move(conn: sqlite3.Connection, task_id: int, action: str, new: str, **changes: Any) -> None:
    """Make ``action`` (one of :data:`MOVES`) move a task to ``new``, setting ``changes`` too.

    Runs inside the caller's write transaction; raises StateError, changing
    nothing, when the task's status does not allow the move.
    """
    if lifecycle.shift(conn, "tasks", MOVES[action], new, "id = :id", {"id": task_id}, changes) == 0:
        raise lifecycle.refused("task", task_id, get(conn, task_id)["status"], MOVES[action])


def close_step(
    conn: sqlite3.Connection, playbook: str, step: str, account_id: str, now: str, *, note: str = "until met"
) -> int:
    """Close a step's open tasks for an account (its `until:` was met, or the customer replied to
    what a follow-up follows); how many (caller's transaction)."""
    where = "playbook = :playbook AND step = :step AND account_id = :account"
    keys = {"playbook": playbook, "step": step, "account": account_id}
    return _close(conn, where, keys, note, now)


def close_keys(conn: sqlite3.Connection, keys: list[str], note: str, now: str) -> None:
    """Close the open tasks holding these dedupe keys, saying why (caller's transaction)."""
    if keys:
        where = f"dedupe_key IN ({dialect_of(conn).texts_in(':keys')})"
        _close(conn, where, {"keys": json.dumps(keys)}, note, now)


def _close(conn: sqlite3.Connection, where: str, params: dict[str, Any], note: str, now: str) -> int:
    changes = {"done_at": now, "note": note}
    return lifecycle.shift(conn, "tasks", MOVES["close"], "closed", where, params, changes)


_INSERT = (
    "INSERT INTO tasks (dedupe_key, playbook, step, account_id, owner, assignee, type, title, due_date,"
    " priority, why, created_at) VALUES (:dedupe_key, :playbook, :step, :account_id, :owner, :assignee,"
    " :type, :title, :due_date, :priority, :why, :now)"
)


def add(conn: sqlite3.Connection, rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    """New open tasks (by dedupe key, named as in the table, ``now`` for their stamp).

    Runs inside the caller's write transaction; returns the ids of the tasks
    whose key was new. A key already among the tasks is never added again.
    A row without ``type`` is ``other``; without ``assignee``, the owner's.
    """
    full = {key: {"type": "other", "assignee": row["owner"], **row} for key, row in rows.items()}
    return lifecycle.insert_new(conn, "tasks", _INSERT, full)


def done(conn: sqlite3.Connection, task_id: int, now: str, note: str | None = None) -> dict[str, Any]:
    with transaction(conn):
        task = get(conn, task_id)
        if task["status"] in FINISHED:
            raise StateError(f"task #{task_id} is already {task['status']} (on {task['done_at'][:10]})")
        move(conn, task_id, "do", "done", done_at=now, note=note)
        summary = f"task done: {task['title']}" + (f" — {note}" if note else "")
        timeline.record(conn, task["account_id"], "task_done", summary, now, ref=f"task:{task_id}")
    return task


def snooze(conn: sqlite3.Connection, task_id: int, until: dt.date, reason: str, today: dt.date) -> None:
    if until <= today:
        raise InputError(f"--until {until} is not after today ({today})", hint="Snooze to a later date.")
    if not reason.strip():
        raise InputError("a snooze needs a reason", hint='--reason "waiting for their IT team"')
    with transaction(conn):
        task = get(conn, task_id)
        if task["status"] in FINISHED:
            raise StateError(f"task #{task_id} is {task['status']}; only open tasks can be snoozed")
        move(conn, task_id, "snooze", "snoozed", snoozed_until=until.isoformat(), note=reason.strip())


def snooze_account(
    conn: sqlite3.Connection,
    account_id: str,
    until: dt.date,
    reason: str,
    today: dt.date,
    now: str,
    playbook: str | None = None,
) -> None:
    """Stop one playbook (or all) firing for an account until a date."""
    if until <= today:
        raise InputError(f"--until {until} is not after today ({today})", hint="Snooze to a later date.")
    if not reason.strip():
        raise InputError("a snooze needs a reason", hint='--reason "mid-migration, back in March"')
    timeline.require_account(conn, account_id)
    with transaction(conn):
        conn.execute(
            "INSERT INTO snoozes (account_id, playbook, until, reason, created_at) VALUES (?, ?, ?, ?, ?)",
            (account_id, playbook, until.isoformat(), reason.strip(), now),
        )
        what = f"playbook {playbook}" if playbook else "all playbooks"
        timeline.record(conn, account_id, "snooze", f"snoozed {what} until {until}: {reason.strip()}", now)


def active_snoozes(
    conn: sqlite3.Connection, today: dt.date, account_id: str | None = None
) -> list[dict[str, Any]]:
    sql = (
        "SELECT z.*, a.name AS account_name FROM snoozes z LEFT JOIN accounts a ON a.id = z.account_id"
        " WHERE z.until > ?"
    )
    params: list[Any] = [today.isoformat()]
    if account_id is not None:
        sql += " AND z.account_id = ?"
        params.append(account_id)
    return [dict(r) for r in conn.execute(sql + " ORDER BY z.until, z.id", params)]

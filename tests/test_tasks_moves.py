"""The task list's table of moves: done, snoozed, closed, each only from an open task."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import db_dump, writers_of

from csm.data import store
from csm.data.store import transaction
from csm.engine import tasks
from csm.errors import StateError

NOW = "2026-11-23T09:00:00+00:00"
TODAY = dt.date(2026, 11, 23)
STATUSES = ("open", "snoozed", "done", "closed")


def _row(key: str, account_id: str = "A1") -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "playbook": "renewal",
        "step": "heads-up",
        "account_id": account_id,
        "owner": None,
        "title": "Call them",
        "due_date": "2026-11-25",
        "priority": "normal",
        "why": "{}",
        "now": NOW,
    }


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "csm.db"
    store.connect(path, create=True).close()
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    conn = store.connect(db)
    with transaction(conn):
        conn.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Acme'), ('A2', 'Beta')")
    yield conn
    conn.close()


def _task(conn: sqlite3.Connection, status: str, key: str = "k") -> int:
    """A task put straight into ``status`` (the setup a test needs, not a move)."""
    with transaction(conn):
        (task_id,) = tasks.add(conn, {key: _row(key)}).values()
        conn.execute("UPDATE tasks SET status = ? WHERE id = ?", (status, task_id))
    return task_id


def _status(conn: sqlite3.Connection, task_id: int) -> str:
    return tasks.get(conn, task_id)["status"]


def test_a_task_is_born_open_and_a_key_only_once(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        first = tasks.add(conn, {"a": _row("a")})
        again = tasks.add(conn, {"a": _row("a"), "b": _row("b")})
    assert list(first) == ["a"]
    assert list(again) == ["b"]
    assert _status(conn, first["a"]) == "open"


@pytest.mark.parametrize(
    ("action", "old", "new"),
    [(a, old, new) for a, m in tasks.MOVES.items() for old in m.sources for new in m.targets],
)
def test_each_allowed_move_works(conn: sqlite3.Connection, action: str, old: str, new: str) -> None:
    task_id = _task(conn, old)
    with transaction(conn):
        tasks.move(conn, task_id, action, new, note="moved")
    assert (_status(conn, task_id), tasks.get(conn, task_id)["note"]) == (new, "moved")


@pytest.mark.parametrize(
    ("action", "old", "new"),
    [
        (a, old, new)
        for a, m in tasks.MOVES.items()
        for old in STATUSES
        if old not in m.sources
        for new in m.targets
    ],
)
def test_each_move_the_table_does_not_allow_raises_and_changes_nothing(
    db: Path, conn: sqlite3.Connection, action: str, old: str, new: str
) -> None:
    task_id = _task(conn, old)
    before = db_dump(db)
    refused = rf"task #{task_id} is {old}; only open or snoozed tasks can be"
    with pytest.raises(StateError, match=refused), transaction(conn):
        tasks.move(conn, task_id, action, new, note="moved")
    assert db_dump(db) == before


def test_done_and_snooze_refuse_a_finished_task(db: Path, conn: sqlite3.Connection) -> None:
    task_id = _task(conn, "open")
    tasks.done(conn, task_id, NOW, "called them")
    before = db_dump(db)
    with pytest.raises(StateError, match="is already done"):
        tasks.done(conn, task_id, NOW)
    with pytest.raises(StateError, match="only open tasks can be snoozed"):
        tasks.snooze(conn, task_id, TODAY + dt.timedelta(days=3), "later", TODAY)
    assert db_dump(db) == before


def test_closing_a_step_closes_only_its_open_tasks_for_that_account(conn: sqlite3.Connection) -> None:
    ids = {key: _task(conn, status, key) for key, status in (("a", "open"), ("b", "snoozed"), ("c", "done"))}
    with transaction(conn):
        (other,) = tasks.add(conn, {"d": _row("d", "A2")}).values()
        closed = tasks.close_step(conn, "renewal", "heads-up", "A1", NOW)
    assert closed == 2
    assert {k: _status(conn, i) for k, i in ids.items()} == {"a": "closed", "b": "closed", "c": "done"}
    assert _status(conn, other) == "open"
    assert tasks.get(conn, ids["a"])["note"] == "until met"


def test_closing_by_key_reaches_past_one_statements_parameters(conn: sqlite3.Connection) -> None:
    rows = {f"k{n}": _row(f"k{n}") for n in range(1200)}
    with transaction(conn):
        tasks.add(conn, rows)
        tasks.close_keys(conn, [*rows, "missing"], "drafted", NOW)
    assert [tuple(r) for r in conn.execute("SELECT DISTINCT status, note FROM tasks")] == [
        ("closed", "drafted")
    ]


def test_only_this_module_writes_a_tasks_row() -> None:
    """Every INSERT and UPDATE of the tasks lives in csm/engine/tasks.py (the guard in csm/data/lifecycle)."""
    assert writers_of("tasks") == {"engine/tasks.py"}

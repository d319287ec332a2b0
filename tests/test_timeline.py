"""The timeline (csm/data/timeline.py): events, which of them are touches, and `csm log`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from csm.data import timeline
from csm.data.store import transaction
from csm.errors import CsmError, InputError, NotFound
from csm.runtime import Runtime
from tests.conftest import open_workspace

TODAY = dt.date(2026, 11, 23)
NOW = "2026-11-23T09:30:00+00:00"


@pytest.fixture
def rt(workspace: Path) -> Iterator[Runtime]:
    """A1 (started 2026-01-01, never touched) and A2."""
    with open_workspace(workspace, TODAY) as runtime:
        runtime.conn.executemany(
            "INSERT INTO accounts (id, name, start_date) VALUES (?, ?, '2026-01-01')",
            [("A1", "Acme"), ("A2", "Birch")],
        )
        yield runtime


def events(rt: Runtime) -> list[tuple]:
    query = "SELECT account_id, at, kind, touch, summary, ref FROM timeline ORDER BY id"
    return [tuple(r) for r in rt.conn.execute(query)]


def since_touch(rt: Runtime, today: dt.date = TODAY) -> tuple[str | None, int]:
    """A1's last_touch_at and days_since_touch as conditions see them."""
    fields = rt.fields
    row = rt.conn.execute(
        f"SELECT {fields.sql('last_touch_at')}, {fields.sql('days_since_touch')} FROM accounts a"
        " WHERE a.id = 'A1'",
        {**rt.params, "today": today.isoformat()},
    ).fetchone()
    return row[0], row[1]


@pytest.mark.parametrize(
    ("kind", "touch"),
    [
        ("email_sent", 1),
        ("task_done", 1),
        ("note", 1),
        ("call", 1),
        ("meeting", 1),
        ("snooze", 0),
        ("exit", 0),
        ("unsubscribed", 0),
        ("outcome", 0),
        ("sync", 0),
    ],
)
def test_record_marks_the_kinds_that_touch_the_customer(rt: Runtime, kind: str, touch: int) -> None:
    timeline.record(rt.conn, "A1", kind, "what happened", NOW, ref="draft:7")
    assert events(rt) == [("A1", NOW, kind, touch, "what happened", "draft:7")]


def test_record_writes_inside_the_callers_transaction(rt: Runtime) -> None:
    with pytest.raises(RuntimeError), transaction(rt.conn):
        timeline.record(rt.conn, "A1", "note", "never kept", NOW)
        raise RuntimeError("the caller's write failed")
    assert events(rt) == []


def test_touches_drive_days_since_touch(rt: Runtime) -> None:
    assert since_touch(rt) == (None, 326)  # never touched: counted from start_date
    timeline.record(rt.conn, "A1", "note", "a note", "2026-11-13T16:00:00+00:00")
    assert since_touch(rt) == ("2026-11-13", 10)
    timeline.record(rt.conn, "A1", "snooze", "not a touch", "2026-11-22T08:00:00+00:00")
    timeline.record(rt.conn, "A2", "call", "another account's call", "2026-11-22T08:00:00+00:00")
    assert since_touch(rt) == ("2026-11-13", 10)
    timeline.record(rt.conn, "A1", "email_sent", "an email", "2026-11-20T08:00:00+00:00")
    assert since_touch(rt) == ("2026-11-20", 3)


def test_a_touch_after_today_does_not_count_yet(rt: Runtime) -> None:
    timeline.record(rt.conn, "A1", "call", "a call", "2026-11-20T08:00:00+00:00")
    timeline.record(rt.conn, "A1", "meeting", "a meeting", "2026-11-25T08:00:00+00:00")
    assert since_touch(rt) == ("2026-11-20", 3)
    assert since_touch(rt, dt.date(2026, 11, 25)) == ("2026-11-25", 0)


def test_recent_lists_one_account_newest_first(rt: Runtime) -> None:
    timeline.record(rt.conn, "A1", "note", "oldest", "2026-11-01T08:00:00+00:00")
    timeline.record(rt.conn, "A1", "call", "newest, first written", "2026-11-20T08:00:00+00:00")
    timeline.record(rt.conn, "A1", "snooze", "newest, written last", "2026-11-20T08:00:00+00:00")
    timeline.record(rt.conn, "A1", "email_sent", "middle", "2026-11-10T08:00:00+00:00")
    timeline.record(rt.conn, "A2", "note", "someone else's", "2026-11-21T08:00:00+00:00")
    assert [(e["summary"], e["touch"]) for e in timeline.recent(rt.conn, "A1")] == [
        ("newest, written last", 0),
        ("newest, first written", 1),
        ("middle", 1),
        ("oldest", 1),
    ]
    assert [e["summary"] for e in timeline.recent(rt.conn, "A1", limit=2)] == [
        "newest, written last",
        "newest, first written",
    ]
    assert set(timeline.recent(rt.conn, "A2")[0]) == {"at", "kind", "touch", "summary"}


@pytest.mark.parametrize("kind", ["note", "call", "meeting"])
def test_log_note_records_a_touch(rt: Runtime, kind: str) -> None:
    timeline.log_note(rt.conn, "A1", "  Call: renewal on track  ", NOW, kind)
    assert events(rt) == [("A1", NOW, kind, 1, "Call: renewal on track", None)]
    assert since_touch(rt) == ("2026-11-23", 0)


@pytest.mark.parametrize(
    ("account", "note", "kind", "error", "message"),
    [
        ("A1", "   ", "note", InputError, "the note is empty"),
        ("A1", "sent it", "email_sent", InputError, "unknown kind 'email_sent'"),
        ("A1", "did it", "task_done", InputError, "unknown kind 'task_done'"),
        ("A1", "hello", "lunch", InputError, "unknown kind 'lunch'"),
        ("NOPE", "hello", "note", NotFound, "no account 'NOPE'"),
    ],
)
def test_log_note_refuses_bad_input_and_writes_nothing(
    rt: Runtime, account: str, note: str, kind: str, error: type[CsmError], message: str
) -> None:
    with pytest.raises(error) as caught:
        timeline.log_note(rt.conn, account, note, NOW, kind)
    assert caught.value.message == message
    assert events(rt) == []


def test_require_account_gives_the_row_or_says_where_to_look(rt: Runtime) -> None:
    assert timeline.require_account(rt.conn, "A2")["name"] == "Birch"
    with pytest.raises(NotFound) as caught:
        timeline.require_account(rt.conn, "NOPE")
    assert caught.value.hint == "Check the id with `csm outbox` or your import file."


def test_log_resets_days_since_touch(invoke, demo: Path) -> None:
    silent = json.loads(invoke("-w", str(demo), "today", "--json", "--no-run", "--all").stdout)["silent"][0]
    assert silent["days_since_touch"] >= 60
    result = invoke(
        "-w", str(demo), "log", silent["account"], "Call: they are happy, renewal on track", "--kind", "call"
    )
    assert result.exit_code == 0
    view = json.loads(invoke("-w", str(demo), "account", silent["account"], "--json").stdout)
    assert view["account"]["days_since_touch"] == 0
    assert view["timeline"][0]["kind"] == "call"
    assert invoke("-w", str(demo), "log", "NOPE", "hi").exit_code == 1

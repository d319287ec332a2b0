"""Tasks and account snoozes (csm/engine/tasks.py) on a real workspace database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from csm.engine import tasks
from csm.engine.matching import evaluate
from csm.errors import CsmError, InputError, NotFound, StateError
from csm.runtime import Runtime
from tests.conftest import open_workspace, rows

TODAY = dt.date(2026, 11, 23)
NOW = "2026-11-23T09:30:00+00:00"
DANA = "dana@northwind-cs.example"
LEE = "lee@northwind-cs.example"

# Every active account matches, so a snooze is the only thing that keeps one out.
PLAYBOOK = """\
playbook: hello
title: Say hello
steps:
  - id: call
    title: A call
    when: days_since_start > 0
    task: {title: Call them, due_in: 3d}
"""


@pytest.fixture
def rt(workspace: Path) -> Iterator[Runtime]:
    """Dana's A1 and Lee's A2, no tasks yet."""
    with open_workspace(workspace, TODAY, {"hello.yaml": PLAYBOOK}) as runtime:
        runtime.conn.executemany(
            "INSERT INTO accounts (id, name, owner, start_date) VALUES (?, ?, ?, '2025-01-01')",
            [("A1", "Acme", DANA), ("A2", "Birch", LEE)],
        )
        yield runtime


def add_task(rt: Runtime, title: str, due: str, account: str = "A1", **extra: Any) -> int:
    columns = {"account_id": account, "owner": DANA, "title": title, "due_date": due, "created_at": NOW}
    columns.update(extra)
    cursor = rt.conn.execute(
        f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) RETURNING id",
        tuple(columns.values()),
    )
    return cursor.fetchone()[0]


def as_of(rt: Runtime, today: dt.date) -> Runtime:
    return Runtime(rt.ws, rt.conn, today)


def open_ids(rt: Runtime, **filters: Any) -> list[int]:
    return [t["id"] for t in tasks.open_tasks(rt.conn, rt.today, **filters)]


def timeline(rt: Runtime) -> list[tuple]:
    query = "SELECT account_id, at, kind, touch, summary, ref FROM timeline ORDER BY id"
    return [tuple(r) for r in rt.conn.execute(query)]


# -- open tasks ---------------------------------------------------------------


def test_open_tasks_come_soonest_first_then_most_urgent(rt: Runtime) -> None:
    normal = add_task(rt, "normal", "2026-11-25")
    earliest_but_low = add_task(rt, "low", "2026-11-24", priority="low")
    urgent = add_task(rt, "urgent", "2026-11-25", priority="urgent")
    high = add_task(rt, "high", "2026-11-25", priority="high")
    normal_later = add_task(rt, "normal, added later", "2026-11-25")
    assert open_ids(rt) == [earliest_but_low, urgent, high, normal, normal_later]


def test_open_tasks_filter_by_owner_account_and_horizon(rt: Runtime) -> None:
    mine = add_task(rt, "mine", "2026-11-24")
    in_a_week = add_task(rt, "in a week", "2026-11-30")
    in_eight_days = add_task(rt, "in eight days", "2026-12-01")
    leas = add_task(rt, "Lee's", "2026-11-24", account="A2", owner=LEE)
    assert open_ids(rt, owner=LEE) == [leas]
    assert open_ids(rt, account_id="A1", owner=DANA) == [mine, in_a_week, in_eight_days]
    assert open_ids(rt, due_within_days=7) == [mine, leas, in_a_week]


def test_done_and_closed_tasks_are_never_open(rt: Runtime) -> None:
    add_task(rt, "done", "2026-11-20", status="done", done_at=NOW)
    add_task(rt, "closed by until", "2026-11-20", status="closed", done_at=NOW)
    still_open = add_task(rt, "open", "2026-11-20")
    assert open_ids(rt) == [still_open]


def test_a_snoozed_task_is_back_on_its_date(rt: Runtime) -> None:
    task_id = add_task(rt, "call", "2026-11-20")
    tasks.snooze(rt.conn, task_id, dt.date(2026, 11, 26), "  their IT team  ", TODAY)
    assert tasks.get(rt.conn, task_id)["status"] == "snoozed"
    assert tasks.get(rt.conn, task_id)["snoozed_until"] == "2026-11-26"
    assert tasks.get(rt.conn, task_id)["note"] == "their IT team"
    assert open_ids(as_of(rt, dt.date(2026, 11, 25))) == []
    assert open_ids(as_of(rt, dt.date(2026, 11, 26))) == [task_id]


def test_a_task_carries_its_why_and_account_name(rt: Runtime) -> None:
    task_id = add_task(rt, "call", "2026-11-24", why=json.dumps({"days_to_renewal": 90}))
    bare = add_task(rt, "by hand", "2026-11-24", why="")
    listed = {t["id"]: t for t in tasks.open_tasks(rt.conn, TODAY)}
    assert listed[task_id]["why"] == {"days_to_renewal": 90}
    assert listed[bare]["why"] == {}
    assert listed[task_id]["account_name"] == "Acme"
    assert tasks.get(rt.conn, task_id)["why"] == {"days_to_renewal": 90}


# -- done ---------------------------------------------------------------------


def test_done_is_a_touch_on_the_timeline(rt: Runtime) -> None:
    task_id = add_task(rt, "Book the kickoff", "2026-11-24")
    returned = tasks.done(rt.conn, task_id, NOW, "Booked for Thursday")
    assert returned["title"] == "Book the kickoff" and returned["account_name"] == "Acme"
    task = tasks.get(rt.conn, task_id)
    assert (task["status"], task["done_at"], task["note"]) == ("done", NOW, "Booked for Thursday")
    assert timeline(rt) == [
        ("A1", NOW, "task_done", 1, "task done: Book the kickoff — Booked for Thursday", f"task:{task_id}")
    ]


def test_done_without_a_note_says_only_the_title(rt: Runtime) -> None:
    task_id = add_task(rt, "Book the kickoff", "2026-11-24")
    tasks.done(rt.conn, task_id, NOW)
    assert [row[4] for row in timeline(rt)] == ["task done: Book the kickoff"]


def test_a_snoozed_task_can_be_done(rt: Runtime) -> None:
    task_id = add_task(rt, "call", "2026-11-24", status="snoozed", snoozed_until="2026-12-01")
    tasks.done(rt.conn, task_id, NOW)
    assert tasks.get(rt.conn, task_id)["status"] == "done"


@pytest.mark.parametrize("status", ["done", "closed"])
def test_a_finished_task_cannot_be_done_again(rt: Runtime, status: str) -> None:
    task_id = add_task(rt, "call", "2026-11-20", status=status, done_at="2026-11-21T10:00:00+00:00")
    with pytest.raises(StateError, match=rf"^task #{task_id} is already {status} \(on 2026-11-21\)$"):
        tasks.done(rt.conn, task_id, NOW, "again")
    assert tasks.get(rt.conn, task_id)["done_at"] == "2026-11-21T10:00:00+00:00"
    assert timeline(rt) == []


def test_a_missing_task_is_not_found(rt: Runtime) -> None:
    for action in (
        lambda: tasks.get(rt.conn, 99),
        lambda: tasks.done(rt.conn, 99, NOW),
        lambda: tasks.snooze(rt.conn, 99, dt.date(2026, 12, 1), "later", TODAY),
    ):
        with pytest.raises(NotFound) as caught:
            action()
        assert caught.value.message == "no task #99"
        assert caught.value.hint == "`csm today` lists your tasks and their ids."


# -- snooze a task ------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "reason", "message"),
    [
        (TODAY, "later", "--until 2026-11-23 is not after today (2026-11-23)"),
        (dt.date(2026, 11, 1), "later", "--until 2026-11-01 is not after today (2026-11-23)"),
        (dt.date(2026, 12, 1), "   ", "a snooze needs a reason"),
    ],
)
def test_a_task_snooze_needs_a_later_date_and_a_reason(
    rt: Runtime, until: dt.date, reason: str, message: str
) -> None:
    task_id = add_task(rt, "call", "2026-11-24")
    with pytest.raises(InputError) as caught:
        tasks.snooze(rt.conn, task_id, until, reason, TODAY)
    assert caught.value.message == message
    assert tasks.get(rt.conn, task_id)["status"] == "open"


@pytest.mark.parametrize("status", ["done", "closed"])
def test_only_an_open_task_can_be_snoozed(rt: Runtime, status: str) -> None:
    task_id = add_task(rt, "call", "2026-11-20", status=status, done_at=NOW)
    with pytest.raises(StateError, match=rf"^task #{task_id} is {status}; only open tasks can be snoozed$"):
        tasks.snooze(rt.conn, task_id, dt.date(2026, 12, 1), "later", TODAY)
    assert tasks.get(rt.conn, task_id)["snoozed_until"] is None


# -- snooze an account --------------------------------------------------------


def test_an_account_snooze_is_recorded_but_is_no_touch(rt: Runtime) -> None:
    tasks.snooze_account(rt.conn, "A1", dt.date(2027, 1, 10), " mid-migration ", TODAY, NOW, "onboarding")
    tasks.snooze_account(rt.conn, "A2", dt.date(2026, 12, 1), "holidays", TODAY, NOW)
    assert timeline(rt) == [
        ("A1", NOW, "snooze", 0, "snoozed playbook onboarding until 2027-01-10: mid-migration", None),
        ("A2", NOW, "snooze", 0, "snoozed all playbooks until 2026-12-01: holidays", None),
    ]
    listed = [
        (z["account_id"], z["account_name"], z["playbook"], z["until"], z["reason"])
        for z in tasks.active_snoozes(rt.conn, TODAY)
    ]
    assert listed == [  # soonest to end first
        ("A2", "Birch", None, "2026-12-01", "holidays"),
        ("A1", "Acme", "onboarding", "2027-01-10", "mid-migration"),
    ]
    assert [z["account_id"] for z in tasks.active_snoozes(rt.conn, TODAY, "A1")] == ["A1"]


def test_an_account_snooze_ends_on_its_date(rt: Runtime) -> None:
    tasks.snooze_account(rt.conn, "A1", dt.date(2026, 12, 1), "holidays", TODAY, NOW)
    assert [z["account_id"] for z in tasks.active_snoozes(rt.conn, dt.date(2026, 11, 30))] == ["A1"]
    assert tasks.active_snoozes(rt.conn, dt.date(2026, 12, 1)) == []


def matched(rt: Runtime) -> list[str]:
    [result] = evaluate(rt.conn, rt.playbooks(["hello"]), rt.fields, rt.params, rt.today)
    return [m.account_id for m in result.matches]


def test_a_snoozed_account_matches_no_playbook_until_the_snooze_ends(rt: Runtime) -> None:
    assert matched(rt) == ["A1", "A2"]
    tasks.snooze_account(rt.conn, "A1", dt.date(2026, 12, 1), "holidays", TODAY, NOW)
    tasks.snooze_account(rt.conn, "A2", dt.date(2026, 12, 1), "mid-migration", TODAY, NOW, "onboarding")
    assert matched(rt) == ["A2"]  # A2's snooze is for another playbook
    assert matched(as_of(rt, dt.date(2026, 11, 30))) == ["A2"]
    assert matched(as_of(rt, dt.date(2026, 12, 1))) == ["A1", "A2"]


@pytest.mark.parametrize(
    ("account", "until", "reason", "error", "message"),
    [
        ("A1", TODAY, "x", InputError, "--until 2026-11-23 is not after today (2026-11-23)"),
        ("A1", dt.date(2026, 12, 1), "", InputError, "a snooze needs a reason"),
        ("NOPE", dt.date(2026, 12, 1), "x", NotFound, "no account 'NOPE'"),
    ],
)
def test_an_account_snooze_refuses_bad_input_and_writes_nothing(
    rt: Runtime, account: str, until: dt.date, reason: str, error: type[CsmError], message: str
) -> None:
    with pytest.raises(error) as caught:
        tasks.snooze_account(rt.conn, account, until, reason, TODAY, NOW)
    assert caught.value.message == message
    assert rt.conn.execute("SELECT count(*) FROM snoozes").fetchone()[0] == 0
    assert timeline(rt) == []


# -- through the CLI, on the demo ---------------------------------------------


def test_task_done_is_a_touch(invoke, demo: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    task_id, account = rows(
        demo, "SELECT id, account_id FROM tasks WHERE status = 'open' ORDER BY id LIMIT 1"
    )[0]
    result = invoke("-w", str(demo), "task", "done", str(task_id), "--note", "Kickoff booked for Thursday")
    assert result.exit_code == 0
    view = json.loads(invoke("-w", str(demo), "account", account, "--json").stdout)
    assert view["account"]["days_since_touch"] == 0
    assert view["timeline"][0]["summary"].endswith("Kickoff booked for Thursday")
    again = invoke("-w", str(demo), "task", "done", str(task_id))
    assert again.exit_code == 1 and f"Error: task #{task_id} is already done" in again.stderr


def test_task_snooze_and_bad_dates(invoke, demo: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    (task_id,) = rows(demo, "SELECT min(id) FROM tasks WHERE status = 'open'")[0]
    bad = invoke("-w", str(demo), "task", "snooze", str(task_id), "--until", "next week", "--reason", "x")
    assert bad.exit_code == 2 and "'next week' is not a date like 2026-11-25" in bad.stderr
    past = invoke("-w", str(demo), "task", "snooze", str(task_id), "--until", "2026-11-01", "--reason", "x")
    assert past.exit_code == 1 and "--until 2026-11-01 is not after today (2026-11-23)" in past.stderr
    ok = invoke(
        "-w", str(demo), "task", "snooze", str(task_id), "--until", "2026-12-01", "--reason", "their IT"
    )
    assert ok.exit_code == 0
    listed = json.loads(invoke("-w", str(demo), "task", "list", "--all", "--json").stdout)
    assert task_id not in [t["id"] for t in listed]
    later = json.loads(
        invoke("-w", str(demo), "--today", "2026-12-01", "task", "list", "--all", "--json").stdout
    )
    assert task_id in [t["id"] for t in later]


def test_snoozing_an_account_stops_its_playbook(invoke, demo: Path) -> None:
    plan = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "onboarding").stdout)
    account = plan["steps"][0]["matches"][0]["account"]
    result = invoke(
        "-w",
        str(demo),
        "snooze",
        account,
        "--playbook",
        "onboarding",
        "--until",
        "2027-01-10",
        "--reason",
        "mid-migration",
    )
    assert result.exit_code == 0
    after = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "onboarding").stdout)
    assert account not in [m["account"] for s in after["steps"] for m in s["matches"]]
    listed = json.loads(invoke("-w", str(demo), "snoozes", "--json").stdout)
    assert [(z["account_id"], z["until"]) for z in listed] == [(account, "2027-01-10")]
    expired = json.loads(invoke("-w", str(demo), "--today", "2027-01-10", "snoozes", "--json").stdout)
    assert expired == []
    typo = invoke(
        "-w",
        str(demo),
        "snooze",
        account,
        "--playbook",
        "onbording",
        "--until",
        "2027-01-10",
        "--reason",
        "x",
    )
    assert typo.exit_code == 1 and "did you mean 'onboarding'" in typo.stderr

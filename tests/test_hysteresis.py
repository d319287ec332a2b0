"""`for:` and `until:` over constructed histories; holdouts stable and close to their share."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from csm import workspace as workspace_mod
from csm.data.store import transaction
from csm.engine.drafting import queue
from csm.engine.matching import evaluate, held_out
from csm.language.playbooks import parse_playbook
from csm.runtime import Runtime, open_runtime

DAY_14 = dt.date(2026, 11, 23)  # the 14th straight day below 40, counting 2026-11-10
SLUMP_STARTS = dt.date(2026, 11, 10)

PLAYBOOK = """\
playbook: slump
title: Usage slump
steps:
  - id: low
    title: Usage low for two weeks
    when: usage.logins < 40
    for: 14d
    until: usage.logins >= 60
    email: {template: at-risk/check-in.md.j2, to: [champion]}
    task: {title: Call about the slump, due_in: 3d}
"""


def _runtime(root: Path, today: dt.date) -> Runtime:
    return open_runtime(workspace_mod.load(explicit=root), today)


@pytest.fixture
def slump(workspace: Path) -> Iterator[Callable[[dt.date], Runtime]]:
    """A1 logs in 80 a day until 2026-11-09, then 20 a day; A2 has one low day in the middle; the
    runtime as of a day, closed when the test ends."""
    (workspace / "playbooks" / "slump.yaml").write_text(PLAYBOOK, encoding="utf-8")
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(80)]
    with _runtime(workspace, DAY_14) as rt, transaction(rt.conn):
        rt.conn.executemany(
            "INSERT INTO accounts (id, name, owner, status, start_date, renewal_date)"
            " VALUES (?, ?, 'dana@northwind-cs.example', 'active', '2025-01-01', '2027-06-01')",
            [("A1", "Slumping Co"), ("A2", "Blip Co")],
        )
        rt.conn.executemany(
            "INSERT INTO contacts (account_id, email, name, role, is_primary)"
            " VALUES (?, ?, ?, 'champion', 1)",
            [("A1", "kim@slumping.example", "Kim"), ("A2", "lee@blip.example", "Lee")],
        )
        rt.conn.executemany(
            "INSERT INTO usage (account_id, metric, date, value) VALUES (?, 'logins', ?, ?)",
            [("A1", d.isoformat(), 20 if d >= SLUMP_STARTS else 80) for d in days]
            + [("A2", d.isoformat(), 20 if d != dt.date(2026, 11, 16) else 90) for d in days],
        )
    with ExitStack() as opened:
        yield lambda today: opened.enter_context(_runtime(workspace, today))


def _matched(rt: Runtime) -> list[str]:
    [result] = evaluate(rt.conn, rt.playbooks(["slump"]), rt.fields, rt.params, rt.today)
    return [m.account_id for m in result.matches]


def _set_logins(rt: Runtime, account_id: str, day: dt.date, value: float) -> None:
    with transaction(rt.conn):
        rt.conn.execute(
            "INSERT INTO usage (account_id, metric, date, value) VALUES (?, 'logins', ?, ?)"
            " ON CONFLICT (account_id, metric, date) DO UPDATE SET value = excluded.value",
            (account_id, day.isoformat(), value),
        )


def test_for_fires_on_the_14th_day_not_the_13th(slump: Callable[[dt.date], Runtime]) -> None:
    assert _matched(slump(DAY_14 - dt.timedelta(days=1))) == []
    assert _matched(slump(DAY_14)) == ["A1"]


def test_one_good_day_inside_the_window_resets_the_count(slump: Callable[[dt.date], Runtime]) -> None:
    # A2 was low every day but 2026-11-16: it needs 14 low days from the 17th, i.e. the 30th.
    assert "A2" not in _matched(slump(DAY_14))
    assert "A2" not in _matched(slump(dt.date(2026, 11, 29)))
    assert "A2" in _matched(slump(dt.date(2026, 11, 30)))


def test_for_needs_history_it_does_not_have(slump: Callable[[dt.date], Runtime]) -> None:
    # Usage starts 2026-10-01: as of 2026-10-05 there are only five days of any data.
    rt = slump(dt.date(2026, 10, 5))
    with transaction(rt.conn):
        rt.conn.execute("UPDATE usage SET value = 1 WHERE account_id = 'A1'")
    assert _matched(rt) == []


def _queue(rt: Runtime):  # type: ignore[no-untyped-def]
    results = evaluate(rt.conn, rt.playbooks(["slump"]), rt.fields, rt.params, rt.today)
    return queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, results, rt.today, rt.now())


def _state(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
    drafts = [r[0] for r in conn.execute("SELECT status FROM outbox WHERE account_id = 'A1'")]
    tasks = [r[0] for r in conn.execute("SELECT status FROM tasks WHERE account_id = 'A1'")]
    return drafts, tasks


def test_until_withdraws_drafts_and_closes_tasks_on_recovery(slump: Callable[[dt.date], Runtime]) -> None:
    rt = slump(DAY_14)
    report = _queue(rt)
    assert {(q.kind, q.account_id) for q in report.added} == {("draft", "A1"), ("task", "A1")}
    assert _state(rt.conn) == (["draft"], ["open"])

    later = slump(DAY_14 + dt.timedelta(days=2))
    _set_logins(later, "A1", later.today, 45)  # better, but not recovered: nothing exits
    assert _queue(later).exited == []
    assert _state(later.conn) == (["draft"], ["open"])

    _set_logins(later, "A1", later.today, 75)  # recovered
    report = _queue(later)
    assert report.exited == [("slump", "low", "A1")]
    assert _state(later.conn) == (["withdrawn"], ["closed"])
    [(summary,)] = later.conn.execute(
        "SELECT summary FROM timeline WHERE account_id = 'A1' AND kind = 'exit'"
    ).fetchall()
    assert summary == "slump › low: until met; 1 task closed, 1 draft withdrawn"

    assert _queue(later).exited == []  # nothing left to close: no second timeline entry
    assert later.conn.execute("SELECT count(*) FROM timeline WHERE kind = 'exit'").fetchone()[0] == 1


def test_until_keeps_sent_mail_and_done_tasks(slump: Callable[[dt.date], Runtime]) -> None:
    rt = slump(DAY_14)
    _queue(rt)
    with transaction(rt.conn):
        rt.conn.execute("UPDATE outbox SET status = 'sent', sent_at = '2026-11-23T09:00:00+00:00'")
        rt.conn.execute("UPDATE tasks SET status = 'done', done_at = '2026-11-23T10:00:00+00:00'")
    _set_logins(rt, "A1", DAY_14 + dt.timedelta(days=1), 90)
    later = slump(DAY_14 + dt.timedelta(days=1))
    assert _queue(later).exited == []
    assert _state(later.conn) == (["sent"], ["done"])


def test_an_account_meeting_until_does_not_enter(slump: Callable[[dt.date], Runtime]) -> None:
    text = PLAYBOOK.replace("for: 14d", "for: 1d").replace("usage.logins >= 60", "usage.logins >= 10")
    rt = slump(DAY_14)
    (rt.ws.playbooks_dir / "slump.yaml").write_text(text, encoding="utf-8")
    assert _matched(rt) == []


def test_for_and_holdout_are_checked(workspace: Path) -> None:
    text = PLAYBOOK.replace("for: 14d", "for: 200d").replace("title: Usage slump", "title: S\nholdout: 150%")
    with _runtime(workspace, DAY_14) as rt:
        playbook, problems = parse_playbook(text, Path("slump.yaml"), rt.fields)
    assert playbook is None
    messages = [p.message for p in problems]
    assert "'holdout' must be a percentage below 100% like 10%, got '150%'" in messages
    assert "'for' must be a duration from 1d to 90d like 14d or 2w, got '200d'" in messages
    assert [p.line for p in problems] == [3, 8]


def test_holdout_is_stable_and_close_to_its_share() -> None:
    ids = [f"ACC-{n:05d}" for n in range(10_000)]
    first = {i for i in ids if held_out("renewal-ahead", i, 0.10)}
    assert first == {i for i in ids if held_out("renewal-ahead", i, 0.10)}  # same every run
    assert 900 <= len(first) <= 1100  # 10% of 10,000 within three standard deviations
    assert {i for i in ids if held_out("renewal-ahead", i, 0.20)} >= first  # a bigger share adds to it
    assert first != {i for i in ids if held_out("expansion", i, 0.10)}  # per playbook
    # A known value, so a change of hash (or Python's salted hash()) cannot slip in.
    assert [i for i in ids[:40] if held_out("renewal-ahead", i, 0.10)] == HELD_OUT_OF_FIRST_40


HELD_OUT_OF_FIRST_40 = ["ACC-00005", "ACC-00007", "ACC-00022", "ACC-00032"]


def test_held_out_accounts_get_nothing_but_are_recorded(slump: Callable[[dt.date], Runtime]) -> None:
    rt = slump(DAY_14)
    text = PLAYBOOK.replace("title: Usage slump", "title: Usage slump\nholdout: 99.9%")
    (rt.ws.playbooks_dir / "slump.yaml").write_text(text, encoding="utf-8")
    [result] = evaluate(rt.conn, rt.playbooks(["slump"]), rt.fields, rt.params, rt.today)
    assert ([m.account_id for m in result.matches], [m.account_id for m in result.held_out]) == ([], ["A1"])
    report = queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, [result], rt.today, rt.now())
    assert report.added == []
    rows = rt.conn.execute("SELECT playbook, step, account_id, first_matched, held_out FROM matches")
    assert [tuple(r) for r in rows] == [("slump", "low", "A1", "2026-11-23", 1)]

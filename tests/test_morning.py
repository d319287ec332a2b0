"""The morning list (csm/reporting/morning.py): its sections, their order, the owner filter, the whys."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from csm.data import timeline
from csm.reporting.morning import Morning, morning
from csm.runtime import Runtime
from tests.conftest import open_workspace

TODAY = dt.date(2026, 11, 23)
NOW = "2026-11-23T07:00:00+00:00"
DANA = "dana@northwind-cs.example"  # the workspace's "me"
LEE = "lee@northwind-cs.example"
SECTIONS = ["Replies", "Drafts to review", "Tasks", "Renewals coming up", "Health falling", "Silent accounts"]

# id: (owner, status, start_date, renewal_date, arr, last touch). Renewal window 90 days, silent after 60.
ACCOUNTS: dict[str, tuple[str, str, str, str, float | None, str | None]] = {
    "R0": (DANA, "active", "2025-01-01", "2026-11-23", 10_000, "2026-11-20"),  # renews today
    "R10": (DANA, "active", "2025-01-01", "2026-12-03", 50_000, "2026-11-20"),
    "R90": (DANA, "active", "2025-01-01", "2027-02-21", 20_000, "2026-11-20"),
    "R91": (DANA, "active", "2025-01-01", "2027-02-22", 20_000, "2026-11-20"),  # outside the window
    "RPAST": (DANA, "active", "2025-01-01", "2026-11-22", 20_000, "2026-11-20"),  # renewed yesterday
    "RLEE": (LEE, "active", "2025-01-01", "2026-12-01", 30_000, "2026-11-20"),
    "GONE": (DANA, "churned", "2025-01-01", "2026-12-01", 30_000, None),  # would be in every section
    "SNEVER": (DANA, "active", "2026-01-01", "2027-06-01", 5_000, None),  # 326 days, never touched
    "S60": (DANA, "active", "2025-01-01", "2027-06-01", 1_000, "2026-09-24"),
    "S60BIG": (DANA, "active", "2025-01-01", "2027-06-01", 9_000, "2026-09-24"),
    "S59": (DANA, "active", "2025-01-01", "2027-06-01", 9_000, "2026-09-25"),  # not silent yet
    "SLEE": (LEE, "active", "2026-01-01", "2027-06-01", 4_000, None),
    "U50": (DANA, "active", "2025-01-01", "2027-06-01", 1_000, "2026-11-20"),
    "U25": (DANA, "active", "2025-01-01", "2027-06-01", 1_000, "2026-11-20"),
    "U10": (DANA, "active", "2025-01-01", "2027-06-01", 1_000, "2026-11-20"),
    "ULEE": (LEE, "active", "2025-01-01", "2027-06-01", 1_000, "2026-11-20"),
}
# active_users, a day in the 30 days before today and a day in the 30 before those.
USAGE = {"U50": (100, 50), "U25": (100, 75), "U10": (100, 90), "ULEE": (100, 10), "GONE": (100, 10)}


@pytest.fixture
def rt(workspace: Path) -> Iterator[Runtime]:
    with open_workspace(workspace, TODAY) as runtime:
        conn = runtime.conn
        for account, (owner, status, start, renewal, arr, touched) in ACCOUNTS.items():
            conn.execute(
                "INSERT INTO accounts (id, name, owner, status, start_date, renewal_date, arr)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (account, f"{account} Ltd", owner, status, start, renewal, arr),
            )
            if touched:
                timeline.record(conn, account, "email_sent", "an email", f"{touched}T10:00:00+00:00")
        for account, (before, now) in USAGE.items():
            conn.executemany(
                "INSERT INTO usage (account_id, metric, date, value) VALUES (?, 'active_users', ?, ?)",
                [(account, "2026-10-10", before), (account, "2026-11-20", now)],
            )
        yield runtime


def add_draft(rt: Runtime, account: str, priority: str, to: str, status: str = "draft") -> int:
    owner = ACCOUNTS[account][0]
    cursor = rt.conn.execute(
        "INSERT INTO outbox (dedupe_key, playbook, step, account_id, owner, to_addrs, subject, body,"
        " template, why, priority, status, created_at, updated_at)"
        " VALUES (?, 'renewal-ahead', 'check-in', ?, ?, ?, ?, 'Hi', 't.md.j2', ?, ?, ?, ?, ?) RETURNING id",
        (
            f"key:{account}:{priority}:{status}",
            account,
            owner,
            json.dumps([["A contact", to]]),
            f"Renewal for {account} Ltd",
            json.dumps({"days_to_renewal": 10}),
            priority,
            status,
            NOW,
            NOW,
        ),
    )
    return cursor.fetchone()[0]


def add_task(rt: Runtime, account: str, due: str, status: str = "open") -> int:
    cursor = rt.conn.execute(
        "INSERT INTO tasks (playbook, step, account_id, owner, title, due_date, status, why, created_at)"
        " VALUES ('onboarding', 'stalled', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            account,
            ACCOUNTS[account][0],
            f"Call {account}",
            due,
            status,
            json.dumps({"days_since_start": 40}),
            NOW,
        ),
    )
    return cursor.fetchone()[0]


def accounts(rows: list[dict[str, Any]]) -> list[str]:
    return [r["account"] for r in rows]


def health(rt: Runtime, scores: dict[str, tuple[float, float]]) -> None:
    """Snapshots 30 days ago and today: (then, now)."""
    rt.conn.executemany(
        "INSERT INTO health_history (account_id, date, score) VALUES (?, ?, ?)",
        [(a, "2026-10-24", then) for a, (then, _) in scores.items()]
        + [(a, "2026-11-23", now) for a, (_, now) in scores.items()],
    )


JSON_KEYS = [
    "today",
    "owner",
    "stale",
    "held_back",
    "replies",
    "drafts",
    "deferred",
    "tasks",
    "renewals",
    "health_drops",
    "silent",
]


def test_the_sections_come_in_their_order(rt: Runtime) -> None:
    report = morning(rt, DANA)
    assert isinstance(report, Morning)
    assert list(report.as_json()) == JSON_KEYS
    assert (report.today, report.owner) == ("2026-11-23", DANA)


def test_drafts_to_review_most_urgent_first_each_with_its_why(rt: Runtime) -> None:
    normal = add_draft(rt, "R10", "normal", "pat@r10.example")
    urgent = add_draft(rt, "R0", "urgent", "pat@r10.example")
    high = add_draft(rt, "S60", "high", "sam@s60.example")
    approved = add_draft(rt, "R90", "urgent", "pat@r10.example", status="approved")
    drafts = morning(rt, DANA).drafts
    assert [d["id"] for d in drafts] == [urgent, high, normal]  # an approved draft waits for no review
    first = drafts[0]
    assert first == {
        "id": urgent,
        "account": "R0",
        "account_name": "R0 Ltd",
        "playbook": "renewal-ahead",
        "step": "check-in",
        "subject": "Renewal for R0 Ltd",
        "priority": "urgent",
        "edited": False,
        "why": {"days_to_renewal": 10},
        "also_to_same_person": first["also_to_same_person"],
    }
    assert [o["id"] for o in first["also_to_same_person"]] == [normal, approved]
    assert drafts[1]["also_to_same_person"] == []


def test_tasks_due_within_a_week_soonest_first_with_their_state_and_why(rt: Runtime) -> None:
    upcoming = add_task(rt, "R10", "2026-11-30")
    add_task(rt, "R10", "2026-12-01")  # eight days out
    due = add_task(rt, "R0", "2026-11-23")
    overdue = add_task(rt, "S60", "2026-11-20")
    add_task(rt, "S60", "2026-11-20", status="done")
    listed = morning(rt, DANA).tasks
    assert [(t["id"], t["state"]) for t in listed] == [
        (overdue, "overdue"),
        (due, "due"),
        (upcoming, "upcoming"),
    ]
    assert listed[0] == {
        "id": overdue,
        "account": "S60",
        "account_name": "S60 Ltd",
        "title": "Call S60",
        "type": "other",
        "assignee": ACCOUNTS["S60"][0],
        "due_date": "2026-11-20",
        "state": "overdue",
        "priority": "normal",
        "playbook": "onboarding",
        "step": "stalled",
        "why": {"days_since_start": 40},
    }


def test_renewals_inside_the_window_soonest_first(rt: Runtime) -> None:
    renewals = morning(rt, DANA).renewals
    assert accounts(renewals) == ["R0", "R10", "R90"]
    assert renewals[1] == {
        "account": "R10",
        "name": "R10 Ltd",
        "owner": DANA,
        "renewal_date": "2026-12-03",
        "days_to_renewal": 10,
        "arr": 50_000,
        "days_since_touch": 3,
    }


def test_silent_accounts_longest_silence_first_then_the_biggest(rt: Runtime) -> None:
    silent = morning(rt, DANA).silent
    assert [(r["account"], r["days_since_touch"], r["last_touch_at"]) for r in silent] == [
        ("SNEVER", 326, None),
        ("S60BIG", 60, "2026-09-24"),
        ("S60", 60, "2026-09-24"),
    ]
    assert silent[0]["arr"] == 5_000


def test_without_a_month_of_health_history_usage_drops_stand_in(rt: Runtime) -> None:
    drops = morning(rt, DANA).health_drops
    assert [(r["account"], r["usage_change_30d"]) for r in drops] == [("U50", -0.5), ("U25", -0.25)]
    assert set(drops[0]) == {"account", "name", "owner", "usage_30d", "usage_change_30d"}
    assert drops[0]["usage_30d"] == 50


def test_with_a_month_of_health_history_health_drops_are_shown(rt: Runtime) -> None:
    health(rt, {"U10": (80, 60), "U50": (80, 70), "U25": (80, 75), "R10": (70, 71)})
    report = morning(rt, DANA)
    assert [(r["account"], r["health"], r["health_change_30d"]) for r in report.health_drops] == [
        ("U10", 60, -20),
        ("U50", 70, -10),
    ]
    renewals = {r["account"]: r for r in report.renewals}
    assert renewals["R10"]["health"] == 71 and renewals["R0"]["health"] is None


def test_the_owner_filter_keeps_one_book_in_every_section(rt: Runtime) -> None:
    add_draft(rt, "RLEE", "normal", "kim@rlee.example")
    add_task(rt, "RLEE", "2026-11-24")
    add_draft(rt, "R10", "normal", "pat@r10.example")
    add_task(rt, "R10", "2026-11-24")
    lee = morning(rt, LEE)
    assert [d["account"] for d in lee.drafts] == ["RLEE"]
    assert [t["account"] for t in lee.tasks] == ["RLEE"]
    assert accounts(lee.renewals) == ["RLEE"]
    assert accounts(lee.health_drops) == ["ULEE"]
    assert accounts(lee.silent) == ["SLEE"]
    everyone = morning(rt, None)
    assert everyone.owner is None
    assert [d["account"] for d in everyone.drafts] == ["RLEE", "R10"]
    assert accounts(everyone.renewals) == ["R0", "RLEE", "R10", "R90"]
    assert accounts(everyone.health_drops) == ["ULEE", "U50", "U25"]
    assert accounts(everyone.silent) == ["SNEVER", "SLEE", "S60BIG", "S60"]
    assert "GONE" not in json.dumps(everyone.as_json())  # a churned account is in no section


def add_reply(rt: Runtime, account: str, at: str, draft: int | None = None) -> None:
    rt.conn.execute(
        "INSERT INTO replies (message_key, account_id, draft_id, address, at, subject, matched_by,"
        " recorded_at) VALUES (?, ?, ?, 'pat@r10.example', ?, 'Re: Renewal', ?, ?)",
        (f"<{account}{at}@x>", account, draft, at, "thread" if draft else "sender", NOW),
    )


def test_replies_of_the_last_week_newest_first_with_what_they_answer(rt: Runtime) -> None:
    draft = add_draft(rt, "R10", "normal", "pat@r10.example", status="sent")
    add_reply(rt, "R10", "2026-11-20T09:00:00+00:00", draft)
    add_reply(rt, "R90", "2026-11-22T17:00:00+00:00")
    add_reply(rt, "R90", "2026-11-16T23:00:00+00:00")  # 7 days before today: too old
    add_reply(rt, "R91", "2026-11-24T08:00:00+00:00")  # after "today"
    add_reply(rt, "RLEE", "2026-11-22T08:00:00+00:00")  # Lee's book
    found = morning(rt, DANA).replies
    assert [(r["account"], r["at"][:10], r["playbook"], r["step"], r["draft"]) for r in found] == [
        ("R90", "2026-11-22", None, None, None),
        ("R10", "2026-11-20", "renewal-ahead", "check-in", draft),
    ]


def test_today_prints_the_sections_in_order_each_item_with_its_why(invoke, rt: Runtime) -> None:
    draft = add_draft(rt, "R10", "normal", "pat@r10.example")
    add_task(rt, "R10", "2026-11-24")
    add_reply(rt, "R10", "2026-11-22T17:00:00+00:00", draft)
    result = invoke("-w", str(rt.ws.root), "today", "--no-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"Good morning. 2026-11-23, the book of {DANA}.")
    headings = [line for line in out.splitlines() if line.split(" (")[0] in SECTIONS]
    assert headings == [
        "Replies (1)",
        "Drafts to review (1)",
        "Tasks (1)",
        "Renewals coming up (3)",
        "Health falling (2)",
        "Silent accounts (3)",
    ]
    assert "renewal-ahead › check-in: days_to_renewal=10" in out
    assert "onboarding › stalled: days_since_start=40" in out
    assert "no touch since 2026-09-24" in out
    assert "  11-22 R10 Ltd (R10): pat@r10.example wrote “Re: Renewal”" in out
    assert f"answers renewal-ahead › check-in (draft #{draft})" in out


def test_a_book_with_nothing_due_says_so(invoke, rt: Runtime) -> None:
    result = invoke("-w", str(rt.ws.root), "today", "--no-run", "--owner", "nobody@northwind-cs.example")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("Nothing needs you today.\n")

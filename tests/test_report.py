"""`csm report` and `csm outcome` against a small hand-checked dataset."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import database_of

from csm.data import outcomes, store
from csm.data.importer import import_records
from csm.reporting import report

TODAY = dt.date(2026, 11, 23)
NOW = "2026-11-23T08:00:00+00:00"

# Playbook "renew", step "ask", matched 2026-08-01 (A1-A6) or 2026-10-01 (A7, A8).
# A1, A2, A3 touched (email sent 2026-08-03; A3 by its task done 2026-08-05).
# A4 never touched; A5, A6 held out; A7 draft skipped; A8 draft withdrawn.
MATCHES = [
    ("A1", "2026-08-01", 0),
    ("A2", "2026-08-01", 0),
    ("A3", "2026-08-01", 0),
    ("A4", "2026-08-01", 0),
    ("A5", "2026-08-01", 1),
    ("A6", "2026-08-01", 1),
    ("A7", "2026-10-01", 0),
    ("A8", "2026-10-01", 0),
]
OUTCOMES = [  # after the touch or match unless noted
    ("A1", "2026-09-15", "renewed"),
    ("A2", "2026-09-20", "churned"),
    ("A3", "2026-10-01", "renewed"),
    ("A4", "2026-09-01", "churned"),
    ("A5", "2026-09-10", "renewed"),
    ("A6", "2026-09-10", "churned"),
    ("A7", "2026-09-01", "renewed"),  # before A7 matched: not counted
]
# health on (match or touch day, +30, +60, +90); snapshots on exactly those days.
HEALTH = {
    "A1": ("2026-08-03", [50, 60, 70, 80]),  # +10 +20 +30
    "A2": ("2026-08-03", [50, 40, 30, 20]),  # -10 -20 -30
    "A3": ("2026-08-05", [40, 44, 48, 52]),  # +4 +8 +12
    "A4": ("2026-08-01", [60, 55, 50, 45]),  # -5 -10 -15
    "A5": ("2026-08-01", [70, 72, 74, 76]),  # +2 +4 +6
    "A6": ("2026-08-01", [70, 60, 50, 40]),  # -10 -20 -30
    "A7": ("2026-10-01", [30, 36, 42]),  # +6 at 30d; 60d (2026-11-30) has not come yet
}


def _draft(conn: sqlite3.Connection, n: int, account: str, status: str, **extra: str) -> None:
    columns = {
        "dedupe_key": f"renew:ask:{account}:once",
        "playbook": "renew",
        "step": "ask",
        "account_id": account,
        "to_addrs": "[]",
        "subject": "s",
        "body": "b",
        "template": "t.md.j2",
        "status": status,
        "created_at": "2026-10-01T07:00:00+00:00" if n > 6 else "2026-08-01T07:00:00+00:00",
        "updated_at": NOW,
        **extra,
    }
    conn.execute(
        f"INSERT INTO outbox ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        list(columns.values()),
    )


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = store.connect(tmp_path / "csm.db", create=True)
    with store.transaction(conn):
        for n, (account, first, held) in enumerate(MATCHES, 1):
            conn.execute("INSERT INTO accounts (id, name) VALUES (?, ?)", (account, f"Co {n}"))
            conn.execute(
                "INSERT INTO matches VALUES ('renew', 'ask', ?, ?, '2026-11-20', ?)", (account, first, held)
            )
        sent = "2026-08-03T09:00:00+00:00"
        _draft(conn, 1, "A1", "sent", sent_at=sent)
        _draft(conn, 2, "A2", "sent", sent_at=sent)
        _draft(conn, 4, "A4", "approved")
        _draft(conn, 7, "A7", "skipped", reason="already on a call")
        _draft(conn, 8, "A8", "withdrawn", reason="until met")
        conn.execute(  # A1 answered in the email's thread
            "INSERT INTO replies (message_key, account_id, draft_id, address, at, subject, matched_by,"
            " recorded_at) VALUES ('<r1@a1>', 'A1', 1, 'kim@a1.example', '2026-08-04T08:00:00+00:00',"
            " 'Re: s', 'thread', ?)",
            (NOW,),
        )
        conn.execute(
            "INSERT INTO tasks (dedupe_key, playbook, step, account_id, title, status, created_at, done_at)"
            " VALUES ('renew:ask:A3:once', 'renew', 'ask', 'A3', 'Call', 'done',"
            " '2026-08-01T07:00:00+00:00', '2026-08-05T15:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO tasks (dedupe_key, playbook, step, account_id, title, status, created_at)"
            " VALUES ('renew:ask:A4:once', 'renew', 'ask', 'A4', 'Call', 'open', '2026-08-01T07:00:00+00:00')"
        )
        conn.executemany("INSERT INTO outcomes VALUES (?, ?, ?, 'manual', ?)", [(*o, NOW) for o in OUTCOMES])
        for account, (start, scores) in HEALTH.items():
            first = dt.date.fromisoformat(start)
            conn.executemany(
                "INSERT INTO health_history (account_id, date, score) VALUES (?, ?, ?)",
                [(account, (first + dt.timedelta(days=30 * i)).isoformat(), s) for i, s in enumerate(scores)],
            )
    yield conn
    conn.close()


def _step(r: report.Report) -> report.StepReport:
    [step] = r.steps
    return step


def test_activity_counts(conn: sqlite3.Connection) -> None:
    s = _step(report.build(conn, TODAY))
    assert (s.matched, s.held_out) == (6, 2)
    assert (s.drafted, s.approved, s.sent, s.withdrawn) == (5, 3, 2, 1)
    assert s.skipped == {"already on a call": 1}
    assert (s.tasks, s.tasks_done) == (2, 1)
    assert (s.replied, s.as_json()["reply_rate"]) == (1, 0.5)


def test_a_reply_from_the_account_counts_for_the_last_email_before_it(conn: sqlite3.Connection) -> None:
    def reply(key: str, at: str) -> None:
        with store.transaction(conn):
            conn.execute(
                "INSERT INTO replies (message_key, account_id, address, at, subject, matched_by, recorded_at)"
                " VALUES (?, 'A2', 'lee@a2.example', ?, 'Hello', 'sender', ?)",
                (key, at, NOW),
            )

    reply("<before@a2>", "2026-08-02T08:00:00+00:00")  # before A2's email went out: not an answer
    assert _step(report.build(conn, TODAY)).replied == 1
    with store.transaction(conn):
        conn.execute(
            "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, subject, body, template,"
            " status, sent_at, created_at, updated_at) VALUES ('other:x:A2:once', 'other', 'x', 'A2', '[]',"
            " 's', 'b', 't', 'sent', '2026-08-10T09:00:00+00:00', '2026-08-09T07:00:00+00:00', ?)",
            (NOW,),
        )
    reply("<after@a2>", "2026-08-12T08:00:00+00:00")  # answers the later email of another playbook
    steps = {(s.playbook, s.step): s.replied for s in report.build(conn, TODAY).steps}
    assert steps == {("renew", "ask"): 1, ("other", "x"): 1}
    reply("<between@a2>", "2026-08-05T08:00:00+00:00")
    assert _step_of(report.build(conn, TODAY), "renew").replied == 2


def _step_of(r: report.Report, playbook: str) -> report.StepReport:
    return next(s for s in r.steps if s.playbook == playbook)


def test_touched_against_not_touched(conn: sqlite3.Connection) -> None:
    s = _step(report.build(conn, TODAY))
    # touched: A1 renewed, A2 churned, A3 renewed -> 2 of 3
    assert s.touched.accounts == 3
    assert (s.touched.renewal.hits, s.touched.renewal.total) == (2, 3)
    assert [s.touched.median_change(d) for d in (30, 60, 90)] == [4, 8, 12]
    # not touched: A4 churned, A5 renewed, A6 churned, A7 (outcome before its match), A8 none
    assert s.not_touched.accounts == 5
    assert (s.not_touched.renewal.hits, s.not_touched.renewal.total) == (1, 3)
    # 30d: A4 -5, A5 +2, A6 -10, A7 +6 -> median (-5 + 2) / 2; 60d and 90d without A7
    assert [s.not_touched.median_change(d) for d in (30, 60, 90)] == [-1.5, -10, -15]
    assert [len(s.not_touched.changes[d]) for d in (30, 60, 90)] == [4, 3, 3]


def test_holdout_lift_with_a_confidence_interval(conn: sqlite3.Connection) -> None:
    [h] = report.build(conn, TODAY).holdouts
    assert (h.touched.accounts, h.held_out.accounts) == (3, 2)
    assert (h.held_out.renewal.hits, h.held_out.renewal.total) == (1, 2)
    lift = h.renewal_lift
    assert lift is not None
    assert lift.estimate == pytest.approx(2 / 3 - 1 / 2)
    # Newcombe's interval from the Wilson intervals, computed by hand.
    assert (round(lift.low, 3), round(lift.high, 3)) == (-0.446, 0.655)
    health = h.health_lift_30d
    assert health is not None
    assert health.estimate == pytest.approx((10 - 10 + 4) / 3 - (2 - 10) / 2)


def test_wilson_and_newcombe_match_published_values() -> None:
    # Newcombe (1998), example (a): 56/70 against 48/80, difference 0.2 (0.0524 to 0.3339).
    lift = report.rate_difference(report.Rate(56, 70), report.Rate(48, 80))
    assert lift is not None
    assert (round(lift.low, 4), round(lift.high, 4)) == (0.0524, 0.3339)
    assert report.rate_difference(report.Rate(1, 1), report.Rate(0, 0)) is None


def test_since_leaves_out_what_came_before(conn: sqlite3.Connection) -> None:
    with conn:
        conn.execute("UPDATE matches SET last_matched = first_matched")
    s = _step(report.build(conn, TODAY, dt.date(2026, 9, 1)))
    assert (s.matched, s.drafted, s.tasks) == (2, 2, 0)
    assert s.touched.accounts == 0
    assert s.skipped == {"already on a call": 1}


@pytest.mark.sqlite_only("puts the SQLite `conn` fixture's file in the workspace")
def test_report_json_and_table(
    conn: sqlite3.Connection, tmp_path: Path, workspace: Path, invoke: Callable[..., object]
) -> None:
    conn.close()
    (workspace / "csm.db").unlink()
    (tmp_path / "csm.db").rename(workspace / "csm.db")
    result = invoke("-w", str(workspace), "report", "--json")
    data = json.loads(result.output)  # type: ignore[attr-defined]
    [step] = data["steps"]
    assert step["touched"]["renewal"] == {"renewed": 2, "with_outcome": 3, "rate": 0.6667}
    assert step["not_touched"]["median_health_change"]["30"] == {"median": -1.5, "accounts": 4}
    assert data["holdouts"][0]["renewal_lift"]["estimate"] == 0.1667
    table = invoke("-w", str(workspace), "report").output  # type: ignore[attr-defined]
    assert "  ask                6    2       5     3    2    1   50%       1     1     2    1" in table
    assert "renew › ask skipped: already on a call (1)" in table
    assert "  ask          touched         3 ███████···  67% of 3   +4.0  +8.0 +12.0" in table
    assert "               not touched     5 ███·······  33% of 3   -1.5 -10.0 -15.0" in table
    assert "renewal lift   +16.7 pp (95% CI -44.6 to +65.5)" in table
    assert "The interval spans zero" in table


def test_outcome_by_hand(workspace: Path, invoke: Callable[..., object]) -> None:
    conn = store.connect(database_of(workspace))
    conn.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Co')")
    result = invoke("-w", str(workspace), "outcome", "A1", "churned", "--date", "2026-11-01")
    assert "Recorded: A1 churned on 2026-11-01." in result.output  # type: ignore[attr-defined]
    assert outcomes.listing(conn, "A1") == [
        {"account_id": "A1", "date": "2026-11-01", "outcome": "churned", "source": "manual"}
    ]
    assert conn.execute("SELECT status FROM accounts").fetchone()[0] == "churned"
    assert conn.execute("SELECT summary FROM timeline WHERE kind = 'outcome'").fetchone()[0] == (
        "churned on 2026-11-01"
    )
    from typer.testing import CliRunner

    from csm.cli import app

    bad = CliRunner().invoke(app, ["-w", str(workspace), "outcome", "A1", "maybe"])
    assert bad.exit_code == 1
    assert "unknown outcome 'maybe'" in bad.output
    assert len(outcomes.listing(conn)) == 1
    conn.close()


def test_imports_record_an_outcome_when_the_status_changes(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "csm.db", create=True)

    def load(status: str, renewal: str, now: str) -> None:
        row = {"id": "A1", "name": "Co", "status": status, "renewal_date": renewal}
        import_records(conn, "accounts", [("row 1", row)], source="crm.csv", now=now)

    load("active", "2026-10-01", "2026-09-01T07:00:00+00:00")
    assert outcomes.listing(conn) == []
    load("renewed", "2026-10-01", "2026-10-05T07:00:00+00:00")  # renewal date passed: dated then
    load("renewed", "2026-10-01", "2026-10-06T07:00:00+00:00")  # still renewed: no second outcome
    assert outcomes.listing(conn) == [
        {"account_id": "A1", "date": "2026-10-01", "outcome": "renewed", "source": "import"}
    ]
    load("churned", "2027-10-01", "2026-11-02T07:00:00+00:00")  # date ahead: dated the import day
    assert [o["date"] for o in outcomes.listing(conn)] == ["2026-10-01", "2026-11-02"]
    conn.close()


def test_demo_history_gives_the_report_its_figures(demo: Path) -> None:
    from csm.demo.history import HOLDOUT_PLAYBOOK

    conn = store.connect(database_of(demo))
    r = report.build(conn, TODAY)
    renewed_on = conn.execute(
        "SELECT o.date, a.renewal_date FROM outcomes o JOIN accounts a ON a.id = o.account_id"
        " WHERE o.outcome = 'renewed'"
    ).fetchall()
    conn.close()
    # A renewed account's outcome is the renewal it decided, a year before its next one.
    assert renewed_on and all(str(int(d[:4]) + 1) + d[4:] == nxt for d, nxt in renewed_on)
    steps = {(s.playbook, s.step): s for s in r.steps}
    hello = steps[("silent-account", "hello")]
    assert hello.sent > 0 and sum(hello.skipped.values()) > 0
    assert hello.sent + sum(hello.skipped.values()) == hello.drafted  # the CSM worked every draft
    assert hello.touched.median_change(30) is not None
    [holdout] = r.holdouts
    assert holdout.playbook == HOLDOUT_PLAYBOOK
    share = holdout.held_out.accounts / (holdout.held_out.accounts + holdout.touched.accounts)
    assert 0.1 < share < 0.35
    assert holdout.health_lift_30d is not None
    check_in = steps[("renewal-ahead", "check-in")]
    assert check_in.touched.renewal.total >= 10 and check_in.not_touched.renewal.total >= 1
    assert 0 < check_in.touched.renewal.hits < check_in.touched.renewal.total  # renewals and churns

"""`csm backtest`: each past day on its own values, the run's dedupe rule, reality beside it, no writes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import database_of, db_dump, own_book

from csm.data import outcomes, store
from csm.data.importer import import_records

BASE = {
    "status": "active",
    "start_date": "2024-01-01",
    "owner": "dana@northwind-cs.example",
    "open_tickets": 0,
}


def _import(db: Path | str, kind: str, rows: list[dict[str, Any]], day: str) -> None:
    conn = store.connect(db)
    try:
        records = ((f"record {n}", row) for n, row in enumerate(rows, 1))
        import_records(conn, kind, records, source="crm.csv", now=f"{day}T06:00:00+00:00")
    finally:
        conn.close()


@pytest.fixture
def book(workspace: Path, invoke) -> Path:
    """Acme renews on 2026-12-15; Beta's NPS fell to 3 in the import of 2026-09-01; Acme snoozed on 09-10."""
    db = database_of(workspace)
    acme = {**BASE, "id": "A1", "name": "Acme", "renewal_date": "2026-12-15", "nps": 8}
    beta = {**BASE, "id": "A2", "name": "Beta", "renewal_date": "2027-06-01", "nps": 8}
    _import(db, "accounts", [acme, beta], "2026-08-01")
    _import(
        db,
        "contacts",
        [
            {"account": "A1", "email": "ana@acme.test", "role": "champion", "primary": True},
            {"account": "A2", "email": "bo@beta.test", "role": "champion", "primary": True},
        ],
        "2026-08-01",
    )
    _import(db, "accounts", [{**beta, "nps": 3}], "2026-09-01")
    ws = ("--workspace", str(workspace))
    assert invoke(*ws, "--today", "2026-08-17", "run", "-q", "renewal-ahead").exit_code == 0
    assert (
        invoke(
            *ws, "--today", "2026-09-10", "snooze", "A1", "--until", "2026-12-01", "--reason", "audit"
        ).exit_code
        == 0
    )
    conn = store.connect(db)
    outcomes.record(conn, "A1", "renewed", dt.date(2026, 12, 15), "2026-12-15T09:00:00+00:00")
    conn.close()
    return workspace


def _steps(invoke, workspace: Path, *args: str) -> dict[str, Any]:
    result = invoke(
        "--workspace",
        str(workspace),
        "backtest",
        "--from",
        "2026-08-10",
        "--to",
        "2026-09-20",
        *args,
        "--json",
    )
    assert result.exit_code == 0, result.output
    return {f"{s['playbook']} › {s['step']}": s for s in json.loads(result.output)["steps"]}


def _weeks(step: dict[str, Any], key: str) -> dict[str, int]:
    return {w["week"]: w[key] for w in step["weeks"] if w[key]}


def test_each_day_is_judged_on_its_own_values(book: Path, invoke) -> None:
    steps = _steps(invoke, book, "-p", "at-risk")
    detractor = steps["at-risk › detractor"]
    assert detractor["accounts"]["matched"] == ["A2"]
    assert _weeks(detractor, "matched") == {"2026-W36": 1, "2026-W37": 1, "2026-W38": 1}, (
        "not before 09-01's import"
    )
    assert _weeks(detractor, "drafts") == {}, "nobody answered: a call, not an email to whoever is there"
    assert _weeks(detractor, "tasks") == {"2026-W36": 1}, "once per quarter"


def test_once_per_and_snoozes_as_they_stood_then(book: Path, invoke) -> None:
    heads_up = _steps(invoke, book, "-p", "renewal-ahead")["renewal-ahead › heads-up"]
    # 91 to 120 days before 2026-12-15 is 08-17 to 09-15; snoozed from 09-10.
    assert _weeks(heads_up, "matched") == {"2026-W34": 1, "2026-W35": 1, "2026-W36": 1, "2026-W37": 1}
    assert _weeks(heads_up, "drafts") == {"2026-W34": 1} and _weeks(heads_up, "tasks") == {"2026-W34": 1}
    assert _weeks(heads_up, "real_drafts") == {"2026-W34": 1} and _weeks(heads_up, "real_tasks") == {
        "2026-W34": 1
    }
    assert (
        heads_up["accounts"]["acted"] == heads_up["accounts"]["really_acted"] == ["A1"]
        and heads_up["both"] == 1
    )
    assert heads_up["outcomes"] == {"renewed": 1, "churned": 0, "undecided": 0}


def test_the_freshness_gate_as_it_stood_each_day(book: Path, invoke) -> None:
    """Accounts loaded 08-01 and 09-01, a 20-day limit: stale from 08-22 to 08-31, held back those days."""
    with (book / "csm.toml").open("a") as settings:
        settings.write('\n[freshness]\naccounts = "20d"\n')
    heads_up = _steps(invoke, book, "-p", "renewal-ahead")["renewal-ahead › heads-up"]
    assert _weeks(heads_up, "stale_days") == {"2026-W34": 2, "2026-W35": 7, "2026-W36": 1}
    assert _weeks(heads_up, "matched") == {"2026-W34": 1, "2026-W36": 1, "2026-W37": 1}, "not while stale"
    result = invoke("--workspace", str(book), "backtest", "--from", "2026-08-10", "--to", "2026-09-20")
    assert "held back 10 days: data it reads was stale then" in result.output


def test_a_backtest_writes_nothing(book: Path, invoke) -> None:
    before = db_dump(book)
    result = invoke("--workspace", str(book), "backtest", "--from", "2026-08-10", "--to", "2026-09-20")
    assert result.exit_code == 0
    assert db_dump(book) == before
    assert "renewal-ahead › heads-up  Success review before the renewal" in result.output
    assert (
        "1 accounts matched; 1 would get a draft or task, 1 really did (1 the same accounts)" in result.output
    )
    assert "after matching: 1 renewed, 0 churned (100% renewed of those decided)" in result.output
    assert (
        "account values are recorded since 2026-09-01; before that, the oldest values kept" in result.output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-09-20", "--to", "2026-09-01"), "--to 2026-09-01 is before --from 2026-09-20"),
        (("--from", "2025-01-01", "--to", "2026-09-01"), "609 days is too long a backtest (at most 400)"),
        (("--from", "2026-13-01", "--to", "2026-09-01"), "--from"),
    ],
)
def test_a_bad_range_is_refused(workspace: Path, invoke, args: tuple[str, ...], message: str) -> None:
    result = invoke("--workspace", str(workspace), "backtest", *args)
    assert result.exit_code in (1, 2)
    assert message in result.output


def test_the_demo_summer_backtests_against_what_the_csm_did(demo: Path, invoke) -> None:
    before = db_dump(demo)
    result = invoke(
        "--workspace", str(demo), "backtest", "--from", "2026-07-27", "--to", "2026-10-24", "--json"
    )
    report = json.loads(result.output)
    assert db_dump(demo) == before
    steps = {f"{s['playbook']} › {s['step']}": s for s in report["steps"]}
    heads_up = steps["renewal-ahead › heads-up"]
    assert sum(w["real_drafts"] for w in heads_up["weeks"]) > 0
    assert heads_up["both"] > 0
    assert heads_up["outcomes"]["renewed"] + heads_up["outcomes"]["churned"] > 0, (
        "the summer's renewals were decided"
    )
    assert report["history_from"] is not None and report["history_from"] < "2026-10-24"


ME = "dana@northwind-cs.example"
BUDGET_BOOK = {
    "accounts": (
        f"id,name,owner,plan,start_date,renewal_date,status\nA1,Acme,{ME},team,2024-01-07,2027-06-07,active\n"
    ),
    "contacts": "account_id,email,name,role,is_primary\nA1,ann@acme.example,Ann Archer,champion,true\n",
}


def _writes_once(name: str, priority: str) -> str:
    return f"""\
playbook: {name}
title: {name.capitalize()}
priority: {priority}
steps:
  - id: touch
    when: status = 'active'
    email: {{ template: test/hi.md.j2, to: [champion] }}
"""


def test_the_touch_budget_defers_as_a_run_does(workspace: Path, invoke) -> None:
    """Three playbooks write to Ann on 11-02, a budget of 2 per 7 days: the lowest waits until 11-09."""
    playbooks = {
        f"{n}.yaml": _writes_once(n, p)
        for n, p in (("nudge", "low"), ("rescue", "urgent"), ("hello", "normal"))
    }
    book = own_book(invoke, workspace, playbooks, **BUDGET_BOOK)
    result = invoke("-w", str(book), "backtest", "--from", "2026-11-02", "--to", "2026-11-12", "--json")
    assert result.exit_code == 0, result.output
    steps = {s["playbook"]: s for s in json.loads(result.output)["steps"]}
    for name in ("rescue", "hello"):
        assert _weeks(steps[name], "drafts") == {"2026-W45": 1} and _weeks(steps[name], "deferred") == {}
    nudge = steps["nudge"]
    assert _weeks(nudge, "deferred") == {"2026-W45": 1}, "no room on 11-02: Ann has two emails that week"
    assert _weeks(nudge, "drafts") == {"2026-W46": 1}, (
        "drafted again on 11-09, when the first two left the window"
    )
    text = invoke("-w", str(book), "backtest", "--from", "2026-11-02", "--to", "2026-11-12", "-p", "nudge")
    assert "deferred" in text.output


def _sent(db: str | Path, n: int, sent_at: str) -> None:
    """A real email to Ann, sent at ``sent_at`` (by a playbook the backtest does not replay)."""
    conn = store.connect(db)
    conn.execute(
        "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, subject, body, template,"
        " status, created_at, updated_at, sent_at)"
        " VALUES (?, 'manual', 'note', 'A1', '[[\"Ann Archer\", \"ann@acme.example\"]]', ?, 'Hi', 'x',"
        " 'sent', ?, ?, ?)",
        (f"manual-{n}", f"Note {n}", sent_at, sent_at, sent_at),
    )
    conn.close()


def test_real_mail_counts_against_the_budget_from_the_day_it_went_out(workspace: Path, invoke) -> None:
    """Ann really got an email on 10-30 and another on 11-05; two playbooks write to her on 11-02."""
    playbooks = {f"{n}.yaml": _writes_once(n, p) for n, p in (("rescue", "urgent"), ("hello", "normal"))}
    book = own_book(invoke, workspace, playbooks, **BUDGET_BOOK)
    _sent(database_of(book), 1, "2026-10-30T09:00:00+00:00")
    _sent(database_of(book), 2, "2026-11-05T09:00:00+00:00")
    result = invoke("-w", str(book), "backtest", "--from", "2026-11-02", "--to", "2026-11-12", "--json")
    assert result.exit_code == 0, result.output
    steps = {s["playbook"]: s for s in json.loads(result.output)["steps"]}
    assert _weeks(steps["rescue"], "drafts") == {"2026-W45": 1}
    hello = steps["hello"]
    assert _weeks(hello, "deferred") == {"2026-W45": 1}, "on 11-02 the real 10-30 email and rescue fill it"
    assert _weeks(hello, "drafts") == {"2026-W46": 1}, (
        "not on 11-06 (the 11-05 email counts from the day it went out): on 11-09, once rescue left"
    )

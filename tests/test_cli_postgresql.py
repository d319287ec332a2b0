"""`csm check`, `run --dry-run` and `explain` on a PostgreSQL workspace say what they say on SQLite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from condition_book import fill, make_world

from csm.data import store

TODAY = "2026-06-01"

# Task-only steps over every kind of data a condition reads: columns, derived day counts, usage
# windows, events and their attributes, contacts, `for:` and `until:`.
PLAYBOOK = """\
playbook: watch
title: Watch
audience: status = 'active'
steps:
  - id: renewing
    title: Renewing soon
    when: days_to_renewal between 0 and 120 and seat_utilization < 80%
    task: { title: "Renewal ahead" }
  - id: quiet
    title: Quiet
    when: usage.logins.avg(30d) < 2 or days_since_login >= 30 or last_login_at is null
    until: nps >= 9
    task: { title: "Quiet account" }
  - id: tickets
    title: Tickets
    when: count(ticket where open and severity = 'P1') >= 1 or last(nps_response).score <= 6
    task: { title: "Support trouble" }
  - id: champion-left
    title: Champion left
    when: any(contact where role = 'champion' and left_at is not null) and not churn_risk
    for: 2d
    task: { title: "Find a new champion" }
  - id: answered
    title: Answered lately
    when: days_since(nps_answered_at) <= 10 and renewal_date - 30 days > today
    task: { title: "Thank them" }
"""


def _day(offset: int) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(TODAY) + dt.timedelta(days=offset)).isoformat()


def _ticket(id_: str, at: int, severity: str, closed: int | None = None) -> dict[str, Any]:
    closed_at = None if closed is None else _day(closed) + "T09:00:00"
    return {"id": id_, "kind": "ticket", "contact": None, "occurred_at": _day(at) + "T10:00:00",
            "closed_at": closed_at, "attributes": {"severity": severity}}  # fmt: skip


ACCOUNTS = [
    {"id": "A1", "name": "Acme", "status": "active", "renewal_date": _day(60), "seats_licensed": 10,
     "seats_used": 5, "last_login_at": _day(-2) + "T08:00:00", "nps": 9, "start_date": _day(-400),
     "_usage": [("logins", _day(-3), 1), ("logins", _day(-1), 2)],
     "_events": [_ticket("t1", -5, "P1"), _ticket("t2", -9, "P1", closed=-2)],
     "_contacts": [{"email": "c@acme.example", "name": "C", "role": "champion", "is_primary": 1,
                    "left_at": _day(-20), "bounced_at": None}],
     "churn_risk": False, "nps_answered_at": _day(-3)},
    {"id": "A2", "name": "Globex", "status": "active", "renewal_date": _day(200), "seats_licensed": 50,
     "seats_used": 48, "last_login_at": _day(-45), "nps": 4, "start_date": _day(-100),
     "_usage": [("logins", _day(-10), 5)],
     "_events": [{"id": "n1", "kind": "nps_response", "contact": "b@globex.example",
                  "occurred_at": _day(-1) + "T12:00:00", "closed_at": None, "attributes": {"score": 4}}],
     "_contacts": [{"email": "b@globex.example", "name": "B", "role": "economic_buyer", "is_primary": 0,
                    "left_at": None, "bounced_at": None}],
     "churn_risk": True, "nps_answered_at": _day(-1)},
    {"id": "A3", "name": "Initech", "status": "churned", "renewal_date": _day(10), "seats_licensed": 5,
     "seats_used": 1, "nps": 2, "churn_risk": None},
    {"id": "A4", "name": "Hooli", "status": "active", "renewal_date": _day(100), "seats_licensed": 0,
     "seats_used": 0, "start_date": _day(-30), "churn_risk": False, "nps_answered_at": _day(-30)},
]  # fmt: skip


def _workspace(invoke: Any, root: Path, database: str | None) -> Path:
    result = invoke("init", str(root), *(("--database", database) if database else ()))
    assert result.exit_code == 0, result.output
    shutil.rmtree(root / "playbooks")
    (root / "playbooks").mkdir()
    (root / "playbooks" / "watch.yaml").write_text(PLAYBOOK, encoding="utf-8")
    conn = make_world(database or root / "csm.db")  # the columns an import would have added
    fill(conn, ACCOUNTS)
    conn.close()
    return root


def _matches(output: str) -> dict[str, list[str]]:
    steps = json.loads(output)["steps"]
    return {f"{r['playbook']} › {r['step']}": [m["account"] for m in r["matches"]] for r in steps}


def test_check_run_and_explain_say_the_same_on_postgresql(
    pg_cluster: Any, invoke: Any, tmp_path: Path
) -> None:
    url = pg_cluster.new_database()
    books = {
        "sqlite": _workspace(invoke, tmp_path / "solo", None),
        "pg": _workspace(invoke, tmp_path / "team", url),
    }
    said: dict[str, list[Any]] = {}
    for name, root in books.items():
        check = invoke("-w", str(root), "check")
        assert check.exit_code == 0, check.output
        run = invoke("-w", str(root), "--today", TODAY, "run", "--dry-run", "--json")
        assert run.exit_code == 0, run.output
        explained = [invoke("-w", str(root), "--today", TODAY, "explain", a["id"]) for a in ACCOUNTS]
        assert all(e.exit_code == 0 for e in explained), [e.output for e in explained]
        said[name] = [_matches(run.output), *(e.output for e in explained)]
    assert said["pg"] == said["sqlite"]
    assert said["pg"][0] == {
        "watch › renewing": ["A1"],
        "watch › quiet": ["A2", "A4"],
        "watch › tickets": ["A1", "A2"],
        "watch › champion-left": ["A1"],
        "watch › answered": ["A1", "A2"],
    }
    conn = store.connect(url)
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0  # a dry run writes no draft
    conn.close()

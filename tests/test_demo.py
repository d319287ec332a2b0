"""The demo workspace: deterministic, realistic, and every built-in step has work to show."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from csm import workspace
from csm.demo import DEMO_TODAY, DemoSummary, build_demo
from csm.demo.cohorts import ME, OWNERS
from csm.language.fields import standard_fields

TABLES = {
    "accounts": "id",
    "contacts": "account_id, email",
    "usage": "account_id, metric, date",
    "events": "id",
    "timeline": "id",
    "health_history": "account_id, date",
}
PARAMS = {"today": DEMO_TODAY.isoformat(), "primary_metric": "active_users"}

# Each built-in step's audience and `when`, as SQL over {field} expressions.
ONBOARDING = "{days_since_start} BETWEEN 0 AND 90 AND "
ADOPTION = "{days_since_start} > 60 AND "
AT_RISK = "{days_since_start} >= 90 AND "  # at-risk and silent-account leave onboarding alone
BAD_WEEK = (
    " AND a.id NOT IN (SELECT account_id FROM events WHERE occurred_at >= date(:today, '-7 days')"
    " AND (kind = 'ticket' AND json_extract(attributes, '$.severity') IN ('P1', 'P2', 'urgent', 'high')"
    " OR kind = 'nps_response' AND json_extract(attributes, '$.score') <= 6))"
    " AND coalesce({health_change_30d}, 0) > -10 AND "
)
EXPANSION = "{days_since_start} >= 90 AND {open_tickets} <= 2 AND coalesce({nps}, 7) >= 7" + BAD_WEEK
NURTURE = "{days_since_start} >= 15 AND {lifecycle_stage} IN ('onboarding', 'adoption') AND "
ANSWERED = (
    "a.id IN (SELECT account_id FROM events WHERE kind = 'nps_response'"
    " AND occurred_at >= date(:today, '-7 days') AND json_extract(attributes, '$.score') "
)
NO_OPEN_TICKET = (
    " AND a.id NOT IN (SELECT account_id FROM events WHERE kind = 'ticket' AND closed_at IS NULL)"
)
STEPS = {
    "onboarding/welcome": ONBOARDING + "{days_since_start} BETWEEN 0 AND 14",
    "onboarding/first-value": ONBOARDING
    + "{days_since_start} BETWEEN 30 AND 45 AND {usage.active_users} < {seats_licensed} * 0.25",
    "onboarding/stalled": ONBOARDING + "{days_since_start} BETWEEN 21 AND 60 AND {days_since_login} >= 14",
    "adoption/roll-out-help": ADOPTION + "{seat_utilization} < 0.4",
    "adoption/first-integration": ADOPTION + "{usage.integrations} = 0",
    "adoption/milestone": ADOPTION + "{seat_utilization} >= 0.8 AND {usage_change_30d} >= 0",
    "expansion/seats-nearly-full": EXPANSION + "{seat_utilization} >= 0.9 AND {nps} >= 7",
    "expansion/next-plan": EXPANSION
    + "{usage_change_30d} >= 0.25 AND {plan} IN ('starter', 'team') AND {goals} IS NOT NULL",
    "renewal/heads-up": "{days_to_renewal} BETWEEN 91 AND 120",
    "renewal/check-in": "{days_to_renewal} BETWEEN 31 AND 60",
    "renewal/at-risk": "{days_to_renewal} BETWEEN 0 AND 60"
    " AND ({nps} <= 6 OR {open_tickets} >= 5 OR {usage_change_30d} <= -0.2)",
    "at-risk/health-falling": AT_RISK + "{health_change_30d} <= -15 AND ({nps} IS NULL OR {nps} > 6)",
    "at-risk/red-band": AT_RISK + "{health_band} = 'red'",
    "at-risk/ticket-spike": AT_RISK + "{open_tickets} >= 5",
    "at-risk/detractor": AT_RISK + "{nps} <= 6 AND a.id NOT IN (SELECT account_id FROM events"
    " WHERE kind = 'nps_response' AND occurred_at >= date(:today, '-2 days')"
    " AND json_extract(attributes, '$.score') <= 6)",
    "at-risk/detractor-answered": AT_RISK + "a.id IN (SELECT account_id FROM events"
    " WHERE kind = 'nps_response' AND occurred_at >= date(:today, '-2 days')"
    " AND json_extract(attributes, '$.score') <= 6)",
    "at-risk/ticket-severe": AT_RISK + "a.id IN (SELECT account_id FROM events WHERE kind = 'ticket'"
    " AND closed_at IS NULL AND (json_extract(attributes, '$.severity') IN ('P1', 'urgent')"
    " OR occurred_at < date(:today, '-13 days')))",
    "at-risk/escalation": AT_RISK + "{usage_change_30d} <= -0.3 AND a.id IN (SELECT account_id FROM events"
    " WHERE kind = 'ticket' AND closed_at IS NULL AND json_extract(attributes, '$.severity') = 'P1')",
    "at-risk/usage-drop": AT_RISK + "({usage_change_30d} <= -0.3 OR {usage.exports.change(30d)} <= -0.3)",
    "at-risk/champion-left": AT_RISK + "a.id IN (SELECT account_id FROM contacts WHERE role = 'champion'"
    " AND left_at >= date(:today, '-90 days')) AND a.id NOT IN (SELECT account_id FROM contacts"
    " WHERE role = 'champion' AND left_at IS NULL)",
    "silent-account/hello": AT_RISK + "{days_since_touch} >= 60",
    "nps/promoter": ANSWERED + ">= 9) AND {health_band} = 'green'" + NO_OPEN_TICKET,
    "nps/passive": ANSWERED + "BETWEEN 7 AND 8)",
    "nurture/first-dashboard": NURTURE + "{usage.dashboards} = 0",
    "nurture/first-automation": NURTURE
    + "{lifecycle_stage} = 'adoption' AND {usage.dashboards} > 0 AND {usage.automations} = 0",
    "silent-account/call": AT_RISK + "{days_since_touch} >= 90",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return build_demo(tmp_path_factory.mktemp("demo") / "ws")


@pytest.fixture
def db(demo: DemoSummary) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(demo.root / "csm.db")
    yield conn
    conn.close()


def _sql(condition: str) -> str:
    fields = standard_fields()
    return re.sub(r"\{([\w.()]+)\}", lambda m: f"({fields.sql(m.group(1))})", condition)


def _digest(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: hashlib.sha256(
                repr(conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()).encode()
            ).hexdigest()
            for table, order in TABLES.items()
        }
    finally:
        conn.close()


def test_two_builds_hold_identical_data(demo: DemoSummary, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    again = build_demo(tmp_path / "empty")
    assert _digest(again.root / "csm.db") == _digest(demo.root / "csm.db")
    assert (again.root / "csm.toml").read_text() == (demo.root / "csm.toml").read_text()


def test_counts(demo: DemoSummary, db: sqlite3.Connection) -> None:
    actual = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert demo.counts == actual
    assert actual["accounts"] == 500
    assert 2 * 500 <= actual["contacts"] <= 5 * 500
    # three metrics, 60 days of exports and 5 weeks of automations
    assert 200_000 <= actual["usage"] <= 500 * 180 * 3 + 500 * 60 + 500 * 5
    assert 500 <= actual["events"] <= 2_000
    assert actual["timeline"] > 1000
    assert demo.me == ME


def test_settings_pin_today_and_name_three_owners(demo: DemoSummary) -> None:
    ws = workspace.load(explicit=demo.root)
    assert ws.today() == DEMO_TODAY
    assert ws.me() == ME
    assert sorted(ws.settings.owners) == sorted(email for email, _, _ in OWNERS)
    assert ws.owner(OWNERS[1][0]).title == "Senior Customer Success Manager"


def test_every_account_has_exactly_one_primary_contact(db: sqlite3.Connection) -> None:
    per_account = db.execute(
        "SELECT a.id, count(c.email), coalesce(sum(c.is_primary), 0)"
        " FROM accounts a LEFT JOIN contacts c ON c.account_id = a.id GROUP BY a.id"
    ).fetchall()
    assert {(2 <= n <= 5, primary) for _, n, primary in per_account} == {(True, 1)}
    roles = {r for (r,) in db.execute("SELECT DISTINCT role FROM contacts")}
    assert roles == {"champion", "economic_buyer", "admin", "user"}
    assert db.execute("SELECT count(*) FROM contacts WHERE email NOT LIKE '%.example'").fetchone()[0] == 0
    assert 0 < db.execute("SELECT sum(unsubscribed) FROM contacts").fetchone()[0] < 100


def test_accounts_span_every_lifecycle_stage_and_owner(db: sqlite3.Connection) -> None:
    stages = dict(
        db.execute(
            f"SELECT {_sql('{lifecycle_stage}')}, count(*) FROM accounts a GROUP BY 1", PARAMS
        ).fetchall()
    )
    assert set(stages) == {"onboarding", "adoption", "renewal", "churned", "renewed"}
    assert all(n >= 10 for n in stages.values())
    owners = dict(db.execute("SELECT owner, count(*) FROM accounts GROUP BY 1").fetchall())
    assert set(owners) == {email for email, _, _ in OWNERS}
    assert 225 <= owners[ME] <= 275
    assert db.execute("SELECT count(DISTINCT name) FROM accounts").fetchone()[0] == 500


def test_usage_is_180_days_of_three_metrics_60_of_exports_and_5_weeks_of_automations(
    db: sqlite3.Connection,
) -> None:
    metrics = db.execute(
        "SELECT metric, min(date), max(date), min(value) FROM usage GROUP BY metric ORDER BY 1"
    ).fetchall()
    assert metrics == [
        ("active_users", "2026-05-28", "2026-11-23", 0),
        ("automations", "2026-10-26", "2026-11-23", 0),
        ("dashboards", "2026-05-28", "2026-11-23", 0),  # a few new accounts have built none yet
        ("exports", "2026-09-25", "2026-11-23", 0),
        ("integrations", "2026-05-28", "2026-11-23", 0),
    ]
    shrinking = db.execute(
        "SELECT count(*) FROM usage u JOIN usage v ON v.account_id = u.account_id"
        " AND v.metric = u.metric AND v.date = date(u.date, '+1 day')"
        " WHERE u.metric IN ('dashboards', 'integrations') AND v.value < u.value"
    ).fetchone()[0]
    assert shrinking == 0  # cumulative counts never go down


def test_timeline_holds_past_touches_only(db: sqlite3.Connection) -> None:
    kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM timeline WHERE touch = 1")}
    # task_done: the summer's worked tasks; reply: customers answering what the demo sent
    assert kinds == {"email_sent", "note", "call", "task_done", "reply"}
    assert db.execute("SELECT max(at) FROM timeline").fetchone()[0] < "2026-11-24"


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_a_readable_handful_of_matches(db: sqlite3.Connection, step: str) -> None:
    matched = db.execute(
        f"SELECT count(*), coalesce(sum(a.owner = :me), 0) FROM accounts a"
        f" WHERE a.status = 'active' AND {_sql(STEPS[step])}",
        {**PARAMS, "me": ME},
    ).fetchone()
    assert 3 <= matched[0] <= 30, matched
    assert matched[1] >= 1  # `csm today` for "me" shows every step


def test_every_built_in_playbook_step_matches_a_handful(demo: DemoSummary) -> None:
    from csm.engine import matching as engine
    from csm.runtime import open_runtime

    rt = open_runtime(workspace.load(explicit=demo.root))
    try:
        results = engine.evaluate(rt.conn, rt.playbooks(), rt.fields, rt.params, rt.today)
    finally:
        rt.conn.close()
    matched = {
        f"{r.playbook.id}/{r.step.id}": (len(r.matches), sum(m.owner == ME for m in r.matches))
        for r in results
    }
    assert len(matched) >= 11
    assert {step: n for step, n in matched.items() if not (3 <= n[0] <= 30 and n[1] >= 1)} == {}


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("demo", str(tmp_path))
    assert result.exit_code == 1
    assert f"Error: {tmp_path.resolve()} is not an empty folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_cli_names_the_next_command(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    target = (tmp_path / "try csm").resolve()
    result = invoke("demo", str(target))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Built a demo workspace in {target}\n  500 accounts, ")
    assert f"Next: csm -w '{target}' today\n" in result.output
    assert f"csm -w '{target}' run --dry-run\n" in result.output
    assert (target / "csm.db").is_file()


def test_cli_without_a_folder_uses_a_new_temp_one(
    tmp_path: Path,
    invoke,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    (made,) = tmp_path.glob("csm-demo-*")
    assert f"Next: csm -w {made} today\n" in result.output


def test_the_tour_shows_each_builtin_playbook_and_an_email(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from csm.cli import app

    result = CliRunner().invoke(app, ["demo", str(tmp_path / "tour"), "--tour"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for title in (
        "Onboarding (onboarding)",
        "Adoption milestones",
        "Nurture by adoption stage (nurture)",
        "Renewal ahead",
        "Expansion (expansion)",
        "At risk (at-risk)",
        "NPS follow-up (nps)",
        "Silent account (silent-account)",
    ):
        assert title in out
    assert out.count("would draft, for") == 8
    assert out.count("  Subject: ") == 8
    assert "Matching accounts today: promoter 5, passive 5" in out
    assert "Matching accounts today: welcome 10, first-value 7, stalled 6" in out

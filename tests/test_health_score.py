"""Health scores against hand-computed examples; snapshots per day; the health fields."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from csm.data import store
from csm.health import score as health
from csm.health.model import HealthModel, parse_model
from csm.language.compiler import compile_condition, compile_value
from csm.language.fields import standard_fields
from csm.runtime import fields_for
from tests.test_health_model import GOOD as MODEL  # profile onboarding: seats 80, nps 0; 60 / 30

FIELDS = standard_fields()
TODAY = dt.date(2026, 11, 23)
MONTH_AGO = dt.date(2026, 10, 24)  # 30 days before TODAY
PARAMS = {"today": TODAY.isoformat(), "primary_metric": "active_users"}


# id, seats_used (of 100; None: no licence count), nps, open_tickets, start_date
ACCOUNTS = [
    ("A1", 45, 9, 2, "2025-01-01"),  # 50*50 + 100*30 + 80*20 = 7100 -> 71 green
    ("A2", 10, 8, 12, "2025-01-01"),  # 0 + 50*30 + 0 = 1500 -> 15 red (both ends clamped)
    ("A3", 90, None, None, "2025-01-01"),  # nps drops out, tickets missing = 50: (5000 + 1000) / 70
    ("A4", 30, 10, 0, "2026-11-01"),  # onboarding: 20*80 + 100*0 + 100*20 = 3600 -> 36 (yellow at 30)
    ("A5", None, None, None, "2025-01-01"),  # only the missing tickets score: 50 yellow
    ("A6", 50, 9, 0, "2026-12-01"),  # not started yet: no score
    ("A7", 70, 7, 10, "2025-01-01"),  # boundaries: 100*50 + 50*30 + 0 = 6500 -> 65 yellow
    ("A8", 20, 9, 5, "2025-01-01"),  # 0 + 3000 + 50*20 = 4000 -> exactly 40: yellow
]
EXPECTED = {
    "A1": (71.0, "green"),
    "A2": (15.0, "red"),
    "A3": (85.7, "green"),
    "A4": (36.0, "yellow"),
    "A5": (50.0, "yellow"),
    "A7": (65.0, "yellow"),
    "A8": (40.0, "yellow"),
}


def model(text: str = MODEL, conn: Any = None) -> HealthModel:
    """The model, its measures compiled for ``conn``'s database (SQLite without one)."""
    parsed, problems = parse_model(text, Path("health.yaml"), FIELDS if conn is None else fields_for(conn))
    assert problems == []
    assert parsed is not None
    return parsed


@pytest.fixture
def conn(db: Any) -> Any:
    """The example accounts, on each backend."""
    conn = db
    conn.executemany(
        "INSERT INTO accounts (id, name, status, seats_licensed, seats_used, nps, open_tickets,"
        " start_date, renewal_date) VALUES (?, ?, 'active', ?, ?, ?, ?, ?, '2027-09-01')",
        [
            (i, f"Account {i}", None if used is None else 100, used, nps, tickets, start)
            for i, used, nps, tickets, start in ACCOUNTS
        ],
    )
    return conn


def scores(conn: Any, day: dt.date = TODAY) -> dict[str, tuple[float, str]]:
    rows = conn.execute(
        "SELECT account_id, score, band FROM health_history WHERE date = ?", (day.isoformat(),)
    )
    return {r["account_id"]: (r["score"], r["band"]) for r in rows}


def test_scores_match_the_hand_computed_examples(conn: Any) -> None:
    written = health.snapshot(conn, model(conn=conn), fields_for(conn), PARAMS, [TODAY])
    assert written == 7
    assert scores(conn) == EXPECTED


def test_parts_record_each_measure_and_the_profile(conn: Any) -> None:
    health.snapshot(conn, model(conn=conn), fields_for(conn), PARAMS, [TODAY])
    stored = conn.execute("SELECT parts FROM health_parts WHERE account_id = 'A3'").fetchone()[0]
    assert json.loads(stored) == [None, 0.9, None, None]  # the profile and the values: the rest follows
    parts = {account: health.breakdown_on(conn, account, TODAY) for account in ("A3", "A4")}
    assert parts["A3"] == (
        None,
        {
            "seats": {"value": 0.9, "score": 100.0, "weight": 50.0, "points": 71.4},
            "nps": {"value": None, "score": None, "weight": 30.0, "points": None},
            "tickets": {"value": None, "score": 50.0, "weight": 20.0, "points": 14.3},
        },
    )
    profile, measures = parts["A4"]
    assert profile == "onboarding"
    assert measures["nps"] == {"value": 10, "score": 100.0, "weight": 0.0, "points": 0.0}
    assert measures["seats"] == {"value": 0.3, "score": 20.0, "weight": 80.0, "points": 16.0}


def test_the_breakdown_is_worked_out_with_the_model_the_snapshot_scored_with(conn: Any) -> None:
    """A model changed since keeps the old snapshot's numbers: the day's model is stored with it."""
    health.snapshot(conn, model(conn=conn), fields_for(conn), PARAMS, [MONTH_AGO])
    reweighted = (
        MODEL.replace("weight: 50", "weight: 60")
        .replace("weight: 20", "weight: 10")
        .replace("nps: 0 }", "nps: 10 }")
    )
    then = health.explain(conn, model(reweighted, conn), "A1", MONTH_AGO)
    assert then.now["score"] == 71.0
    assert {p.id: p.points_now for p in then.parts} == {"seats": 25.0, "nps": 30.0, "tickets": 16.0}


@pytest.mark.parametrize("form", ["flat", "nested"])
def test_snapshots_stored_in_an_older_form_still_explain(conn: Any, form: str) -> None:
    health.snapshot(conn, model(conn=conn), fields_for(conn), PARAMS, [TODAY])
    profile, measures = health.breakdown_on(conn, "A3", TODAY)
    conn.execute("DELETE FROM health_models")  # as schemas before 11 stored it
    if form == "flat":  # schemas 7 to 10: every number of the breakdown in health_parts
        flat = [profile] + [
            x for m, n in measures.items() for x in (m, n["value"], n["score"], n["weight"], n["points"])
        ]
        conn.execute("UPDATE health_parts SET parts = ? WHERE account_id = 'A3'", (json.dumps(flat),))
    else:  # before schema 7: nested, in health_history
        nested = json.dumps({"profile": profile, "measures": measures})
        conn.execute("DELETE FROM health_parts WHERE account_id = 'A3'")
        conn.execute("UPDATE health_history SET parts = ? WHERE account_id = 'A3'", (nested,))
    assert health.breakdown_on(conn, "A3", TODAY) == (profile, measures)
    shown = health.explain(conn, model(conn=conn), "A3", TODAY)
    assert [(p.id, p.score_now, p.points_now) for p in shown.parts][:1] == [("seats", 100.0, 71.4)]


def test_a_profile_moves_the_thresholds(conn: Any) -> None:
    text = MODEL.replace("    thresholds: { green: 60, yellow: 30 }\n", "")
    health.snapshot(conn, model(text, conn), fields_for(conn), PARAMS, [TODAY])
    assert scores(conn)["A4"] == (36.0, "red")  # yellow under the profile's own thresholds
    assert scores(conn)["A1"] == (71.0, "green")


def test_an_account_with_no_measure_to_score_gets_no_snapshot(conn: Any) -> None:
    text = MODEL.replace("    missing: 50\n", "")
    health.snapshot(conn, model(text, conn), fields_for(conn), PARAMS, [TODAY])
    got = scores(conn)
    assert "A5" not in got
    assert got["A3"] == (100.0, "green")  # only seats is left


def test_a_profile_that_weighs_nothing_of_what_is_known_gets_no_snapshot(conn: Any) -> None:
    """Onboarding weighs NPS 0: an onboarding account with only an NPS has no score under it
    (no division by zero on either backend), while the same values score under the default."""
    text = MODEL.replace("    missing: 50\n", "")
    conn.execute(
        "INSERT INTO accounts (id, name, status, nps, start_date) VALUES"
        " ('A9', 'New', 'active', 9, '2026-11-01'), ('A10', 'Old', 'active', 9, '2025-01-01')"
    )
    written = health.snapshot(conn, model(text, conn), fields_for(conn), PARAMS, [TODAY])
    assert written == 7  # of 9 started: A5 (no value at all) and A9 have none
    got = scores(conn)
    assert "A9" not in got
    assert got["A10"] == (100.0, "green")  # only the NPS counts: 100 under the default weights
    stored = {r[0] for r in conn.execute("SELECT account_id FROM health_parts")}
    assert stored == set(got)


def test_an_imported_health_score_is_a_measure(conn: Any) -> None:
    conn.execute("UPDATE accounts SET health_score = 64 WHERE id = 'A1'")
    text = "measures:\n  - { id: crm, value: health_score, weight: 100, linear: { from: 0, to: 100 } }\n"
    health.snapshot(conn, model(text, conn), fields_for(conn), PARAMS, [TODAY])
    assert scores(conn) == {"A1": (64.0, "yellow")}  # default thresholds 75 / 55


def test_measures_are_expressions_in_the_condition_language(conn: Any) -> None:
    text = (
        "measures:\n"
        "  - { id: x, value: 'open_tickets * 10 + nps', weight: 100, linear: { from: 0, to: 200 } }\n"
    )
    health.snapshot(conn, model(text, conn), fields_for(conn), PARAMS, [TODAY])
    assert scores(conn)["A1"] == (14.5, "red")  # (2 * 10 + 9) / 200


def test_a_snapshot_the_same_day_replaces_never_duplicates(conn: Any) -> None:
    m = model(conn=conn)
    health.snapshot(conn, m, fields_for(conn), PARAMS, [TODAY])
    conn.execute("UPDATE accounts SET nps = 10 WHERE id = 'A2'")
    assert health.snapshot(conn, m, fields_for(conn), PARAMS, [TODAY]) == 7
    assert conn.execute("SELECT count(*) FROM health_history").fetchone()[0] == 7
    assert scores(conn)["A2"] == (30.0, "red")
    health.snapshot(conn, m, fields_for(conn), PARAMS, [MONTH_AGO])
    assert tuple(conn.execute("SELECT count(DISTINCT date), count(*) FROM health_history").fetchone()) == (
        2,
        13,
    )
    assert "A4" not in scores(conn, MONTH_AGO)  # had not started then


def two_snapshots(conn: Any) -> HealthModel:
    """A month ago A2 answered NPS 10 (score 30); today 8 (score 15)."""
    m = model(conn=conn)
    conn.execute("UPDATE accounts SET nps = 10 WHERE id = 'A2'")
    health.snapshot(conn, m, fields_for(conn), PARAMS, [MONTH_AGO])
    conn.execute("UPDATE accounts SET nps = 8 WHERE id = 'A2'")
    health.snapshot(conn, m, fields_for(conn), PARAMS, [TODAY])
    return m


def field(conn: Any, name: str, day: dt.date) -> dict[str, object]:
    sql = f"SELECT a.id, ({fields_for(conn).sql(name)}) FROM accounts a ORDER BY a.id"
    return {r[0]: r[1] for r in conn.execute(sql, {**PARAMS, "today": day.isoformat()})}


def test_health_fields_read_the_snapshots_as_of_today(conn: Any) -> None:
    two_snapshots(conn)
    assert field(conn, "health", TODAY)["A2"] == 15.0
    assert field(conn, "health", MONTH_AGO)["A2"] == 30.0
    assert field(conn, "health", MONTH_AGO - dt.timedelta(days=1))["A2"] is None
    assert field(conn, "health", TODAY - dt.timedelta(days=1))["A2"] == 30.0  # the latest on or before
    change = field(conn, "health_change_30d", TODAY)
    assert (change["A2"], change["A1"], change["A4"]) == (-15.0, 0.0, None)
    assert field(conn, "health_change_30d", TODAY - dt.timedelta(days=1))["A2"] is None
    assert field(conn, "health_band", TODAY)["A1"] == "green"


def test_conditions_on_health_shift_with_today(conn: Any) -> None:
    two_snapshots(conn)
    condition = compile_condition(
        "health_change_30d <= -15 or (health_band = 'red' and health < 20)", fields_for(conn)
    )

    def matching(day: dt.date) -> list[str]:
        sql = f"SELECT a.id FROM accounts a WHERE {condition.sql} ORDER BY a.id"
        return [r[0] for r in conn.execute(sql, {**PARAMS, **condition.params, "today": day.isoformat()})]

    assert matching(TODAY) == ["A2"]
    assert matching(MONTH_AGO) == []


def test_compile_value_gives_a_number_expression() -> None:
    value = compile_value("seats_used - seats_licensed * 50%", FIELDS, prefix="m0_")
    assert value.fields == ("seats_used", "seats_licensed")
    assert value.params == {"m0_0": 0.5}
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE accounts (seats_used, seats_licensed)")
        conn.execute("INSERT INTO accounts VALUES (30, 40)")
        assert conn.execute(f"SELECT {value.sql} FROM accounts a", value.params).fetchone() == (10.0,)


def test_explain_lists_each_measure_then_and_now(conn: Any) -> None:
    m = two_snapshots(conn)
    e = health.explain(conn, m, "A2", TODAY)
    assert (e.now["score"], e.then["score"], e.change) == (15.0, 30.0, -15.0)
    assert e.then["date"] == MONTH_AGO.isoformat()
    first = e.parts[0]
    assert (first.id, first.value_then, first.value_now, first.points_then, first.points_now) == (
        "nps",
        10.0,
        8.0,
        30.0,
        15.0,
    )
    assert first.change == -15.0
    assert [p.change for p in e.parts[1:]] == [0.0, 0.0]
    fresh = health.explain(conn, m, "A4", TODAY)
    assert (fresh.then, fresh.change) == (None, None)


def test_explain_names_an_unknown_account(conn: Any) -> None:
    from csm.errors import NotFound

    with pytest.raises(NotFound, match="no account 'A99'"):
        health.explain(conn, model(conn=conn), "A99", TODAY)


def test_summary_counts_bands_buckets_and_drops(conn: Any) -> None:
    conn.execute("UPDATE accounts SET status = 'churned' WHERE id = 'A5'")
    m = two_snapshots(conn)
    s = health.summary(conn, m, fields_for(conn), PARAMS, TODAY)
    assert s.bands == {"red": 1, "yellow": 3, "green": 2}  # A5 is churned: not counted
    assert s.buckets == [0, 1, 0, 1, 1, 0, 1, 1, 1, 0]  # 15, 36, 40, 65, 71, 85.7
    assert s.drops == [
        {
            "account": "A2",
            "name": "Account A2",
            "owner": None,
            "health": 15.0,
            "band": "red",
            "health_change_30d": -15.0,
            "why": [{"measure": "nps", "change": -15.0}],
        }
    ]
    assert s.as_json()["distribution"][9] == {"scores": "90-100", "accounts": 0}
    assert health.summary(conn, m, fields_for(conn), PARAMS, TODAY, owner="nobody@example.com").bands == {
        "red": 0,
        "yellow": 0,
        "green": 0,
    }


USAGE_MODEL = """\
thresholds: { green: 70, yellow: 40 }
measures:
  - id: trend
    value: usage_change_30d
    weight: 50
    linear: { from: -50%, to: 50% }
  - id: per-seat
    value: usage_30d / seats_used
    weight: 50
    linear: { from: 0, to: 1 }
"""


def test_a_derived_field_two_measures_read_is_computed_once(conn: Any) -> None:
    # A1 (45 seats in use): 20 a day for the 30 days before the last 30, then 27 a day.
    conn.executemany(
        "INSERT INTO usage (account_id, metric, date, value) VALUES ('A1', 'active_users', ?, ?)",
        [((TODAY - dt.timedelta(days=d)).isoformat(), 27 if d < 30 else 20) for d in range(60)],
    )
    m = model(USAGE_MODEL, conn)
    sql, _ = health.values_sql(m, fields_for(conn))
    assert sql.count(fields_for(conn).sql("usage_30d")) == 1  # one range scan serves both measures
    health.snapshot(conn, m, fields_for(conn), PARAMS, [TODAY])
    score = conn.execute("SELECT score FROM health_history WHERE account_id = 'A1'").fetchone()[0]
    # trend +35%: (0.35 + 0.5) / 1.0 * 100 = 85; per seat 27 / 45 = 0.6: 60; (85 + 60) / 2 = 72.5
    assert score == 72.5


def test_the_move_to_schema_6_keeps_every_breakdown(tmp_path) -> None:

    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    for version, migration in enumerate(store.MIGRATIONS[:3], start=1):
        migration(old)
        old.execute(f"PRAGMA user_version = {version}")
    nested = {"profile": None, "measures": {"seats": {"value": 0.9, "score": 100.0, "weight": 50.0}}}
    old.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Acme')")
    old.execute(
        "INSERT INTO health_history VALUES ('A1', ?, 80, 'green', ?)", (TODAY.isoformat(), json.dumps(nested))
    )
    old.close()
    with closing(store.connect(path)) as conn:
        assert conn.execute("SELECT parts FROM health_history").fetchone()[0] == "{}"
        assert json.loads(conn.execute("SELECT parts FROM health_parts").fetchone()[0]) == nested
        explained = health.explain(conn, model(), "A1", TODAY)
    assert next((p.id, p.score_now) for p in explained.parts) == ("seats", 100.0)

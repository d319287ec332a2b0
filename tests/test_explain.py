"""`csm explain`: the verdict is the run's, each clause's value is the SQL's, no reason is silent."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from condition_book import TODAY, fields_of, insert_accounts, make_db, new_target, stored_accounts
from condition_reference import evaluate, render, truth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compiler import _ROW, conditions

from csm.data import store
from csm.engine.explain import explain
from csm.engine.matching import evaluate as run_evaluate
from csm.language.compiler import compile_condition
from csm.language.playbooks import Playbook, Step, TaskSpec

PARAMS = {"today": TODAY.isoformat(), "primary_metric": "logins"}
HELD_BACK = {"snoozed", "for", "until"}  # the reasons a step's own query leaves an account out for


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scratch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlite3.Connection]:
    """The property's database on each backend, made once per module: every example refills it."""
    conn = make_db(new_target(request, tmp_path_factory))
    yield conn
    conn.close()


def _playbook(
    conn: sqlite3.Connection, audience: str | None, when: str, for_days: int, holdout: float
) -> Playbook:
    fields = fields_of(conn)
    step = Step(
        "s",
        "s",
        compile_condition(when, fields, prefix="s0_"),
        None,
        "normal",
        None,
        TaskSpec("a task", 1),
        for_days,
    )
    compiled = compile_condition(audience, fields, prefix="aud_") if audience else None
    return Playbook("p", "p", "", compiled, "normal", (step,), Path("p.yaml"), holdout)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(_ROW, min_size=2, max_size=6),
    when=conditions(2),
    audience=st.none() | conditions(1),
    for_days=st.sampled_from([1, 1, 2]),
    holdout=st.sampled_from([0.0, 0.5]),
    snoozed=st.sets(st.integers(0, 5), max_size=2),
)
def test_explain_agrees_with_the_dry_run_and_the_reference_evaluator(
    scratch: sqlite3.Connection,
    rows: list[dict[str, Any]],
    when: Any,
    audience: Any,
    for_days: int,
    holdout: float,
    snoozed: set[int],
) -> None:
    insert_accounts(scratch, [{"id": f"A{i}", **row} for i, row in enumerate(rows)])
    with store.transaction(scratch):
        scratch.execute("DELETE FROM snoozes")
        scratch.executemany(
            "INSERT INTO snoozes (account_id, until, reason, created_at)"
            " VALUES (?, '2027-01-01', 'away', '2026-05-01')",
            [(f"A{i}",) for i in snoozed],
        )
    playbook = _playbook(scratch, render(audience) if audience else None, render(when), for_days, holdout)
    fields = fields_of(scratch)
    (result,) = run_evaluate(scratch, [playbook], fields, PARAMS, TODAY)
    dry_run = {m.account_id for m in (*result.matches, *result.held_out)}
    stored = {row["id"]: row for row in stored_accounts(scratch)}
    for account_id, row in stored.items():
        (verdict,) = explain(scratch, [playbook], fields, PARAMS, TODAY, account_id).steps
        assert verdict.matched == (account_id in dry_run), (account_id, render(when))
        assert verdict.when.value == truth(evaluate(when, row, TODAY)), render(when)
        if audience is not None:
            assert verdict.audience is not None
            assert verdict.audience.value == truth(evaluate(audience, row, TODAY))
        kinds = {r.kind for r in verdict.reasons}
        conditions_hold = verdict.when.value and (verdict.audience is None or verdict.audience.value)
        if conditions_hold:
            assert verdict.matched == (not kinds & HELD_BACK), (kinds, verdict.matched)
        held = account_id in {m.account_id for m in result.held_out}
        assert held == (verdict.matched and "holdout" in kinds)
        assert verdict.would_act == (account_id in {m.account_id for m in result.matches})


def _clauses(clause: Any) -> Iterator[Any]:
    yield clause
    for part in clause.parts:
        yield from _clauses(part)


def test_each_sub_condition_is_valued_with_the_fields_it_read(scratch: sqlite3.Connection) -> None:
    insert_accounts(scratch, [{"id": "A1", "name": "Acme", "status": "active", "renewal_date": "2026-09-06"}])
    source = "days_to_renewal between 91 and 120 and (nps <= 6 or not region = 'emea')"
    playbook = _playbook(scratch, "status = 'active'", source, 1, 0.0)
    (verdict,) = explain(scratch, [playbook], fields_of(scratch), PARAMS, TODAY, "A1").steps
    found = {c.source: (c.value, c.reads) for c in _clauses(verdict.when)}
    assert found == {
        source: (None, {"days_to_renewal": 97, "nps": None, "region": None}),
        "days_to_renewal between 91 and 120": (True, {"days_to_renewal": 97}),
        "(nps <= 6 or not region = 'emea')": (None, {"nps": None, "region": None}),
        "nps <= 6": (None, {"nps": None}),
        "not region = 'emea'": (None, {"region": None}),
        "region = 'emea'": (None, {"region": None}),
    }
    assert verdict.when.empty == ("nps", "region")
    assert not verdict.matched and verdict.reasons == ()


# -- the command, on the demo ------------------------------------------------------------


def test_explain_says_what_the_dry_run_says_for_every_step(demo: Path, invoke) -> None:
    run = json.loads(invoke("--workspace", str(demo), "run", "--dry-run", "--json").output)
    matched = {(s["playbook"], s["step"], m["account"]) for s in run["steps"] for m in s["matches"]}
    matched |= {(s["playbook"], s["step"], a) for s in run["steps"] for a in s["held_out"]}
    accounts = [*sorted({a for _p, _s, a in matched})[:8], "A1001", "A1002", "A1003"]
    for account in accounts:
        result = invoke("--workspace", str(demo), "explain", account, "--json")
        for step in json.loads(result.output)["steps"]:
            assert step["matched"] == ((step["playbook"], step["step"], account) in matched), (account, step)


def test_explain_shows_the_values_read_and_why_a_match_does_not_draft(demo: Path, invoke) -> None:
    result = invoke("--workspace", str(demo), "explain", "A1001", "adoption-milestones", "first-integration")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert re.fullmatch(
        r"    └── • already drafted \(once ever = once\): draft #\d+, \w+, on 2026-09-28", lines[-1]
    )
    assert lines[:-1] == [
        "A1001 Vantage Software, as of 2026-11-23",
        "adoption-milestones › first-integration  ✓ matches, held back",
        "├── audience status = 'active' and days_since_start > 60  true",
        "│   ├── status = 'active'  true  status = active",
        "│   └── days_since_start > 60  true  days_since_start = 123",
        "├── when usage.integrations = 0  true  usage.integrations = 0",
        "└── held back",
    ]


def test_explain_names_the_empty_field_behind_an_unknown(demo: Path, invoke) -> None:
    result = invoke("--workspace", str(demo), "explain", "A1001", "at-risk", "detractor", "--json")
    (step,) = json.loads(result.output)["steps"]
    assert step["when"]["value"] is None and step["when"]["unknown_because"] == ["nps"]
    assert step["when"]["parts"] == [
        {
            "condition": "nps <= 6",
            "value": None,
            "reads": {"nps": None},
            "unknown_because": ["nps"],
            "parts": [],
        },
        {  # a collection is shown whole: its where reads the events' rows, not the account's
            "condition": "no(nps_response within 2d where score <= 6)",
            "value": True,
            "reads": {},
            "unknown_because": [],
            "parts": [],
        },
    ]


def test_snoozes_unsubscribes_and_once_per_are_each_named(demo: Path, invoke) -> None:
    ws = ("--workspace", str(demo))
    assert invoke(*ws, "snooze", "A1012", "--until", "2026-12-20", "--reason", "mid-migration").exit_code == 0
    assert invoke(*ws, "unsubscribe", "hiro.osei@granite-analytics.example").exit_code == 0
    result = invoke(*ws, "explain", "A1012", "adoption-milestones", "roll-out-help", "--json")
    (step,) = json.loads(result.output)["steps"]
    assert not step["matched"] and not step["would_act"] and step["when"]["value"] is True
    assert [(r["kind"], r["message"]) for r in step["reasons"]] == [
        ("snoozed", "snoozed (all playbooks) until 2026-12-20: mid-migration"),
        (
            "once_per",
            "already drafted (once_per renewal_date = 2027-07-20): draft #1, skipped, on 2026-07-27",
        ),
        ("once_per", "task already added (once_per renewal_date = 2027-07-20): task #1, done, on 2026-07-27"),
        (
            "unsubscribed",
            "not drafted: no admin or champion to write to for Granite Analytics (champion unsubscribed)"
            " and no primary contact to fall back to (a task instead)",
        ),
    ]
    assert step["reasons"][1]["message"].startswith(
        "already drafted (once_per renewal_date = 2027-07-20): draft #"
    )
    assert step["reasons"][0]["until"] == "2026-12-20" and step["reasons"][1]["status"] in ("sent", "skipped")


def test_a_held_out_account_matches_and_is_held_back(demo: Path, invoke) -> None:
    result = invoke("--workspace", str(demo), "explain", "A1030", "adoption-milestones", "roll-out-help")
    assert "adoption-milestones › roll-out-help  ✓ matches, held back" in result.output
    assert "• held out: one of the 20% of adoption-milestones's accounts set aside" in result.output


def test_an_unknown_account_or_step_is_refused(demo: Path, invoke) -> None:
    assert "no account 'NOPE'" in invoke("--workspace", str(demo), "explain", "NOPE").output
    result = invoke("--workspace", str(demo), "explain", "A1001", "renewal-ahead", "heads-op")
    assert result.exit_code == 1
    assert "no step 'heads-op' in renewal-ahead (did you mean 'heads-up'?)" in result.output


def test_explain_shows_where_an_account_stands_in_a_sequence(demo: Path, invoke: Any) -> None:
    """Last Monday's heads-ups: A1010 never answered (the call is due), A1026 replied (no follow-up)."""

    def reasons_of(account: str) -> tuple[bool, list[dict[str, Any]]]:
        result = invoke("-w", str(demo), "explain", account, "renewal-ahead", "no-reply", "--json")
        assert result.exit_code == 0, result.output
        (step,) = json.loads(result.stdout)["steps"]
        return step["matched"], [r for r in step["reasons"] if r["kind"] == "sequence"]

    matched, (due,) = reasons_of("A1010")
    assert matched and (due["state"], due["blocking"], due["wait_ends"]) == ("due", False, "2026-11-23")
    matched, (replied,) = reasons_of("A1026")
    assert not matched and (replied["state"], replied["blocking"]) == ("replied", True)
    assert replied["message"].endswith("replied 2026-11-17: no follow-up")

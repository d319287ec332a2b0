"""Calls in conditions: day counts, usage windows, and collections of contacts and events.

A fixed book first (what each form selects, its errors with their offsets),
then the property: on random accounts with usage, events and contacts, the
compiled SQL selects exactly what the reference evaluator does, alone and as the
steps of a playbook, which are read over its audience together.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from condition_book import TODAY, fill, make_world, new_target, selected, stored_accounts, world_fields
from condition_reference import (
    Arith,
    Between,
    Call,
    Coll,
    Compare,
    DayCount,
    Dur,
    Field,
    IsNull,
    LastField,
    Lit,
    Logic,
    Metric,
    Not,
    Today,
    evaluate,
    fields_in_order,
    render,
    truth,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csm.engine.matching import evaluate as evaluate_steps
from csm.language.compiler import check_condition, compile_condition
from csm.language.fields import FieldSet
from csm.language.playbooks import Playbook, parse_playbook


def _event(id_: str, kind: str, at: str, **attributes: Any) -> dict[str, Any]:
    contact = attributes.pop("contact", None)
    closed = attributes.pop("closed_at", None)
    return {"id": id_, "kind": kind, "contact": contact, "occurred_at": at, "closed_at": closed,
            "attributes": attributes}  # fmt: skip


def _contact(email: str, role: str, **columns: Any) -> dict[str, Any]:
    return {"email": email, "name": email.split("@")[0], "role": role, "is_primary": 0,
            "left_at": None, "bounced_at": None, **columns}  # fmt: skip


# -- the book: "today" is 2026-06-01 --------------------------------------------------

BOOK = [
    dict(id="A1", name="Acme", status="active", renewal_date="2026-07-10", start_date="2025-07-10",
         nps_answered_at="2026-05-31", last_login_at="2026-05-31T22:10:00",
         _usage=[("logins", f"2026-05-{d:02d}", 10) for d in range(1, 32)]
         + [("logins", f"2026-04-{d:02d}", 20) for d in range(1, 31)]
         + [("exports", "2026-05-30", 4), ("exports", "2026-05-31", 0)],
         _events=[_event("t1", "ticket", "2026-05-30T10:00:00", severity="P1"),
                  _event("t2", "ticket", "2026-05-01", severity="P1", closed_at="2026-05-02T08:00:00"),
                  _event("n1", "nps_response", "2026-05-31", score=4, contact="bob@acme.example"),
                  _event("n0", "nps_response", "2026-03-01", score=9, contact="eve@acme.example")],
         _contacts=[_contact("bob@acme.example", "champion", left_at="2026-05-20", is_primary=1),
                    _contact("eve@acme.example", "economic_buyer")]),
    dict(id="A2", name="Globex", status="active", renewal_date="2026-09-15", start_date="2024-09-15",
         nps_answered_at="2026-04-01", last_login_at="2026-05-20",
         _usage=[("logins", f"2026-05-{d:02d}", 30) for d in range(1, 32)]
         + [("exports", "2026-05-10", 7)],
         _events=[_event("t3", "ticket", "2026-05-28", severity="P2"),
                  _event("n2", "nps_response", "2026-05-25", score=9, contact="cy@globex.example"),
                  _event("f1", "ticket", "2026-06-05", severity="P1")],  # after today: not seen
         _contacts=[_contact("cy@globex.example", "champion", bounced_at="2026-05-01")]),
    dict(id="A3", name="Initech", status="active", renewal_date="2026-06-20", start_date="2023-06-20"),
]  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def book(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlite3.Connection]:
    conn = make_world(new_target(request, tmp_path_factory))
    fill(conn, BOOK)
    yield conn
    conn.close()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("days_since(nps_answered_at) <= 2", {"A1"}),
        ("days_since(nps_answered_at) > 30", {"A2"}),
        ("days_until(renewal_date) between 0 and 45", {"A1", "A3"}),
        ("days_until(renewal_date - 45 days) < 0", {"A1", "A3"}),
        ("renewal_date - 45 days <= today", {"A1", "A3"}),
        ("today + 3 weeks >= renewal_date", {"A3"}),
        ("renewal_date < today + 3w and renewal_date > today", {"A3"}),
        ("today - start_date > 365 * 2", {"A3"}),
        ("days_since(last_login_at) = 1", {"A1"}),  # a date-time counts by its day
        ("days_since(last_login_at) <= 1", {"A1"}),
        ("days_since(last_login_at) > 1", {"A2"}),
        ("usage.logins.avg(30d) < 15", {"A1"}),
        ("usage.logins.sum(7d) = 60", {"A1"}),  # May 26 to 31: today has no row
        ("usage.logins.change(30d) <= -30%", {"A1"}),  # 10 a day, from 20
        ("usage.logins.change(30d) is null", {"A3"}),  # no usage: no change
        ("usage.logins.last = usage.logins", {"A1", "A2"}),
        ("usage.exports.days_since_nonzero >= 2", {"A1", "A2"}),
        ("usage.exports.last = 0", {"A1"}),
        ("usage.logins.change(30d) <= -30% or usage.exports.change(14d) <= -30%", {"A1"}),
        ("count(ticket where severity = 'P1' and open) > 0", {"A1"}),
        ("count(ticket where severity = 'P1') = 2", {"A1"}),
        ("count(ticket) = 1", {"A2"}),  # its P1 comes after today
        ("count(ticket within 7d) >= 1", {"A1", "A2"}),
        ("count(nps_response within 30d) >= 1", {"A1", "A2"}),
        ("last(nps_response).score <= 6", {"A1"}),
        ("last(nps_response where score > 6).contact = 'eve@acme.example'", {"A1"}),
        ("days_since(last(nps_response)) <= 2", {"A1"}),
        ("any(nps_response within 2d where score <= 6)", {"A1"}),
        ("no(ticket)", {"A3"}),
        ("no(contact where role = 'economic_buyer')", {"A2", "A3"}),
        ("any(contact where role = 'champion' and left_at is not null)", {"A1"}),
        ("count(contact where bounced_at is not null) >= 1", {"A2"}),
        ("any(contact where is_primary and days_since(left_at) <= 14)", {"A1"}),
        ("count(contacts) = 0", {"A3"}),
    ],
)
def test_calls_select_the_right_accounts(book: sqlite3.Connection, source: str, expected: set[str]) -> None:
    assert selected(book, source) == expected


def test_every_literal_of_a_call_is_a_parameter(book: sqlite3.Connection) -> None:
    condition = compile_condition(
        "count(ticket within 7d where severity = 'P1') > 0 and renewal_date - 45 days <= today",
        world_fields(book),
    )
    assert "'ticket'" not in condition.sql and "'P1'" not in condition.sql
    assert condition.params == {"c0": "ticket", "c1": 7, "c2": "P1", "c3": 0, "c4": 45}


def test_a_window_is_a_field_by_its_canonical_name(book: sqlite3.Connection) -> None:
    condition = compile_condition(
        "usage.exports.avg(4w) > 1 and days_since(nps_answered_at) < 3", world_fields(book)
    )
    assert condition.fields == ("usage.exports.avg(28d)", "nps_answered_at")


def test_the_events_a_condition_tests_are_listed_for_its_respondent(book: sqlite3.Connection) -> None:
    condition = compile_condition(
        "count(nps_response within 2d where score <= 6) > 0 or no(contact)", world_fields(book)
    )
    assert len(condition.events) == 1
    sql = f"SELECT e.id FROM events e JOIN accounts a ON a.id = e.account_id WHERE {condition.events[0]}"
    params = {**condition.params, "today": TODAY.isoformat()}
    assert [row[0] for row in book.execute(sql, params)] == ["n1"]


@pytest.mark.parametrize(
    ("source", "message", "offset"),
    [
        ("cuont(ticket) > 0", "unknown function 'cuont' (did you mean 'count'?)", 0),
        ("days_since(arr) > 1", "days_since() needs a date, found 'arr' (a number)", 11),
        ("days_since(renewal_date, 2) > 1", "days_since() takes one date, like days_since(renewal_date)", 0),
        ("usage.logins.avg(30) > 1", "usage.logins.avg() takes a window from 1d to 3650d, like"
         " usage.logins.avg(30d)", 17),
        ("usage.logins.avg(9999d) > 1", "usage.logins.avg() takes a window from 1d to 3650d, like"
         " usage.logins.avg(30d)", 17),
        ("usage.logins.mean(30d) > 1", "unknown function 'usage.logins.mean'; a usage window is"
         " usage.<metric>.avg(30d), .sum(7d) or .change(14d)", 0),
        ("usage.logins.avg > 1", "unknown field 'usage.logins.avg'; write a usage metric as"
         " usage.<metric> (its latest value), or a window like usage.<metric>.avg(30d)", 0),
        ("count(ticket) > 'x'", "cannot compare 'count(ticket)' (a number) with 'x' (text)", 16),
        ("any(ticket)  = 1", "cannot compare 'any(ticket)' (true/false) with '1' (a number)", 15),
        ("no(contact where rol = 'x')", "unknown contact field 'rol' (did you mean 'role'?)", 17),
        ("any(contact where count(ticket) > 0)", "a collection cannot be counted inside another's"
         " 'where'", 24),
        ("last(contact).email = 'x'", "last() takes an event kind (like nps_response); contacts have no"
         " order", 5),
        ("count(contact within 3d) > 0", "'within' counts events of the last days; contacts have no"
         " date", 21),
        ("count(ticket within 3) > 0", "'within' needs a duration like 30d, found '3' (a number)", 20),
        ("count(ticket).score > 0", "only last(...) has fields to pick; '.score' cannot follow this", 14),
        ("renewal_date + 3 > today", "'+' with a date needs a duration like 30 days or 2w, found '3'"
         " (a number)", 15),
        ("arr + 30d > 1", "'+' needs numbers, found '30d' (a duration)", 6),
        ("today > 30d", "cannot compare 'today' (a date) with '30d' (a duration)", 8),
        ("any(ticket where severity)", "", -1),  # an attribute's type is known only at run time
    ],
)  # fmt: skip
def test_call_errors_are_explained(book: sqlite3.Connection, source: str, message: str, offset: int) -> None:
    errors = [(e.message, e.offset) for e in check_condition(source, world_fields(book))]
    assert errors == ([(message, offset)] if message else [])


# -- the property: SQL and the reference evaluator agree ---------------------------------------------


def _day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


_OFFSETS = st.integers(-70, 8)
_DATES = _OFFSETS.map(lambda n: _day(n).isoformat())
_DATE_TIMES = st.builds(
    lambda n, t: dt.datetime.combine(_day(n), t).isoformat(timespec="seconds"), _OFFSETS, st.times()
)
_DURATIONS = st.sampled_from([1, 2, 7, 14, 30]).flatmap(
    lambda n: st.sampled_from(
        [f"{n}d", f"{n} days" if n > 1 else "1 day"]
        + ([f"{n // 7}w", f"{n // 7} weeks"] if n % 7 == 0 else [])
    ).map(lambda text: Dur(n, text))
)
_SMALL = st.integers(-40, 60).map(lambda n: Lit(n, str(n)))
_OPS = st.sampled_from(["<", "<=", ">", ">=", "=", "!="])
_KINDS = ("ticket", "nps_response")
_EMAILS = ("a@x.example", "b@x.example", "c@x.example")

_EVENT = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(_KINDS),
        "contact": st.none() | st.sampled_from(_EMAILS),
        "occurred_at": _DATES | _DATE_TIMES,
        "closed_after": st.none() | st.integers(0, 12),
        "attributes": st.fixed_dictionaries(
            {}, optional={"score": st.integers(0, 10), "severity": st.sampled_from(["P1", "P2"])}
        ),
    }
)
_CONTACT = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["Ann", "Bo"]),
        "role": st.none() | st.sampled_from(["champion", "economic_buyer", "user"]),
        "is_primary": st.sampled_from([0, 1]),
        "left_at": st.none() | _DATES,
        "bounced_at": st.none() | _DATES,
    }
)
_ACCOUNT = st.fixed_dictionaries(
    {
        "name": st.just("x"),
        "status": st.just("active"),
        "start_date": st.none() | _DATES,
        "renewal_date": st.none() | _DATES,
        "last_login_at": st.none() | _DATES | _DATE_TIMES,
        "nps_answered_at": st.none() | _DATES,
        "_usage": st.dictionaries(
            st.tuples(st.sampled_from(["logins", "exports"]), st.integers(-62, 3)),
            st.integers(0, 5),
            max_size=25,
        ),
        "_events": st.lists(_EVENT, max_size=5),
        "_contacts": st.lists(_CONTACT, max_size=3),
    }
)


def _account(index: int, drawn: dict[str, Any]) -> dict[str, Any]:
    """A drawn account as stored: usage rows, events with ids and closing dates, contacts with emails."""
    events = []
    for n, event in enumerate(drawn["_events"]):
        after = event.pop("closed_after")
        opened = dt.date.fromisoformat(event["occurred_at"][:10])
        closed = None if after is None else (opened + dt.timedelta(days=after)).isoformat() + "T09:00:00"
        events.append({**event, "id": f"E{index}-{n}", "closed_at": closed})
    contacts = [{**c, "email": _EMAILS[n]} for n, c in enumerate(drawn["_contacts"])]
    usage = [(metric, _day(offset).isoformat(), value) for (metric, offset), value in drawn["_usage"].items()]
    return {**drawn, "id": f"A{index}", "_usage": usage, "_events": events, "_contacts": contacts}


_COLUMN_DAYS = st.sampled_from(["renewal_date", "start_date", "last_login_at", "nps_answered_at"]).map(Field)


def _shifted(base: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return base | st.builds(Arith, st.sampled_from(["+", "-"]), base, _DURATIONS)


def _combined(atoms: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A where: one atom, or two joined by and / or."""
    pairs = st.lists(atoms, min_size=2, max_size=2).map(tuple)
    return atoms | st.builds(Logic, st.sampled_from(["and", "or"]), pairs)


def _event_filter() -> st.SearchStrategy[Any]:
    atoms = st.one_of(
        st.builds(Compare, _OPS, st.just(Field("score")), st.integers(0, 10).map(lambda n: Lit(n, str(n)))),
        st.builds(
            Compare,
            st.just("="),
            st.just(Field("severity")),
            st.sampled_from(["P1", "P2"]).map(lambda v: Lit(v, f"'{v}'")),
        ),
        st.just(Field("open")),
        st.builds(IsNull, st.just(Field("contact")), st.booleans()),
        st.builds(
            Compare, _OPS, st.builds(DayCount, st.just("days_since"), st.just(Field("occurred_at"))), _SMALL
        ),
    )
    return _combined(atoms) | st.builds(Not, atoms)


def _contact_filter() -> st.SearchStrategy[Any]:
    atoms = st.one_of(
        st.builds(
            Compare,
            st.just("="),
            st.just(Field("role")),
            st.sampled_from(["champion", "user"]).map(lambda v: Lit(v, f"'{v}'")),
        ),
        st.builds(IsNull, st.sampled_from([Field("left_at"), Field("bounced_at")]), st.booleans()),
        st.just(Field("is_primary")),
        st.builds(
            Compare, _OPS, st.builds(DayCount, st.just("days_since"), st.just(Field("left_at"))), _SMALL
        ),
    )
    return _combined(atoms)


_EVENTS = st.builds(Coll, st.sampled_from(_KINDS), st.none() | _DURATIONS, st.none() | _event_filter())
_CONTACTS = st.builds(Coll, st.sampled_from(["contact"]), st.none(), st.none() | _contact_filter())
_DATE_VALUES = st.one_of(
    _shifted(_COLUMN_DAYS),
    _shifted(st.just(Today())),
    st.builds(Call, st.just("last"), _EVENTS),
)
_METRICS = st.one_of(
    st.builds(Metric, st.sampled_from(["logins", "exports"]),
              st.sampled_from(["latest", "last", "days_since_nonzero"])),
    st.builds(Metric, st.sampled_from(["logins", "exports"]), st.sampled_from(["avg", "sum", "change"]),
              st.sampled_from([1, 7, 14, 30])),
)  # fmt: skip
_METRIC_LITERALS = st.sampled_from(
    [Lit(0, "0"), Lit(1, "1"), Lit(2.5, "2.5"), Lit(4, "4"), Lit(-0.3, "-30%"), Lit(0.5, "50%")]
)


def _atoms() -> st.SearchStrategy[Any]:
    day_counts = st.builds(DayCount, st.sampled_from(["days_since", "days_until"]), _DATE_VALUES)
    return st.one_of(
        st.builds(Compare, _OPS, day_counts, _SMALL),
        st.builds(Between, day_counts, _SMALL, _SMALL, st.booleans()),
        st.builds(Compare, _OPS, _DATE_VALUES, _DATE_VALUES),
        st.builds(Compare, _OPS, st.builds(Arith, st.just("-"), _DATE_VALUES, _DATE_VALUES), _SMALL),
        st.builds(Compare, _OPS, _METRICS, _METRIC_LITERALS),
        st.builds(Compare, _OPS, st.builds(Call, st.just("count"), _EVENTS | _CONTACTS),
                  st.integers(0, 3).map(lambda n: Lit(n, str(n)))),
        st.builds(Call, st.sampled_from(["any", "no"]), _EVENTS | _CONTACTS),
        st.builds(Compare, _OPS, st.builds(LastField, _EVENTS, st.just("score")),
                  st.integers(0, 10).map(lambda n: Lit(n, str(n)))),
        st.builds(IsNull, st.builds(LastField, _EVENTS, st.sampled_from(["contact", "severity"])),
                  st.booleans()),
    )  # fmt: skip


_CONDITIONS = st.one_of(
    _atoms(),
    st.builds(Not, _atoms()),
    st.builds(Logic, st.sampled_from(["and", "or"]), st.lists(_atoms(), min_size=2, max_size=3).map(tuple)),
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlite3.Connection]:
    """The property's database on each backend, made once per module: every example refills it."""
    conn = make_world(new_target(request, tmp_path_factory))
    yield conn
    conn.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=st.lists(_ACCOUNT, min_size=2, max_size=6), expr=_CONDITIONS, upper=st.booleans())
def test_sql_selects_what_the_reference_evaluator_selects(
    world: sqlite3.Connection, drawn: list[dict[str, Any]], expr: Any, upper: bool
) -> None:
    accounts = [_account(i, d) for i, d in enumerate(drawn)]
    fill(world, accounts)
    stored = {row["id"]: row for row in stored_accounts(world)}
    expected = {
        a["id"]
        for a in accounts
        if truth(evaluate(expr, {**stored[a["id"]], **a, **stored[a["id"]]}, TODAY)) is True
    }
    source = render(expr, upper)
    assert selected(world, source) == expected, source
    assert compile_condition(source, world_fields(world)).fields == fields_in_order(expr)


def _playbook(audience: str | None, whens: list[str], fields: FieldSet) -> Playbook:
    """A playbook of these conditions: one step (a task) a ``when``."""
    lines = ["playbook: drawn", "title: Drawn"] + ([f"audience: {json.dumps(audience)}"] if audience else [])
    lines.append("steps:")
    for i, when in enumerate(whens):
        lines += [f"  - id: s{i}", f"    title: Step {i}", f"    when: {json.dumps(when)}"]
        lines.append("    task: {title: Look, due_in: 1d}")
    playbook, problems = parse_playbook("\n".join(lines) + "\n", Path("drawn.yaml"), fields)
    assert playbook is not None, problems
    return playbook


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drawn=st.lists(_ACCOUNT, min_size=2, max_size=6),
    audience=st.none() | _CONDITIONS,
    whens=st.lists(_CONDITIONS, min_size=1, max_size=4),
    upper=st.booleans(),
)
def test_a_playbooks_steps_read_together_select_what_the_reference_selects_for_each(
    world: sqlite3.Connection, drawn: list[dict[str, Any]], audience: Any, whens: list[Any], upper: bool
) -> None:
    # One pass over the audience tests every step (csm.engine.audience), its plain and costly
    # terms reordered across the audience and the steps: each step must still select exactly
    # the accounts of the audience that meet its `when`, in id order.
    accounts = [_account(i, d) for i, d in enumerate(drawn)]
    fill(world, accounts)
    stored = {row["id"]: row for row in stored_accounts(world)}
    rows = {a["id"]: {**stored[a["id"]], **a, **stored[a["id"]]} for a in accounts}

    def holds(expr: Any, row: dict[str, Any]) -> bool:
        return truth(evaluate(expr, row, TODAY)) is True

    fields = world_fields(world)
    source = render(audience, upper) if audience is not None else None
    playbook = _playbook(source, [render(w, upper) for w in whens], fields)
    params = {"today": TODAY.isoformat(), "primary_metric": "logins", "holidays": "[]", "timezone": "UTC"}
    results = evaluate_steps(world, [playbook], fields, params, TODAY)
    in_audience = sorted(i for i, row in rows.items() if audience is None or holds(audience, row))
    for when, result in zip(whens, results, strict=True):
        expected = [i for i in in_audience if holds(when, rows[i])]
        assert [m.account_id for m in result.matches] == expected, (source, result.step.when.source)
        assert result.match_count == len(expected)

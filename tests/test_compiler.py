"""The condition language's compiler: names, types, SQL, and agreement with the reference evaluator."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from condition_book import (
    FIELDS,
    TODAY,
    assert_explained,
    fields_of,
    insert_accounts,
    make_db,
    matching,
    new_target,
    selected_ids,
    stored_accounts,
)
from condition_reference import (
    FIELD_TYPES,
    Arith,
    Between,
    Compare,
    Field,
    In,
    IsNull,
    Lit,
    Logic,
    Neg,
    Not,
    evaluate,
    fields_in_order,
    render,
    truth,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csm.errors import ConditionError
from csm.language.compiler import MAX_DEPTH, check_condition, compile_condition
from csm.language.fields import standard_fields

# -- a small fixed book of accounts, "today" is 2026-06-01 ----------------------

ACCOUNTS = [
    dict(id="A1", name="Acme", plan="starter", arr=12000, seats_licensed=10, seats_used=9,
         start_date="2025-01-10", renewal_date="2026-09-15", status="active", nps=9,
         open_tickets=0, last_login_at="2026-05-30T10:00:00", churn_risk=False, region="EMEA"),
    dict(id="A2", name="Globex", plan="team", arr=48000, seats_licensed=50, seats_used=10,
         start_date="2026-04-01", renewal_date="2027-04-01", status="active", nps=5,
         open_tickets=4, last_login_at="2026-03-01", churn_risk=True, region="O'Brien"),
    dict(id="A3", name="Initech", plan="enterprise", arr=150000, seats_licensed=200,
         seats_used=190, start_date="2023-07-01", renewal_date="2026-07-20", status="active",
         open_tickets=12),
    dict(id="A4", name="Umbrella", plan="team", status="churned", nps=2,
         last_login_at="2025-12-24"),
    dict(id="A5", name="Hooli", plan="starter", arr=0, seats_licensed=0, seats_used=0,
         start_date="2025-06-01", renewal_date="2026-10-01", status="renewed", nps=10,
         open_tickets=1, churn_risk=False, region="C:\\sales"),
]  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def book(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlite3.Connection]:
    conn = make_db(new_target(request, tmp_path_factory))
    insert_accounts(conn, ACCOUNTS)
    conn.executemany(
        "INSERT INTO usage (account_id, metric, date, value) VALUES (?, ?, ?, ?)",
        [
            ("A1", "active_users", "2026-05-31", 8),
            ("A2", "active_users", "2026-05-30", 2),
            ("A2", "active_users", "2026-06-02", 40),  # after today: not seen
        ],
    )
    conn.execute(
        "INSERT INTO timeline (account_id, at, kind, touch, summary)"
        " VALUES ('A1', '2026-05-01T09:00:00', 'note', 1, 'call')"
    )
    yield conn
    conn.close()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("days_to_renewal between 91 and 120", {"A1"}),
        ("status = 'active' and seat_utilization >= 90%", {"A1", "A3"}),
        ("plan in ('starter', 'team') and not (nps is null or nps < 7)", {"A1", "A5"}),
        ("usage.active_users < seats_licensed * 0.25", {"A2"}),
        ("nps < 7", {"A2", "A4"}),
        ("nps <= 5", {"A2", "A4"}),
        ("nps > 9", {"A5"}),
        ("not nps < 7", {"A1", "A5"}),  # A3's missing nps is unknown either way
        ("nps is null", {"A3"}),
        ("nps IS NOT NULL AND arr BETWEEN 10000 AND 50000", {"A1", "A2"}),
        ("nps not in (9, 10)", {"A2", "A4"}),
        ("days_to_renewal not between 0 and 120", {"A2", "A5"}),
        ("seats_used / seats_licensed = 0.9", {"A1"}),  # not integer division
        ("arr / seats_licensed > 1000", {"A1"}),  # A5 divides by zero: NULL
        ("arr - 1000 * 2 >= 10000", {"A1", "A2", "A3"}),
        ("-arr < -100000", {"A3"}),
        ("(nps + 1) * 2 == 12", {"A2"}),
        ("renewal_date < '2026-08-01'", {"A3"}),
        ("last_login_at = '2026-05-30'", {"A1"}),  # a date-time compares by its day
        ("renewal_date in ('2026-09-15', \"2026-10-01\")", {"A1", "A5"}),
        ("start_date between '2025-01-01' and '2025-12-31'", {"A1", "A5"}),
        ("churn_risk", {"A2"}),
        ("not churn_risk", {"A1", "A5"}),
        ("churn_risk = false", {"A1", "A5"}),
        ("churn_risk != true or churn_risk is null", {"A1", "A3", "A4", "A5"}),
        ("status <> 'active' or open_tickets > 10", {"A3", "A4", "A5"}),
        ("status = 'churned' or status = 'renewed' and nps > 9", {"A4", "A5"}),
        ("(status = 'churned' or status = 'renewed') and nps > 9", {"A5"}),
        ("not not (nps >= 9)", {"A1", "A5"}),
        ("lifecycle_stage = 'onboarding'", {"A2"}),
        ("lifecycle_stage = 'renewal'", {"A1", "A3"}),
        ("days_since_touch > 300", {"A3", "A5"}),  # A1 was touched on 2026-05-01
        ("days_since_login >= 90", {"A2", "A4"}),
        ("region = 'O''Brien'", {"A2"}),
        ('region = "O\'Brien"', {"A2"}),
        ("region = 'O\\'Brien'", {"A2"}),
        ("region = 'C:\\sales'", {"A5"}),  # a backslash before other characters stays
        ("region = 'C:\\\\sales'", {"A5"}),
        ("name = 'acme'", set()),  # text comparison is exact
        ("true", {"A1", "A2", "A3", "A4", "A5"}),
        ("arr > 0 and false", set()),
    ],
)
def test_conditions_select_the_right_accounts(
    book: sqlite3.Connection, source: str, expected: set[str]
) -> None:
    assert matching(book, source, fields_of(book)) == expected


def test_a_literal_never_reaches_the_sql_text(book: sqlite3.Connection) -> None:
    source = "name = 'x''); DROP TABLE accounts; --' or region = 'EMEA'"
    condition = compile_condition(source, fields_of(book))
    assert "DROP" not in condition.sql and "EMEA" not in condition.sql
    assert matching(book, source, fields_of(book)) == {"A1"}


@pytest.mark.parametrize(
    ("source", "sql", "params"),
    [
        ("nps < 7", '((a."nps") < :c0)', {"c0": 7}),
        ("nps >= 90%", '((a."nps") >= :c0)', {"c0": 0.9}),
        (
            "plan in ('starter', \"team\")",
            '((a."plan") IN (:c0, :c1))',
            {"c0": "starter", "c1": "team"},
        ),
        (
            "NOT (nps is null OR nps < -7)",
            '(NOT (((a."nps") IS NULL) OR ((a."nps") < :c0)))',
            {"c0": -7},
        ),
        (
            "renewal_date not between '2026-01-01' and '2026-03-31'",
            '(date((a."renewal_date")) NOT BETWEEN :c0 AND :c1)',
            {"c0": "2026-01-01", "c1": "2026-03-31"},
        ),
        ("arr / seats_licensed > 1.5", '(((a."arr") * 1.0 / (a."seats_licensed")) > :c0)',
         {"c0": 1.5}),
        ("-arr + 2 <> 0", '(((- (a."arr")) + :c0) <> :c1)', {"c0": 2, "c1": 0}),
        ("churn_risk and region is not null", '((a."churn_risk") AND ((a."region") IS NOT NULL))', {}),
        ("churn_risk == TRUE", '((a."churn_risk") = :c0)', {"c0": True}),
    ],
)  # fmt: skip
def test_compiled_sql_and_params(source: str, sql: str, params: dict[str, object]) -> None:
    condition = compile_condition(source, FIELDS)
    assert (condition.source, condition.sql, condition.params) == (source, sql, params)


def test_a_prefix_keeps_parameters_of_several_conditions_apart(book: sqlite3.Connection) -> None:
    condition = compile_condition("plan = 'team' and arr > 1", FIELDS, prefix="s3_")
    assert condition.sql == '(((a."plan") = :s3_0) AND ((a."arr") > :s3_1))'
    assert condition.params == {"s3_0": "team", "s3_1": 1}
    audience = compile_condition("nps < 7", FIELDS, prefix="aud_")
    sql = f"SELECT a.id FROM accounts a WHERE {condition.sql} AND {audience.sql}"
    assert selected_ids(book, sql, {**condition.params, **audience.params}) == {"A2"}
    with pytest.raises(ValueError, match="not a parameter prefix"):
        compile_condition("arr > 1", FIELDS, prefix="x y")


def test_fields_are_listed_once_in_order_of_first_appearance() -> None:
    condition = compile_condition("arr > 1 and (nps < arr or usage.logins > 0)", FIELDS)
    assert condition.fields == ("arr", "nps", "usage.logins")


@pytest.mark.parametrize(
    ("source", "message", "offset"),
    [
        ("helth < 60", "unknown field 'helth' (did you mean 'health'?)", 0),
        ("ARR > 5", "unknown field 'ARR' (did you mean 'arr'?)", 0),
        ("usage. > 1", "unknown field 'usage.'; write a usage metric as usage.<metric> (its latest value),"
         " or a window like usage.<metric>.avg(30d)", 0),
        ("arr = 'abc'", "cannot compare 'arr' (a number) with 'abc' (text)", 6),
        ("'abc' < arr", "cannot compare 'abc' (text) with 'arr' (a number)", 8),
        ("renewal_date > 30", "cannot compare 'renewal_date' (a date) with '30' (a number)", 15),
        ("plan in ('a', 3)", "cannot compare 'plan' (text) with '3' (a number)", 14),
        ("churn_risk = 'yes'", "cannot compare 'churn_risk' (true/false) with 'yes' (text)", 13),
        ("churn_risk > true", "cannot use '>' on true/false values; use '=' or '!='", 11),
        ("churn_risk between false and true",
         "cannot use 'between' on true/false values; use '=' or '!='", 11),
        ("renewal_date < '2026-02-30'", "'2026-02-30' is not a date; write dates as 'YYYY-MM-DD'",
         15),
        ("start_date between '2026-01-01' and \"soon\"",
         "\"soon\" is not a date; write dates as 'YYYY-MM-DD'", 36),
        ("nps = null", "cannot compare with null using '='; write 'nps is null'", 6),
        ("nps != null", "cannot compare with null using '!='; write 'nps is not null'", 7),
        ("nps + 1 > null",
         "cannot compare with null using '>'; write 'nps + 1 is null' or 'nps + 1 is not null'",
         10),
        ("plan in ('a', null)",
         "cannot compare with null using 'in'; write 'plan is null' or 'plan is not null'", 14),
        ("status - 1 > 0", "'-' needs numbers, found 'status' (text)", 0),
        ("-plan = 1", "'-' needs numbers, found 'plan' (text)", 1),
        ("arr", "expected a condition, found 'arr' (a number)", 0),
        ("arr + 1", "expected a condition, found 'arr + 1' (a number)", 0),
        ("'abc'", "expected a condition, found 'abc' (text)", 0),
        ("null", "expected a condition, found 'null' (no value)", 0),
        ("not arr", "expected a condition, found 'arr' (a number)", 4),
        ("nps > 1 and (plan)", "expected a condition, found '(plan)' (text)", 12),
    ],
)  # fmt: skip
def test_name_and_type_errors_are_explained(source: str, message: str, offset: int) -> None:
    assert_explained(source, message, offset)


def test_every_name_and_type_problem_is_listed_in_order() -> None:
    source = "plan = 5 and helth > 1 and renewal_date < 'soon' or not nps"
    errors = check_condition(source, FIELDS)
    assert [(e.message, e.offset) for e in errors] == [
        ("cannot compare 'plan' (text) with '5' (a number)", 7),
        ("unknown field 'helth' (did you mean 'health'?)", 13),
        ("'soon' is not a date; write dates as 'YYYY-MM-DD'", 42),
        ("expected a condition, found 'nps' (a number)", 56),
    ]
    with pytest.raises(ConditionError, match="cannot compare 'plan'"):
        compile_condition(source, FIELDS)


def test_the_deepest_and_longest_allowed_conditions_run_in_sqlite(tmp_path: Path) -> None:
    with closing(make_db(tmp_path / "t.db")) as conn:
        insert_accounts(conn, [ACCOUNTS[0]])
        fields = fields_of(conn)
        n = MAX_DEPTH
        touched = "days_since_touch > 1"  # the deepest standard field's SQL, innermost
        for source in [
            "(" * n + touched + ")" * n,
            "not " * n + touched,
            f"({touched}) in (false, (" * n + touched + "))" * n,
            f"{touched} and (" * n + touched + ")" * n,
            "1 / (" * n + "days_since_touch" + ")" * n + " > 0",
            "days_since_touch" + " + 1 * 2 / 4" * 500 + " > 0",  # long chains stay flat
            " or ".join([touched] * 500),
        ]:
            expected = set() if source.count("not ") % 2 else {"A1"}
            assert matching(conn, source, fields) == expected, source


# -- properties -------------------------------------------------------------------

_BY_TYPE = {
    type_: [name for name, t in FIELD_TYPES.items() if t == type_]
    for type_ in ("number", "text", "date", "bool")
}
# Small pools shared by rows and literals, so that equalities and bounds hit.
_WORDS = ["active", "churned", "starter", "team", "renewal", "O'Brien", "C:\\x", ""]
_TEXTS = st.sampled_from(_WORDS) | st.text("ab'\"\\ é", max_size=4)
_DAYS = st.sampled_from(
    [dt.date(2026, 6, 1), dt.date(2026, 5, 2), dt.date(2026, 9, 1), dt.date(2025, 12, 31)]
) | st.dates(dt.date(2024, 1, 1), dt.date(2028, 12, 31))


def _quoted(value: str, quote: str, doubled: bool) -> str:
    escaped = value.replace("\\", "\\\\").replace(quote, quote * 2 if doubled else "\\" + quote)
    return quote + escaped + quote


_LITERALS = {
    "number": st.one_of(
        st.integers(0, 12).map(lambda n: Lit(n, str(n))),
        st.integers(-200, 400).map(lambda n: Lit(n, str(n))),
        st.integers(0, 200_000).map(lambda n: Lit(n, str(n))),
        st.sampled_from([Lit(0.5, "0.5"), Lit(2.25, "2.25"), Lit(0.9, "90%"), Lit(0.125, "12.5%")]),
    ),
    "text": st.builds(
        lambda value, quote, doubled: Lit(value, _quoted(value, quote, doubled)),
        _TEXTS,
        st.sampled_from("'\""),
        st.booleans(),
    ),
    "date": _DAYS.map(lambda d: Lit(d.isoformat(), f"'{d.isoformat()}'")),
    "bool": st.sampled_from([Lit(True, "true"), Lit(False, "FALSE"), Lit(True, "True")]),
}


@cache
def subjects(type_: str, depth: int) -> st.SearchStrategy[Any]:
    """Values built on fields: what a condition is about."""
    fields = st.sampled_from(_BY_TYPE[type_]).map(Field)
    if type_ == "bool":
        return fields if depth == 0 else fields | conditions(depth - 1)
    if type_ != "number" or depth == 0:
        return fields
    smaller = subjects("number", depth - 1)
    arithmetic = st.builds(
        Arith, st.sampled_from(["+", "-", "*", "/", "/"]), smaller, smaller | _LITERALS["number"]
    )
    return st.one_of(fields, arithmetic, arithmetic, st.builds(Neg, smaller))


def others(type_: str) -> st.SearchStrategy[Any]:
    """What a subject is compared with: mostly literals, sometimes another subject."""
    return st.one_of(_LITERALS[type_], _LITERALS[type_], subjects(type_, 1))


@cache
def conditions(depth: int) -> st.SearchStrategy[Any]:
    """Well-typed conditions."""
    any_type = st.sampled_from(["number", "number", "text", "date", "bool"])
    ordered = st.sampled_from(["number", "number", "text", "date"])

    def compare(type_: str) -> st.SearchStrategy[Any]:
        ops = ["=", "==", "!=", "<>"] + ([] if type_ == "bool" else ["<", "<=", ">", ">="])
        return st.builds(Compare, st.sampled_from(ops), subjects(type_, 1), others(type_))

    def in_list(type_: str) -> st.SearchStrategy[Any]:
        items = st.lists(others(type_), min_size=1, max_size=4).map(tuple)
        return st.builds(In, subjects(type_, 1), items, st.booleans())

    def between(type_: str) -> st.SearchStrategy[Any]:
        return st.builds(Between, subjects(type_, 1), others(type_), others(type_), st.booleans())

    atoms = st.one_of(
        any_type.flatmap(compare),
        any_type.flatmap(compare),
        any_type.flatmap(compare),
        any_type.flatmap(in_list),
        ordered.flatmap(between),
        any_type.flatmap(lambda t: st.builds(IsNull, subjects(t, 1), st.booleans())),
        subjects("bool", 0),
    )
    if depth == 0:
        return atoms
    smaller = conditions(depth - 1)
    return st.one_of(
        atoms,
        st.builds(Not, smaller),
        st.builds(
            Logic, st.sampled_from(["and", "or"]), st.lists(smaller, min_size=2, max_size=3).map(tuple)
        ),
    )


_ROW = st.fixed_dictionaries(
    {
        "name": _TEXTS,
        "plan": st.none() | _TEXTS,
        "status": st.sampled_from(["active", "active", "churned", "renewed"]),
        "region": st.none() | _TEXTS,
        "arr": st.none() | st.integers(-1000, 200_000),
        "seats_licensed": st.none() | st.integers(0, 12) | st.integers(0, 300),
        "seats_used": st.none() | st.integers(0, 12) | st.integers(0, 300),
        "nps": st.none() | st.integers(0, 10),
        "open_tickets": st.none() | st.integers(0, 20),
        "health_score": st.none() | st.integers(0, 200).map(lambda n: n / 2),
        "start_date": st.none() | _DAYS.map(dt.date.isoformat),
        "renewal_date": st.none() | _DAYS.map(dt.date.isoformat),
        "last_login_at": st.none()
        | _DAYS.map(dt.date.isoformat)
        | st.builds(dt.datetime.combine, _DAYS, st.times()).map(
            lambda t: t.replace(microsecond=0).isoformat()
        ),
        "churn_risk": st.none() | st.booleans(),
    }
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scratch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlite3.Connection]:
    """The property's database on each backend, made once per module: every example refills it."""
    conn = make_db(new_target(request, tmp_path_factory))
    yield conn
    conn.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, min_size=3, max_size=10), expr=conditions(2), upper=st.booleans())
def test_sql_selects_what_the_reference_evaluator_selects(
    scratch: sqlite3.Connection, rows: list[dict[str, Any]], expr: Any, upper: bool
) -> None:
    insert_accounts(scratch, [{"id": f"A{i}", **row} for i, row in enumerate(rows)])
    stored = stored_accounts(scratch)
    expected = {row["id"] for row in stored if truth(evaluate(expr, row, TODAY)) is True}
    source = render(expr, upper)
    fields = fields_of(scratch)
    assert matching(scratch, source, fields) == expected, source
    assert compile_condition(source, fields).fields == fields_in_order(expr)


_FIELD_OF_TYPE = {"number": "arr", "text": "name", "date": "renewal_date", "bool": "churn_risk"}


@settings(max_examples=200, deadline=None)
@given(literal=st.sampled_from(sorted(_LITERALS)).flatmap(lambda t: _LITERALS[t].map(lambda v: (t, v))))
def test_literals_reach_the_params_exactly_as_written(literal: tuple[str, Lit]) -> None:
    type_, lit = literal
    condition = compile_condition(f"{_FIELD_OF_TYPE[type_]} = {lit.text}", FIELDS)
    assert condition.params == {"c0": lit.value}
    assert type(condition.params["c0"]) is type(lit.value)


_TOKENS = st.sampled_from(
    ["arr", "nps", "plan", "renewal_date", "churn_risk", "usage.logins", "helth", "1", "2.5",
     "90%", "'x'", "'2026-01-01'", '"a"', "true", "null", "and", "or", "not", "in", "between",
     "is", "(", ")", ",", "=", "<>", "<", ">=", "+", "-", "*", "/", "'", "\\", "&", "."]
)  # fmt: skip


@st.composite
def _spliced(draw: st.DrawFn) -> str:
    """A valid condition with a token put in or a piece cut out."""
    text = render(draw(conditions(1)))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 8)))
    return text[:start] + draw(_TOKENS | st.just("")) + text[end:]


_SOURCES = st.one_of(
    st.text(max_size=40),
    st.lists(_TOKENS, max_size=12).map(" ".join),
    st.lists(_TOKENS, max_size=12).map("".join),
    _spliced(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=_SOURCES)
def test_any_text_gets_condition_errors_or_sql_that_runs(scratch: sqlite3.Connection, source: str) -> None:
    fields = fields_of(scratch)
    errors = check_condition(source, fields)
    assert all(isinstance(e, ConditionError) and e.message for e in errors)
    assert all(0 <= e.offset <= len(source) and e.source == source for e in errors)
    if errors:
        with pytest.raises(ConditionError):
            compile_condition(source, fields)
    else:
        matching(scratch, source, fields)  # SQLite accepts it


_DAY_FIELDS = ["days_to_renewal", "days_since_start", "days_since_touch"]
_OPS = ["<", "<=", ">", ">=", "=", "!="]


@settings(max_examples=150, deadline=None)
@given(
    start=st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)),
    renewal=st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)),
    touches=st.lists(st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2027, 12, 31)), max_size=3),
    today=st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31)),
    name=st.sampled_from(_DAY_FIELDS),
    op=st.sampled_from(_OPS),
    n=st.integers(-400, 400),
    m=st.integers(-400, 400),
    mirrored=st.booleans(),
)
def test_a_day_count_compared_with_a_whole_number_tests_the_date_exactly(
    start: dt.date | None,
    renewal: dt.date | None,
    touches: list[dt.datetime],
    today: dt.date,
    name: str,
    op: str,
    n: int,
    m: int,
    mirrored: bool,
) -> None:
    """`days_to_renewal <= 30` compiles to a test on renewal_date itself: the same answer as the count."""
    fields = standard_fields()
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE accounts (id TEXT, start_date TEXT, renewal_date TEXT)")
        conn.execute("CREATE TABLE timeline (account_id TEXT, at TEXT, touch INTEGER)")
        conn.execute("CREATE TABLE usage_rollup (account_id TEXT, last_touch TEXT)")  # empty: computed
        conn.execute("CREATE TABLE usage_rollup_day (day TEXT, metric TEXT)")
        conn.execute(
            "INSERT INTO accounts VALUES ('A1', ?, ?)",
            (start and start.isoformat(), renewal and renewal.isoformat()),
        )
        conn.executemany("INSERT INTO timeline VALUES ('A1', ?, 1)", [(t.isoformat(),) for t in touches])
        mirror = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
        sources = [
            f"{n} {mirror[op]} {name}" if mirrored else f"{name} {op} {n}",
            f"{name} between {min(n, m)} and {max(n, m)}",
            f"{name} not between {min(n, m)} and {max(n, m)}",
        ]
        counted = f"({fields.sql(name)})"
        expected_sql = [
            f"{counted} {op.replace('!=', '<>')} {n}",
            f"{counted} BETWEEN {min(n, m)} AND {max(n, m)}",
            f"{counted} NOT BETWEEN {min(n, m)} AND {max(n, m)}",
        ]
        for source, expected in zip(sources, expected_sql, strict=True):
            compiled = compile_condition(source, fields)
            assert "julianday" not in compiled.sql  # the date is tested, not the count
            params = {**compiled.params, "today": today.isoformat()}
            got = conn.execute(f"SELECT {compiled.sql} FROM accounts a", params).fetchone()[0]
            want = conn.execute(
                f"SELECT {expected} FROM accounts a", {"today": today.isoformat()}
            ).fetchone()[0]
            assert got == want, (source, got, want)

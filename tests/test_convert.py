"""Converters: each column's values checked and typed, bad values named by row and column."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from importing import ACCOUNTS_CSV, dump, load, refusal_test, rows

from csm.data import store
from csm.data.backend import dialect_of
from csm.data.convert import CONVERTERS, BadValue, Remembered, convert_texts, reads_as, required, spelling
from csm.errors import DataImportError


@pytest.fixture
def conn(db: Any) -> Any:
    """Each import test runs on SQLite and on PostgreSQL (conftest's ``db``)."""
    return db


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-11-20", "2026-11-20"),
        ("2026-11-20 14:05", "2026-11-20T14:05:00"),
        ("2026-11-20T14:05:09.123", "2026-11-20T14:05:09"),
        ("2026-11-20T14:05:09Z", "2026-11-20T14:05:09"),
        ("2026-11-20T23:30:00-02:00", "2026-11-21T01:30:00"),
    ],
)
def test_last_login_at_takes_a_date_or_a_date_time(
    conn: sqlite3.Connection, tmp_path: Path, given: str, stored: str
) -> None:
    load(conn, tmp_path, "accounts", "a.csv", f"id,name,last_login_at\nA1,Acme,{given}\n")
    assert rows(conn, "SELECT last_login_at FROM accounts") == [(stored,)]


@pytest.mark.parametrize(
    ("values", "declared", "stored"),
    [
        (["12", "1,200"], "INTEGER", [12, 1200]),
        (["12", "3.5"], "REAL", [12.0, 3.5]),
        (["2026-01-31", ""], "DATE", ["2026-01-31", None]),
        (["true", "FALSE"], "BOOLEAN", [1, 0]),
        (["yes", "12"], "TEXT", ["yes", "12"]),
        (["", ""], "TEXT", [None, None]),
    ],
)
def test_extra_account_columns_are_kept_with_a_type(
    conn: sqlite3.Connection, tmp_path: Path, values: list[str], declared: str, stored: list[object]
) -> None:
    text = f'id,name,Tier Value\nA1,Acme,{values[0]}\nA2,Beta,"{values[1]}"\n'
    load(conn, tmp_path, "accounts", "a.csv", text)
    types = dialect_of(conn).column_types(conn, "accounts")
    assert types["tier_value"] == declared
    got = [r[0] for r in conn.execute("SELECT tier_value FROM accounts ORDER BY id")]
    assert [v.isoformat() if isinstance(v, dt.date) else v for v in got] == stored  # PostgreSQL: dates
    expected = {"INTEGER": "number", "REAL": "number", "DATE": "date", "BOOLEAN": "bool", "TEXT": "text"}
    assert store.extra_account_columns(conn) == {"tier_value": expected[declared]}


def test_a_number_too_large_for_a_known_integer_column(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "a.csv", "id,name,employees\nA1,Acme,120\n")
    before = dump(conn)
    with pytest.raises(DataImportError) as exc:
        load(conn, tmp_path, "accounts", "b.csv", "id,name,employees\nA1,Acme,9223372036854775808\n")
    assert exc.value.message == (
        f"{tmp_path / 'b.csv'}: row 2, column 'employees': '9223372036854775808' is too large for the "
        "database (whole numbers go up to 9,223,372,036,854,775,807)"
    )
    assert dump(conn) == before
    load(conn, tmp_path, "accounts", "c.csv", "id,name,employees\nA1,Acme,9223372036854775807\n")
    assert rows(conn, "SELECT employees FROM accounts") == [(2**63 - 1,)]


def test_internationalised_addresses_are_kept_as_given(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    contacts = "account_id,email\nA1,User@Bücher.DE\nA1,jürgen@bücher.de\nA2,ann@xn--bcher-kva.de\n"
    assert load(conn, tmp_path, "contacts", "contacts.csv", contacts).inserted == 3
    assert rows(conn, "SELECT email FROM contacts ORDER BY account_id, email") == [
        ("jürgen@bücher.de",),
        ("user@bücher.de",),
        ("ann@xn--bcher-kva.de",),
    ]


# -- bad values ------------------------------------------------------------------------------------


BAD_ROWS = [
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,renewal_date\nA1,Acme,2026-01-01\nA2,Beta,2026-13-01\n",
        "accounts.csv: row 3, column 'renewal_date': '2026-13-01' is not a date (expected YYYY-MM-DD)",
        id="date",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,arr\nA1,Acme,abc\n",
        "accounts.csv: row 2, column 'arr': 'abc' is not a number",
        id="number",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,seats_used\nA1,Acme,12.5\n",
        "accounts.csv: row 2, column 'seats_used': '12.5' is not a whole number",
        id="whole number",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\nA9,Acme\nA10,\n",
        "accounts.csv: row 3, column 'name': a value is required",
        id="required",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,owner\nA9,Acme,dana at example.com\n",
        "accounts.csv: row 2, column 'owner': 'dana at example.com' is not an email address "
        "(like name@example.com)",
        id="email",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,last_login_at\nA9,Acme,yesterday\n",
        "accounts.csv: row 2, column 'last_login_at': 'yesterday' is not a date or date-time "
        "(expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)",
        id="date-time",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8", "name": "Beta", "nps": "high"}]',
        "accounts.json: record 2 (line 2), column 'nps': 'high' is not a number",
        id="json record",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n\n{"id": "A8", "name": "Beta", "start_date": "1/2/2026"}\n',
        "accounts.ndjson: line 3, column 'start_date': '1/2/2026' is not a date (expected YYYY-MM-DD)",
        id="ndjson line",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann@acme.example\nA7,bo@x.example\n",
        "contacts.csv: row 3, column 'account_id': no account 'A7'; import accounts first",
        id="unknown account",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email,is_primary\nA1,ann@acme.example,maybe\n",
        "contacts.csv: row 2, column 'is_primary': 'maybe' is not true or false "
        "(expected true, false, yes, no, 1 or 0)",
        id="boolean",
    ),
    pytest.param(
        "usage",
        "usage.csv",
        "account_id,metric,date,value\nA1,active users,2026-11-01,3\n",
        "usage.csv: row 2, column 'metric': 'active users' is not a metric name "
        "(letters, digits and _, like active_users)",
        id="metric",
    ),
    pytest.param(
        "usage",
        "usage.csv",
        "account_id,metric,date,value\nA1,active_users,2026-11-01,\n",
        "usage.csv: row 2, column 'value': a value is required",
        id="usage value",
    ),
]


# Input that once crashed or hung an import, or slipped into the database.
HOSTILE = [
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8", "name": "Beta", "seats_used": 9223372036854775808}]',
        "accounts.json: record 2 (line 2), column 'seats_used': 9223372036854775808 is too large for the "
        "database (whole numbers go up to 9,223,372,036,854,775,807); if it is an ID, give it as text",
        id="json integer past 64 bits",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": -9223372036854775809}\n',
        "accounts.ndjson: line 1, column 'name': -9223372036854775809 is too large for the database "
        "(whole numbers go up to 9,223,372,036,854,775,807); if it is an ID, give it as text",
        id="json integer past 64 bits as text",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme", "employees": 123456789012345678901234567890}\n',
        "accounts.ndjson: line 1, column 'employees': 123456789012345678901234567890 is too large for the "
        "database (whole numbers go up to 9,223,372,036,854,775,807); if it is an ID, give it as text",
        id="json integer past 64 bits in a new column",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme", "arr": NaN}\n',
        "accounts.ndjson: line 1, column 'arr': nan is not a number the database can hold",
        id="json NaN",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme", "plan": -Infinity}\n',
        "accounts.ndjson: line 1, column 'plan': -inf is not a number the database can hold",
        id="json Infinity as text",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme", "health_score": 1e400}]',
        "accounts.json: record 1 (line 1), column 'health_score': inf is not a number the database can hold",
        id="json 1e400",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,seats_used\nA9,Acme,1\nA8,Beta,99999999999999999999\n",
        "accounts.csv: row 3, column 'seats_used': '99999999999999999999' is too large for the database "
        "(whole numbers go up to 9,223,372,036,854,775,807)",
        id="csv integer past 64 bits",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,arr\nA9,Acme,1e999\n",
        "accounts.csv: row 2, column 'arr': '1e999' is too large for the database",
        id="csv 1e999",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann@acme.example\nA1,bo@ab\u05d0c.example\n",
        "contacts.csv: row 3, column 'email': 'bo@ab\u05d0c.example': 'ab\u05d0c.example' is no domain "
        "mail can be sent to (IDNA: Invalid direction for codepoint at position 3 in a left-to-right label)",
        id="email domain not IDNA",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann@\U0001f600.example\n",
        "contacts.csv: row 2, column 'email': 'ann@\U0001f600.example': '\U0001f600.example' is no "
        "domain mail can be sent to (IDNA: Codepoint U+1F600 at position 1 of '\U0001f600' not allowed)",
        id="email emoji domain",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann\u202e@acme.example\n",
        "contacts.csv: row 2, column 'email': 'ann\\u202e@acme.example' has an invisible character "
        "(U+202E) in it; retype it",
        id="email bidi override",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann@b\u00fc\u200bcher.de\n",
        "contacts.csv: row 2, column 'email': 'ann@bü\\u200bcher.de' has an invisible character "
        "(U+200B) in it; retype it",
        id="email zero-width space",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann\x07@acme.example\n",
        "contacts.csv: row 2, column 'email': 'ann\\x07@acme.example' has an invisible character "
        "(U+0007) in it; retype it",
        id="email control character",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann müller@bücher.de\n",
        "contacts.csv: row 2, column 'email': 'ann müller@bücher.de' is not an email address "
        "(like name@example.com)",
        id="email space",
    ),
]


test_a_bad_value_stops_the_import_and_changes_nothing = refusal_test(BAD_ROWS + HOSTILE)


_CSV_TEXTS = st.lists(
    st.one_of(
        st.sampled_from(["", " ", "2026-11-20", "2026-02-30", " 42 ", "1,200", "x@y.io", "Yes", "abc"]),
        st.text(alphabet=" -,.:@0123456789aeTtrufsYN", max_size=12),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(values=_CSV_TEXTS, name=st.sampled_from(sorted(CONVERTERS)), needed=st.booleans())
def test_a_csv_column_converts_as_its_values_one_by_one(values: list[str], name: str, needed: bool) -> None:
    """convert_texts (distinct values once, free text in one pass) is the converter applied to each value."""
    convert = required(CONVERTERS[name]) if needed else CONVERTERS[name]
    try:
        expected: list[object] | None = [convert(value) for value in values]
    except BadValue:
        expected = None
    try:
        got: list[object] | None = list(convert_texts(convert, values))
    except BadValue:
        got = None
    assert got == expected
    if got is not None:  # the same types too: 1 and 1.0 and True are equal in a list
        assert [type(v) for v in got] == [type(v) for v in expected or []]


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(_CSV_TEXTS, max_size=4),
    name=st.sampled_from(sorted(CONVERTERS)),
    needed=st.booleans(),
    limit=st.sampled_from([2, 20_000]),
)
def test_a_column_remembered_across_chunks_converts_as_its_values_one_by_one(
    chunks: list[list[str]], name: str, needed: bool, limit: int
) -> None:
    """A column's converted values remembered from chunk to chunk (and forgotten past the limit)
    are the converter applied to each value, chunk after chunk."""
    convert = required(CONVERTERS[name]) if needed else CONVERTERS[name]
    memo = Remembered(limit)
    for values in chunks:
        try:
            expected: list[object] | None = [convert(value) for value in values]
        except BadValue:
            expected = None
        try:
            got: list[object] | None = list(convert_texts(convert, values, memo))
        except BadValue:
            got = None
        assert got == expected
        if got is not None:
            assert [type(v) for v in got] == [type(v) for v in expected or []]
        if expected is None:
            return  # an import stops at its first bad value


# Spellings: what a chunk checked by its text alone (csm.data.convert.spelling) lets through.
_SPELT = [
    "text",
    "text_list",
    "status",
    "number",
    "integer",
    "date",
    "date_or_datetime",
    "email",
    "boolean",
    "metric",
]
_OWN = {  # each kind's own spelling of values it takes: what spelling must let through
    "text": st.from_regex(r"[a-zA-Zé0-9\\](?:[a-z \t\u2028é]{0,4}[a-z])?", fullmatch=True),
    "text_list": st.from_regex(r"[a-z]+(?: [a-z]+)?", fullmatch=True),
    "status": st.sampled_from(["active", "churned", "at risk", "on-hold"]),
    "number": st.one_of(
        st.integers(-(10**15) + 1, 10**15 - 1).map(str),
        st.tuples(st.integers(-(10**15) + 1, 10**15 - 1), st.integers(0, 10**15 - 1)).map(
            "{0[0]}.{0[1]}".format
        ),
    ),
    "integer": st.one_of(st.integers(0, 10**18 - 1), st.integers(-(10**15) + 1, 0)).map(str),
    "date": st.dates().map(dt.date.isoformat),
    "date_or_datetime": st.one_of(
        st.dates().map(dt.date.isoformat), st.datetimes().map(lambda d: d.isoformat(timespec="seconds"))
    ),
    "email": st.from_regex(r"[a-z0-9._+-]{1,8}@[a-z0-9-]{1,8}(?:\.[a-z]{2,4}){1,2}", fullmatch=True),
    "boolean": st.sampled_from(["0", "1"]),
    "metric": st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
}
_ODD = st.text(alphabet=st.sampled_from(list('09-.:T @aZé \t,;"\r\n\x1c\u2028+e_')), max_size=22)


@settings(max_examples=4000, deadline=None)
@given(
    name=st.sampled_from(_SPELT),
    needed=st.booleans(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    value=st.one_of(_ODD, *_OWN.values()),
)
def test_a_value_its_spelling_matches_converts_to_what_a_database_reads_of_its_text(
    name: str, needed: bool, delimiter: str, value: str
) -> None:
    """Matched: converts with no error (a required column's value is not empty), to what a database
    reading the text as CSV gets; and holds no delimiter, quote or line break to split it."""
    convert = required(CONVERTERS[name]) if needed else CONVERTERS[name]
    pattern = spelling(convert, delimiter)
    assert pattern is not None
    if re.fullmatch(pattern, value):
        converted = convert(value)
        assert reads_as(value, converted)
        assert not {delimiter, '"', "\n", "\r"} & set(value)
        assert value or not needed


@settings(max_examples=1500, deadline=None)
@given(
    data=st.data(), name=st.sampled_from(_SPELT), needed=st.booleans(), delimiter=st.sampled_from([",", "\t"])
)
def test_each_kinds_own_spelling_is_matched(
    data: st.DataObject, name: str, needed: bool, delimiter: str
) -> None:
    """The spellings a file holds (ISO dates, plain numbers, lower-case addresses): checked by the
    text alone, not converted one by one."""
    value = data.draw(_OWN[name].filter(lambda v: delimiter not in v))  # a value of the file's own
    convert = required(CONVERTERS[name]) if needed else CONVERTERS[name]
    assert re.fullmatch(str(spelling(convert, delimiter)), value)
    assert reads_as(value, convert(value))


def test_no_spelling_where_a_value_is_not_its_own_text() -> None:
    """An account reference (it must exist), attributes and new columns: checked one by one."""
    from csm.data.convert import account_ref, attribute, scalar

    assert [spelling(c, ",") for c in (account_ref(set()), attribute, scalar, CONVERTERS["role"])] == [
        None
    ] * 4
    assert re.fullmatch(str(spelling(CONVERTERS["text"], ",")), "")  # empty: NULL
    assert not re.fullmatch(str(spelling(required(CONVERTERS["text"]), ",")), "")
    assert not re.fullmatch(str(spelling(CONVERTERS["status"], ",")), "")  # empty: "active"

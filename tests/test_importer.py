"""Imports: formats, upsert counts, extra columns, and every kind of bad row."""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csm.data import store
from csm.data.importer import ImportResult, column_name, import_file, import_records, read_records
from csm.errors import DataImportError, InputError

NOW = "2026-11-23T07:00:00+00:00"

ACCOUNTS_CSV = """\
id,name,owner,arr,renewal_date,status
A1,Acme,Dana@Example.com,"48,000",2027-01-31,Active
A2,Beta,sam@example.com,48000.50,,churned
A3,Cobalt,,,2026-12-01,
"""


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return store.connect(tmp_path / "csm.db", create=True)


@pytest.fixture(params=[5_000, 1], ids=["one chunk", "a chunk a row"])
def chunk_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """A CSV streams through in chunks; with one row a chunk, every check crosses a chunk's edge."""
    from csm.data import importer

    monkeypatch.setattr(importer, "PROGRESS_EVERY", request.param)
    return request.param


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding=encoding)
    return path


def dump(conn: sqlite3.Connection) -> str:
    return "\n".join(conn.iterdump())


def rows(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(sql)]


def load(conn: sqlite3.Connection, tmp_path: Path, kind: str, name: str, text: str) -> ImportResult:
    return import_file(conn, kind, write(tmp_path, name, text), now=NOW)


# -- formats ---------------------------------------------------------------------------------------


def test_csv_values_are_checked_and_typed(conn: sqlite3.Connection, tmp_path: Path) -> None:
    result = load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    assert result == ImportResult("accounts", str(tmp_path / "accounts.csv"), 3, 0, 0)
    assert rows(conn, "SELECT id, name, owner, arr, renewal_date, status FROM accounts ORDER BY id") == [
        ("A1", "Acme", "dana@example.com", 48000.0, "2027-01-31", "active"),
        ("A2", "Beta", "sam@example.com", 48000.5, None, "churned"),
        ("A3", "Cobalt", None, None, "2026-12-01", "active"),
    ]


def test_csv_tolerates_a_bom_and_header_spacing_and_case(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff ID ,Account Name, Renewal Date ,seatsUsed\r\nA1,x,2027-01-31,4\r\n".encode())
    with pytest.raises(DataImportError, match="no 'name' column"):
        import_file(conn, "accounts", path, now=NOW)
    path.write_bytes("\ufeff ID , Name , Renewal Date ,seatsUsed\r\nA1,Acme,2027-01-31,4\r\n".encode())
    import_file(conn, "accounts", path, now=NOW)
    assert rows(conn, "SELECT id, name, renewal_date, seats_used FROM accounts") == [
        ("A1", "Acme", "2027-01-31", 4)
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (" Renewal Date ", "renewal_date"),
        ("renewalDate", "renewal_date"),
        ("ARR", "arr"),
        ("Seats (used)", "seats_used"),
        ("last-login-at", "last_login_at"),
    ],
)
def test_column_names(header: str, expected: str) -> None:
    assert column_name(header) == expected


FORMATS = {
    "csv": "id,name,arr\nA1,Acme,100\nA2,Beta,\n",
    "json": '[{"id": "A1", "name": "Acme", "arr": 100}, {"id": "A2", "name": "Beta", "arr": null}]',
    "ndjson": '{"id": "A1", "name": "Acme", "arr": 100}\n\n{"id": "A2", "name": "Beta"}\n',
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_from_a_file_and_from_stdin(fmt: str, tmp_path: Path) -> None:
    for source in ("file", "stdin"):
        conn = store.connect(tmp_path / f"{fmt}-{source}.db", create=True)
        if source == "file":
            result = import_file(conn, "accounts", write(tmp_path, f"a.{fmt}", FORMATS[fmt]), now=NOW)
        else:
            stream = io.StringIO("\ufeff" + FORMATS[fmt])
            result = import_file(conn, "accounts", None, now=NOW, stream=stream)
            assert result.source == "stdin"
        assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
        assert rows(conn, "SELECT id, name, arr FROM accounts ORDER BY id") == [
            ("A1", "Acme", 100.0),
            ("A2", "Beta", None),
        ]


def test_read_records_names_each_location(tmp_path: Path) -> None:
    csv_text = 'id,name\nA1,"two\nlines"\n\nA2,Beta\n'
    assert [loc for loc, _ in read_records(write(tmp_path, "a.csv", csv_text), name="a.csv")] == [
        "row 2",
        "row 4",
    ]
    json_text = '[{"id": "A1"},\n  {"id": "A2",\n   "name": "Beta"},\n  {"id": "A3"}]'
    assert [loc for loc, _ in read_records(None, name="-", stream=io.StringIO(json_text))] == [
        "record 1 (line 1)",
        "record 2 (line 2)",
        "record 3 (line 4)",
    ]
    ndjson = read_records(None, name="-", stream=io.StringIO(FORMATS["ndjson"]))
    assert [(loc, rec["id"]) for loc, rec in ndjson] == [("line 1", "A1"), ("line 3", "A2")]


def test_semicolon_csv_and_an_empty_trailing_column(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "eu.csv", "id;name;arr;\nA1;Acme;12;\n")
    assert rows(conn, "SELECT id, name, arr FROM accounts") == [("A1", "Acme", 12.0)]


# -- upserts ----------------------------------------------------------------------------------------


def test_second_import_counts_new_updated_unchanged(
    conn: sqlite3.Connection, tmp_path: Path, chunk_rows: int
) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    conn.execute("UPDATE accounts SET health_score = 71 WHERE id = 'A1'")
    again = "id,name,arr\nA1,Acme,48000\nA2,Beta Corp,48000.5\nA4,Dune,10\n"
    result = load(conn, tmp_path, "accounts", "again.csv", again)
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    # Columns the file does not carry are left alone.
    assert rows(conn, "SELECT id, name, status, health_score, renewal_date FROM accounts ORDER BY id") == [
        ("A1", "Acme", "active", 71.0, "2027-01-31"),
        ("A2", "Beta Corp", "churned", None, None),
        ("A3", "Cobalt", "active", None, "2026-12-01"),
        ("A4", "Dune", "active", None, None),
    ]
    assert rows(conn, "SELECT account_id, at, kind, touch, summary FROM timeline ORDER BY id") == [
        (None, NOW, "import", 0, f"imported {tmp_path / 'accounts.csv'}: 3 new, 0 updated, 0 unchanged"),
        (None, NOW, "import", 0, f"imported {tmp_path / 'again.csv'}: 1 new, 1 updated, 1 unchanged"),
    ]


def test_contacts_aliases_roles_and_booleans(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    contacts = """\
        Account,Email,Name,Role,Primary
        A1,Ann@Acme.example,Ann,Economic Buyer,yes
        A1,bo@acme.example,Bo,champion,
        A2,cy@beta.example,Cy,,Y
        """
    result = load(conn, tmp_path, "contacts", "contacts.csv", contacts)
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    assert rows(conn, "SELECT account_id, email, role, is_primary FROM contacts ORDER BY email") == [
        ("A1", "ann@acme.example", "economic_buyer", 1),
        ("A1", "bo@acme.example", "champion", 0),
        ("A2", "cy@beta.example", None, 1),
    ]


def test_an_import_never_resubscribes_a_contact(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    load(conn, tmp_path, "contacts", "c.csv", "account_id,email,unsubscribed\nA1,a@x.example,true\n")
    result = load(
        conn, tmp_path, "contacts", "c.csv", "account_id,email,unsubscribed\nA1,a@x.example,false\n"
    )
    assert (result.updated, result.unchanged) == (0, 1)
    assert rows(conn, "SELECT unsubscribed FROM contacts") == [(1,)]


def test_usage_upserts_by_account_metric_and_date(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "accounts.csv", ACCOUNTS_CSV)
    usage = "account_id,metric,date,value\nA1,active_users,2026-11-01,40\nA1,active_users,2026-11-02,41\n"
    assert load(conn, tmp_path, "usage", "u.csv", usage).inserted == 2
    usage = "account_id,metric,date,value\nA1,active_users,2026-11-01,40\nA1,active_users,2026-11-02,45\n"
    result = load(conn, tmp_path, "usage", "u.csv", usage)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    assert rows(conn, "SELECT date, value FROM usage ORDER BY date") == [
        ("2026-11-01", 40.0),
        ("2026-11-02", 45.0),
    ]


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


# -- extra columns ----------------------------------------------------------------------------------


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
    types = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(accounts)")}
    assert types["tier_value"] == declared
    assert [r[0] for r in conn.execute("SELECT tier_value FROM accounts ORDER BY id")] == stored
    expected = {"INTEGER": "number", "REAL": "number", "DATE": "date", "BOOLEAN": "bool", "TEXT": "text"}
    assert store.extra_account_columns(conn) == {"tier_value": expected[declared]}


def test_a_known_extra_column_keeps_its_type(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "a.csv", "id,name,employees\nA1,Acme,120\n")
    before = dump(conn)
    with pytest.raises(DataImportError) as exc:
        load(conn, tmp_path, "accounts", "b.csv", "id,name,employees\nA1,Acme,many\n")
    assert exc.value.message == f"{tmp_path / 'b.csv'}: row 2, column 'employees': 'many' is not a number"
    assert dump(conn) == before


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
    assert rows(conn, "SELECT email FROM contacts ORDER BY rowid") == [
        ("user@bücher.de",),
        ("jürgen@bücher.de",),
        ("ann@xn--bcher-kva.de",),
    ]


def test_json_records_may_bring_fields_as_they_go(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = [
        ("record 1", {"id": "A1", "name": "Acme"}),
        ("record 2", {"id": "A2", "name": "B", "region": "EU"}),
    ]
    import_records(conn, "accounts", records, source="api", now=NOW)
    assert rows(conn, "SELECT id, region FROM accounts ORDER BY id") == [("A1", None), ("A2", "EU")]


# -- bad rows ---------------------------------------------------------------------------------------

GOOD = "id,name\nA1,Acme\nA2,Beta\n"

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
        "accounts.csv",
        "id,name\nA9,Acme\nA8,Beta\nA9,Again\n",
        "accounts.csv: row 4: id 'A9' is also in row 2; each may appear once",
        id="duplicate",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,arr\nA9,Acme,48,000\n",
        "accounts.csv: row 2 has 4 values; the header has 3",
        id="unquoted comma",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,arr\nA9,1\n",
        "accounts.csv: row 1: no 'name' column (accounts need id, name)",
        id="missing column",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,Days To Renewal\nA9,Acme,3\n",
        "accounts.csv: row 1: column 'Days To Renewal' would hide the derived field "
        "'days_to_renewal'; rename it",
        id="derived name",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name,Name\nA9,Acme,Acme\n",
        "accounts.csv: row 1: 'name' and 'Name' are both 'name'",
        id="same column twice",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\n",
        "accounts.csv: no accounts to import",
        id="no rows",
    ),
    pytest.param("accounts", "accounts.csv", "\n \n", "accounts.csv: the file is empty", id="empty"),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8", "name": "Beta", "nps": "high"}]',
        "accounts.json: record 2 (line 2), column 'nps': 'high' is not a number",
        id="json record",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8" "name": "Beta"}]',
        "accounts.json: line 2, column 14: invalid JSON: Expecting ',' delimiter",
        id="malformed json",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"}, ["A8"]]',
        "accounts.json: record 2 (line 1) is not an object: ['A8']",
        id="json not an object",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n\n{"id": "A8", "name": "Beta", "start_date": "1/2/2026"}\n',
        "accounts.ndjson: line 3, column 'start_date': '1/2/2026' is not a date (expected YYYY-MM-DD)",
        id="ndjson line",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n{"id": "A8", "name": }\n',
        "accounts.ndjson: line 2, column 22: invalid JSON: Expecting value",
        id="malformed ndjson",
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
        "contacts",
        "contacts.csv",
        "account_id,email,phone\nA1,ann@acme.example,555\n",
        "contacts.csv: row 1: unknown column 'phone'; contacts columns are: account_id, email, name, "
        "role, title, is_primary, unsubscribed",
        id="contacts extra column",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email,nmae\nA1,ann@acme.example,Ann\n",
        "contacts.csv: row 1: unknown column 'nmae' (did you mean 'name'?); contacts columns are: "
        "account_id, email, name, role, title, is_primary, unsubscribed",
        id="contacts typo",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email\nA1,ann@acme.example\nA1,ANN@acme.example\n",
        "contacts.csv: row 3: account_id 'A1', email 'ann@acme.example' is also in row 2; "
        "each may appear once",
        id="duplicate contact",
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
    pytest.param(
        "usage",
        "usage.csv",
        "account_id,metric,date,value,note\nA1,active_users,2026-11-01,3,x\n",
        "usage.csv: row 1: unknown column 'note'; usage columns are: account_id, metric, date, value",
        id="usage extra column",
    ),
]


# Input that once crashed or hung an import, or slipped into the database.
HOSTILE = [
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n{"id": "A8", "name": "Beta", "name": "Again"}\n',
        "accounts.ndjson: line 2: the key 'name' appears twice in one object; keep one",
        id="ndjson duplicate key",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        '[{"id": "A9", "name": "Acme"},\n {"id": "A8",\n  "name": "Beta", "p": {"x": 1, "x": 2}}]',
        "accounts.json: record 2 (line 2): the key 'x' appears twice in one object; keep one",
        id="json nested duplicate key",
    ),
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
        "accounts.json",
        '[{"id": "A9", "name": "Acme", "arr": ' + "9" * 5000 + "}]",
        "accounts.json: record 1 (line 1): a number has more digits than the database can hold",
        id="json 5000 digits",
    ),
    pytest.param(
        "accounts",
        "accounts.json",
        "[" * 10_000 + "]" * 10_000,
        "accounts.json: record 1 (line 1): nested more than 1,000 levels deep; flatten it",
        id="json nested 10,000 deep",
    ),
    pytest.param(
        "accounts",
        "accounts.ndjson",
        '{"id": "A9", "name": "Acme"}\n{"id": "A8", "x": ' + "[" * 10_000 + "]" * 10_000 + "}\n",
        "accounts.ndjson: line 2: nested more than 1,000 levels deep; flatten it",
        id="ndjson nested 10,000 deep",
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
        "accounts",
        "accounts.csv",
        'id,name\nA9,Acme\nA8,"Beta\nA7,Cobalt\nA6,Dune\n',
        "accounts.csv: line 3: a quote opened in this row is never closed (the value runs to the end of "
        "the file)",
        id="csv unclosed quote",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,"Acme\nInc."\nA8,"Beta\nA7,"Cobalt"\nA6,Dune\n',
        "accounts.csv: line 4: a quote opened in this row ends in the middle of a value "
        "(the value runs on to line 5)",
        id="csv quote closed by the next row's",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,"say "hi" there"\n',
        "accounts.csv: line 2: a quote opened in this row ends in the middle of a value",
        id="csv quote not doubled",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,name\nA9,Acme\nA8,"Beta\n' + "A7,Cobalt\n" * 20_000,
        "accounts.csv: line 3: a value is longer than 131,072 characters (the value runs on to line 13110)",
        id="csv unclosed quote past the field limit",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\nA9,Acme\nA8," + "x" * 200_000 + "\n",
        "accounts.csv: line 3: a value is longer than 131,072 characters",
        id="csv field past the field limit",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        'id,"name\nA9,Acme\n',
        "accounts.csv: line 1: a quote opened in this row is never closed (the value runs to the end of "
        "the file)",
        id="csv unclosed quote in the header",
    ),
    pytest.param(
        "accounts",
        "accounts.csv",
        "id,name\nA9,Acme\nA8,Be\x00ta\n",
        "accounts.csv: line 3: a NUL character: not a text file",
        id="NUL",
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


@pytest.mark.parametrize(("kind", "name", "text", "message"), BAD_ROWS + HOSTILE)
def test_a_bad_row_stops_the_import_and_changes_nothing(
    conn: sqlite3.Connection, tmp_path: Path, kind: str, name: str, text: str, message: str, chunk_rows: int
) -> None:
    load(conn, tmp_path, "accounts", "good.csv", GOOD)
    before = dump(conn)
    with pytest.raises(DataImportError) as exc:
        load(conn, tmp_path, kind, name, text)
    assert exc.value.message == f"{tmp_path}/{message}"
    assert dump(conn) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Checked a column at a time, reported a row at a time: row 2 comes first.
        ("id,name,arr,renewal_date\nA1,Acme,abc,2026-01-01\nA2,Beta,1,2026-13-01\n", "row 2, column 'arr'"),
        ("id,name,arr\nA1,Acme,1\nA2,Beta,x\nA1,Again,1\n", "row 3, column 'arr'"),
        ("id,name,arr\nA1,Acme,1\nA1,Again,1\nA2,Beta,x\n", "row 3: id 'A1' is also in row 2"),
        ("id,name,arr\nA1,Acme,x\nA2,Beta,1,2\n", "row 2, column 'arr'"),
    ],
)
def test_the_first_bad_row_is_the_one_reported(
    conn: sqlite3.Connection, tmp_path: Path, text: str, message: str, chunk_rows: int
) -> None:
    with pytest.raises(DataImportError, match=f"^{tmp_path}/a.csv: {message}"):
        load(conn, tmp_path, "accounts", "a.csv", text)
    assert rows(conn, "SELECT count(*) FROM accounts") == [(0,)]  # earlier chunks rolled back too


def test_the_first_bad_record_wins_over_a_later_unknown_field(conn: sqlite3.Connection) -> None:
    records = [("record 1", {"id": "A1", "name": ""}), ("record 2", {"id": "A2", "name": "B", "x y": []})]
    with pytest.raises(DataImportError) as exc:
        import_records(conn, "accounts", records, source="api", now=NOW)
    assert exc.value.message == "api: record 1, column 'name': a value is required"


def test_a_failure_after_writing_rolls_everything_back(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "good.csv", GOOD)
    before = dump(conn)
    conn.execute(
        "CREATE TEMP TRIGGER no_timeline BEFORE INSERT ON main.timeline"
        " BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        load(conn, tmp_path, "accounts", "more.csv", "id,name,region\nA1,Acme,EU\nA5,Eve,US\n")
    assert dump(conn) == before  # no new rows, no updates, no new 'region' column


def test_unknown_kind_missing_file_and_bad_encoding(conn: sqlite3.Connection, tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"^unknown kind 'acounts' \(did you mean 'accounts'\?\); use one of: "
    ):
        import_file(conn, "acounts", tmp_path / "a.csv", now=NOW)
    with pytest.raises(InputError, match=r"^no file "):
        import_file(conn, "accounts", tmp_path / "missing.csv", now=NOW)
    latin = write(tmp_path, "latin.csv", "id,name\nA1,Café\n", encoding="latin-1")
    with pytest.raises(DataImportError, match=r"latin.csv: line 2: not UTF-8 text; byte 0xe9 cannot be read"):
        import_file(conn, "accounts", latin, now=NOW)


def test_progress_is_reported_every_5000_rows(conn: sqlite3.Connection, tmp_path: Path) -> None:
    text = "id,name\n" + "".join(f"A{i},Account {i}\n" for i in range(12_000))
    seen: list[int] = []
    import_file(conn, "accounts", write(tmp_path, "a.csv", text), now=NOW, on_progress=seen.append)
    assert seen == [5_000, 10_000, 12_000]
    seen.clear()
    records = ((f"record {i}", {"id": f"A{i}", "name": "x"}) for i in range(12_000))
    import_records(conn, "accounts", records, source="api", now=NOW, on_progress=seen.append)
    assert seen == [5_000, 10_000, 12_000]


def test_a_csv_streams_through_a_chunk_at_a_time(conn: sqlite3.Connection, tmp_path: Path) -> None:
    text = "id,name\n" + "".join(f"A{i},Account {i}\n" for i in range(12_000))
    stored: list[int] = []  # rows already written, each time a chunk has been read and checked

    def progress(_rows: int) -> None:
        stored.append(conn.execute("SELECT count(*) FROM accounts").fetchone()[0])

    import_file(conn, "accounts", write(tmp_path, "a.csv", text), now=NOW, on_progress=progress)
    assert stored == [0, 5_000, 10_000]  # not all 12,000 held in memory before the first write
    assert rows(conn, "SELECT count(*) FROM accounts") == [(12_000,)]


def test_the_garbage_collector_is_back_on_after_an_import(conn: sqlite3.Connection, tmp_path: Path) -> None:
    import gc

    load(conn, tmp_path, "accounts", "good.csv", "id,name\nA1,Acme\n")
    assert gc.isenabled()
    with pytest.raises(DataImportError):
        load(conn, tmp_path, "accounts", "bad.csv", "id,name\nA1,\n")
    assert gc.isenabled()


# -- properties ------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_account = st.fixed_dictionaries(
    {"name": _text.filter(str.strip)},
    optional={
        "arr": st.one_of(st.none(), st.floats(0, 1e9, allow_nan=False)),
        "seats_used": st.one_of(st.none(), st.integers(0, 10_000)),
        "renewal_date": st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())),
        "plan": _text,
    },
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_account, min_size=1, max_size=8))
def test_importing_the_same_records_twice_changes_nothing(accounts: list[dict[str, object]]) -> None:
    records = [(f"record {i}", {"id": f"A{i}", **a}) for i, a in enumerate(accounts, 1)]
    with tempfile.TemporaryDirectory() as folder:
        conn = store.connect(Path(folder) / "csm.db", create=True)
        first = import_records(conn, "accounts", records, source="a.json", now=NOW)
        before = rows(conn, "SELECT * FROM accounts ORDER BY id")
        again = import_records(conn, "accounts", json.loads(json.dumps(records)), source="a.json", now=NOW)
        assert (first.inserted, again.unchanged) == (len(records), len(records))
        assert rows(conn, "SELECT * FROM accounts ORDER BY id") == before
        conn.close()


def test_a_bulk_load_rebuilds_the_indexes_after_it(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csm.data import importer

    monkeypatch.setattr(importer, "BULK_ROWS", 2)
    indexes = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'accounts' ORDER BY name"
    )
    before = rows(conn, indexes)
    csv_text = "id,name,owner,renewal_date\n" + "".join(
        f"A{i},Acme {i},csm{i % 3}@vendor.example,2027-0{1 + i % 9}-01\n" for i in range(50)
    )
    assert load(conn, tmp_path, "accounts", "bulk.csv", csv_text).inserted == 50
    assert rows(conn, indexes) == before
    plan = rows(conn, "EXPLAIN QUERY PLAN SELECT id FROM accounts WHERE owner = 'csm1@vendor.example'")
    assert "USING INDEX accounts_owner" in plan[0][-1]
    assert rows(conn, "SELECT count(*) FROM accounts WHERE owner = 'csm1@vendor.example'") == [(17,)]
    assert rows(conn, "PRAGMA integrity_check") == [("ok",)]

"""Kinds: header names to columns, the columns each kind takes, extra account columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from importing import dump, load, refusal_test

from csm.data.backend import dialect_of
from csm.data.kinds import column_name
from csm.errors import DataImportError


@pytest.fixture
def conn(db: Any) -> Any:
    """Each import test runs on SQLite and on PostgreSQL (conftest's ``db``)."""
    return db


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


def test_a_known_extra_column_keeps_its_type(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "a.csv", "id,name,employees\nA1,Acme,120\n")
    before = dump(conn)
    with pytest.raises(DataImportError) as exc:
        load(conn, tmp_path, "accounts", "b.csv", "id,name,employees\nA1,Acme,many\n")
    assert exc.value.message == f"{tmp_path / 'b.csv'}: row 2, column 'employees': 'many' is not a number"
    assert dump(conn) == before


# -- bad headers -----------------------------------------------------------------------------------


BAD_ROWS = [
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
        "events",
        "events.csv",
        "id,account_id,kind,occurred_at,contatc\nE1,A1,ticket,2026-11-01,x\n",
        "events.csv: row 1: unknown column 'contatc' (did you mean 'contact'?); events columns are: "
        "id, account_id, kind, contact, occurred_at, closed_at, attributes",
        id="events typo",
    ),
    pytest.param(
        "events",
        "events.csv",
        "id,account,kind,occurred_at\nE1,A1,ticket,2026-11-01\nE2,A1,ticket,last week\n",
        "events.csv: row 3, column 'occurred_at': 'last week' is not a date or date-time"
        " (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)",
        id="events bad date",
    ),
    pytest.param(
        "events",
        "events.csv",
        "id,account,kind,occurred_at\nE1,A7,ticket,2026-11-01\n",
        "events.csv: row 2, column 'account_id': no account 'A7'; import accounts first",
        id="events unknown account",
    ),
    pytest.param(
        "events",
        "events.csv",
        "id,account,kind,occurred_at\nE1,A1,NPS response,2026-11-01\n",
        "events.csv: row 2, column 'kind': 'NPS response' is not an event kind (letters, digits and _,"
        " like nps_response)",
        id="events bad kind",
    ),
    pytest.param(
        "events",
        "events.csv",
        "id,account,kind,occurred_at\nE1,A1,ticket,2026-11-01\nE1,A1,ticket,2026-11-02\n",
        "events.csv: row 3: id 'E1' is also in row 2; each may appear once",
        id="events id twice",
    ),
    pytest.param(
        "contacts",
        "contacts.csv",
        "account_id,email,nmae\nA1,ann@acme.example,Ann\n",
        "contacts.csv: row 1: unknown column 'nmae' (did you mean 'name'?); contacts columns are: "
        "account_id, email, name, role, title, is_primary, unsubscribed, left_at",
        id="contacts typo",
    ),
    pytest.param(
        "usage",
        "usage.csv",
        "account_id,metric,date,value,note\nA1,active_users,2026-11-01,3,x\n",
        "usage.csv: row 1: unknown column 'note'; usage columns are: account_id, metric, date, value",
        id="usage extra column",
    ),
]


test_a_bad_header_stops_the_import_and_changes_nothing = refusal_test(BAD_ROWS)


# -- contacts' extra columns and events' attributes -------------------------------------------------


def test_contacts_keep_extra_columns_with_their_type(conn: sqlite3.Connection, tmp_path: Path) -> None:
    load(conn, tmp_path, "accounts", "a.csv", "id,name\nA1,Acme\n")
    load(
        conn,
        tmp_path,
        "contacts",
        "c.csv",
        "account,email,Bounced At,phone\nA1,ann@acme.example,2026-11-02,555\n",
    )
    declared = dialect_of(conn).column_types(conn, "contacts")
    assert (declared["bounced_at"], declared["phone"]) == ("DATE", "INTEGER")
    before = dump(conn)
    with pytest.raises(DataImportError) as exc:
        load(conn, tmp_path, "contacts", "d.csv", "account,email,bounced_at\nA1,ann@acme.example,soon\n")
    assert (
        exc.value.message
        == f"{tmp_path / 'd.csv'}: row 2, column 'bounced_at': 'soon' is not a date (expected YYYY-MM-DD)"
    )
    assert dump(conn) == before


def test_an_events_other_fields_are_its_attributes(
    conn: sqlite3.Connection, tmp_path: Path, chunk_rows: int
) -> None:
    load(conn, tmp_path, "accounts", "a.csv", "id,name\nA1,Acme\n")
    result = load(
        conn,
        tmp_path,
        "events",
        "e.csv",
        "id,account,type,email,date,closed_at,severity,score,note\n"
        "E1,A1,Ticket,Ann@Acme.example,2026-11-20T09:30:00+01:00,,P1,,Exports fail\n"
        "E2,A1,nps_response,ann@acme.example,2026-11-21,,,6,\n"
        "E3,A1,nps_response,,2026-11-22,,,7.5,\n",
    )
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    assert [tuple(r) for r in conn.execute("SELECT * FROM events ORDER BY id")] == [
        ("E1", "A1", "ticket", "ann@acme.example", "2026-11-20T08:30:00", None,
         '{"note": "Exports fail", "severity": "P1"}'),
        ("E2", "A1", "nps_response", "ann@acme.example", "2026-11-21", None, '{"score": 6}'),
        ("E3", "A1", "nps_response", None, "2026-11-22", None, '{"score": 7.5}'),
    ]  # fmt: skip
    again = load(conn, tmp_path, "events", "f.csv", "id,account,kind,occurred_at,closed_at,severity\n"
                 "E1,A1,ticket,2026-11-20T08:30:00,2026-11-22,P2\n")  # fmt: skip
    assert (again.inserted, again.updated) == (0, 1)
    assert tuple(conn.execute("SELECT closed_at, attributes FROM events WHERE id = 'E1'").fetchone()) == (
        "2026-11-22",
        '{"severity": "P2"}',
    )


def test_json_events_merge_an_attributes_object_with_their_loose_fields(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "accounts", "a.csv", "id,name\nA1,Acme\n")
    record = (
        '{"id": "N1", "account_id": "A1", "kind": "nps_response", "occurred_at": "2026-11-21",'
        ' "attributes": {"score": 3, "channel": "email"}, "comment": "slow"}'
    )
    load(conn, tmp_path, "events", "e.json", f"[{record}]")
    assert conn.execute("SELECT attributes FROM events").fetchone()[0] == (
        '{"channel": "email", "comment": "slow", "score": 3}'
    )


def test_a_usage_import_notes_its_metrics(conn: sqlite3.Connection, tmp_path: Path) -> None:
    from csm.data.metrics import held

    load(conn, tmp_path, "accounts", "a.csv", "id,name\nA1,Acme\n")
    assert held(conn, scan=False) is None
    load(conn, tmp_path, "usage", "u.csv", "account_id,metric,date,value\nA1,logins,2026-11-01,3\n")
    load(conn, tmp_path, "usage", "v.csv", "account_id,metric,date,value\nA1,exports,2026-11-01,1\n")
    assert held(conn, scan=False) == ["exports", "logins"]

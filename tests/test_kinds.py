"""Kinds: header names to columns, the columns each kind takes, extra account columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from importing import dump, load, refusal_test

from csm.data.kinds import column_name
from csm.errors import DataImportError


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
        "contacts",
        "contacts.csv",
        "account_id,email,nmae\nA1,ann@acme.example,Ann\n",
        "contacts.csv: row 1: unknown column 'nmae' (did you mean 'name'?); contacts columns are: "
        "account_id, email, name, role, title, is_primary, unsubscribed",
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

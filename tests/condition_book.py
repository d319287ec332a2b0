"""A small fixed book of conditions' helpers: a database, its fields, and running a condition on it.

Shared by tests/test_parser.py and tests/test_compiler.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from csm.data import store
from csm.data.backend import dialect_of
from csm.errors import ConditionError
from csm.language.compiler import check_condition, compile_condition
from csm.language.fields import Field as CsmField
from csm.language.fields import FieldSet, standard_fields

TODAY = dt.date(2026, 6, 1)
COLUMNS = [
    "id", "name", "owner", "plan", "arr", "seats_licensed", "seats_used", "start_date",
    "renewal_date", "status", "nps", "open_tickets", "last_login_at", "health_score",
    "churn_risk", "region",
]  # fmt: skip


def new_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path | str:
    """Where a module's book lives, by the fixture's parameter: a SQLite file, or a PostgreSQL database
    made once for the module (Hypothesis runs every example on it: tables are refilled, not remade)."""
    if request.param == "sqlite":
        return tmp_path_factory.mktemp("book") / "t.db"
    return str(request.getfixturevalue("pg_cluster").new_database())


def make_db(target: Path | str) -> sqlite3.Connection:
    conn = store.connect(target, create=True)
    conn.execute("ALTER TABLE accounts ADD COLUMN churn_risk BOOLEAN")
    conn.execute("ALTER TABLE accounts ADD COLUMN region TEXT")
    return conn


def fields_of(conn: sqlite3.Connection) -> FieldSet:
    return standard_fields(store.extra_account_columns(conn), dialect=dialect_of(conn))


def insert_accounts(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    marks = ", ".join(f":{c}" for c in COLUMNS)
    with store.transaction(conn):
        conn.execute("DELETE FROM accounts")
        conn.executemany(
            f"INSERT INTO accounts ({', '.join(COLUMNS)}) VALUES ({marks})",
            [{c: row.get(c) for c in COLUMNS} for row in rows],
        )


def stored_accounts(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every account row as the reference evaluator reads it (a DATE column reads back as its
    ISO text on both backends)."""
    return [dict(row) for row in conn.execute("SELECT * FROM accounts")]


def selected_ids(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> set[str]:
    params = {**params, "today": TODAY.isoformat(), "primary_metric": "logins"}
    return {row[0] for row in conn.execute(sql, params)}


def matching(conn: sqlite3.Connection, source: str, fields: FieldSet) -> set[str]:
    condition = compile_condition(source, fields)
    return selected_ids(conn, f"SELECT a.id FROM accounts a WHERE {condition.sql}", condition.params)


FIELDS = standard_fields({"churn_risk": "bool", "region": "text"}).with_fields(
    [CsmField("health", "number", "a.health_score", "stands in for the health model", True)]
)


def make_world(target: Path | str) -> sqlite3.Connection:
    """The condition book's database, with an imported date column on accounts and on contacts."""
    conn = make_db(target)
    conn.execute("ALTER TABLE accounts ADD COLUMN nps_answered_at DATE")
    if "bounced_at" not in dialect_of(conn).column_types(conn, "contacts"):
        conn.execute("ALTER TABLE contacts ADD COLUMN bounced_at DATE")  # csm inbox's column since schema 6
    return conn


def world_fields(conn: sqlite3.Connection) -> FieldSet:
    extras = store.extra_columns(conn, "accounts"), store.extra_columns(conn, "contacts")
    return standard_fields(*extras, dialect=dialect_of(conn))


def fill(conn: sqlite3.Connection, accounts: list[dict[str, Any]]) -> None:
    """Accounts, each with its ``_usage``, ``_events`` and ``_contacts``."""
    insert_accounts(conn, accounts)
    with store.transaction(conn):
        for table in ("usage", "events", "contacts"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("UPDATE accounts SET nps_answered_at = :at WHERE id = :id", {"at": None, "id": None})
        for account in accounts:
            conn.execute(
                "UPDATE accounts SET nps_answered_at = ? WHERE id = ?",
                (account.get("nps_answered_at"), account["id"]),
            )
            conn.executemany(
                "INSERT INTO usage (account_id, metric, date, value) VALUES (?, ?, ?, ?)",
                [(account["id"], *u) for u in account.get("_usage", [])],
            )
            conn.executemany(
                "INSERT INTO events (id, account_id, kind, contact, occurred_at, closed_at, attributes)"
                " VALUES (:id, :account_id, :kind, :contact, :occurred_at, :closed_at, :attributes)",
                [
                    {**e, "account_id": account["id"], "attributes": json.dumps(e["attributes"])}
                    for e in account.get("_events", [])
                ],
            )
            conn.executemany(
                "INSERT INTO contacts (account_id, email, name, role, is_primary, left_at, bounced_at)"
                " VALUES (:account_id, :email, :name, :role, :is_primary, :left_at, :bounced_at)",
                [{**c, "account_id": account["id"]} for c in account.get("_contacts", [])],
            )


def selected(conn: sqlite3.Connection, source: str, today: dt.date = TODAY) -> set[str]:
    condition = compile_condition(source, world_fields(conn))
    params = {**condition.params, "today": today.isoformat(), "primary_metric": "logins"}
    return {row[0] for row in conn.execute(f"SELECT a.id FROM accounts a WHERE {condition.sql}", params)}


def assert_explained(source: str, message: str, offset: int) -> None:
    """``source`` has exactly this one problem, from check_condition and compile_condition alike."""
    assert [(e.message, e.offset) for e in check_condition(source, FIELDS)] == [(message, offset)]
    with pytest.raises(ConditionError) as caught:
        compile_condition(source, FIELDS)
    assert (caught.value.message, caught.value.offset, caught.value.source) == (message, offset, source)

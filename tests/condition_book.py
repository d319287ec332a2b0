"""A small fixed book of conditions' helpers: a database, its fields, and running a condition on it.

Shared by tests/test_parser.py and tests/test_compiler.py.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from csm.data import store
from csm.language.compiler import compile_condition
from csm.language.fields import Field as CsmField
from csm.language.fields import FieldSet, standard_fields

TODAY = dt.date(2026, 6, 1)
COLUMNS = [
    "id", "name", "owner", "plan", "arr", "seats_licensed", "seats_used", "start_date",
    "renewal_date", "status", "nps", "open_tickets", "last_login_at", "health_score",
    "churn_risk", "region",
]  # fmt: skip


def make_db(path: Path) -> sqlite3.Connection:
    conn = store.connect(path, create=True)
    conn.execute("ALTER TABLE accounts ADD COLUMN churn_risk BOOLEAN")
    conn.execute("ALTER TABLE accounts ADD COLUMN region TEXT")
    return conn


def fields_of(conn: sqlite3.Connection) -> FieldSet:
    return standard_fields(store.extra_account_columns(conn))


def insert_accounts(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    marks = ", ".join(f":{c}" for c in COLUMNS)
    with store.transaction(conn):
        conn.execute("DELETE FROM accounts")
        conn.executemany(
            f"INSERT INTO accounts ({', '.join(COLUMNS)}) VALUES ({marks})",
            [{c: row.get(c) for c in COLUMNS} for row in rows],
        )


def selected_ids(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> set[str]:
    params = {**params, "today": TODAY.isoformat(), "primary_metric": "logins"}
    return {row[0] for row in conn.execute(sql, params)}


def matching(conn: sqlite3.Connection, source: str, fields: FieldSet) -> set[str]:
    condition = compile_condition(source, fields)
    return selected_ids(conn, f"SELECT a.id FROM accounts a WHERE {condition.sql}", condition.params)


FIELDS = standard_fields({"churn_risk": "bool", "region": "text"}).with_fields(
    [CsmField("health", "number", "a.health_score", "stands in for the health model", True)]
)

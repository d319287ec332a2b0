"""Point-in-time values: an import keeps what it changed, dated; Shadow puts a past day back."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import pytest

from csm.data import history, store
from csm.data.importer import import_records
from csm.errors import DataImportError


def _import(conn: sqlite3.Connection, kind: str, rows: list[dict[str, Any]], day: str) -> Any:
    records = ((f"record {n}", row) for n, row in enumerate(rows, 1))
    return import_records(conn, kind, records, source="crm.csv", now=f"{day}T06:00:00+00:00")


def _history(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [
        (row[0], row[1], row[2])
        for row in conn.execute(
            "SELECT account_id, valid_until, json_extract(data, '$.nps') FROM account_history ORDER BY 1, 2"
        )
    ]


def test_an_import_keeps_the_values_it_changed_and_nothing_else(conn: sqlite3.Connection) -> None:
    _import(
        conn,
        "accounts",
        [{"id": "A1", "name": "Acme", "nps": 5}, {"id": "A2", "name": "Beta", "nps": 9}],
        "2026-01-05",
    )
    assert _history(conn) == [], "a first import is the current values: no history"
    result = _import(
        conn,
        "accounts",
        [{"id": "A1", "name": "Acme", "nps": 7}, {"id": "A2", "name": "Beta", "nps": 9}],
        "2026-02-01",
    )
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1), "history rows are not updates"
    assert _history(conn) == [("A1", "2026-02-01", 5)]
    _import(conn, "accounts", [{"id": "A1", "name": "Acme", "nps": 8}], "2026-03-01")
    _import(conn, "accounts", [{"id": "A1", "name": "Acme", "nps": 10}], "2026-03-01")
    assert _history(conn) == [("A1", "2026-02-01", 5), ("A1", "2026-03-01", 7)], "the day's first values held"
    assert conn.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger'").fetchone()[0] == 0


def test_a_failed_import_keeps_no_history(conn: sqlite3.Connection) -> None:
    _import(conn, "accounts", [{"id": "A1", "name": "Acme", "nps": 5}], "2026-01-05")
    with pytest.raises(DataImportError):
        _import(
            conn,
            "accounts",
            [{"id": "A1", "name": "Acme", "nps": 6}, {"id": "A2", "name": "Beta", "nps": "x"}],
            "2026-02-01",
        )
    assert _history(conn) == []
    assert conn.execute("SELECT nps FROM accounts").fetchone()[0] == 5


def test_contacts_keep_their_history_too(conn: sqlite3.Connection) -> None:
    _import(conn, "accounts", [{"id": "A1", "name": "Acme"}], "2026-01-05")
    _import(conn, "contacts", [{"account": "A1", "email": "ana@acme.test", "role": "user"}], "2026-01-05")
    _import(conn, "contacts", [{"account": "A1", "email": "ana@acme.test", "role": "champion"}], "2026-02-01")
    rows = conn.execute(
        "SELECT email, valid_until, json_extract(data, '$.role') FROM contact_history"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("ana@acme.test", "2026-02-01", "user")]


def test_a_shadow_is_each_day_as_it_stood_and_touches_nothing(conn: sqlite3.Connection) -> None:
    _import(
        conn,
        "accounts",
        [{"id": "A1", "name": "Acme", "nps": 5}, {"id": "A2", "name": "Beta", "nps": 1}],
        "2026-01-05",
    )
    _import(conn, "accounts", [{"id": "A1", "name": "Acme", "nps": 7}], "2026-02-01")
    _import(conn, "accounts", [{"id": "A1", "name": "Acme", "nps": 9}], "2026-03-01")
    with store.transaction(conn):
        conn.execute(
            "INSERT INTO snoozes (account_id, until, reason, created_at)"
            " VALUES ('A2', '2026-12-01', 'x', '2026-02-10T09:00:00')"
        )
    before = list(conn.iterdump())
    shadow = history.Shadow(conn, dt.date(2025, 12, 1))
    seen = {}
    for day in (
        "2025-12-01",
        "2026-01-31",
        "2026-02-01",
        "2026-02-10",
        "2026-02-28",
        "2026-03-01",
        "2026-06-01",
    ):
        shadow.move_to(dt.date.fromisoformat(day))
        nps = dict(conn.execute("SELECT id, nps FROM accounts").fetchall())
        snoozed = [r[0] for r in conn.execute("SELECT account_id FROM snoozes")]
        seen[day] = (nps["A1"], nps["A2"], snoozed)
    shadow.close()
    assert seen == {
        "2025-12-01": (5, 1, []),  # before the oldest change: the oldest values kept stand in
        "2026-01-31": (5, 1, []),
        "2026-02-01": (7, 1, []),
        "2026-02-10": (7, 1, ["A2"]),
        "2026-02-28": (7, 1, ["A2"]),
        "2026-03-01": (9, 1, ["A2"]),
        "2026-06-01": (9, 1, ["A2"]),
    }
    assert list(conn.iterdump()) == before
    assert history.first_change(conn) == "2026-02-01"

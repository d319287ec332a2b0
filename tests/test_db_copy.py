"""`csm db copy`: SQLite ⇄ PostgreSQL, lossless, checked by row counts and checksums per table."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from csm.data import copy, store


def _checks(output: str) -> dict[str, tuple[int, str]]:
    found = json.loads(output)
    assert found["copied"] is True
    assert all(t["ok"] for t in found["tables"])
    return {t["table"]: (t["rows_to"], t["checksum_to"]) for t in found["tables"]}


@pytest.mark.sqlite_only("copies the demo's SQLite file to PostgreSQL")
def test_the_demo_goes_to_postgresql_and_back_unchanged(
    demo: Path, pg_cluster: Any, invoke: Any, tmp_path: Path
) -> None:
    url = pg_cluster.new_database()
    there = invoke("db", "copy", str(demo / "csm.db"), url, "--json")
    assert there.exit_code == 0, there.output
    back = invoke("db", "copy", url, str(tmp_path / "back.db"), "--json")
    assert back.exit_code == 0, back.output
    assert _checks(there.output) == _checks(back.output)
    counts = _checks(back.output)
    assert counts["usage"][0] > 100_000 and counts["outbox"][0] > 100  # the demo's data, not empty tables

    # Checked again from outside the copy: the file that came back holds what the demo's holds.
    with (
        closing(sqlite3.connect(demo / "csm.db")) as original,
        closing(sqlite3.connect(tmp_path / "back.db")) as returned,
    ):
        for table in ("accounts", "outbox", "timeline", "health_history"):
            columns = sorted(r[1] for r in original.execute(f"PRAGMA table_info({table})"))
            assert (
                copy.table_checksum(original, table, columns).hex
                == copy.table_checksum(returned, table, columns).hex
            )
        assert (
            original.execute("SELECT * FROM outbox ORDER BY id").fetchall()
            == returned.execute("SELECT * FROM outbox ORDER BY id").fetchall()
        )


@pytest.mark.sqlite_only("copies the demo's SQLite file to PostgreSQL")
def test_postgresql_hands_out_ids_after_the_copied_ones(demo: Path, pg_cluster: Any) -> None:
    url = pg_cluster.new_database()
    assert copy.copy_database(demo / "csm.db", url).ok
    with closing(store.connect(url)) as conn:
        last = conn.execute("SELECT max(id) FROM timeline").fetchone()[0]
        new = conn.execute(
            "INSERT INTO timeline (account_id, at, kind, summary)"
            " VALUES ('x', '2026-11-23', 'note', 'hi') RETURNING id"
        ).fetchone()[0]
    assert new == last + 1


def _small(database: str) -> None:
    conn = store.connect(database, create=True)
    with store.transaction(conn):
        conn.execute("INSERT INTO accounts (id, name, arr, status) VALUES ('a1', 'Acme', 1200.5, 'active')")
        conn.execute("INSERT INTO accounts (id, name, arr, status) VALUES ('a2', 'Bolt', 900, 'active')")
        conn.execute(
            "INSERT INTO contacts (account_id, email, is_primary, left_at)"
            " VALUES ('a1', 'x@acme.example', 1, '2026-10-01')"
        )
    conn.close()


def test_a_difference_is_caught_and_the_copy_rolled_back(
    database: str, tmp_path: Path, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small(database)
    target = str(tmp_path / "copy.db")
    real = copy._writer

    def corrupting(dialect: str, declared: str) -> Any:  # a copy that loses a value on the way
        write = real(dialect, declared)
        return (lambda v: 901 if v == 900 else write(v)) if declared == "REAL" else write

    monkeypatch.setattr(copy, "_writer", corrupting)
    result = invoke("db", "copy", database, target)
    assert result.exit_code == 1, result.output
    assert "accounts" in result.output and "DIFFERS" in result.output
    assert "differs from" in result.output and "rolled back" in result.output
    conn = store.connect(Path(target))
    assert copy.held_tables(conn) == []  # nothing half-written
    conn.close()


def test_a_target_with_data_is_refused_unless_replaced(database: str, tmp_path: Path, invoke: Any) -> None:
    _small(database)
    target = str(tmp_path / "copy.db")
    assert invoke("db", "copy", database, target).exit_code == 0
    again = invoke("db", "copy", database, target)
    assert again.exit_code == 1
    assert "already holds data (accounts, contacts)" in again.output
    replaced = invoke("db", "copy", database, target, "--replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert _checks(replaced.output)["accounts"][0] == 2


def test_the_table_printed_and_a_password_never(
    pg_cluster: Any, tmp_path: Path, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = str(tmp_path / "solo.db")
    _small(source)
    url = pg_cluster.new_database()
    monkeypatch.setenv("CSM_TEST_DB_PASSWORD", "hunter2")  # trust auth: any password is accepted
    result = invoke("db", "copy", source, url, "--password-env", "CSM_TEST_DB_PASSWORD")
    assert result.exit_code == 0, result.output
    assert "Copied 3 rows in" in result.output and "every count and checksum agrees" in result.output
    assert "hunter2" not in result.output
    with_password = url.replace("postgres@", "postgres:hunter2@")
    refused = invoke("db", "copy", source, with_password)
    assert refused.exit_code == 1
    assert "carries a password" in refused.output and "hunter2" not in refused.output


def test_the_same_database_twice_is_refused(tmp_path: Path, invoke: Any) -> None:
    source = str(tmp_path / "solo.db")
    _small(source)
    result = invoke("db", "copy", source, source)
    assert result.exit_code == 1
    assert "both the source and the target" in result.output

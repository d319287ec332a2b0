"""The database seam (csm.data.backend): one schema, one SQL, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from csm.data import store
from csm.data.backend import dialect_of, is_postgres_url, redact, to_pyformat
from csm.errors import WorkspaceError


def test_a_new_database_is_migrated_to_the_current_schema(db: Any) -> None:
    assert store.schema_version(db) == store.SCHEMA_VERSION
    tables = {"accounts", "outbox", "deliveries", "events", "replies", "account_history"}
    for table in tables:
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_reopening_migrates_nothing_twice(database: str, db: Any) -> None:
    again = store.connect(database)
    assert store.schema_version(again) == store.SCHEMA_VERSION
    again.close()


def test_rows_read_by_name_and_index_and_new_ids_come_back(db: Any) -> None:
    with store.transaction(db):
        new = db.execute(
            "INSERT INTO timeline (account_id, at, kind, summary) VALUES (?, ?, ?, ?) RETURNING id",
            ("a1", "2026-11-23T10:00:00", "note", "50% done"),
        ).fetchone()
    row = db.execute("SELECT id, summary FROM timeline WHERE summary LIKE '%done'").fetchone()
    assert row["id"] == row[0] == new[0]
    assert row["summary"] == "50% done"


def test_a_cursor_without_a_row_factory_streams_plain_tuples(db: Any) -> None:
    """What the step queries ask for: every row, in order, past the batches PostgreSQL's are fetched in."""
    addresses = [f"{n:04d}@x" for n in range(2_500)]
    db.executemany("INSERT INTO suppressions (email, created_at) VALUES (?, 't')", [(a,) for a in addresses])
    cursor = db.cursor()
    cursor.row_factory = None
    found = list(cursor.execute("SELECT email, created_at FROM suppressions ORDER BY email"))
    assert [type(row) for row in found[:1]] == [tuple]
    assert found == [(a, "t") for a in addresses]
    row = db.execute("SELECT email, created_at FROM suppressions ORDER BY email").fetchone()
    assert (row["email"], row[1], list(row.keys())) == ("0000@x", "t", ["email", "created_at"])


def test_a_session_waits_30_s_at_most_for_a_lock(db: Any) -> None:
    if dialect_of(db).name == "sqlite":
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == store.BUSY_TIMEOUT_MS
    else:
        shown = db.execute("SELECT current_setting('lock_timeout'), current_setting('jit')").fetchone()
        assert tuple(shown) == ("30s", "off")


def test_a_failed_transaction_leaves_nothing(db: Any) -> None:
    with pytest.raises(RuntimeError), store.transaction(db):
        store.set_meta(db, "k", "v")
        raise RuntimeError("boom")
    assert store.get_meta(db, "k") is None
    assert not db.in_transaction


def test_upsert_and_insert_ignore_are_portable(db: Any) -> None:
    with store.transaction(db):
        store.set_meta(db, "k", "one")
        store.set_meta(db, "k", "two")
        ignore = "INSERT INTO suppressions (email, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
        db.execute(ignore, ("a@x", "t"))
        db.execute(ignore, ("a@x", "t"))
    assert store.get_meta(db, "k") == "two"
    assert db.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 1


def test_extra_columns_are_seen_with_their_types(db: Any) -> None:
    db.execute("ALTER TABLE accounts ADD COLUMN region TEXT")
    db.execute("ALTER TABLE accounts ADD COLUMN employees INTEGER")
    db.execute("ALTER TABLE accounts ADD COLUMN churn_date DATE")
    assert store.extra_account_columns(db) == {"region": "text", "employees": "number", "churn_date": "date"}


def test_integer_columns_hold_64_bits_as_sqlites_do(db: Any) -> None:
    """An IMAP UID or UIDVALIDITY passes 2**31; a delivery's draft id goes as far as the outbox's."""
    big = 2**40
    with store.transaction(db):
        db.execute(
            "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid, updated_at)"
            " VALUES ('INBOX', ?, ?, 't')",
            (big, big + 1),
        )
        db.execute(
            "INSERT INTO deliveries (draft_id, address, token, position, updated_at)"
            " VALUES (?, 'a@x', 'token', 0, 't')",
            (big,),
        )
    assert tuple(db.execute("SELECT uidvalidity, last_uid FROM mail_cursors").fetchone()) == (big, big + 1)
    assert db.execute("SELECT draft_id FROM deliveries").fetchone()[0] == big


def test_a_sum_of_integers_is_an_int_and_an_average_a_float_on_both(db: Any) -> None:
    """PostgreSQL sums a BIGINT as NUMERIC: it reads back as SQLite's number, never a Decimal."""
    both = "SELECT sum(CAST(x AS BIGINT)), avg(x) FROM (SELECT 1 AS x UNION ALL SELECT 2) AS t"
    total, mean = db.execute(both).fetchone()
    assert (type(total), total, type(mean), mean) == (int, 3, float, 1.5)


_NARROW = (
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND data_type = 'integer' AND table_name <> 'csm_schema' ORDER BY table_name, column_name"
)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_older_postgresql_database_has_its_integers_widened(database: str, db: Any) -> None:
    assert db.execute(_NARROW).fetchall() == []
    db.execute("ALTER TABLE mail_cursors ALTER COLUMN last_uid TYPE integer")  # as migration 8 made it
    db.execute("ALTER TABLE accounts ADD COLUMN employees integer")  # an import's, before migration 14
    dialect_of(db).set_schema_version(db, 13)
    again = store.connect(database)
    assert store.schema_version(again) == store.SCHEMA_VERSION
    assert again.execute(_NARROW).fetchall() == []
    again.close()


@pytest.mark.parametrize(
    ("timestamp", "zone", "expected"),
    [
        ("2026-11-23T23:30:00", "UTC", "2026-11-23"),
        ("2026-11-23T23:30:00+00:00", "Europe/Berlin", "2026-11-24"),
        ("2026-11-24T03:00:00Z", "America/New_York", "2026-11-23"),
        ("not a time", "UTC", None),
        (None, "UTC", None),
    ],
)
def test_local_date_agrees_on_both(db: Any, timestamp: str | None, zone: str, expected: str | None) -> None:
    assert db.execute("SELECT local_date(?, ?)", (timestamp, zone)).fetchone()[0] == expected


def test_dialect_hooks_give_the_same_answers(db: Any) -> None:
    d = dialect_of(db)
    days = db.execute(f"SELECT {d.days_between('?', '?')}", ("2026-12-01", "2026-11-23T08:00:00")).fetchone()
    assert days[0] == 8
    assert db.execute(f"SELECT {d.add_days('?', '?')}", ("2026-11-23", -30)).fetchone()[0] == "2026-10-24"
    assert db.execute(f"SELECT {d.date_of('?')}", ("2026-11-23T08:00:00",)).fetchone()[0] == "2026-11-23"
    db.executemany("INSERT INTO suppressions (email, created_at) VALUES (?, 't')", [("B@x",), ("a@x",)])
    joined = db.execute(f"SELECT {d.group_concat('email', ';')} FROM suppressions").fetchone()[0]
    assert sorted(joined.split(";")) == ["B@x", "a@x"]
    stamp = d.schema_stamp(db)
    assert d.schema_stamp(db) == stamp
    db.execute("ALTER TABLE accounts ADD COLUMN region TEXT")  # an import's new column
    assert d.schema_stamp(db) != stamp
    same = f"{d.nocase('email')} = {d.nocase('?')}"
    found = db.execute(f"SELECT email FROM suppressions WHERE {same}", ("b@X",))
    assert [r[0] for r in found] == ["B@x"]
    mondays = [
        db.execute(f"SELECT {d.week_start('?')}", (day,)).fetchone()[0]
        for day in ("2026-11-23", "2026-11-29")
    ]
    assert mondays == ["2026-11-23", "2026-11-23"]


def test_the_condition_languages_hooks_give_the_same_answers(db: Any) -> None:
    d = dialect_of(db)

    def one(sql: str, params: dict[str, Any] | None = None) -> Any:
        return db.execute(f"SELECT {sql}", params or {}).fetchone()[0]

    today = {"today": "2026-11-23"}
    assert (
        one(d.add_days(":today", 1), today)
        == one(d.add_days(":today", ":n"), {**today, "n": 1})
        == "2026-11-24"
    )
    assert one(d.add_days(":today", -30), today) == "2026-10-24"
    # :today is text wherever else the query compares it, after a hook read it as a date
    later = f"CASE WHEN {d.add_days(':today', 1)} > :today THEN 1 END"
    assert one(f"{d.days_between(':today', ':start')} + {later}", {**today, "start": "2026-11-01"}) == 23
    db.execute("ALTER TABLE contacts ADD COLUMN met_on DATE")
    db.execute(
        "INSERT INTO contacts (account_id, email, is_primary, met_on) VALUES ('a1', 'x@y', 1, '2026-11-02')"
    )
    row = "FROM contacts ct WHERE ct.email = 'x@y'"
    assert one(f"{d.day_text('ct.met_on')} {row}") == "2026-11-02"
    assert one(f"{d.day_text('ct.met_on')} < :today {row}", today) in (1, True)
    assert one(f"(CASE WHEN {d.truth('ct.is_primary')} THEN 'yes' ELSE 'no' END) {row}") == "yes"
    assert one(d.divide("7", "2")) == 3.5
    assert one(d.divide("7", "0")) is None
    assert one(d.greatest("0", "-3")) == 0 and one(d.greatest("0", "NULL")) is None
    assert one(d.least("100.0", "120")) == 100.0 and one(d.least("NULL", "1")) is None
    assert one(d.round("2.25 - 1", 1)) in (1.2, 1.3)
    assert one(d.round("1.26", 1)) == 1.3
    assert [one(d.whole(n)) for n in ("9.96", "0.5", "-1.5")] == [9, 0, -1]
    assert json.loads(one(d.json_array(["'a'", "NULL", "2.5", "3"]))) == ["a", None, 2.5, 3]
    tenth = "CAST(0.1 AS DOUBLE PRECISION)"
    exact = one(d.exact_json_array("NULL", [f"{tenth} + 0.2", "NULL", "3", f"-{tenth} / 3"]))
    assert json.loads(exact) == [None, 0.1 + 0.2, None, 3, -0.1 / 3]
    document = {"doc": '{"score": 5, "severity": "P1", "urgent": true, "gone": null}'}
    assert one(d.typed(d.json_value(":doc", "score"), "number"), document) == 5
    assert one(d.typed(d.json_value(":doc", "severity"), "text"), document) == "P1"
    assert one(d.typed(d.json_value(":doc", "urgent"), "bool"), document) in (1, True)
    assert one(f"{d.json_value(':doc', 'gone')} IS NULL", document) in (1, True)
    assert one(f"{d.json_value(':doc', 'missing')} IS NULL", document) in (1, True)
    assert one(d.date_of("ct.met_on") + f" {row}") == "2026-11-02"
    # Monday 0 .. Sunday 6, of a date and of a timestamp; each element of a JSON list as text
    week = [one(d.weekday(":day"), {"day": f"2026-11-{day}"}) for day in range(23, 30)]
    assert week == list(range(7)) and one(d.weekday(":t"), {"t": "2026-11-29T23:30:00"}) == 6
    days = {"days": '["2026-11-26", "2026-12-25"]'}
    listed = db.execute(f"SELECT h.value FROM {d.json_texts(':days', 'h')} ORDER BY h.value", days)
    assert [r[0] for r in listed] == ["2026-11-26", "2026-12-25"]
    assert one(f"count(*) FROM {d.json_texts(':days', 'h')}", {"days": "[]"}) == 0


def test_named_parameters_and_casts_become_pyformat() -> None:
    sql = "SELECT (:today)::date, ':not_a_name', :c0 || '%' FROM t WHERE a::text = :c10"
    assert (
        to_pyformat(sql, True)
        == "SELECT (%(today)s)::date, ':not_a_name', %(c0)s || '%%' FROM t WHERE a::text = %(c10)s"
    )


def test_placeholders_become_pyformat_outside_quotes() -> None:
    assert to_pyformat("SELECT ? WHERE a LIKE '%?%' AND b = ?") == "SELECT %s WHERE a LIKE '%%?%%' AND b = %s"


def test_a_url_with_a_password_is_refused_and_never_echoed() -> None:
    assert is_postgres_url("postgresql://csm@db/book") and not is_postgres_url("csm.db")
    assert "s3cret" not in redact("postgresql://csm:s3cret@db/book")
    with pytest.raises(WorkspaceError) as caught:
        store.connect("postgresql://csm:s3cret@127.0.0.1:1/book")
    assert "s3cret" not in str(caught.value) and "s3cret" not in (caught.value.hint or "")


def test_a_server_that_is_down_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSM_TEST_PGPASS", "hunter2")
    with pytest.raises(WorkspaceError) as caught:
        store.connect("postgresql://csm@127.0.0.1:1/book", password_from="CSM_TEST_PGPASS")
    assert "cannot connect to postgresql://csm@127.0.0.1:1/book" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_sqlite_path_never_imports_psycopg(tmp_path: Any) -> None:
    code = f"import sys; from csm.data import store; store.connect({str(tmp_path / 'x.db')!r}, create=True);"
    code += "import csm.cli; print('psycopg' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


def test_init_makes_the_schema_on_postgresql_and_paths_shows_the_url(
    pg_cluster: Any, invoke: Any, tmp_path: Any
) -> None:
    url = pg_cluster.new_database()
    result = invoke("init", str(tmp_path / "team"), "--database", url)
    assert result.exit_code == 0, result.output
    conn = store.connect(url)
    assert store.schema_version(conn) == len(store.MIGRATIONS)
    conn.close()

    result = invoke("-w", str(tmp_path / "team"), "paths", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["database"] == url  # not a meaningless path beside csm.toml

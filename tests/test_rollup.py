"""The usage rollup gives the derived fields exactly what computing them from scratch gives."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from csm.data import rollup, store, timeline
from csm.data.backend import dialect_of
from csm.data.importer import import_records
from csm.data.store import transaction
from csm.language.fields import ROLLED_UP, FieldSet, rolled_part, standard_fields

TODAY = dt.date(2026, 11, 23)
METRIC = "active_users"
ACCOUNTS = ["A0", "A1", "A2"]
NOW = "2026-11-23T09:00:00+00:00"
FIELDS = standard_fields()
READ = ["usage_30d", "usage_prev_30d", "usage_change_30d", "last_touch_at", "days_since_touch"]


def _values(conn: sqlite3.Connection, day: dt.date) -> dict[str, tuple[object, ...]]:
    columns = ", ".join(f"({FIELDS.sql(name)})" for name in READ)
    params = {"today": day.isoformat(), "primary_metric": METRIC}
    return {row[0]: tuple(row[1:]) for row in conn.execute(f"SELECT a.id, {columns} FROM accounts a", params)}


def _from_scratch(conn: sqlite3.Connection, day: dt.date) -> dict[str, tuple[object, ...]]:
    """The same fields with no rollup to read: each computed from usage and the timeline."""
    with transaction(conn):
        saved = conn.execute("SELECT day, metric FROM usage_rollup_day").fetchall()
        rollup.invalidate(conn)
    values = _values(conn, day)
    with transaction(conn):
        conn.executemany("INSERT INTO usage_rollup_day (day, metric) VALUES (?, ?)", saved)
    return values


def _open(folder: str) -> sqlite3.Connection:
    conn = store.connect(Path(folder) / "csm.db", create=True)
    import_records(
        conn,
        "accounts",
        [(f"r{i}", {"id": a, "name": a, "start_date": "2026-01-01"}) for i, a in enumerate(ACCOUNTS)],
        source="test",
        now=NOW,
    )
    return conn


account = st.sampled_from(ACCOUNTS)
days_ago = st.integers(min_value=-3, max_value=75)  # future rows and rows past both windows too
usage_import = st.tuples(
    st.just("usage"),
    st.lists(
        st.tuples(account, days_ago, st.integers(min_value=0, max_value=500)),
        min_size=1,
        max_size=8,
        unique_by=lambda row: row[:2],  # one import holds a key once; a later one may replace it
    ),
)
touch = st.tuples(st.just("touch"), account, days_ago, st.sampled_from(["note", "email_sent", "import"]))
build = st.tuples(st.just("build"))
steps = st.lists(st.one_of(usage_import, touch, build), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_the_rollup_equals_the_from_scratch_computation(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        conn = _open(folder)
        for op in ops:
            if op[0] == "usage":  # a re-import replaces a value; a backdated row lands in a window
                records = [
                    (
                        f"r{i}",
                        {"account_id": a, "metric": METRIC, "date": str(TODAY - dt.timedelta(d)), "value": v},
                    )
                    for i, (a, d, v) in enumerate(op[1])
                ]
                import_records(conn, "usage", records, source="test", now=NOW)
            elif op[0] == "touch":
                _, who, ago, kind = op
                at = dt.datetime.combine(TODAY - dt.timedelta(ago), dt.time(12), dt.UTC).isoformat()
                with transaction(conn):
                    timeline.record(conn, who, kind, "a touch", at)
            else:
                with transaction(conn):
                    rollup.ensure(conn, TODAY, METRIC)
            assert _values(conn, TODAY) == _from_scratch(conn, TODAY)
            yesterday = TODAY - dt.timedelta(days=1)  # another day never reads today's rollup
            assert _values(conn, yesterday) == _from_scratch(conn, yesterday)
        conn.close()


def test_the_fields_read_the_rollup_when_it_holds_the_day(tmp_path: Path) -> None:
    with closing(_open(str(tmp_path))) as conn:
        with transaction(conn):
            rollup.ensure(conn, TODAY, METRIC)
            # A value only the rollup holds shows which path a field took.
            conn.execute("UPDATE usage_rollup SET usage_30d = 42 WHERE account_id = 'A0'")
        assert _values(conn, TODAY)["A0"][0] == 42
        assert _values(conn, TODAY - dt.timedelta(days=1))["A0"][0] is None  # another day: computed
        assert rollup.current(conn, TODAY, METRIC) and not rollup.current(conn, TODAY, "logins")
        import_records(conn, "accounts", [("r", {"id": "A9", "name": "New"})], source="test", now=NOW)
        assert not rollup.current(conn, TODAY, METRIC)  # an import: computed until it is built again
        assert _values(conn, TODAY)["A0"][0] is None


def test_the_rolled_up_columns_are_the_fields_own_sql() -> None:
    assert set(ROLLED_UP) == {"usage_30d", "usage_prev_30d", "last_touch"}
    assert all("usage_rollup" not in sql for sql in ROLLED_UP.values())


# The per-metric rollup and the rollup kept true by imports, touches and the date, on both backends.
METRIC_READ = ["usage.exports", "usage.exports.avg(30d)", "usage.exports.change(30d)", "usage.logins"]
PARTS = {("exports", "latest"), ("exports", "windows"), ("logins", "latest")}
EVERY_READ = READ + METRIC_READ


def _fields_of(conn: Any) -> FieldSet:
    return standard_fields(dialect=dialect_of(conn))


def _read(conn: Any, day: dt.date, names: list[str] = EVERY_READ) -> dict[str, tuple[object, ...]]:
    fields = _fields_of(conn)
    columns = ", ".join(f"({fields.sql(name)})" for name in names)
    params = {"today": day.isoformat(), "primary_metric": METRIC}
    rows = conn.execute(f"SELECT a.id, {columns} FROM accounts a ORDER BY a.id", params)
    return {row[0]: tuple(row[1:]) for row in rows}


usage_rows = st.lists(
    st.tuples(
        account,
        st.sampled_from([METRIC, "exports", "logins"]),
        st.integers(min_value=-5, max_value=120),
        st.integers(min_value=0, max_value=500),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda row: row[:3],
)
touch_days = st.lists(st.tuples(account, st.integers(min_value=-3, max_value=75)), max_size=6)


@settings(max_examples=40, deadline=None)
@given(usage_rows, touch_days, st.integers(min_value=1, max_value=70))
def test_the_rollup_rolled_forward_equals_each_days_computation(
    rows: list[tuple[str, str, int, int]], touches: list[tuple[str, int]], span: int
) -> None:
    """`csm backtest`'s rollup, moved a day at a time, gives each day what computing it gives:
    the primary metric's windows, the last touch and the other metrics' latest values and windows."""
    with tempfile.TemporaryDirectory() as folder:
        conn = _open(folder)
        records = [
            (f"r{i}", {"account_id": a, "metric": m, "date": str(TODAY - dt.timedelta(d)), "value": v})
            for i, (a, m, d, v) in enumerate(rows)
        ]
        import_records(conn, "usage", records, source="test", now=NOW)
        with transaction(conn):
            for who, ago in touches:
                at = dt.datetime.combine(TODAY - dt.timedelta(ago), dt.time(12), dt.UTC).isoformat()
                timeline.record(conn, who, "note", "a touch", at)
        first = TODAY - dt.timedelta(days=span)
        # No rollup is built: each day's fields compute their values.
        expected = {
            first + dt.timedelta(days=n): _read(conn, first + dt.timedelta(days=n)) for n in range(span + 1)
        }
        rolling = rollup.Rolling(conn, first, TODAY, METRIC, PARTS)
        try:
            for day, values in expected.items():
                rolling.move_to(day)
                assert rollup.current(conn, day, METRIC, PARTS)
                assert _read(conn, day) == values
        finally:
            rolling.close()
        assert not rollup.current(conn, TODAY, METRIC)  # the workspace's own rollup is untouched
        conn.close()


def _computed(conn: Any, day: dt.date) -> dict[str, tuple[object, ...]]:
    """Every field computed from usage and the timeline: the rollup's tables emptied, then put back."""
    with transaction(conn):
        saved = [conn.execute(f"SELECT * FROM {t}").fetchall() for t in rollup._TABLES]
        for table in rollup._TABLES:
            conn.execute(f"DELETE FROM {table}")
    values = _read(conn, day)
    with transaction(conn):
        for table, rows in zip(rollup._TABLES, saved, strict=True):
            for row in rows:
                marks = ", ".join("?" for _ in row)
                conn.execute(f"INSERT INTO {table} VALUES ({marks})", tuple(row))
    return values


def _usage(conn: Any, rows: list[tuple[str, str, int, float]]) -> None:
    records = [
        (f"r{i}", {"account_id": a, "metric": m, "date": str(TODAY - dt.timedelta(d)), "value": v})
        for i, (a, m, d, v) in enumerate(rows)
    ]
    import_records(conn, "usage", records, source="test", now=NOW)


def _book(conn: Any) -> None:
    accounts = [(f"r{i}", {"id": a, "name": a, "start_date": "2026-01-01"}) for i, a in enumerate(ACCOUNTS)]
    import_records(conn, "accounts", accounts, source="test", now=NOW)
    _usage(
        conn,
        [
            (a, m, d, (i * 7 + d) % 11)
            for i, a in enumerate(ACCOUNTS)
            for m in (METRIC, "exports")
            for d in range(0, 64, 3)
        ]
        + [("A0", "logins", 2, 5), ("A1", "logins", 40, 3)],
    )
    with transaction(conn):
        timeline.record(conn, "A1", "note", "a touch", "2026-11-01T12:00:00+00:00")


def test_the_rollup_holds_what_the_fields_compute_and_stays_true(db: Any) -> None:
    """Built, then after an import, a touch and a new day: each field reads what computing gives.

    Fails if an import left the rollup standing (values from before it), if a touch did not
    move the account's last touch, or if another day read today's rollup.
    """
    _book(db)
    with transaction(db):
        assert rollup.ensure(db, TODAY, METRIC, PARTS)
    assert rollup.current(db, TODAY, METRIC, PARTS)
    built = _read(db, TODAY)
    assert built == _computed(db, TODAY)
    assert built["A0"][READ.index("usage_30d")] is not None and built["A2"][-1] is None
    _usage(db, [("A0", "exports", 1, 90.0), ("A2", METRIC, 45, 400.0), ("A2", "logins", 0, 8.0)])
    after_import = _read(db, TODAY)
    assert after_import != built and after_import == _computed(db, TODAY)
    with transaction(db):
        assert rollup.ensure(db, TODAY, METRIC, PARTS)  # built again, by the next run
        timeline.record(db, "A0", "call", "a call", "2026-11-22T15:00:00+00:00")
    touched = _read(db, TODAY)
    assert touched["A0"][READ.index("last_touch_at")] == "2026-11-22"
    assert touched == _computed(db, TODAY)
    tomorrow = TODAY + dt.timedelta(days=1)  # the date moved: yesterday's rollup is not read
    assert not rollup.current(db, tomorrow, METRIC, PARTS)
    assert _read(db, tomorrow) == _computed(db, tomorrow)


def test_a_field_reads_the_part_the_rollup_holds_and_computes_the_rest(db: Any) -> None:
    _book(db)
    with transaction(db):
        rollup.ensure(db, TODAY, METRIC, {("exports", "windows")})
        # Values only the rollup holds show which path a field took.
        db.execute("UPDATE usage_rollup_metric SET usage_30d = 42, latest = 7 WHERE account_id = 'A0'")
    assert rollup.current(db, TODAY, METRIC, {("exports", "windows")})
    assert not rollup.current(db, TODAY, METRIC, PARTS)  # a part not built: not current for it
    names = ["usage.exports.avg(30d)", "usage.exports", "usage.exports.avg(14d)", "usage.exports.sum(30d)"]
    read = _read(db, TODAY, names)["A0"]
    assert read[0] == 42  # the windows: from the rollup
    assert read[1] != 7 and read[2] != 42 and read[3] != 42  # the latest value, other windows: computed
    with transaction(db):  # the run reads more parts than were built: built again with them
        assert rollup.ensure(db, TODAY, METRIC, PARTS)
    assert rollup.current(db, TODAY, METRIC, PARTS)
    assert _read(db, TODAY) == _computed(db, TODAY)


def test_the_parts_a_field_reads() -> None:
    assert rolled_part("usage.exports") == ("exports", "latest")
    assert rolled_part("usage.exports.change(30d)") == ("exports", "windows")
    assert rolled_part("usage.exports.avg(30d)") == ("exports", "windows")
    assert rolled_part("usage.exports.avg(7d)") is None and rolled_part("usage.exports.sum(30d)") is None
    assert rolled_part("usage.exports.last") is None and rolled_part("usage_30d") is None


def test_the_backtests_rollup_lives_apart_on_both_backends(db: Any) -> None:
    """`Rolling` shadows every rollup table by a TEMP one: the workspace's stays as it was."""
    _book(db)
    with transaction(db):
        rollup.ensure(db, TODAY, METRIC, PARTS)
    first = TODAY - dt.timedelta(days=3)
    expected = {first + dt.timedelta(days=n): _computed(db, first + dt.timedelta(days=n)) for n in range(3)}
    rolling = rollup.Rolling(db, first, TODAY, METRIC, PARTS)
    try:
        for day, values in expected.items():
            rolling.move_to(day)
            assert _read(db, day) == values
        assert not rollup.current(db, TODAY, METRIC)  # its own tables answer, not the workspace's
    finally:
        rolling.close()
    assert rollup.current(db, TODAY, METRIC, PARTS)

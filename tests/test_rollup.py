"""The usage rollup gives the derived fields exactly what computing them from scratch gives."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from csm.data import rollup, store, timeline
from csm.data.importer import import_records
from csm.data.store import transaction
from csm.language.fields import ROLLED_UP, standard_fields

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
    conn = _open(str(tmp_path))
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


usage_rows = st.lists(
    st.tuples(account, st.integers(min_value=-5, max_value=120), st.integers(min_value=0, max_value=500)),
    min_size=1,
    max_size=40,
    unique_by=lambda row: row[:2],
)


@settings(max_examples=40, deadline=None)
@given(usage_rows, st.integers(min_value=1, max_value=70))
def test_the_rollup_rolled_forward_equals_each_days_computation(
    rows: list[tuple[str, int, int]], span: int
) -> None:
    """`csm backtest`'s rollup, moved a day at a time, gives each day what computing it gives."""
    with tempfile.TemporaryDirectory() as folder:
        conn = _open(folder)
        records = [
            (f"r{i}", {"account_id": a, "metric": METRIC, "date": str(TODAY - dt.timedelta(d)), "value": v})
            for i, (a, d, v) in enumerate(rows)
        ]
        import_records(conn, "usage", records, source="test", now=NOW)
        with transaction(conn):
            timeline.record(conn, "A1", "note", "a touch", "2026-10-02T12:00:00+00:00")
        first = TODAY - dt.timedelta(days=span)
        expected = {}
        for n in range(span + 1):
            day = first + dt.timedelta(days=n)
            expected[day] = _from_scratch(conn, day)
        rolling = rollup.Rolling(conn, first, TODAY, METRIC)
        try:
            for day, values in expected.items():
                rolling.move_to(day)
                assert rollup.current(conn, day, METRIC)
                assert _values(conn, day) == values
        finally:
            rolling.close()
        assert not rollup.current(conn, TODAY, METRIC)  # the workspace's own rollup is untouched
        conn.close()

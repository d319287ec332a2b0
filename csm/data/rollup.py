"""The per-account rollup: one day's usage windows, latest values and last touch, read by the fields.

``usage_30d``, ``usage_prev_30d`` (and so ``usage_change_30d``), the last touch
(``last_touch_at``, ``days_since_touch``) and a named metric's latest value
(``usage.integrations``) or 30-day windows (``usage.exports.change(30d)``)
each cost a range scan or an index search per account, and the health
snapshot, several steps and the morning list read them again and again. The
rollup holds them per account for one day: the primary metric's windows and
the last touch in ``usage_rollup`` (its day and metric in
``usage_rollup_day``), the other metrics' parts the playbooks read in
``usage_rollup_metric`` (which parts, for which day, in
``usage_rollup_covers``). A field reads its row when the rollup holds it for
the day being evaluated, and computes the value itself otherwise (another
day, a condition's ``for:`` days, a metric no playbook named, a rollup an
import made stale). Each value is stored as computed by the field's own SQL
(:func:`csm.language.fields.rolled_up`, :func:`~csm.language.fields.rolled_up_metric`,
in the connection's dialect), so reading the rollup gives exactly what computing gives.

This module is its one writer, and keeps it true:

- :func:`ensure` builds it for a day: the first run of the day that writes
  (`csm run`, `csm today`) calls it, before the health snapshot;
- :func:`invalidate`: an import of accounts or usage (re-imported,
  backdated, new accounts) drops it in the import's own transaction, and the
  next run builds it again;
- :func:`touched`: a touch on the timeline recomputes that account's last
  touch in the same transaction as the row (``csm.data.timeline.record``).

A new day builds it again rather than rolling yesterday's forward: on the
usage table's (account, metric, date) key a day entering and a day leaving a
window cost one index search each per account, as much as the window's own
range scan (:class:`Rolling` rolls forward over a TEMP copy in date order,
which a backtest of many days pays for once).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable

from csm.data.backend import dialect_of
from csm.language.fields import (
    ROLLED_PARTS,
    USAGE_WINDOWS,
    rolled_up,
    rolled_up_metric,
    usage_aggregate,
    usage_latest,
)

_TABLES = ("usage_rollup_day", "usage_rollup_covers", "usage_rollup", "usage_rollup_metric")


Part = tuple[str, str]  # (metric, part of csm.language.fields.ROLLED_PARTS)


def current(conn: sqlite3.Connection, day: dt.date, metric: str, parts: Iterable[Part] = ()) -> bool:
    """Is the rollup built for ``day``: the primary ``metric``'s windows and each of ``parts``?"""
    row = conn.execute(
        "SELECT 1 FROM usage_rollup_day WHERE day = ? AND metric = ?", (day.isoformat(), metric)
    ).fetchone()
    wanted = set(parts)
    if row is None or not wanted:
        return row is not None
    held = conn.execute("SELECT metric, part FROM usage_rollup_covers WHERE day = ?", (day.isoformat(),))
    return wanted <= {(m, part) for m, part in held}


def ensure(conn: sqlite3.Connection, day: dt.date, metric: str, parts: Iterable[Part] = ()) -> bool:
    """Build the rollup for ``day`` unless it is built; inside the caller's transaction. Built now?

    ``metric``: the primary metric (``usage_30d``, ...); ``parts``: the other metrics' latest
    values and 30-day windows the playbooks read (:func:`csm.language.fields.rolled_part`).
    """
    wanted = set(parts)
    d = dialect_of(conn)
    d.serialise(conn, "usage rollup")  # two runs at once on PostgreSQL: the second finds it built
    if current(conn, day, metric, wanted):
        return False
    for table in _TABLES:
        conn.execute(f"DELETE FROM {table}")
    columns = rolled_up(d)
    conn.execute(
        f"INSERT INTO usage_rollup (account_id, {', '.join(columns)})"
        f" SELECT a.id, {', '.join(columns.values())} FROM accounts a",
        {"today": day.isoformat(), "primary_metric": metric},
    )
    per_metric = rolled_up_metric(d)
    for name in sorted({m for m, _part in wanted}):
        built = [c for part, cs in ROLLED_PARTS.items() if (name, part) in wanted for c in cs]
        conn.execute(
            f"INSERT INTO usage_rollup_metric (metric, account_id, {', '.join(built)})"
            f" SELECT :rolled_metric, a.id, {', '.join(per_metric[c] for c in built)} FROM accounts a",
            {"today": day.isoformat(), "rolled_metric": name},
        )
    conn.execute("INSERT INTO usage_rollup_day (day, metric) VALUES (?, ?)", (day.isoformat(), metric))
    conn.executemany(
        "INSERT INTO usage_rollup_covers (day, metric, part) VALUES (?, ?, ?)",
        [(day.isoformat(), *part) for part in sorted(wanted)],
    )
    return True


def invalidate(conn: sqlite3.Connection) -> None:
    """The data under the rollup changed: fields compute their values until it is built again."""
    conn.execute("DELETE FROM usage_rollup_day")
    conn.execute("DELETE FROM usage_rollup_covers")


def touched(conn: sqlite3.Connection, account_id: str) -> None:
    """A touch was recorded on this account: its last touch, as of the rollup's day, again."""
    built = conn.execute("SELECT day FROM usage_rollup_day").fetchone()
    if built is None:
        return
    conn.execute(
        f"UPDATE usage_rollup SET last_touch = (SELECT {rolled_up(dialect_of(conn))['last_touch']}"
        " FROM accounts a WHERE a.id = :account) WHERE account_id = :account",
        {"account": account_id, "today": built[0]},
    )


def _offset(bound: str) -> int:
    """``'-30 days'`` -> -30, ``''`` (today) -> 0."""
    return int(bound.split()[0]) if bound else 0


def _window_deltas() -> tuple[str, str, str]:
    """The day's change of each window's sum and count, from its rows entering (date ``:<window>_in``)
    and leaving (``:<window>_out``): the SELECT's columns, the dates it reads, the upsert's SET."""
    columns, dates, sets = [], [], []
    for column in USAGE_WINDOWS:
        enter, leave = f":{column}_in", f":{column}_out"
        columns.append(f"sum(CASE date WHEN {enter} THEN value WHEN {leave} THEN -value ELSE 0 END)")
        columns.append(f"sum(CASE date WHEN {enter} THEN 1 WHEN {leave} THEN -1 ELSE 0 END)")
        dates += [enter, leave]
        sets += [f"{c} = rolling_metric.{c} + excluded.{c}" for c in (f"{column}_total", f"{column}_n")]
    return ", ".join(columns), ", ".join(dates), ", ".join(sets)


_DELTAS, _DATES, _SETS = _window_deltas()
_SUMS = ", ".join(f"{column}_total, {column}_n" for column in USAGE_WINDOWS)
# One write per account a day: four updates, one per window and end, cost 1.7 times as much.
_ROLL_WINDOWS = (
    f"INSERT INTO rolling_metric (metric, account_id, {_SUMS}) SELECT :metric, account_id, {_DELTAS}"
    f" FROM rolling_usage WHERE metric = :metric AND date IN ({_DATES}) GROUP BY account_id"
    f" ON CONFLICT (metric, account_id) DO UPDATE SET {_SETS}"
)
_ROLL_LATEST = (
    "UPDATE rolling_metric SET latest = u.value FROM rolling_usage u WHERE u.metric = :metric"
    " AND u.date = :date AND rolling_metric.metric = :metric AND rolling_metric.account_id = u.account_id"
)


class Rolling:
    """The rollup for a run of consecutive past days, rolled forward a day at a time (``csm backtest``).

    It lives in TEMP tables and views named as the workspace's tables
    (``usage_rollup``, ``usage_rollup_metric``, ...), which SQLite resolves
    first, so the fields read it exactly as they read the live rollup and
    nothing is written to the workspace. It holds the primary metric's windows
    and the last touch, and the other metrics' ``parts`` the playbooks read.
    The windows (:data:`csm.language.fields.USAGE_WINDOWS`) are kept as a sum
    and a count per account and metric (``rolling_metric``): moving to the next
    day adds the day entering each window and subtracts the day leaving it; a
    latest value is replaced by the day's own, if it has one; the last touch by
    the day's latest touch. The views give the averages as ``sum / count``, as
    SQLite's ``avg`` computes them, so whole-number metrics give the same
    doubles (a fractional metric can differ in the last bits). The first day's
    values are each field's own SQL, with ``sum`` and ``count`` for ``avg``.
    """

    def __init__(
        self, conn: sqlite3.Connection, first: dt.date, last: dt.date, metric: str, parts: Iterable[Part] = ()
    ) -> None:
        self.conn, self.metric, self.day = conn, metric, first
        self.parts = sorted(set(parts))
        self.dialect = d = dialect_of(conn)
        self.windowed = sorted({metric} | {m for m, part in self.parts if part == "windows"})
        self.latest = sorted({m for m, part in self.parts if part == "latest"})
        # Created before they exist, each SELECT reads the workspace's table; after, the TEMP one.
        for table in ("usage_rollup_day", "usage_rollup_covers"):
            conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {table} WHERE 1 = 0")
        self._usage(first, last)
        sums = ", ".join(f"{column}_total REAL, {column}_n INTEGER" for column in USAGE_WINDOWS)
        conn.execute(
            d.ddl(
                "CREATE TEMP TABLE rolling_metric (metric TEXT NOT NULL, account_id TEXT NOT NULL,"
                f" latest REAL, {sums}, PRIMARY KEY (metric, account_id)) WITHOUT ROWID"
            )
        )
        for name in sorted({*self.windowed, *self.latest}):
            self._start(name, first)
        conn.execute(
            d.ddl(
                "CREATE TEMP TABLE rolling_touch (account_id TEXT PRIMARY KEY, last_touch TEXT) WITHOUT ROWID"
            )
        )
        conn.execute(
            "INSERT INTO rolling_touch (account_id, last_touch)"
            f" SELECT a.id, {rolled_up(d)['last_touch']} FROM accounts a",
            {"today": first.isoformat()},
        )
        self._views()
        conn.execute("INSERT INTO usage_rollup_day (day, metric) VALUES (?, ?)", (first.isoformat(), metric))
        conn.executemany(
            "INSERT INTO usage_rollup_covers (day, metric, part) VALUES (?, ?, ?)",
            [(first.isoformat(), *part) for part in self.parts],
        )

    def _usage(self, first: dt.date, last: dt.date) -> None:
        """The usage rows the roll reads, in date order (clustered): each day reads the few it needs.

        One scan of the usage table (its key starts with the account) for every metric rolled.
        """
        widest = min(_offset(after) for after, _upto in USAGE_WINDOWS.values())
        self.conn.execute(
            self.dialect.ddl(
                "CREATE TEMP TABLE rolling_usage (metric TEXT NOT NULL, date TEXT NOT NULL,"
                " account_id TEXT NOT NULL, value REAL NOT NULL,"
                " PRIMARY KEY (metric, date, account_id)) WITHOUT ROWID"
            )
        )
        names = sorted({*self.windowed, *self.latest})
        marks = ", ".join("?" for _ in names)
        self.conn.execute(
            "INSERT INTO rolling_usage SELECT metric, date, account_id, value FROM usage"
            f" WHERE metric IN ({marks}) AND date > ? AND date <= ? ORDER BY metric, date, account_id",
            (*names, (first + dt.timedelta(days=widest)).isoformat(), last.isoformat()),
        )

    def _start(self, name: str, first: dt.date) -> None:
        """The metric's row per account on the first day, by the fields' own SQL."""
        d = self.dialect
        columns, values = ["latest"], [usage_latest(":rolled_metric") if name in self.latest else "NULL"]
        for column, (after, upto) in USAGE_WINDOWS.items():
            columns += [f"{column}_total", f"{column}_n"]
            if name in self.windowed:
                total = usage_aggregate(after, upto, ":rolled_metric", "sum", d)
                values += [
                    f"coalesce({total}, 0)",
                    usage_aggregate(after, upto, ":rolled_metric", "count", d),
                ]
            else:
                values += ["NULL", "NULL"]
        self.conn.execute(
            f"INSERT INTO rolling_metric (metric, account_id, {', '.join(columns)})"
            f" SELECT :rolled_metric, a.id, {', '.join(values)} FROM accounts a",
            {"today": first.isoformat(), "rolled_metric": name},
        )

    def _views(self) -> None:
        """``usage_rollup`` and ``usage_rollup_metric`` as the fields read them: averages of the sums."""
        averages = ", ".join(
            f"CASE WHEN m.{column}_n > 0 THEN m.{column}_total / m.{column}_n END AS {column}"
            for column in USAGE_WINDOWS
        )
        primary = "'" + self.metric.replace("'", "''") + "'"
        self.conn.execute(
            f"CREATE TEMP VIEW usage_rollup AS SELECT t.account_id AS account_id, {averages},"
            " t.last_touch AS last_touch FROM rolling_touch t"
            f" LEFT JOIN rolling_metric m ON m.metric = {primary} AND m.account_id = t.account_id"
        )
        self.conn.execute(
            "CREATE TEMP VIEW usage_rollup_metric AS"
            f" SELECT m.metric AS metric, m.account_id AS account_id, m.latest AS latest, {averages}"
            " FROM rolling_metric m"
        )

    def move_to(self, day: dt.date) -> None:
        """The rollup for ``day``, on or after the day it stands for, a day at a time."""
        while self.day < day:
            self.day += dt.timedelta(days=1)
            bounds = {
                f"{column}_{end}": (self.day + dt.timedelta(days=_offset(bound))).isoformat()
                for column, window in USAGE_WINDOWS.items()
                for end, bound in zip(("out", "in"), window, strict=True)
            }
            for name in self.windowed:
                self.conn.execute(_ROLL_WINDOWS, {"metric": name, **bounds})
            for name in self.latest:
                self.conn.execute(_ROLL_LATEST, {"metric": name, "date": self.day.isoformat()})
            self._touches()
        self.conn.execute("UPDATE usage_rollup_day SET day = ?", (self.day.isoformat(),))
        self.conn.execute("UPDATE usage_rollup_covers SET day = ?", (self.day.isoformat(),))

    def _touches(self) -> None:
        """The last touch: the day's latest, where it has one (later than any before it)."""
        d = self.dialect
        self.conn.execute(
            "UPDATE rolling_touch SET last_touch = t.at FROM (SELECT account_id, max(at) AS at"
            f" FROM timeline WHERE touch = 1 AND at >= {d.add_days(':yesterday', 1)}"
            f" AND at < {d.add_days(':today', 1)} GROUP BY account_id) t"
            " WHERE rolling_touch.account_id = t.account_id",
            {"yesterday": (self.day - dt.timedelta(days=1)).isoformat(), "today": self.day.isoformat()},
        )

    def close(self) -> None:
        temp = "temp" if self.dialect.sqlite else "pg_temp"  # never the workspace's own tables
        for view in ("usage_rollup", "usage_rollup_metric"):
            self.conn.execute(f"DROP VIEW IF EXISTS {temp}.{view}")
        for table in (
            "usage_rollup_day",
            "usage_rollup_covers",
            "rolling_usage",
            "rolling_metric",
            "rolling_touch",
        ):
            self.conn.execute(f"DROP TABLE IF EXISTS {temp}.{table}")

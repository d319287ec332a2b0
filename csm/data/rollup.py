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
from csm.language.fields import ROLLED_PARTS, USAGE_WINDOWS, rolled_up, rolled_up_metric, usage_aggregate

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


class Rolling:
    """The rollup for a run of consecutive past days, rolled forward a day at a time (``csm backtest``).

    It lives in TEMP tables named as the workspace's (``usage_rollup``,
    ``usage_rollup_day``), which SQLite resolves first, so the fields read it
    exactly as they read the live rollup and nothing is written to the
    workspace. The windows (:data:`csm.language.fields.USAGE_WINDOWS`) are
    kept as a sum and a count per account: moving to the next day adds the
    day entering each window and subtracts the day leaving it, instead of
    scanning every account's window again. The first day's sums are the
    window's own SQL with ``sum`` and ``count`` for ``avg``; an average is
    ``sum / count`` as SQLite's ``avg`` computes it, so whole-number metrics
    give the same doubles (a fractional metric can differ in the last bits).
    The last touch is computed by its own SQL once a day, for every step.
    """

    def __init__(self, conn: sqlite3.Connection, first: dt.date, last: dt.date, metric: str) -> None:
        self.conn, self.metric, self.day = conn, metric, first
        self.dialect = d = dialect_of(conn)
        widest = min(_offset(after) for after, _upto in USAGE_WINDOWS.values())
        # Created before they exist, each SELECT reads the workspace's table; after, the TEMP one
        # answers to the name. The per-metric rollup is shadowed empty: those fields compute.
        for table in _TABLES:
            conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {table} WHERE 1 = 0")
        conn.execute("CREATE INDEX rolling_rollup_account ON usage_rollup(account_id)")
        # Kept in date order (clustered): each day reads the few days entering and leaving.
        conn.execute(
            d.ddl(
                "CREATE TEMP TABLE rolling_usage (date TEXT NOT NULL, account_id TEXT NOT NULL,"
                " value REAL NOT NULL,"
                " PRIMARY KEY (date, account_id)) WITHOUT ROWID"
            )
        )
        conn.execute(
            "INSERT INTO rolling_usage SELECT date, account_id, value FROM usage"
            " WHERE metric = ? AND date > ? AND date <= ?",
            (metric, (first + dt.timedelta(days=widest)).isoformat(), last.isoformat()),
        )
        conn.execute(
            d.ddl(
                "CREATE TEMP TABLE rolling_sums (account_id TEXT NOT NULL, kind TEXT NOT NULL,"
                " total REAL NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (account_id, kind))"
            )
        )
        params = {"today": first.isoformat(), "primary_metric": metric}
        for column, (after, upto) in USAGE_WINDOWS.items():
            total = usage_aggregate(after, upto, aggregate="sum", dialect=d)
            n = usage_aggregate(after, upto, aggregate="count", dialect=d)
            conn.execute(
                "INSERT INTO rolling_sums (account_id, kind, total, n)"
                f" SELECT a.id, '{column}', coalesce({total}, 0), {n} FROM accounts a",
                params,
            )
        self._build()

    def move_to(self, day: dt.date) -> None:
        """The rollup for ``day``, on or after the day it stands for, a day at a time."""
        while self.day < day:
            self.day += dt.timedelta(days=1)
            for column, (after, upto) in USAGE_WINDOWS.items():
                entering = self.day + dt.timedelta(days=_offset(upto))
                leaving = self.day + dt.timedelta(days=_offset(after))
                self.conn.execute(
                    "INSERT INTO rolling_sums (account_id, kind, total, n)"
                    " SELECT account_id, :kind, sum(sign * value), sum(sign) FROM"
                    " (SELECT account_id, value, 1 AS sign FROM rolling_usage WHERE date = :entering"
                    " UNION ALL SELECT account_id, value, -1 FROM rolling_usage WHERE date = :leaving) d"
                    " GROUP BY account_id"
                    " ON CONFLICT (account_id, kind) DO UPDATE"
                    " SET total = rolling_sums.total + excluded.total, n = rolling_sums.n + excluded.n",
                    {"kind": column, "entering": entering.isoformat(), "leaving": leaving.isoformat()},
                )
        self._build()

    def _build(self) -> None:
        averages = ", ".join(
            f"(SELECT CASE WHEN s.n > 0 THEN s.total / s.n END FROM rolling_sums s"
            f" WHERE s.account_id = a.id AND s.kind = '{column}')"
            for column in USAGE_WINDOWS
        )
        self.conn.execute("DELETE FROM usage_rollup")  # the TEMP tables, named first
        self.conn.execute("DELETE FROM usage_rollup_day")
        self.conn.execute(
            f"INSERT INTO usage_rollup (account_id, {', '.join(USAGE_WINDOWS)}, last_touch)"
            f" SELECT a.id, {averages}, {rolled_up(self.dialect)['last_touch']} FROM accounts a",
            {"today": self.day.isoformat()},
        )
        self.conn.execute(
            "INSERT INTO usage_rollup_day (day, metric) VALUES (?, ?)",
            (self.day.isoformat(), self.metric),
        )

    def close(self) -> None:
        temp = "temp" if self.dialect.sqlite else "pg_temp"  # never the workspace's own tables
        for table in (*_TABLES, "rolling_usage", "rolling_sums"):
            self.conn.execute(f"DROP TABLE IF EXISTS {temp}.{table}")

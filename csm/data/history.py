"""Point-in-time values of accounts and contacts: what each row held before an import changed it.

An import (or a sync) runs its upsert inside :func:`kept`: a temporary trigger
copies the old values of every row the upsert changes into ``account_history``
or ``contact_history``, dated with the import's day (the day they stopped
holding). A row the upsert leaves alone costs nothing, and a first import
writes no history at all: the table's current values are the newest version.

:func:`shadow` rebuilds the tables as they stood on a past day as TEMP tables
of the same name, which SQLite and PostgreSQL resolve before the workspace's own, so every
query csm runs (the step queries, the recipients) reads that day's values and
nothing is written to the workspace. Before the oldest change recorded, the
oldest values kept stand in: history starts with the first import that
changed something, and an account imported on a day did not exist before
it in fact, but does in a backtest.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from csm.data.backend import dialect_of


@dataclass(frozen=True)
class _Kept:
    table: str
    history: str
    key: tuple[str, ...]


_KEPT = {
    "accounts": _Kept("accounts", "account_history", ("id",)),
    "contacts": _Kept("contacts", "contact_history", ("account_id", "email")),
}
_HISTORY_KEY = {"accounts": ("account_id",), "contacts": ("account_id", "email")}


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    if dialect_of(conn).name == "sqlite":  # main.: a TEMP table of the same name must not answer
        return [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]
    return list(dialect_of(conn).column_types(conn, table))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_of(columns: list[str], row: str, dialect: str = "sqlite") -> str:
    pairs = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}', {row}.{_quoted(c)}" for c in columns)
    return f"json_object({pairs})" if dialect == "sqlite" else f"json_build_object({pairs})::text"


@dataclass
class Kept:
    rows: int = 0  # history rows written: SQLite counts them in total_changes, the import must not


def _keeping(conn: sqlite3.Connection, kind: str, now: str) -> tuple[str, list[str], str]:
    """What keeping ``kind``'s old values needs: the day (checked: it is written into SQL), the
    table's columns and the history table's key columns."""
    day = dt.date.fromisoformat(now[:10]).isoformat()
    return day, _columns(conn, _KEPT[kind].table), ", ".join(_HISTORY_KEY[kind])


@contextmanager
def kept(conn: sqlite3.Connection, kind: str, now: str) -> Iterator[Kept]:
    """Inside the caller's transaction: every ``kind`` row changed meanwhile leaves its old values.

    Two imports on one day keep the values from before the first: day by day,
    those are the ones that held.
    """
    found = Kept()
    spec = _KEPT.get(kind)
    if spec is None:  # usage is dated already
        yield found
        return
    day, columns, history_key = _keeping(conn, kind, now)
    keys = ", ".join(f"OLD.{_quoted(k)}" for k in spec.key)
    same = " AND ".join(f"{h} = OLD.{_quoted(k)}" for h, k in zip(_HISTORY_KEY[kind], spec.key, strict=True))
    # Not INSERT OR IGNORE: the upsert firing the trigger imposes its own conflict policy on it.
    conn.execute(
        f"CREATE TEMP TRIGGER csm_keep_{kind} AFTER UPDATE ON main.{spec.table} BEGIN"
        f" INSERT INTO {spec.history} ({history_key}, valid_until, data)"
        f" SELECT {keys}, '{day}', {_json_of(columns, 'OLD')} WHERE NOT EXISTS"
        f" (SELECT 1 FROM {spec.history} WHERE {same} AND valid_until = '{day}'); END"
    )
    count = f"SELECT count(*) FROM {spec.history} WHERE valid_until = ?"
    before = conn.execute(count, (day,)).fetchone()[0]
    try:
        yield found
        found.rows = conn.execute(count, (day,)).fetchone()[0] - before
    finally:
        conn.execute(f"DROP TRIGGER IF EXISTS temp.csm_keep_{kind}")


def keep_before(conn: sqlite3.Connection, kind: str, now: str, changing: str) -> None:
    """:func:`kept` for a writer that knows what it will change (an import on PostgreSQL, which
    has no TEMP triggers): the rows whose keys the SELECT ``changing`` gives leave their values now,
    before the change, dated with ``now``'s day; a row kept already that day is not kept again.
    """
    spec = _KEPT.get(kind)
    if spec is None:
        return
    day, columns, history_key = _keeping(conn, kind, now)
    key = ", ".join(f"a.{_quoted(k)}" for k in spec.key)
    same = " AND ".join(f"h.{h} = a.{_quoted(k)}" for h, k in zip(_HISTORY_KEY[kind], spec.key, strict=True))
    conn.execute(
        f"INSERT INTO {spec.history} ({history_key}, valid_until, data)"
        f" SELECT {key}, ?, {_json_of(columns, 'a', dialect_of(conn).name)} FROM {spec.table} a"
        f" WHERE ({key}) IN ({changing}) AND NOT EXISTS"
        f" (SELECT 1 FROM {spec.history} h WHERE {same} AND h.valid_until = ?)",
        (day, day),
    )


def _as_of_select(conn: sqlite3.Connection, own: str, kind: str, where: str) -> str:
    """Each row of ``kind`` as it stood on :day: the oldest version that held past it, else the row.

    ``own``: the schema of the workspace's tables (:meth:`~csm.data.backend.Dialect.own_schema`).
    """
    spec, d = _KEPT[kind], dialect_of(conn)
    table = f"{own}.{spec.table}"
    join = " AND ".join(f"v.{h} = a.{_quoted(k)}" for h, k in zip(_HISTORY_KEY[kind], spec.key, strict=True))
    picked = ", ".join(
        f"CASE WHEN v.data IS NULL THEN a.{_quoted(c)} ELSE {d.stored_value('v.data', c, table)} END"
        for c in _columns(conn, spec.table)
    )
    history_key = ", ".join(_HISTORY_KEY[kind])
    versions = d.first_per(
        history_key, "valid_until", "data", f"{own}.{spec.history} WHERE valid_until > :day"
    )
    return f"SELECT {picked} FROM {table} a LEFT JOIN ({versions}) v ON {join} {where}"


class Shadow:
    """The accounts, contacts, snoozes and suppressions as they stood on a day, as TEMP tables.

    Move it forward day by day with :meth:`move_to`: only rows whose values
    changed between the two days are rebuilt.
    """

    def __init__(self, conn: sqlite3.Connection, day: dt.date) -> None:
        self.conn = conn
        self.day: dt.date | None = None
        d = dialect_of(conn)
        self.own, self.temp, self.next_day = d.own_schema(conn), d.temp, d.add_days(":day", 1)
        for table in ("accounts", "contacts", "snoozes", "suppressions"):
            conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {self.own}.{table} WHERE 1 = 0")
        # Unqualified: each index goes with its (TEMP) table.
        conn.execute("CREATE INDEX accounts_renewal ON accounts(renewal_date)")
        conn.execute("CREATE INDEX accounts_id ON accounts(id)")
        conn.execute("CREATE INDEX contacts_account ON contacts(account_id)")
        self.move_to(day)

    def move_to(self, day: dt.date) -> None:
        """The tables as they stood on ``day`` (later than the day before)."""
        params = {"day": day.isoformat(), "since": (self.day or dt.date.min).isoformat()}
        for kind in ("accounts", "contacts"):
            self._rebuild(kind, params, full=self.day is None)
        # Snoozes and suppressions are dated when made; those made after the day did not exist yet.
        for table in ("snoozes", "suppressions"):
            self.conn.execute(f"DELETE FROM {self.temp}.{table}")
            self.conn.execute(
                f"INSERT INTO {self.temp}.{table} SELECT * FROM {self.own}.{table}"
                f" WHERE created_at < {self.next_day}",
                params,
            )
        self.day = day

    def _rebuild(self, kind: str, params: dict[str, str], *, full: bool) -> None:
        """All rows (``full``), else those whose values changed since the day before."""
        spec, shadow = _KEPT[kind], f"{self.temp}.{_KEPT[kind].table}"
        if full:
            self.conn.execute(f"INSERT INTO {shadow} {_as_of_select(self.conn, self.own, kind, '')}", params)
            return
        history_key = ", ".join(_HISTORY_KEY[kind])
        changed = (
            f"SELECT {history_key} FROM {self.own}.{spec.history}"
            " WHERE valid_until > :since AND valid_until <= :day"
        )
        key = ", ".join(_quoted(k) for k in spec.key)
        self.conn.execute(f"DELETE FROM {shadow} WHERE ({key}) IN ({changed})", params)
        where = f"WHERE ({', '.join(f'a.{_quoted(k)}' for k in spec.key)}) IN ({changed})"
        self.conn.execute(f"INSERT INTO {shadow} {_as_of_select(self.conn, self.own, kind, where)}", params)

    def close(self) -> None:
        for table in ("accounts", "contacts", "snoozes", "suppressions"):
            self.conn.execute(f"DROP TABLE IF EXISTS {self.temp}.{table}")


def first_change(conn: sqlite3.Connection) -> str | None:
    """The day of the oldest change recorded: before it, a backtest reads the oldest values kept."""
    row = conn.execute("SELECT min(valid_until) FROM account_history").fetchone()
    return row[0]

"""The benchmark book on PostgreSQL: a throwaway server, the book loaded into it, copies of it.

The book is built once on SQLite (``generate.py``); here its tables go into a
PostgreSQL database whose schema csm made (``store.connect``), each by COPY in one
transaction: setup, not a figure, so the quickest honest load (``csm db copy``
checksums every row in Python, minutes at 14.5M usage rows). Each figure that writes
runs on its own copy, ``CREATE DATABASE ... TEMPLATE book``: a file copy on the server.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from pg_server import PgCluster  # tests/pg_server.py: initdb into a temp dir, a Unix socket

__all__ = ["PgCluster", "Server", "load_book", "pg_workspace"]


class Server:
    """A PostgreSQL server the benchmark may create databases on: ``admin_url`` names one it may use."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server: the admin URL with its database name replaced."""
        head, _, tail = self.admin_url.partition("?")
        base = head.rsplit("/", 1)[0]
        return f"{base}/{database}" + (f"?{tail}" if tail else "")

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of ``template`` if named); its URL."""
        import psycopg

        name = "bench_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def drop(self, url: str) -> None:
        import psycopg

        name = url.partition("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @staticmethod
    def name_of(url: str) -> str:
        return url.partition("?")[0].rsplit("/", 1)[1]


def load_book(sqlite_db: Path, url: str) -> None:
    """Every table of the SQLite book into the (empty) database at ``url``, by COPY, then ANALYZE."""
    import psycopg

    from csm.data import store
    from csm.data.backend import SQLITE

    store.connect(url, create=True).close()  # csm's schema, migrated
    source = sqlite3.connect(f"file:{sqlite_db}?mode=ro", uri=True)
    with closing(source) as src, psycopg.connect(url) as dst:  # one transaction: all tables or none
        for table in SQLITE.tables(src):
            _copy_table(src, dst, table)
        dst.commit()
    with psycopg.connect(url, autocommit=True) as dst:
        dst.execute("VACUUM ANALYZE")


def _copy_table(src: sqlite3.Connection, dst: Any, table: str) -> None:
    from csm.data.backend import POSTGRESQL, SQLITE

    wanted = SQLITE.column_types(src, table)
    have = {
        row[0]: row[1]
        for row in dst.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
    }
    for name, declared in wanted.items():
        if name not in have:  # an import's extra column
            dst.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {POSTGRESQL.ddl(declared or "TEXT")}')
            have[name] = "text"
    names = list(wanted)
    flags = [have[n] == "boolean" for n in names]
    cols = ", ".join(f'"{n}"' for n in names)
    with dst.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in src.execute(f"SELECT {cols} FROM {table}"):
            if any(flags):
                row = [bool(v) if flag and v is not None else v for v, flag in zip(row, flags, strict=True)]
            copy.write_row(row)
    if "id" in names:
        sequence = dst.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
        if sequence is not None:
            dst.execute(f"SELECT setval(%s, coalesce(max(id), 0) + 1, false) FROM {table}", (sequence,))


def pg_workspace(source: Path, tmp: Path, name: str, url: str) -> Path:
    """A copy of the workspace folder ``source`` (its database left behind) whose database is ``url``."""
    ws = tmp / name
    shutil.copytree(source, ws, ignore=shutil.ignore_patterns("csm.db*"))
    settings = ws / "csm.toml"
    text = settings.read_text(encoding="utf-8")
    lines = [f'database = "{url}"' if line.startswith("database =") else line for line in text.splitlines()]
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ws


# -- the figures on PostgreSQL --------------------------------------------------------------------

# The morning list of `csm today --no-run` for me, by hand: the same sections over the same
# tables, the dates worked out in Python (hand_sql.params), psycopg's placeholders.
_LAST_TOUCH = (
    "coalesce((SELECT left(max(t.at), 10) FROM timeline t WHERE t.account_id = a.id AND t.touch = 1"
    " AND t.at < %(tomorrow)s), a.start_date)"
)
_SCORE = (
    "(SELECT h.score FROM health_history h WHERE h.account_id = a.id AND h.date <= {day}"
    " ORDER BY h.date DESC LIMIT 1)"
)
MORNING_SQL = (
    "SELECT r.account_id, a.name, r.address, r.at, r.subject, o.playbook, o.step FROM replies r"
    " JOIN accounts a ON a.id = r.account_id LEFT JOIN outbox o ON o.id = r.draft_id"
    " WHERE r.at >= %(d6)s AND r.at < %(tomorrow)s AND a.owner = %(me)s ORDER BY r.at DESC, r.account_id",
    "SELECT o.*, a.name, (SELECT count(*) FROM outbox x WHERE x.status = 'draft' AND x.to_addrs = o.to_addrs"
    " AND x.id <> o.id) FROM outbox o JOIN accounts a ON a.id = o.account_id"
    " WHERE o.status = 'draft' AND a.owner = %(me)s ORDER BY o.priority, o.id",
    "SELECT t.*, a.name FROM tasks t LEFT JOIN accounts a ON a.id = t.account_id"
    " WHERE t.status IN ('open', 'snoozed') AND (t.owner = %(me)s OR t.assignee = %(me)s)"
    " AND t.due_date <= %(p7)s ORDER BY t.due_date, t.priority, t.id",
    "SELECT a.id, a.name, a.renewal_date,"
    " to_date(a.renewal_date, 'YYYY-MM-DD') - to_date(%(today)s, 'YYYY-MM-DD'), a.arr,"
    f" {_SCORE.format(day='%(today)s')}, {_LAST_TOUCH} FROM accounts a WHERE a.status = 'active'"
    " AND a.owner = %(me)s AND a.renewal_date BETWEEN %(today)s AND %(p90)s ORDER BY a.renewal_date, a.id",
    f"SELECT a.id, a.name, {_SCORE.format(day='%(today)s')} - {_SCORE.format(day='%(d30)s')} AS drop"
    " FROM accounts a WHERE a.status = 'active' AND a.owner = %(me)s"
    f" AND {_SCORE.format(day='%(today)s')} - {_SCORE.format(day='%(d30)s')} <= -15 ORDER BY drop, a.id",
    f"SELECT a.id, a.name, {_LAST_TOUCH} AS touched, a.arr FROM accounts a WHERE a.status = 'active'"
    f" AND a.owner = %(me)s AND {_LAST_TOUCH} <= %(d60)s ORDER BY touched, a.arr DESC, a.id",
)


def _hand_script(url: str, morning: bool, evaluate: bool) -> list[str]:
    """A plain psycopg process running the hand-written queries (hand_sql's, the morning list's)."""
    from run import script

    return script(f"""
        import datetime as dt, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import psycopg, hand_sql, pg
        today = dt.date(2026, 11, 23)
        params = hand_sql.params(today) | {{"me": "csm1@vendor.example"}} | {{
            k: (today + dt.timedelta(days=n)).isoformat() for k, n in (("d6", -6), ("p7", 7), ("p90", 90))}}
        with psycopg.connect({url!r}) as conn:
            if {evaluate}:
                for sql in hand_sql.queries("postgresql"):
                    conn.execute(sql, params).fetchall()
            if {morning}:
                for sql in pg.MORNING_SQL:
                    conn.execute(sql, params).fetchall()
    """)


def without_follow_ups(ws: Path) -> int:
    """Take the follow-up steps (``after:``) out of the workspace's playbooks; how many went.

    Their SQL is SQLite's until sequences are ported to PostgreSQL (branch pgseq).
    """
    import yaml

    gone = 0
    for path in sorted((ws / "playbooks").glob("*.yaml")):
        book = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps = [step for step in book["steps"] if "after" not in step]
        if len(steps) != len(book["steps"]):
            gone += len(book["steps"]) - len(steps)
            path.write_text(yaml.safe_dump({**book, "steps": steps}, sort_keys=False), encoding="utf-8")
    return gone


def figures(server: Server, data: Path, tmp: Path, size: int, repeat: int, only: set[str]) -> list[Any]:
    """The dry run, import and `today` on PostgreSQL, each beside a hand-written floor on one server."""
    from run import Row, csm, medians, run

    rows: list[Row] = []
    book = server.create()
    print(f"loading the {size:,}-account book into PostgreSQL...", file=sys.stderr)
    load_book(data / "ws" / "csm.db", book)
    ws = pg_workspace(data / "ws", tmp, "pg-ws", book)
    gone = without_follow_ups(ws)
    note = f" ({gone} follow-up steps left out)" if gone else ""

    def timed(args: list[str], peaks: list[float]) -> Callable[[], float]:
        def one() -> float:
            elapsed, rss = run(args)
            peaks.append(rss / 1024)
            return elapsed

        return one

    def against_hand(label: str, args: list[str], hand: list[str], floor: str) -> None:
        peaks: list[float] = []
        ours, base = medians(repeat, timed(csm("-w", str(ws), *args), peaks), lambda: run(hand)[0])
        rows.append(
            Row(
                label,
                f"{ours:.2f} s, {max(peaks):.0f} MB",
                f"{floor} {base:.2f} s",
                ours / base,
                "<= 1.5x",
                ours / base <= 1.5,
            )
        )

    if "evaluate" in only:
        against_hand(
            f"PostgreSQL: `csm run --dry-run` {size:,} accounts{note}",
            ["run", "--dry-run"],
            _hand_script(book, False, True),
            "hand-written SQL per step",
        )
    if "morning" in only:
        against_hand(
            f"PostgreSQL: `csm today --no-run` {size:,} accounts",
            ["today", "--no-run"],
            _hand_script(book, True, False),
            "hand-written morning list",
        )
        rows.extend(_today_rows(server, book, data, tmp, size, repeat, note))
    if "import" in only:
        rows.append(_import_row(server, data, tmp, size, repeat))
    server.drop(book)
    return rows


def _today_rows(
    server: Server, book: str, data: Path, tmp: Path, size: int, repeat: int, note: str
) -> list[Any]:
    """`csm today` first of the day and again, each run on a fresh copy of the book, beside the floor:
    the hand-written evaluation and morning list (reads only; csm also writes the morning's drafts)."""
    from run import Row, csm, run

    first: list[tuple[float, float]] = []
    again: list[tuple[float, float]] = []
    floors: list[float] = []
    try:
        for k in range(repeat):
            copy = server.create(template=Server.name_of(book))
            ws = pg_workspace(data / "ws", tmp, f"pg-today-{k}", copy)
            without_follow_ups(ws)
            for seen in (first, again):
                elapsed, rss = run(csm("-w", str(ws), "today"))
                seen.append((elapsed, rss / 1024))
            floors.append(run(_hand_script(copy, True, True))[0])
            server.drop(copy)
    except SystemExit as failed:  # a command csm cannot run on PostgreSQL yet: said, not hidden
        lines = str(failed).strip().splitlines()
        reason = next((line for line in reversed(lines) if "Error" in line), lines[-1])[:90]
        return [
            Row(f"PostgreSQL: `csm today` {size:,} accounts", "could not run", reason, None, "<= 1.5x", False)
        ]
    floor = statistics.median(floors)
    return [
        Row(
            f"PostgreSQL: `csm today` {label}, {size:,} accounts{note}",
            f"{statistics.median(t for t, _ in seen):.2f} s, {max(m for _, m in seen):.0f} MB",
            f"hand-written evaluation + morning list {floor:.2f} s",
            statistics.median(t for t, _ in seen) / floor,
            "<= 1.5x",
            statistics.median(t for t, _ in seen) / floor <= 1.5,
        )
        for label, seen in (("first of the day", first), ("again the same day", again))
    ]


def _import_row(server: Server, data: Path, tmp: Path, size: int, repeat: int) -> Any:
    """`csm import accounts` into a fresh PostgreSQL workspace, beside psycopg COPY of the same CSV
    into the same table (csm's schema: its types, keys and indexes), in one transaction."""
    from run import Row, csm, fresh_workspace, medians, run, script

    from csm.data import store

    csv_path = data / "accounts.csv"

    def fresh() -> str:
        url = server.create()
        store.connect(url, create=True).close()  # the schema, as `csm init --database` makes it
        return url

    def ours() -> float:
        url = fresh()
        ws = fresh_workspace(Path(tempfile.mkdtemp(dir=tmp)), "ws")
        settings = ws / "csm.toml"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(text.replace('database = "csm.db"', f'database = "{url}"'), encoding="utf-8")
        try:
            return run(csm("-w", str(ws), "import", "accounts", str(csv_path)))[0]
        finally:
            server.drop(url)

    def floor() -> float:
        url = fresh()
        try:
            return run(
                script(f"""
                import psycopg
                with psycopg.connect({url!r}) as conn, open({str(csv_path)!r}, "rb") as f:
                    header = f.readline().decode().strip()
                    with conn.cursor().copy(f"COPY accounts ({{header}}) FROM STDIN (FORMAT csv)") as copy:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
                    conn.commit()
            """)
            )[0]
        finally:
            server.drop(url)

    ours_s, floor_s = medians(repeat, ours, floor)
    return Row(
        f"PostgreSQL: `csm import accounts` {size:,} rows",
        f"{ours_s:.2f} s ({size / ours_s:,.0f} rows/s)",
        f"psycopg COPY, same table {floor_s:.2f} s",
        ours_s / floor_s,
        "<= 1.5x",
        ours_s / floor_s <= 1.5,
    )

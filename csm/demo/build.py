"""`csm demo`: a deterministic workspace of 500 accounts with cohorts every built-in step matches."""

from __future__ import annotations

import random
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from csm.data import store
from csm.data.backend import is_postgres_url, redact
from csm.data.copy import copy_database, held_tables, refuse_held
from csm.data.importer import import_records
from csm.demo.cohorts import DEMO_TODAY, ME, NOW, OWNERS, SEED
from csm.demo.data import Rows, generate
from csm.demo.history import (
    HISTORY_START,
    accounts_on,
    decided_renewals,
    health_history,
    playbook_history,
)
from csm.demo.replies import write_export
from csm.errors import WorkspaceError
from csm.init import create
from csm.workspace import SETTINGS_FILE


@dataclass(frozen=True)
class DemoSummary:
    root: Path
    me: str
    counts: dict[str, int]


def build_demo(root: Path | None = None, database: str = "csm.db") -> DemoSummary:
    """Create a demo workspace in ``root`` (a new temp folder if None), with a summer of history.

    ``database``: a ``postgresql://`` URL (an empty database) puts the demo's data there: it is
    built in SQLite beside csm.toml, as always, then moved with `csm db copy`'s checked copy,
    and csm.toml names the URL. The same seed gives the same rows on both.
    """
    postgres = is_postgres_url(database)
    if postgres:
        _refuse_unusable(database)
    root = Path(tempfile.mkdtemp(prefix="csm-demo-")) if root is None else root.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise WorkspaceError(
            f"{root} is not an empty folder; csm demo only builds in a new or empty one",
            hint="Pick a new folder, or run `csm demo` alone for a temporary one.",
        )
    summary = _build(root)
    if postgres:
        _move_to(root, database)
    return summary


def _refuse_unusable(url: str) -> None:
    """Before minutes of building: the server answers and the database is empty."""
    conn = store.connect(url, create=True)
    try:
        held = held_tables(conn)
    finally:
        conn.close()
    if held:
        refuse_held(redact(url), held)


def _move_to(root: Path, url: str) -> None:
    """The demo's SQLite data copied into ``url`` (checked), the file removed, csm.toml pointed there."""
    built = root / "csm.db"
    result = copy_database(built, url)
    if not result.ok:
        differ = ", ".join(t.table for t in result.tables if not t.ok)
        raise WorkspaceError(f"the demo's copy into {result.target} differs ({differ}); it was rolled back")
    for path in (built, built.with_name("csm.db-wal"), built.with_name("csm.db-shm")):
        path.unlink(missing_ok=True)
    settings = root / SETTINGS_FILE
    text = settings.read_text(encoding="utf-8").replace('database = "csm.db"', f'database = "{url}"', 1)
    settings.write_text(text, encoding="utf-8")


def _build(root: Path) -> DemoSummary:
    create(root, me=ME, name=OWNERS[0][1])
    _pin_settings(root / SETTINGS_FILE)
    accounts, contacts, usage, timeline, events = generate(random.Random(SEED))
    conn = store.connect(root / "csm.db")
    try:
        decided = decided_renewals(accounts)
        first = accounts_on(accounts, decided, HISTORY_START)
        for kind, rows, at in (
            ("accounts", first, f"{HISTORY_START}T06:00:00+00:00"),
            ("contacts", contacts, NOW),
            ("usage", usage, NOW),
            ("events", events, NOW),
        ):
            records = ((f"{kind} record {n}", row) for n, row in enumerate(rows, 1))
            import_records(conn, kind, records, source=f"demo {kind}", now=at)
        with store.transaction(conn):
            _insert(conn, "timeline", timeline)
        health_history(conn, root)
        playbook_history(conn, root, random.Random(SEED + 1), decided)
        health_history(conn, root, today_only=True)  # seen the imports of decided renewals
        write_export(conn, root)
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("accounts", "contacts", "usage", "events", "timeline", "health_history")
        }
    finally:
        conn.close()
    return DemoSummary(root=root, me=ME, counts=counts)


def _pin_settings(path: Path) -> None:
    """Pin today (on init's commented example line, else at the top) and add two CSMs."""
    pinned = f'today = "{DEMO_TODAY.isoformat()}"  # the demo data is as of this date'
    text, found = re.subn(r"^# today = .*$", pinned, path.read_text(encoding="utf-8"), count=1, flags=re.M)
    if not found:
        text = f"{pinned}\n{text}"  # top-level keys must come before any [table]
    owners = "".join(
        f'\n[owners."{email}"]\nname = "{name}"\ntitle = "{title}"\nsignature = "{name}\\n{title}"\n'
        for email, name, title in OWNERS[1:]
    )
    path.write_text(text + owners, encoding="utf-8")


def _insert(conn: sqlite3.Connection, table: str, rows: Rows) -> None:
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        (tuple(row[c] for c in columns) for row in rows),
    )

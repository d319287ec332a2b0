"""The SQLite store: opening the database, the schema and its migrations.

Connections run in autocommit mode; every write goes through
:func:`transaction`, which takes SQLite's write lock up front
(``BEGIN IMMEDIATE``) so two csm processes never interleave half-done work.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from csm.data.backend import (
    PG_FUNCTIONS,
    PgConnection,
    connect_postgres,
    dialect_of,
    is_postgres_url,
    pg_problem,
    redact,
)
from csm.errors import WorkspaceError
from csm.language.fields import ACCOUNT_COLUMNS, CONTACT_COLUMNS, FieldType

BUSY_TIMEOUT_MS = 30_000

SCHEMA_V1 = """
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT,
    plan TEXT,
    arr REAL,
    seats_licensed INTEGER,
    seats_used INTEGER,
    start_date TEXT,
    renewal_date TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    nps INTEGER,
    open_tickets INTEGER,
    last_login_at TEXT,
    health_score REAL
);
CREATE INDEX accounts_owner ON accounts(owner);
CREATE INDEX accounts_renewal ON accounts(renewal_date);

CREATE TABLE contacts (
    account_id TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT,
    role TEXT,
    title TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    unsubscribed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, email)
);
CREATE INDEX contacts_email ON contacts(email);

CREATE TABLE usage (
    account_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    date TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (account_id, metric, date)
) WITHOUT ROWID;

CREATE TABLE health_history (
    account_id TEXT NOT NULL,
    date TEXT NOT NULL,
    score REAL NOT NULL,
    band TEXT,
    parts TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, date)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    playbook TEXT NOT NULL,
    step TEXT NOT NULL,
    account_id TEXT NOT NULL,
    owner TEXT,
    to_addrs TEXT NOT NULL,
    cc TEXT NOT NULL DEFAULT '[]',
    reply_to TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    original_subject TEXT,
    original_body TEXT,
    edited INTEGER NOT NULL DEFAULT 0,
    template TEXT NOT NULL,
    why TEXT NOT NULL DEFAULT '{}',
    priority TEXT NOT NULL DEFAULT 'normal',
    status TEXT NOT NULL DEFAULT 'draft',
    reason TEXT,
    message_id TEXT,
    claimed_by TEXT,
    claimed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_status ON outbox(status);
CREATE INDEX outbox_account ON outbox(account_id);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT UNIQUE,
    playbook TEXT,
    step TEXT,
    account_id TEXT NOT NULL,
    owner TEXT,
    title TEXT NOT NULL,
    due_date TEXT,
    priority TEXT NOT NULL DEFAULT 'normal',
    status TEXT NOT NULL DEFAULT 'open',
    snoozed_until TEXT,
    note TEXT,
    why TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX tasks_status ON tasks(status, due_date);
CREATE INDEX tasks_account ON tasks(account_id);

CREATE TABLE timeline (
    id INTEGER PRIMARY KEY,
    account_id TEXT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    touch INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL,
    ref TEXT
);
CREATE INDEX timeline_account ON timeline(account_id, touch, at);

CREATE TABLE snoozes (
    id INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    playbook TEXT,
    until TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX snoozes_account ON snoozes(account_id, until);

CREATE TABLE suppressions (
    email TEXT PRIMARY KEY,
    reason TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction half-way.
    for statement in dialect_of(conn).ddl(script).split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _migration_1(conn: sqlite3.Connection) -> None:
    if isinstance(conn, PgConnection):
        conn.execute(PG_FUNCTIONS)  # SQLite's connections get local_date from Python
    _run_script(conn, SCHEMA_V1)


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return column in dialect_of(conn).column_types(conn, table)


def _migration_2(conn: sqlite3.Connection) -> None:
    """Which accounts each step matched (held out or not), and renewal outcomes: for `csm report`.

    The matches of earlier runs are recovered from the drafts and tasks they left.
    """
    _run_script(
        conn,
        """CREATE TABLE matches (
    playbook TEXT NOT NULL,
    step TEXT NOT NULL,
    account_id TEXT NOT NULL,
    first_matched TEXT NOT NULL,
    last_matched TEXT NOT NULL,
    held_out INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (playbook, step, account_id)
) WITHOUT ROWID;
CREATE TABLE outcomes (
    account_id TEXT NOT NULL,
    date TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('renewed', 'churned')),
    source TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (account_id, date)
) WITHOUT ROWID;
INSERT INTO matches (playbook, step, account_id, first_matched, last_matched)
SELECT playbook, step, account_id, min(date(created_at)), max(date(created_at)) FROM (
    SELECT playbook, step, account_id, created_at FROM outbox
    UNION ALL SELECT playbook, step, account_id, created_at FROM tasks WHERE playbook IS NOT NULL
) AS made GROUP BY playbook, step, account_id""",  # the alias for PostgreSQL; SQLite's result is the same
    )


def _migration_3(conn: sqlite3.Connection) -> None:
    """One row per envelope recipient of a draft: its unsubscribe token and what became of its copy.

    ``status``: pending (not handed over yet), sending (being handed over),
    sent, failed (refused for good) or unknown (may have arrived).
    """
    _run_script(
        conn,
        """CREATE TABLE deliveries (
    draft_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    detail TEXT,
    position INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (draft_id, address)
) WITHOUT ROWID""",
    )


def _migration_4(conn: sqlite3.Connection) -> None:
    """Dated events of an account (tickets, NPS answers, ...), with free attributes as JSON text.

    ``contact``: the address of the person it concerns, if any; ``closed_at``: when it
    was closed (a ticket solved), if ever. Conditions count and test events of one
    kind in a window, so (account_id, kind, occurred_at) is the index they need.
    """
    _run_script(
        conn,
        """CREATE TABLE events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    contact TEXT,
    occurred_at TEXT NOT NULL,
    closed_at TEXT,
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_account_kind ON events(account_id, kind, occurred_at)""",
    )


def _migration_5(conn: sqlite3.Connection) -> None:
    """When a contact left the account: nobody writes to them after, and conditions see who left.

    An import may have added the column already, as an extra one.
    """
    if not _has_column(conn, "contacts", "left_at"):
        conn.execute("ALTER TABLE contacts ADD COLUMN left_at DATE")


def _migration_6(conn: sqlite3.Connection) -> None:
    """Who does a task and what kind it is; a draft's internal copies and its playbook's touch budget.

    Accounts gain ``account_executive`` (an address), for task assignees and internal copies.

    A task's ``assignee`` is the owner unless a step names someone else (NULL,
    as in the tasks made before: the owner). A
    draft's ``touch_budget`` (``"3/7"``: 3 emails per 7 days) is its playbook's
    own, NULL for csm.toml's; ``deferred`` drafts wait for that budget. Imports
    and syncs name what they loaded in the timeline's ``ref`` (``import:usage``,
    ``sync:crm``), found by the ``timeline_loads`` index.
    """
    if not _has_column(conn, "accounts", "account_executive"):
        conn.execute("ALTER TABLE accounts ADD COLUMN account_executive TEXT")  # an import may have added it
    _run_script(
        conn,
        """ALTER TABLE tasks ADD COLUMN assignee TEXT;
ALTER TABLE tasks ADD COLUMN type TEXT NOT NULL DEFAULT 'other';
CREATE INDEX tasks_assignee ON tasks(assignee);
ALTER TABLE outbox ADD COLUMN cc_internal TEXT NOT NULL DEFAULT '[]';
ALTER TABLE outbox ADD COLUMN touch_budget TEXT;
CREATE INDEX outbox_step ON outbox(playbook, step, created_at);
CREATE INDEX tasks_step ON tasks(playbook, step, created_at);
CREATE INDEX deliveries_address ON deliveries(address COLLATE NOCASE);
CREATE INDEX timeline_loads ON timeline(ref, at) WHERE account_id IS NULL""",
    )


def _migration_7(conn: sqlite3.Connection) -> None:
    """The per-account rollup of one day's usage windows and last touch (see csm.data.rollup),
    and health breakdowns apart from the scores, by day.

    A snapshot appends a day of breakdowns to ``health_parts`` (in date order) and writes
    only small rows into ``health_history`` (in account order, for the health fields'
    lookups): writing the breakdowns into every page of ``health_history`` cost three times
    as much. Breakdowns already stored move across.

    And contacts by address whatever its case: `csm send` checks every recipient against
    the unsubscribed contacts (``COLLATE NOCASE``), which the binary index cannot serve.
    """
    _run_script(
        conn,
        """CREATE TABLE usage_rollup (
    account_id TEXT PRIMARY KEY,
    usage_30d REAL,
    usage_prev_30d REAL,
    last_touch TEXT
) WITHOUT ROWID;
CREATE TABLE usage_rollup_day (
    day TEXT NOT NULL,
    metric TEXT NOT NULL
);
CREATE TABLE health_parts (
    date TEXT NOT NULL,
    account_id TEXT NOT NULL,
    parts TEXT NOT NULL,
    PRIMARY KEY (date, account_id)
) WITHOUT ROWID;
CREATE INDEX contacts_email_nocase ON contacts(email COLLATE NOCASE);
INSERT INTO health_parts (date, account_id, parts)
SELECT date, account_id, parts FROM health_history WHERE parts <> '{}';
UPDATE health_history SET parts = '{}' WHERE parts <> '{}'""",
    )


def _migration_8(conn: sqlite3.Connection) -> None:
    """Mail coming back: replies to what csm sent, bounces, and how far `csm inbox` has read.

    ``deliveries.message_id``: the Message-ID each copy carried, so a reply's
    In-Reply-To finds its draft and recipient even when the draft never reached
    ``sent`` (a copy left for later, an unknown outcome). ``replies.message_key``
    (the reply's own Message-ID, else a hash of its bytes) makes reading the
    same mail twice record nothing twice. ``mail_cursors``: per mailbox folder,
    its UIDVALIDITY and the highest UID read. ``contacts.bounced_at`` (a DATE
    column, as an import may have brought it already) is when an address bounced.
    """
    if not _has_column(conn, "contacts", "bounced_at"):
        conn.execute("ALTER TABLE contacts ADD COLUMN bounced_at DATE")
    _run_script(
        conn,
        """ALTER TABLE deliveries ADD COLUMN message_id TEXT;
UPDATE deliveries SET message_id = (SELECT o.message_id FROM outbox o WHERE o.id = deliveries.draft_id);
CREATE INDEX deliveries_message_id ON deliveries(message_id);
ALTER TABLE contacts ADD COLUMN bounce_reason TEXT;
CREATE INDEX outbox_message_id ON outbox(message_id);
CREATE TABLE replies (
    message_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    draft_id INTEGER,
    address TEXT NOT NULL,
    at TEXT NOT NULL,
    subject TEXT NOT NULL,
    matched_by TEXT NOT NULL CHECK (matched_by IN ('thread', 'sender')),
    body TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (message_key, account_id)
) WITHOUT ROWID;
CREATE INDEX replies_account ON replies(account_id, at);
CREATE INDEX replies_draft ON replies(draft_id);
CREATE TABLE mail_cursors (
    mailbox TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at TEXT NOT NULL
)""",
    )


def _migration_9(conn: sqlite3.Connection) -> None:
    """The values accounts and contacts held before an import changed them: `csm backtest`'s past.

    One row per changed row and import day: its columns as they were (JSON) and the day
    they stopped holding. The current values are the table's own; a day before every
    change recorded reads the oldest values kept (see :mod:`csm.data.history`).
    """
    _run_script(
        conn,
        """CREATE TABLE account_history (
    account_id TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, valid_until)
) WITHOUT ROWID;
CREATE TABLE contact_history (
    account_id TEXT NOT NULL,
    email TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, email, valid_until)
) WITHOUT ROWID""",
    )


# Why the customer bought, and the integrations they connected: lists kept as text, one item a line.
_LIST_COLUMNS = ("goals", "use_case", "success_criteria", "integrations")


def _migration_10(conn: sqlite3.Connection) -> None:
    """Accounts gain ``goals``, ``use_case``, ``success_criteria`` and ``integrations``.

    Free text or a list, stored as text with one item a line (see
    :func:`csm.data.convert.text_list`); an import may have added any of them already.
    """
    for column in _LIST_COLUMNS:
        if not _has_column(conn, "accounts", column):
            conn.execute(f"ALTER TABLE accounts ADD COLUMN {column} TEXT")


def _migration_11(conn: sqlite3.Connection) -> None:
    """The rollup per usage metric a playbook names (see csm.data.rollup): its latest value and
    30-day windows per account, and which of them it holds for which day."""
    _run_script(
        conn,
        """CREATE TABLE usage_rollup_metric (
    metric TEXT NOT NULL,
    account_id TEXT NOT NULL,
    latest REAL,
    usage_30d REAL,
    usage_prev_30d REAL,
    PRIMARY KEY (metric, account_id)
) WITHOUT ROWID;
CREATE TABLE usage_rollup_covers (
    day TEXT NOT NULL,
    metric TEXT NOT NULL,
    part TEXT NOT NULL,
    PRIMARY KEY (day, metric, part)
)""",
    )


def _migration_12(conn: sqlite3.Connection) -> None:
    """The health model a snapshot scored with, one row a day (see csm.health.score).

    A day's ``health_parts`` then hold each account's profile and measure values only;
    `csm health ACCOUNT` works the scores, weights and points out again from them and
    this model, in the same SQL: formatting 24 numbers an account as JSON cost more than
    scoring the book.
    """
    _run_script(
        conn,
        """CREATE TABLE health_models (
    date TEXT PRIMARY KEY,
    model TEXT NOT NULL
) WITHOUT ROWID""",
    )


def _migration_13(conn: sqlite3.Connection) -> None:
    """The outbox's last move, indexed: every run's fingerprint reads it (csm.engine.incremental),
    and a scan of the whole outbox was most of what a skipped `csm today` cost at 100k accounts."""
    conn.execute("CREATE INDEX outbox_updated ON outbox(updated_at)")


def _migration_14(conn: sqlite3.Connection) -> None:
    """On PostgreSQL, every INTEGER column becomes BIGINT: a SQLite INTEGER holds 64 bits, and so
    must the same column there (an IMAP UID or UIDVALIDITY passes 2**31, a draft id in deliveries
    and replies goes as far as the outbox's own). New databases get BIGINT from ``Dialect.ddl``.
    """
    if not isinstance(conn, PgConnection):
        return
    narrow: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        " AND c.data_type = 'integer' AND c.table_name <> 'csm_schema'"
        " ORDER BY c.table_name, c.ordinal_position"
    ):
        narrow.setdefault(table, []).append(column)
    for table, columns in narrow.items():  # one ALTER a table: each is rewritten once
        wider = ", ".join(f'ALTER COLUMN "{c}" TYPE BIGINT' for c in columns)
        conn.execute(f'ALTER TABLE "{table}" {wider}')


# Numbered migrations: index + 1 is the schema version each one produces.
# Append only; never edit one that has shipped.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
    _migration_9,
    _migration_10,
    _migration_11,
    _migration_12,
    _migration_13,
    _migration_14,
)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(
    path: Path | str, *, create: bool = False, password_from: str | None = None
) -> sqlite3.Connection:
    """Open the workspace database, migrating it to the current schema.

    ``path`` is a SQLite file, or a ``postgresql://`` URL (its password from the
    environment variable ``password_from``, else libpq's PGPASSWORD or ~/.pgpass).
    A missing file is an error unless ``create`` is set: csm never silently
    makes an empty database somewhere unexpected.
    """
    if isinstance(path, str) and is_postgres_url(path):
        conn = connect_postgres(path, password_from=password_from, lock_timeout_ms=BUSY_TIMEOUT_MS)
        try:
            migrate(conn)  # type: ignore[arg-type]
        except BaseException as exc:
            conn.close()
            problem = pg_problem(exc, redact(path))
            if problem is None:
                raise
            raise problem from None
        return conn  # type: ignore[return-value]
    path = Path(path)
    if not create and not path.exists():
        raise WorkspaceError(
            f"no database at {path}",
            hint="Run `csm init` to create a workspace, or `csm demo` to try one.",
        )
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_function("local_date", 2, local_date, deterministic=True)
        migrate(conn)
    except BaseException as exc:
        if conn is not None:  # a file that is no database, a schema newer than this csm
            conn.close()
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        raise database_problem(exc, path) or WorkspaceError(f"cannot open database {path}: {exc}") from None
    return conn


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# Cached: a follow-up step's query converts every email sent of the step it follows, each day a
# backtest replays (some 10,000 a day on the benchmark's workspace), the same ones again and again.
@functools.lru_cache(maxsize=1 << 16)
def local_date(timestamp: str | None, timezone: str | None) -> str | None:
    """SQL ``local_date(ts, tz)``: the ISO date of an ISO timestamp (UTC if it names no zone) in ``tz``."""
    if timestamp is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(_zone(timezone or "UTC")).date().isoformat()


def database_problem(error: BaseException, path: Path | str | None) -> WorkspaceError | None:
    """What to tell a person when the database itself fails under csm, or None for any other error.

    SQLite: the disk is full, the file is read-only, another process holds the write
    lock past the busy timeout, or the disk failed a read or write. SQLite has rolled
    back the statement in progress; what was committed before holds. PostgreSQL
    (``path`` is then the redacted URL): see :func:`csm.data.backend.pg_problem`.
    """
    problem = pg_problem(error, str(path) if path is not None else None)
    if problem is not None:
        return problem
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(error, sqlite3.OperationalError) or code is None:
        return None
    where = f"the database {path}" if path is not None else "the workspace database"
    kept = "Nothing was lost: what csm had recorded stays; the change in progress was rolled back."
    primary = code & 0xFF  # extended result codes keep the primary code in the low byte
    if primary == sqlite3.SQLITE_FULL:
        return WorkspaceError(
            f"{where} cannot grow: the disk it is on is full ({error})",
            hint=f"Free some space on that disk, then run the command again. {kept}"
            " A send cut off here is marked unknown by the next `csm send`.",
        )
    if primary == sqlite3.SQLITE_READONLY:
        return WorkspaceError(
            f"cannot write {where}: it is read-only ({error})",
            hint="Let this user write the file and its folder (SQLite also writes the -wal and -shm"
            f" files beside it), or run csm as the user who owns them. {kept}",
        )
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return WorkspaceError(
            f"{where} is locked: another process held it for more than"
            f" {BUSY_TIMEOUT_MS / 1000:g} s ({error})",
            hint=f"Another csm (a cron job?) or a database tool is writing to it; let it finish, then run"
            f" the command again. {kept}",
        )
    if primary == sqlite3.SQLITE_IOERR:
        return WorkspaceError(
            f"the disk failed a read or write of {where} ({error})",
            hint=f"Check the disk and the file system it is on, then run the command again. {kept}",
        )
    return None


def schema_version(conn: sqlite3.Connection) -> int:
    return dialect_of(conn).schema_version(conn)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this database has not had yet, each atomically."""
    if schema_version(conn) >= SCHEMA_VERSION:
        return
    with transaction(conn):
        dialect_of(conn).lock_schema(conn)
        current = schema_version(conn)  # re-read under the write lock
        if current > SCHEMA_VERSION:
            raise WorkspaceError(
                f"database schema version {current} is newer than this csm ({SCHEMA_VERSION}); upgrade csm"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](conn)
            dialect_of(conn).set_schema_version(conn, version)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: all of it commits, or none of it does."""
    conn.execute(dialect_of(conn).begin)
    try:
        yield conn
    except BaseException:
        # SQLite rolls back by itself on some errors (SQLITE_FULL); a second
        # ROLLBACK would fail and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_SQL_TYPES: dict[str, FieldType] = {"INTEGER": "number", "REAL": "number", "NUMERIC": "number"}


_STANDARD = {
    "accounts": {f.name for f in ACCOUNT_COLUMNS},
    "contacts": {"account_id", *(f.name for f in CONTACT_COLUMNS)},
}


def extra_account_columns(conn: sqlite3.Connection) -> dict[str, FieldType]:
    """Columns an import added to ``accounts`` beyond the standard ones."""
    return extra_columns(conn, "accounts")


def extra_columns(conn: sqlite3.Connection, table: str) -> dict[str, FieldType]:
    """Columns an import added to ``accounts`` or ``contacts`` beyond the standard ones, by type."""
    standard = _STANDARD[table]
    extras: dict[str, FieldType] = {}
    for name, declared in dialect_of(conn).column_types(conn, table).items():
        if name not in standard:
            if declared == "DATE":
                extras[name] = "date"
            elif declared == "BOOLEAN":
                extras[name] = "bool"
            else:
                extras[name] = _SQL_TYPES.get(declared, "text")
    return extras


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )

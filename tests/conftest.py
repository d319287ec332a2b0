"""Shared fixtures: isolated environment, workspaces in tmp_path, a CLI runner."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

if TYPE_CHECKING:
    from csm.runtime import Runtime

TODAY = "2026-11-23"

# csm's consoles are made when csm.cli.common is first imported, which may be while tests are
# collected (before any fixture runs) and, under xdist, in a worker whose COLUMNS is not ours:
# fix the width before anything imports csm.
os.environ["COLUMNS"] = "100"
BACKENDS = ["sqlite", "postgresql"]

# Tests that fail on PostgreSQL because the product is not ported there yet, by the module that
# must change: file -> test (without its parameters) -> why. A strict xfail on the PostgreSQL
# parameter only: remove the entry when the port lands (the xfail then fails, as a reminder).
_PG_PENDING_BY_FILE: dict[str, dict[str, str]] = {}
PG_PENDING: dict[str, str] = {
    f"tests/{file}::{test}": why for file, tests in _PG_PENDING_BY_FILE.items() for test, why in tests.items()
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's workspace, owner, editor or terminal width."""
    for name in ("CSM_WORKSPACE", "CSM_OWNER", "EDITOR", "VISUAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _connections_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whoever opens a database connection closes it: a test fails naming where each connection
    it left open was opened.

    ``filterwarnings = error`` alone would not hold that line: psycopg warns only when a garbage
    cycle frees its connection before csm's wrapper, and SQLite says nothing before Python 3.13.
    """
    import sqlite3
    import traceback

    from csm.data.backend import PgConnection

    opened: list[tuple[Any, traceback.StackSummary]] = []
    sqlite_connect = sqlite3.connect
    pg_init = PgConnection.__init__

    def tracked_sqlite(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = sqlite_connect(*args, **kwargs)
        opened.append((conn, traceback.extract_stack()[:-1]))
        return conn

    def tracked_pg(self: PgConnection, *args: Any, **kwargs: Any) -> None:
        pg_init(self, *args, **kwargs)
        opened.append((self, traceback.extract_stack()[:-1]))

    monkeypatch.setattr(sqlite3, "connect", tracked_sqlite)
    monkeypatch.setattr(PgConnection, "__init__", tracked_pg)
    yield
    left: list[str] = []
    for conn, stack in opened:
        if isinstance(conn, PgConnection):
            still_open = not conn._raw.closed
        else:
            try:
                still_open = conn.in_transaction is not None  # raises once closed
            except sqlite3.ProgrammingError:
                still_open = False
        if still_open:
            conn.close()
            ours = [frame for frame in stack if "/csm/" in frame.filename or "/tests/" in frame.filename]
            left.append("".join(traceback.format_list(ours[-6:])))
    if left:
        pytest.fail(f"{len(left)} database connection(s) left open, opened at:\n" + "\n".join(left))


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Any]:
    """An empty database in tmp_path."""
    from csm.data import store

    conn = store.connect(tmp_path / "csm.db", create=True)
    yield conn
    conn.close()


@pytest.fixture(params=[5_000, 1], ids=["one chunk", "a chunk a row"])
def chunk_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """A CSV streams through in chunks; with one row a chunk, every check crosses a chunk's edge."""
    from csm.data import readers

    monkeypatch.setattr(readers, "CHUNK_ROWS", request.param)
    return request.param


@pytest.fixture
def timeline_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """(account_id, kind, summary) of each entry written through timeline.record, its one writer."""
    from csm.data import timeline

    written: list[tuple[object, ...]] = []
    record = timeline.record

    def spy(*args: Any, **kwargs: Any) -> None:
        written.append(args[1:4])  # after conn: account_id, kind, summary
        record(*args, **kwargs)

    monkeypatch.setattr(timeline, "record", spy)
    return written


def build_file_tree(root: Path, files: dict[str, str]) -> None:
    """Write dedented files under root (the copier test helper's habit)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner) -> Callable[..., object]:
    """Run `csm ARGS...` in-process; returns the click Result."""
    from csm.cli import app

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def workspace(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Path:
    """An empty workspace with the built-ins, "today" pinned, on each backend (``backend``)."""
    from csm.init import create

    database = "csm.db"
    if backend == "postgresql":
        database = request.getfixturevalue("pg_database")(request.getfixturevalue("_pg_empty_template"))
    root = create(tmp_path / "ws", me="dana@northwind-cs.example", name="Dana Reyes", database=database)
    settings = root / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace('# today = "2026-11-25"', f'today = "{TODAY}"'),
        encoding="utf-8",
    )
    return root


def open_workspace(workspace: Path, today: dt.date, playbooks: dict[str, str] | None = None) -> Runtime:
    """The workspace's runtime as of ``today``, with these playbooks (file name: YAML) added first:
    ``with open_workspace(...) as rt`` closes its database."""
    from csm import workspace as workspace_mod
    from csm.runtime import open_runtime

    for name, text in (playbooks or {}).items():
        (workspace / "playbooks" / name).write_text(text, encoding="utf-8")
    return open_runtime(workspace_mod.load(explicit=workspace), today)


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csm.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo-template") / "demo").root


@pytest.fixture(scope="session")
def _pg_demo_template(pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo built once on PostgreSQL, in a database of its own each test's copy is cloned from."""
    from csm.demo import build_demo

    return build_demo(
        tmp_path_factory.mktemp("demo-pg-template") / "demo", database=pg_cluster.new_database()
    ).root


@pytest.fixture
def copy_workspace(backend: str, request: pytest.FixtureRequest) -> Callable[[Path, Path], Path]:
    """copy(source, to): a copy of the workspace folder ``source`` with a database of its own; on
    PostgreSQL a new database cloned from the one ``source`` names (nothing may be connected to it)."""
    import shutil

    def copy(source: Path, to: Path) -> Path:
        root = Path(shutil.copytree(source, to))
        if backend == "postgresql":
            url = str(database_of(source))
            clone = request.getfixturevalue("pg_database")(url)
            settings = root / "csm.toml"
            settings.write_text(settings.read_text(encoding="utf-8").replace(url, clone), encoding="utf-8")
        return root

    return copy


@pytest.fixture
def demo(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, copy_workspace: Callable[[Path, Path], Path]
) -> Path:
    """A fresh copy of the deterministic demo workspace (today pinned to 2026-11-23), on each backend."""
    template = request.getfixturevalue("_demo_template" if backend == "sqlite" else "_pg_demo_template")
    return copy_workspace(template, tmp_path / "demo")


def database_of(workspace: Path) -> Path | str:
    """The workspace's database as csm opens it: the SQLite file or the PostgreSQL URL in its csm.toml."""
    from csm import workspace as workspace_mod

    return workspace_mod.load(explicit=workspace).database_target


@contextmanager
def connect(where: Path | str) -> Iterator[Any]:
    """``with connect(where) as conn``: a connection of its own, rows as plain tuples, closed when
    the block ends: to a workspace's database (either backend), a SQLite file, or a PostgreSQL URL."""
    from csm.data import store

    conn = store.connect(where if isinstance(where, str) or where.suffix == ".db" else database_of(where))
    try:
        conn.row_factory = None
        yield conn
    finally:
        conn.close()


def rows(workspace: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows a query returns from the workspace's database (none for a write), read by a
    connection of its own."""
    with connect(workspace) as conn:
        cursor = conn.execute(sql, params)
        return [] if cursor.description is None else [tuple(row) for row in cursor.fetchall()]


def first_draft(demo: Path, status: str = "draft") -> int:
    return rows(demo, "SELECT min(id) FROM outbox WHERE status = ?", status)[0][0]


def db_dump(where: Path | str) -> list[str]:
    """Every table's columns and rows (sorted) of a workspace's database or a SQLite file, for
    "nothing changed" assertions on either backend."""
    from csm.data.backend import dialect_of

    with connect(where) as conn:
        dialect = dialect_of(conn)
        dump: list[str] = []
        for table in dialect.tables(conn):
            dump.append(f"{table} {sorted(dialect.column_types(conn, table).items())}")
            found = [repr(tuple(row)) for row in conn.execute(f"SELECT * FROM {table}").fetchall()]
            dump.extend(f"{table} {row}" for row in sorted(found))
        return dump


def writers_of(table: str) -> set[str]:
    """The modules of csm (paths inside the package) whose SQL inserts into or updates ``table``."""
    import re

    import csm

    package = Path(csm.__file__).parent
    written = re.compile(rf"(UPDATE|INSERT INTO)\s+{table}\b")
    return {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if written.search(path.read_text(encoding="utf-8"))
    }


@pytest.fixture
def smtp_server() -> Iterator:
    """Start aiosmtpd servers on loopback; stop them after the test."""
    started = []

    from loopback import LoopbackController

    def start(handler, **kwargs) -> LoopbackController:
        controller = LoopbackController(handler, **kwargs)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


# A one-line email for tests that write their own playbooks: `template: test/hi.md.j2`.
HI_TEMPLATE = """\
---
subject: "{{ playbook.title }} for {{ account.name }}"
---
Hi {{ contact.first_name }}, a note from {{ csm.first_name }}.
"""


def own_book(invoke: Callable[..., Any], workspace: Path, playbooks: dict[str, str], **imports: str) -> Path:
    """The workspace with only these playbooks (file name: YAML), the test template, and each
    CSV in ``imports`` (kind: text) imported through the CLI."""
    import shutil

    shutil.rmtree(workspace / "playbooks")
    files = {f"playbooks/{name}": text for name, text in playbooks.items()}
    build_file_tree(workspace, {**files, "templates/test/hi.md.j2": HI_TEMPLATE})
    for kind, text in imports.items():
        path = workspace / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        result = invoke("-w", str(workspace), "import", kind, str(path))
        assert result.exit_code == 0, result.output
    return workspace


def settings_error(text: str) -> str:
    """The message the csm.toml ``text`` is refused with (naming its line)."""
    import tomllib

    from csm.errors import WorkspaceError
    from csm.workspace import parse_settings

    with pytest.raises(WorkspaceError) as caught:
        parse_settings(tomllib.loads(text), "csm.toml", text)
    return str(caught.value)


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real IMAP server on loopback (Dovecot, see tests/imap_server.py). Skips without it, except
    under CI (CI=true), where a Dovecot that cannot start fails the tests."""
    import os

    import imap_server

    try:
        server = imap_server.start(tmp_path_factory.mktemp("dovecot"))
    except imap_server.Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the IMAP tests need Dovecot: {exc}")
        pytest.skip(f"the IMAP tests need Dovecot: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator:
    """A throwaway PostgreSQL cluster (tests/pg_server.py), once per session. Skips loudly without
    one, except under CI (CI=true), where a server that cannot start fails the tests."""
    import os

    import pg_server

    try:
        import psycopg  # noqa: F401

        cluster = pg_server.PgCluster()
    except (ImportError, RuntimeError) as exc:
        reason = f"PostgreSQL tests need a server (apt-get install postgresql) and psycopg: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_database(pg_cluster: Any) -> Iterator[Callable[..., str]]:
    """Makes fresh PostgreSQL databases (empty, or copies of a template URL) for one test, dropped
    when it ends: a cluster keeping every test's database grows by gigabytes, and removing them
    all at the end of the session takes minutes."""
    made: list[str] = []

    def make(template: str | None = None) -> str:
        made.append(pg_cluster.new_database(template=template))
        return made[-1]

    yield make
    for url in made:
        pg_cluster.drop(url)


@pytest.fixture(scope="session")
def _pg_empty_template(pg_cluster: Any) -> str:
    """A migrated, empty csm database each PostgreSQL workspace is cloned from (no migrating per test)."""
    from csm.data import store

    url = pg_cluster.new_database()
    store.connect(url, create=True).close()
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The one parameter that runs a store-dependent test on each backend: ``database``, ``db``,
    ``workspace`` and ``demo`` all follow it."""
    return request.param


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a store test's database lives: a SQLite file, or a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        return str(tmp_path / "csm.db")
    return request.getfixturevalue("pg_database")()


@pytest.fixture
def db(database: str) -> Iterator[Any]:
    """An empty, migrated csm database on each backend (the ``database`` parameter)."""
    from csm.data import store

    conn = store.connect(database, create=True)
    yield conn
    conn.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="both",
        help="run the store-dependent tests on this backend only (default: both)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): the test is about SQLite itself (its file, its locks); "
        "its PostgreSQL parameter is skipped with the reason",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--backend`` deselects the other backend; on PostgreSQL, ``sqlite_only`` skips and
    ``PG_PENDING`` marks a strict xfail."""
    only = config.getoption("--backend")
    kept, dropped = [], []
    for item in items:
        on = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        if only != "both" and on and on != only:
            dropped.append(item)
            continue
        kept.append(item)
        if on != "postgresql":
            continue
        sqlite_only = item.get_closest_marker("sqlite_only")
        if sqlite_only:
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {sqlite_only.args[0]}"))
            continue
        pending = PG_PENDING.get(item.nodeid) or PG_PENDING.get(item.nodeid.split("[")[0])
        if pending:
            item.add_marker(pytest.mark.xfail(reason=f"pending on PostgreSQL: {pending}", strict=True))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

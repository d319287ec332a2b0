"""Shared fixtures: isolated environment, workspaces in tmp_path, a CLI runner."""

from __future__ import annotations

import datetime as dt
import sqlite3
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

if TYPE_CHECKING:
    from csm.runtime import Runtime

TODAY = "2026-11-23"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's workspace, owner, editor or terminal width."""
    for name in ("CSM_WORKSPACE", "CSM_OWNER", "EDITOR", "VISUAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    """An empty database in tmp_path."""
    from csm.data import store

    return store.connect(tmp_path / "csm.db", create=True)


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
def workspace(tmp_path: Path) -> Path:
    """An empty workspace with the built-ins, "today" pinned."""
    from csm.init import create

    root = create(tmp_path / "ws", me="dana@northwind-cs.example", name="Dana Reyes")
    settings = root / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace('# today = "2026-11-25"', f'today = "{TODAY}"'),
        encoding="utf-8",
    )
    return root


def open_workspace(workspace: Path, today: dt.date, playbooks: dict[str, str] | None = None) -> Runtime:
    """The workspace's runtime as of ``today``, with these playbooks (file name: YAML) added first."""
    from csm import workspace as workspace_mod
    from csm.runtime import open_runtime

    for name, text in (playbooks or {}).items():
        (workspace / "playbooks" / name).write_text(text, encoding="utf-8")
    return open_runtime(workspace_mod.load(explicit=workspace), today)


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csm.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo-template") / "demo").root


@pytest.fixture
def demo(_demo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the deterministic demo workspace (today pinned to 2026-11-23)."""
    import shutil

    return Path(shutil.copytree(_demo_template, tmp_path / "demo"))


def rows(demo: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows a query returns from the workspace's database, read by a connection of its own."""
    conn = sqlite3.connect(demo / "csm.db")
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def first_draft(demo: Path, status: str = "draft") -> int:
    return rows(demo, "SELECT min(id) FROM outbox WHERE status = ?", status)[0][0]


def db_dump(path: Path) -> list[str]:
    """Every row of a database, for "nothing changed" assertions."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


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


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store test's database lives: a SQLite file, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "csm.db")
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def db(database: str) -> Iterator[Any]:
    """An empty, migrated csm database on each backend (the ``database`` parameter)."""
    from csm.data import store

    conn = store.connect(database, create=True)
    yield conn
    conn.close()

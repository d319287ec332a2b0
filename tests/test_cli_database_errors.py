"""SQLite failing under a command: a full disk, a read-only or a locked database.

Each is real SQLite behaviour, not a mocked error: a page limit on the
connection (``PRAGMA max_page_count``) fills the "disk", ``PRAGMA query_only``
makes the file read-only (the tests run as root, so file modes would not), and
a second process holds the write lock. Every command gets one clear
``Error: ...`` naming the database file, exit 1, no traceback, nothing lost.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from csm.data import store

COMMANDS = [
    ("approve", "--playbook", "onboarding"),
    ("send",),
    ("unsubscribe", "someone@example.com"),
    ("skip", "1", "--reason", "not now"),
    ("run", "--quiet"),
]


def after_connect(monkeypatch: pytest.MonkeyPatch, pragma: Callable[[sqlite3.Connection], None]) -> None:
    """Every database csm opens from here on gets ``pragma`` applied (the test hook)."""
    connect = store.connect

    def connect_then(path: Path, **options: Any) -> sqlite3.Connection:
        conn = connect(path, **options)
        pragma(conn)
        return conn

    monkeypatch.setattr(store, "connect", connect_then)


def written(database: Path) -> list[Any]:
    """Every row of the tables these commands write (a full dump of the demo takes seconds)."""
    conn = sqlite3.connect(database)
    try:
        tables = ("outbox", "deliveries", "suppressions", "contacts", "timeline", "tasks", "matches")
        return [conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables]
    finally:
        conn.close()


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output and "OperationalError" not in result.output


@pytest.fixture(scope="module")
def _approved_template(_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from csm.cli import app

    root = Path(shutil.copytree(_demo_template, tmp_path_factory.mktemp("approved") / "demo"))
    runner = CliRunner()
    assert runner.invoke(app, ["-w", str(root), "run", "--quiet"]).exit_code == 0
    assert (
        "Approved 17" in runner.invoke(app, ["-w", str(root), "approve", "--playbook", "onboarding"]).stdout
    )
    return root


@pytest.fixture
def approved(_approved_template: Path, tmp_path: Path) -> Path:
    """The demo with its 17 onboarding drafts approved (a fresh copy for each test)."""
    return Path(shutil.copytree(_approved_template, tmp_path / "demo"))


FULL_DISK = """
import sqlite3, sys
from csm.data import store
from csm.cli import main

connect = store.connect

def connect_with_no_room(path, **options):
    conn = connect(path, **options)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # one more page, then the disk is full
    return conn

store.connect = connect_with_no_room
sys.argv = ["csm", *sys.argv[1:]]
main()
"""


def test_a_full_disk_mid_send_is_one_clear_error_and_loses_nothing(approved: Path, invoke: Any) -> None:
    database = approved / "csm.db"
    with closing(sqlite3.connect(database)) as conn:
        before = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
    full = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "-w", str(approved), "send"], capture_output=True, text=True
    )
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr and "OperationalError" not in full.stderr
    assert " ".join(full.stderr.split()).startswith(
        f"Error: the database {database} cannot grow: the disk it is on is full"
    )
    assert "Nothing was lost" in full.stderr

    rest = invoke("-w", str(approved), "send", "--json")  # space is free again
    assert rest.exit_code in (0, 3), rest.output
    report = json.loads(rest.stdout)
    with closing(sqlite3.connect(database)) as conn:
        final = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
        handed_over = {
            a for (a,) in conn.execute("SELECT address FROM deliveries WHERE status IN ('sent', 'unknown')")
        }
    files = [p.name.split("-to-")[-1].removesuffix(".eml") for p in (approved / "outbox-eml").glob("*.eml")]
    assert sum(final.values()) == sum(before.values())
    assert final.get("approved", 0) == final.get("sending", 0) == 0  # each went, or waits on a person
    assert final["sent"] + final.get("unknown", 0) == before["sent"] + before["approved"]
    assert sorted(files) == sorted(handed_over)  # every copy written is recorded, none twice
    assert len(report["recovered_unknown"]) == final.get("unknown", 0)
    assert rest.exit_code == (3 if final.get("unknown") else 0)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_read_only_database_is_one_clear_error(
    approved: Path, invoke: Any, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    database = approved / "csm.db"
    before = written(database)
    after_connect(monkeypatch, lambda conn: conn.execute("PRAGMA query_only = ON"))
    result = invoke("-w", str(approved), *command)
    assert result.exit_code == 1, result.output
    no_traceback(result)
    assert result.stderr.startswith(f"Error: cannot write the database {database}: it is read-only")
    assert "Let this user write the file and its folder" in result.stderr
    assert written(database) == before


@pytest.fixture
def locked(approved: Path) -> Iterator[Path]:
    """Another process holds the database's write lock for the length of the test."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "conn.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
            str(approved / "csm.db"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    yield approved
    holder.communicate("")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_locked_database_is_one_clear_error_after_the_busy_timeout(
    locked: Path, invoke: Any, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    database = locked / "csm.db"
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    before = written(database)  # WAL: reading goes on while another process writes
    result = invoke("-w", str(locked), *command)
    assert result.exit_code == 1, result.output
    no_traceback(result)
    assert result.stderr.startswith(
        f"Error: the database {database} is locked: another process held it for more than 0.2 s"
    )
    assert "Another csm (a cron job?) or a database tool is writing to it" in result.stderr
    assert written(database) == before

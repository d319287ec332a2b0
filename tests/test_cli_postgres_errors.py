"""PostgreSQL failing under a command: one clear `Error:` naming the database (password hidden), exit 1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from csm.data import store


def _workspace_on(tmp_path: Path, url: str, password_env: str | None = None) -> Path:
    """A workspace whose csm.toml names ``url``, written by hand: the server may not even exist."""
    from csm.init import create

    root = create(tmp_path / "ws")
    settings = root / "csm.toml"
    text = settings.read_text(encoding="utf-8").replace('database = "csm.db"', f'database = "{url}"')
    if password_env:
        text = f'database_password_env = "{password_env}"\n{text}'
    settings.write_text(text, encoding="utf-8")
    return root


def _fails(invoke: Any, root: Path) -> str:
    result = invoke("-w", str(root), "--today", "2026-12-07", "report", "--json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


def _url_with(url: str, *, user: str | None = None, database: str | None = None) -> str:
    if user is not None:
        url = re.sub(r"^postgresql://[^@]*@", f"postgresql://{user}@", url)
    if database is not None:
        url = re.sub(r"@/[^?]*", f"@/{database}", url)
    return url


def test_a_server_that_is_not_there(invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSM_TEST_DB_PASSWORD", "hunter2")
    url = f"postgresql://csm@/book?host={tmp_path / 'no-server-here'}"
    output = _fails(invoke, _workspace_on(tmp_path, url, "CSM_TEST_DB_PASSWORD"))
    assert f"Error: cannot connect to {url}" in output
    assert "Check the server is up" in output
    assert "hunter2" not in output


def test_a_database_that_does_not_exist(pg_cluster: Any, invoke: Any, tmp_path: Path) -> None:
    url = _url_with(pg_cluster.new_database(), database="no_such_book")
    output = _fails(invoke, _workspace_on(tmp_path, url))
    assert f"Error: the database {url} does not exist on that server" in output
    assert "CREATE DATABASE" in output


def test_a_login_the_server_refuses(pg_cluster: Any, invoke: Any, tmp_path: Path) -> None:
    url = _url_with(pg_cluster.new_database(), user="nobody_here")
    output = _fails(invoke, _workspace_on(tmp_path, url))
    assert f"Error: the database {url} refused the login" in output
    assert "PGPASSWORD or ~/.pgpass" in output


def test_a_login_without_rights_on_the_tables(pg_cluster: Any, invoke: Any, tmp_path: Path) -> None:
    url = pg_cluster.new_database()
    store.connect(url).close()  # csm's tables, owned by the cluster's administrator
    admin = store.connect(url)
    admin.execute(  # roles are the cluster's, shared by the session's tests
        "DO $$ BEGIN CREATE ROLE csm_reader_nogrant LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    admin.close()
    reader = _url_with(url, user="csm_reader_nogrant")
    output = _fails(invoke, _workspace_on(tmp_path, reader))
    assert f"Error: the database {reader}: permission denied to this login" in output
    assert "grant this login" in output


def test_a_lock_held_past_the_timeout(
    pg_cluster: Any, invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_cluster.new_database()
    holder = store.connect(url)
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE csm_schema IN ACCESS EXCLUSIVE MODE")  # every command reads it first
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    try:
        output = _fails(invoke, _workspace_on(tmp_path, url))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert f"Error: the database {url} is busy" in output
    assert "Nothing was lost" in output

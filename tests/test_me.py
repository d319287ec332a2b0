"""Who "me" is for `csm today`, `csm review` and `csm task list`: CSM_OWNER, else csm.toml's `me`,
else on PostgreSQL the database login, mapped to an owner by `[owners."ADDRESS"] login` or
being an owner's address itself. On both backends where the database matters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from csm.data import store
from csm.data.backend import dialect_of
from csm.runtime import Runtime
from csm.workspace import Workspace, parse_settings

TODAY = dt.date(2026, 11, 23)
DANA = "dana@northbeam.example"
OWNERS = {DANA: {"name": "Dana Reyes", "login": "dana"}, "sam@northbeam.example": {"name": "Sam Okafor"}}


def me_of(conn: Any, tmp_path: Path, **settings: Any) -> str | None:
    ws = Workspace(tmp_path, parse_settings(settings, "csm.toml"))
    return Runtime(ws, conn, TODAY).me


def test_csm_owner_comes_first_then_the_me_setting(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert me_of(db, tmp_path, me=DANA, owners=OWNERS) == DANA
    monkeypatch.setenv("CSM_OWNER", "sam@northbeam.example")
    assert me_of(db, tmp_path, me=DANA, owners=OWNERS) == "sam@northbeam.example"


def test_a_sqlite_file_has_no_login_so_no_me_without_the_settings(conn: Any, tmp_path: Path) -> None:
    assert dialect_of(conn).login(conn) is None
    assert me_of(conn, tmp_path, owners=OWNERS) is None


@pytest.fixture
def team_db(pg_cluster: Any) -> str:
    """A PostgreSQL database with accounts owned by Dana, Sam and Kim (whose login is her address)."""
    url = pg_cluster.new_database()
    with store.connect(url, create=True) as conn, store.transaction(conn):
        conn.executemany(
            "INSERT INTO accounts (id, name, owner) VALUES (?, ?, ?)",
            [
                ("A1", "Acme", DANA),
                ("A2", "Beta", "sam@northbeam.example"),
                ("A3", "Cedar", "kim@northbeam.example"),
            ],
        )
    return url


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        ("dana", DANA),  # [owners."dana@northbeam.example"] login = "dana"
        ("kim@northbeam.example", "kim@northbeam.example"),  # the login is the address the accounts use
        ("sam@northbeam.example", "sam@northbeam.example"),  # ...or an [owners] address
        ("csm_team", None),  # a shared login is nobody: the whole book, as without a `me`
    ],
)
def test_on_postgresql_the_login_is_me_when_the_settings_say_nobody(
    pg_cluster: Any,
    team_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    login: str,
    expected: str | None,
) -> None:
    with store.connect(pg_cluster.as_login(team_db, login)) as conn:
        assert dialect_of(conn).login(conn) == login
        assert me_of(conn, tmp_path, owners=OWNERS) == expected
        # the settings still come first
        assert me_of(conn, tmp_path, me="sam@northbeam.example", owners=OWNERS) == "sam@northbeam.example"
        monkeypatch.setenv("CSM_OWNER", DANA)
        assert me_of(conn, tmp_path, owners=OWNERS) == DANA


def test_an_owner_s_login_must_be_text(tmp_path: Path) -> None:
    from csm.errors import WorkspaceError

    with pytest.raises(
        WorkspaceError,
        match=r"setting 'owners.dana@northbeam.example.login': expected a database login, got 7",
    ):
        parse_settings({"owners": {DANA: {"name": "Dana", "login": 7}}}, "csm.toml")

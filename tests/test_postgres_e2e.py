"""A team's workspace on PostgreSQL, end to end through the CLI: the demo built there, then the
commands a CSM runs on it. One workspace per module (the demo takes ~30 s to build and copy).

To extend after a merge: add a test taking ``team`` (the workspace folder) and ``csm`` (runs
`csm -w TEAM --today 2026-11-23 ARGS...` and returns the result), and assert what the same
command shows on the SQLite demo. A command not working on PostgreSQL yet is marked
strict-xfail (``_PENDING_...``) with the branch that ports it, so it fails the day it starts to pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from csm.cli import app


@pytest.fixture(scope="module")
def team(pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    url = pg_cluster.new_database()
    root = tmp_path_factory.mktemp("team") / "book"
    result = CliRunner().invoke(app, ["demo", str(root), "--database", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root, url


@pytest.fixture
def csm(team: tuple[Path, str]) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        return CliRunner().invoke(
            app, ["-w", str(team[0]), "--today", "2026-11-23", *args], catch_exceptions=False
        )

    return run


def test_the_demo_lives_in_postgresql(team: tuple[Path, str], csm: Callable[..., Any]) -> None:
    root, url = team
    assert not (root / "csm.db").exists()
    assert f'database = "{url}"' in (root / "csm.toml").read_text(encoding="utf-8")
    paths = csm("paths", "--json")
    assert paths.exit_code == 0, paths.output
    assert json.loads(paths.output)["database"] == url


def test_a_team_database_copies_back_to_a_solo_file_unchanged(
    team: tuple[Path, str], demo: Path, tmp_path: Path, csm: Callable[..., Any]
) -> None:
    """The PostgreSQL demo holds exactly the SQLite demo's rows: same counts, same checksums."""
    back = csm("db", "copy", team[1], str(tmp_path / "solo.db"), "--json")
    assert back.exit_code == 0, back.output
    original = csm("db", "copy", str(demo / "csm.db"), str(tmp_path / "again.db"), "--json")
    assert original.exit_code == 0, original.output
    assert json.loads(back.output)["tables"] == json.loads(original.output)["tables"]


def test_account(csm: Callable[..., Any]) -> None:
    result = csm("account", "A1001", "--json")
    assert result.exit_code == 0, result.output


def on_sqlite(demo: Path, *args: str) -> Any:
    """What the same command gives on the SQLite demo."""
    result = CliRunner().invoke(
        app, ["-w", str(demo), "--today", "2026-11-23", *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_report(csm: Callable[..., Any], demo: Path) -> None:
    result = csm("report", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["steps"] and report == on_sqlite(demo, "report", "--json")


def test_the_report_page(csm: Callable[..., Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = csm("report", "--html", str(page))
    assert result.exit_code == 0, result.output
    assert "<svg" in page.read_text(encoding="utf-8")


def test_health_of_the_book_and_of_an_account(csm: Callable[..., Any], demo: Path) -> None:
    """`csm health` takes today's snapshot on the server and explains the numbers SQLite does."""
    book = csm("health", "--json")
    assert book.exit_code == 0, book.output
    assert json.loads(book.output) == on_sqlite(demo, "health", "--json")
    one = csm("health", "A1001", "--json")
    assert one.exit_code == 0, one.output
    explained = json.loads(one.output)
    assert explained["parts"] and explained == on_sqlite(demo, "health", "A1001", "--json")
    shown = csm("health", "A1001")
    assert shown.exit_code == 0 and "A1001" in shown.output


_PENDING_PGSEQ = pytest.mark.xfail(
    strict=True,
    reason="branch pgseq ports what a writing run needs next: the run's fingerprint (PRAGMA schema_version"
    " in csm/engine/incremental.py) and the follow-up steps' SQL (csm/engine/sequences.py)",
)


@_PENDING_PGSEQ
def test_a_writing_run_then_the_morning(csm: Callable[..., Any], demo: Path) -> None:
    """Last in this module: it drafts into the team's database (the tests above read it unchanged)."""
    ran = csm("run", "--json")
    assert ran.exit_code == 0, ran.output
    added = json.loads(ran.output)["added"]
    assert added and _what(added, "account_id") == _what(
        on_sqlite(demo, "run", "--json")["added"], "account_id"
    )
    today = csm("today", "--json")
    assert today.exit_code == 0, today.output
    assert _what(json.loads(today.output)["drafts"], "account") == _what(
        on_sqlite(demo, "today", "--json")["drafts"], "account"
    )


def _what(items: list[dict[str, Any]], account: str) -> list[tuple[str, str, str]]:
    """Each draft or task by playbook, step and account (ids may differ between the databases)."""
    return sorted((i["playbook"], i["step"], i[account]) for i in items)

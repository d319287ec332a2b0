"""Fresh data or no firing: a step reading data past its [freshness] limit does not fire, and
`csm run`, `csm today` and `csm notify` say which data is stale and since when."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import build_file_tree, database_of, rows, settings_error

from csm.data import freshness
from csm.data.importer import import_records
from csm.data.store import connect, transaction
from csm.language.fields import standard_fields

ME = "dana@northwind-cs.example"
TODAY = dt.date(2026, 11, 23)
WATCH = """\
playbook: watch
title: Watch
audience: status = 'active'
steps:
  - id: low-usage
    when: usage_30d < 5
    task: { title: "Usage is low: find out why", type: call }
  - id: every-account
    when: plan = 'team'
    task: { title: "Look at the account", type: review }
"""


def _load(ws: Path, kind: str, rows: list[dict[str, Any]], day: str) -> None:
    conn = connect(database_of(ws))
    try:
        records = ((f"row {n}", row) for n, row in enumerate(rows, 1))
        import_records(conn, kind, records, source=f"{kind}.csv", now=f"{day}T07:00:00+00:00")
    finally:
        conn.close()


@pytest.fixture
def book(workspace: Path) -> Path:
    """Accounts loaded today, usage loaded 13 days ago; usage may be 3 days old at most."""
    shutil.rmtree(workspace / "playbooks")
    build_file_tree(workspace, {"playbooks/watch.yaml": WATCH})
    with (workspace / "csm.toml").open("a", encoding="utf-8") as settings:
        settings.write('\n[freshness]\nusage = "3d"\naccounts = "2d"\n')
    account = {"id": "A1", "name": "Acme", "owner": ME, "plan": "team", "status": "active"}
    _load(workspace, "accounts", [account], "2026-11-23")
    usage = [{"account_id": "A1", "metric": "active_users", "date": "2026-11-09", "value": 2}]
    _load(workspace, "usage", usage, "2026-11-10")
    return workspace


STALE_USAGE = "usage: last loaded 2026-11-10, 13 days ago (the limit is 3d)"


def test_a_step_reading_stale_data_does_not_fire_and_the_run_exits_3(book: Path, invoke: Any) -> None:
    result = invoke("-w", str(book), "run")
    assert result.exit_code == 3
    assert rows(book, "SELECT step FROM tasks") == [("every-account",)]
    assert result.stderr.splitlines()[:4] == [
        "Stale data: steps that read it do not fire.",
        f"  {STALE_USAGE}",
        "  held back: watch › low-usage",
        "  Import or sync fresh data (`csm import`, `csm sync`), then run again.",
    ]


def test_fresh_data_fires_and_exits_0(book: Path, invoke: Any) -> None:
    usage = [{"account_id": "A1", "metric": "active_users", "date": "2026-11-22", "value": 2}]
    _load(book, "usage", usage, "2026-11-22")
    result = invoke("-w", str(book), "run")
    assert result.exit_code == 0, result.output
    assert sorted(rows(book, "SELECT step FROM tasks")) == [("every-account",), ("low-usage",)]
    assert "Stale" not in result.output


def test_the_dry_run_shows_it_and_writes_nothing(book: Path, invoke: Any) -> None:
    result = invoke("-w", str(book), "run", "--dry-run")
    assert result.exit_code == 3
    assert STALE_USAGE in result.stderr
    assert "watch › low-usage  0 accounts  not evaluated: stale usage" in result.stdout
    assert rows(book, "SELECT count(*) FROM tasks") == [(0,)]
    data = json.loads(invoke("-w", str(book), "run", "--dry-run", "--json").stdout)
    assert data["stale"] == [
        {"data": "usage", "limit_days": 3, "loaded_at": "2026-11-10T07:00:00+00:00", "age_days": 13}
    ]
    assert data["held_back"] == ["watch › low-usage"]
    assert data["steps"][0]["stale"] == data["stale"]


def test_a_quiet_cron_run_still_says_it(book: Path, invoke: Any) -> None:
    result = invoke("-w", str(book), "run", "--quiet")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert STALE_USAGE in result.stderr


def test_today_leads_with_the_stale_data(book: Path, invoke: Any) -> None:
    result = invoke("-w", str(book), "today")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1:5] == [
        "",
        "Stale data: steps that read it did not fire today.",
        f"  {STALE_USAGE}",
        "  held back: watch › low-usage",
    ]
    data = json.loads(invoke("-w", str(book), "today", "--json").stdout)
    assert data["stale"][0]["summary"] == STALE_USAGE
    assert data["held_back"] == ["watch › low-usage"]


def test_notify_opens_the_digest_with_it(book: Path, invoke: Any) -> None:
    result = invoke("-w", str(book), "notify", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:3] == [
        "⚠ *Stale data: steps that read it do not fire until it is imported again*",
        f"    ◦ {STALE_USAGE}",
    ]


def test_a_kind_never_loaded_is_stale(workspace: Path) -> None:
    with closing(connect(database_of(workspace))) as conn:
        stale = freshness.stale_data(conn, {"contacts": 7}, {}, TODAY)
        assert [str(s) for s in stale["contacts"]] == ["contacts: never loaded (the limit is 7d)"]
        assert freshness.stale_data(conn, {}, {}, TODAY) == {}  # off unless set


def test_a_sync_refreshes_the_kinds_its_source_supplies_and_a_stale_source_blocks_them(
    workspace: Path,
) -> None:
    from csm.data import timeline

    with closing(connect(database_of(workspace))) as conn:
        with transaction(conn):
            timeline.record(
                conn, None, "import", "imported usage.csv", "2026-11-01T07:00:00+00:00", "import:usage"
            )
            timeline.record(conn, None, "sync", "synced crm", "2026-11-22T07:00:00+00:00", "sync:crm")
        supplies = {"crm": ["accounts", "usage"]}
        assert freshness.stale_data(conn, {"usage": 3}, supplies, TODAY) == {}  # the sync counts
        stale = freshness.stale_data(conn, {"source:crm": 0}, supplies, TODAY)
        assert set(stale) == {"accounts", "usage"}
        assert (
            str(stale["usage"][0]) == "sync source 'crm': last synced 2026-11-22, 1 day ago (the limit is 0d)"
        )


FIELDS = standard_fields()


@pytest.mark.parametrize(
    ("field", "kinds"),
    [
        ("usage_30d", {"usage"}),
        ("usage.integrations", {"usage"}),
        ("health", {"accounts", "usage"}),
        ("days_to_renewal", {"accounts"}),
        ("days_since_touch", {"accounts"}),  # the start date when never touched
        ("last_touch_at", set()),  # csm's own timeline: always current
        ("id", set()),
    ],
)
def test_the_kinds_a_field_reads(field: str, kinds: set[str]) -> None:
    assert freshness.kinds_read(FIELDS.sql(field)) == kinds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[freshness]\nacounts = "2d"\n',
            "csm.toml:2: setting 'freshness.acounts': unknown data kind (did you mean 'accounts'?)",
        ),
        (
            '[freshness]\nusage = "3 days"\n',
            "csm.toml:2: setting 'freshness.usage': expected an age like \"2d\" or \"1w\", got '3 days'",
        ),
        (
            '[freshness.sources]\ncmr = "1d"\n',
            "csm.toml:2: setting 'freshness.sources.cmr': unknown sync source (no such [sources] table)",
        ),
    ],
)
def test_freshness_settings_are_checked_with_their_line(text: str, message: str) -> None:
    assert settings_error(text) == message


def test_explain_names_the_stale_data_a_step_reads(book: Path, invoke) -> None:
    result = invoke("-w", str(book), "explain", "A1", "watch", "--json")
    assert result.exit_code == 0, result.output
    steps = {s["step"]: s for s in json.loads(result.stdout)["steps"]}
    held = [r for r in steps["low-usage"]["reasons"] if r["kind"] == "stale"]
    assert [r["message"] for r in held] == [f"held back: it reads stale data ({STALE_USAGE})"]
    assert not [r for r in steps["every-account"]["reasons"] if r["kind"] == "stale"]  # accounts are fresh

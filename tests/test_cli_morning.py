"""`csm today` through the CLI, on the demo workspace."""

from __future__ import annotations

import json
from pathlib import Path

from test_morning import JSON_KEYS

from tests.conftest import connect, rows

ME = "alex.morgan@northbeam.example"


def test_today_lists_my_book_with_reasons(invoke, demo: Path) -> None:
    result = invoke("-w", str(demo), "today")
    assert result.exit_code == 0
    out = result.stdout
    assert f"Good morning. 2026-11-23, the book of {ME}." in out
    for section in ("Drafts to review", "Tasks", "Renewals coming up", "Health falling", "Silent accounts"):
        assert section in out
    assert "at-risk › health-falling: health_change_30d=-" in out
    assert "onboarding › stalled: days_since_start=" in out
    owners = {r[0] for r in rows(demo, "SELECT DISTINCT owner FROM outbox WHERE status = 'draft'")}
    assert len(owners) == 3  # the run covers every book; today shows mine


def test_today_json_has_a_stable_schema(invoke, demo: Path) -> None:
    data = json.loads(invoke("-w", str(demo), "today", "--json").stdout)
    assert list(data) == JSON_KEYS
    assert data["today"] == "2026-11-23" and data["owner"] == ME
    draft = data["drafts"][0]
    assert set(draft) == {
        "id",
        "account",
        "account_name",
        "playbook",
        "step",
        "subject",
        "priority",
        "edited",
        "why",
        "also_to_same_person",
    }
    assert set(data["tasks"][0]) >= {"id", "account", "title", "due_date", "state", "why"}
    assert all(r["days_to_renewal"] <= 90 for r in data["renewals"])
    assert all(s["days_since_touch"] >= 60 for s in data["silent"])
    everyone = json.loads(invoke("-w", str(demo), "today", "--json", "--all", "--no-run").stdout)
    assert len(everyone["drafts"]) > len(data["drafts"])


def test_today_without_health_history_lists_usage_drops(invoke, demo: Path) -> None:
    with connect(demo) as conn:
        conn.execute("DELETE FROM health_history")
    data = json.loads(invoke("-w", str(demo), "today", "--json", "--no-run").stdout)
    assert data["renewals"] and all("health" not in r for r in data["renewals"])
    usage = data["health_drops"]
    assert usage and all(
        set(r) == {"account", "name", "owner", "usage_30d", "usage_change_30d"} for r in usage
    )
    assert all(r["usage_change_30d"] <= -0.2 for r in usage)
    assert [r["usage_change_30d"] for r in usage] == sorted(r["usage_change_30d"] for r in usage)

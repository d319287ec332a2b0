"""The CSM's morning through the CLI, on the demo workspace."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import db_dump

ME = "alex.morgan@northbeam.example"


def rows(demo: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(demo / "csm.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def first_draft(demo: Path, status: str = "draft") -> int:
    return rows(demo, "SELECT min(id) FROM outbox WHERE status = ?", status)[0][0]


def test_dry_run_shows_matches_and_writes_nothing(invoke, demo: Path) -> None:
    before = db_dump(demo / "csm.db")
    result = invoke("-w", str(demo), "run", "--dry-run", "renewal-ahead")
    assert result.exit_code == 0
    assert "renewal-ahead › heads-up  15 accounts  when days_to_renewal between 91 and 120" in result.stdout
    assert "Dry run as of 2026-11-23: nothing was written." in result.stdout
    assert db_dump(demo / "csm.db") == before


def test_dry_run_shows_limit_rows_and_counts_the_rest(invoke, demo: Path) -> None:
    shown = invoke(
        "-w", str(demo), "run", "--dry-run", "--limit", "3", "renewal-ahead", "adoption-milestones"
    )
    assert shown.exit_code == 0
    full = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "renewal-ahead").stdout)
    heads_up = next(s for s in full["steps"] if s["step"] == "heads-up")
    assert len(heads_up["matches"]) == 15
    section = shown.stdout.split("renewal-ahead › heads-up")[1].split("renewal-ahead › check-in")[0]
    assert "15 accounts" in section and "… and 12 more" in section
    assert [m["account"] for m in heads_up["matches"][:3]] == re.findall(r"^(A\d+) ", section, re.M)
    # The values shown are computed for the kept rows alone; they are the ones --json gives.
    shown_days = [int(d) for d in re.findall(r"^A\d+ .* (\d+)$", section, re.M)]
    assert shown_days == [m["values"]["days_to_renewal"] for m in heads_up["matches"][:3]]
    held = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "adoption-milestones").stdout)
    first = next(s for s in held["steps"] if s["step"] == "roll-out-help")
    assert first["held_out"] and f"+{len(first['held_out'])} held out" in shown.stdout


def test_run_queues_once_and_reruns_add_nothing(invoke, demo: Path) -> None:
    pending = (
        "SELECT (SELECT count(*) FROM outbox WHERE status = 'draft'),"
        " (SELECT count(*) FROM tasks WHERE status = 'open')"
    )
    assert rows(demo, pending)[0] == (0, 0)  # the demo's summer history is all worked
    first = invoke("-w", str(demo), "run")
    assert first.exit_code == 0
    drafts, tasks = rows(demo, pending)[0]
    assert drafts > 50 and tasks > 30
    assert f"Added {drafts} drafts and {tasks} tasks as of 2026-11-23." in first.stdout
    again = invoke("-w", str(demo), "run")
    assert "Added 0 drafts and 0 tasks as of 2026-11-23." in again.stdout
    assert rows(demo, pending)[0] == (drafts, tasks)


def test_two_runs_at_once_add_nothing_twice(demo: Path) -> None:
    env = {**os.environ, "CSM_WORKSPACE": str(demo)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "csm", "run", "--quiet"], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    keys = rows(demo, "SELECT dedupe_key, count(*) FROM outbox GROUP BY dedupe_key HAVING count(*) > 1")
    assert keys == []
    single = subprocess.run(
        [sys.executable, "-m", "csm", "run", "--json"], env=env, capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr
    assert json.loads(single.stdout)["added"] == []


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
    assert set(data) == {"today", "owner", "replies", "drafts", "tasks", "renewals", "health_drops", "silent"}
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
    with sqlite3.connect(demo / "csm.db") as conn:
        conn.execute("DELETE FROM health_history")
    data = json.loads(invoke("-w", str(demo), "today", "--json", "--no-run").stdout)
    assert data["renewals"] and all("health" not in r for r in data["renewals"])
    usage = data["health_drops"]
    assert usage and all(
        set(r) == {"account", "name", "owner", "usage_30d", "usage_change_30d"} for r in usage
    )
    assert all(r["usage_change_30d"] <= -0.2 for r in usage)
    assert [r["usage_change_30d"] for r in usage] == sorted(r["usage_change_30d"] for r in usage)


def test_approve_skip_and_bad_states(invoke, demo: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    draft = first_draft(demo)
    assert invoke("-w", str(demo), "approve", str(draft)).exit_code == 0
    again = invoke("-w", str(demo), "approve", str(draft))
    assert again.exit_code == 0
    assert again.stdout == f"#{draft} is already approved.\n"
    other = first_draft(demo)
    skipped = invoke("-w", str(demo), "skip", str(other), "--reason", "spoke to them yesterday")
    assert skipped.exit_code == 0
    assert rows(demo, "SELECT status, reason FROM outbox WHERE id = ?", other) == [
        ("skipped", "spoke to them yesterday")
    ]
    refused = invoke("-w", str(demo), "approve", str(other))
    assert refused.exit_code == 1
    assert f"Error: draft #{other} is skipped; only draft drafts can be approved" in refused.stderr
    missing = invoke("-w", str(demo), "approve", "99999")
    assert missing.exit_code == 1 and "Error: no draft #99999" in missing.stderr


def test_approve_by_playbook(invoke, demo: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    waiting = rows(demo, "SELECT count(*) FROM outbox WHERE playbook = 'renewal-ahead' AND status = 'draft'")[
        0
    ][0]
    result = invoke("-w", str(demo), "approve", "--playbook", "renewal-ahead")
    assert f"Approved {waiting} drafts." in result.stdout
    assert invoke("-w", str(demo), "approve").exit_code == 2


def test_edit_through_a_scripted_editor_keeps_the_original(
    invoke, demo: Path, tmp_path: Path, monkeypatch
) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    draft = first_draft(demo)
    (original,) = rows(demo, "SELECT subject FROM outbox WHERE id = ?", draft)
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\nt = p.read_text()\n"
        "p.write_text(t.replace('Subject: ', 'Subject: [edited] ', 1) + '\\nPS: see you Tuesday.\\n')\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    result = invoke("-w", str(demo), "edit", str(draft))
    assert result.exit_code == 0, result.output
    subject, body, edited, kept = rows(
        demo, "SELECT subject, body, edited, original_subject FROM outbox WHERE id = ?", draft
    )[0]
    assert subject == "[edited] " + original[0] and edited == 1 and kept == original[0]
    assert body.rstrip().endswith("PS: see you Tuesday.")


def test_an_edit_that_empties_the_subject_is_refused(invoke, demo: Path, tmp_path: Path, monkeypatch) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    draft = first_draft(demo)
    before = rows(demo, "SELECT subject, body, edited FROM outbox WHERE id = ?", draft)
    script = tmp_path / "blank.py"
    script.write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('Subject:   \\n\\nhello\\n')\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    result = invoke("-w", str(demo), "edit", str(draft))
    assert result.exit_code == 1
    assert f"Error: draft #{draft}: the subject is empty" in result.stderr
    assert rows(demo, "SELECT subject, body, edited FROM outbox WHERE id = ?", draft) == before


def test_review_refuses_without_a_terminal(invoke, demo: Path) -> None:
    result = invoke("-w", str(demo), "review")
    assert result.exit_code == 2
    assert "csm review needs a terminal" in result.stderr
    assert "csm approve ID" in result.stderr


def test_account_view(invoke, demo: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    account = rows(demo, "SELECT account_id FROM outbox WHERE status = 'draft' ORDER BY id LIMIT 1")[0][0]
    result = invoke("-w", str(demo), "account", account)
    assert result.exit_code == 0
    name = rows(demo, "SELECT name FROM accounts WHERE id = ?", account)[0][0]
    out = result.stdout
    assert out.startswith(f"{name} ({account})")
    assert "Contacts" in out and "Timeline" in out and "draft #" in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")  # the trend sparkline
    missing = invoke("-w", str(demo), "account", "NOPE")
    assert missing.exit_code == 1 and "Error: no account 'NOPE'" in missing.stderr


@pytest.mark.parametrize("status", ["draft", "bogus"])
def test_outbox_listing(invoke, demo: Path, status: str) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    result = invoke("-w", str(demo), "outbox", "--status", status, "--json")
    if status == "bogus":
        assert result.exit_code == 1 and "Error: unknown status 'bogus'" in result.stderr
    else:
        items = json.loads(result.stdout)
        assert items and all(i["status"] == "draft" for i in items)
        shown = invoke("-w", str(demo), "show", str(items[0]["id"]))
        assert f"Subject: {items[0]['subject']}" in shown.stdout and "Why:" in shown.stdout

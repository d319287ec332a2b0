"""`csm outbox`, `approve` and the shape of `why` in every JSON output, on the demo workspace."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

WAITING = ("draft", "approved", "unknown")  # what `csm outbox` lists by default
STATUSES = ("draft", "approved", "sending", "sent", "failed", "skipped", "unknown", "withdrawn")


def sql(demo: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(demo / "csm.db")
    try:
        with conn:
            return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def by_status(demo: Path) -> dict[str, int]:
    return dict(sql(demo, "SELECT status, count(*) FROM outbox GROUP BY status"))


@pytest.fixture
def worked(demo: Path, invoke: Any) -> Path:
    """The demo after a run, with one draft approved and one whose send outcome is unknown."""
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    drafts = sql(demo, "SELECT id FROM outbox WHERE status = 'draft' ORDER BY id LIMIT 2")
    first, second = (r[0] for r in drafts)
    assert invoke("-w", str(demo), "approve", str(first)).exit_code == 0
    sql(demo, "UPDATE outbox SET status = 'unknown' WHERE id = ?", second)
    return demo


def test_outbox_lists_what_waits_for_a_person_and_counts_the_rest(worked: Path, invoke: Any) -> None:
    counts = by_status(worked)
    assert counts["sent"] > 300 and counts["skipped"] > 50  # the demo's summer history
    result = invoke("-w", str(worked), "outbox")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "status", "account", "subject", "step"]
    listed = lines[1:-1]
    assert len(listed) == sum(counts.get(s, 0) for s in WAITING)
    assert {line.split()[1] for line in listed} == set(WAITING)
    history = ", ".join(f"{counts[s]:,} {s}" for s in STATUSES if s not in WAITING and counts.get(s))
    assert lines[-1] == f"+ {history}: csm outbox --all"
    assert lines[-1].startswith(f"+ {counts['sent']} sent, {counts['skipped']} skipped")

    default_json = json.loads(invoke("-w", str(worked), "outbox", "--json").stdout)
    assert len(default_json) == len(listed)
    assert {d["status"] for d in default_json} == set(WAITING)


def test_all_and_status_show_the_history_with_the_same_columns(worked: Path, invoke: Any) -> None:
    counts = by_status(worked)
    everything = invoke("-w", str(worked), "outbox", "--all")
    lines = everything.stdout.splitlines()
    assert len(lines) == 1 + sum(counts.values())  # a header, one line per draft, no count line
    assert lines[0].split() == ["id", "status", "account", "subject", "step"]
    items = json.loads(invoke("-w", str(worked), "outbox", "--all", "--json").stdout)
    assert len(items) == sum(counts.values())

    history = invoke("-w", str(worked), "outbox", "--status", "sent", "--status", "skipped")
    lines = history.stdout.splitlines()
    assert lines[0].split() == ["id", "status", "account", "subject", "step"]
    assert len(lines) == 1 + counts["sent"] + counts["skipped"]
    assert {line.split()[1] for line in lines[1:]} == {"sent", "skipped"}
    items = json.loads(invoke("-w", str(worked), "outbox", "--status", "sent", "--json").stdout)
    assert len(items) == counts["sent"] and {d["status"] for d in items} == {"sent"}


def test_outbox_filters_refuse_nonsense(worked: Path, invoke: Any) -> None:
    both = invoke("-w", str(worked), "outbox", "--all", "--status", "sent")
    assert both.exit_code == 2 and "give --all or --status, not both" in both.stderr
    bogus = invoke("-w", str(worked), "outbox", "--status", "sent", "--status", "snet")
    assert bogus.exit_code == 1 and "Error: unknown status 'snet'" in bogus.stderr
    none = invoke("-w", str(worked), "outbox", "--status", "failed")
    assert none.exit_code == 0 and none.stdout == "No drafts with status failed.\n"


def test_an_empty_queue_still_points_at_the_history(workspace: Path, invoke: Any) -> None:
    result = invoke("-w", str(workspace), "outbox")
    assert result.exit_code == 0 and result.stdout == "Nothing waits for a person in the outbox.\n"


def test_approving_an_approved_draft_is_a_no_op(worked: Path, invoke: Any) -> None:
    (approved, when), *_ = sql(worked, "SELECT id, updated_at FROM outbox WHERE status = 'approved'")
    again = invoke("-w", str(worked), "approve", str(approved))
    assert again.exit_code == 0
    assert again.stdout == f"#{approved} is already approved.\n"
    assert sql(worked, "SELECT status, updated_at FROM outbox WHERE id = ?", approved) == [("approved", when)]

    (draft,) = sql(worked, "SELECT min(id) FROM outbox WHERE status = 'draft'")[0]
    mixed = invoke("-w", str(worked), "approve", str(approved), str(draft))
    assert mixed.exit_code == 0
    assert mixed.stdout.splitlines() == [
        f"#{approved} is already approved.",
        "Approved 1 draft. Next: `csm send --dry-run`, then `csm send`.",
    ]
    assert sql(worked, "SELECT status FROM outbox WHERE id = ?", draft) == [("approved",)]


@pytest.mark.parametrize("status", ["sent", "skipped"])
def test_approving_a_sent_or_skipped_draft_stays_an_error(worked: Path, invoke: Any, status: str) -> None:
    (done,) = sql(worked, "SELECT min(id) FROM outbox WHERE status = ?", status)[0]
    (draft,) = sql(worked, "SELECT min(id) FROM outbox WHERE status = 'draft'")[0]
    before = by_status(worked)
    result = invoke("-w", str(worked), "approve", str(draft), str(done))
    assert result.exit_code == 1
    assert f"Error: draft #{done} is {status}; only draft drafts can be approved" in result.stderr
    assert by_status(worked) == before  # all or none


def test_why_is_one_object_in_every_json_output(worked: Path, invoke: Any) -> None:
    def run(*args: str) -> Any:
        result = invoke("-w", str(worked), *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    tasks = run("task", "list", "--all")
    today = run("today", "--all", "--no-run")
    drafts = run("outbox")
    shown = run("show", str(drafts[0]["id"]))
    account = run("account", tasks[0]["account_id"])
    whys = [
        *(t["why"] for t in tasks),
        *(t["why"] for t in today["tasks"]),
        *(d["why"] for d in today["drafts"]),
        *(d["why"] for d in drafts),
        shown["why"],
        *(t["why"] for t in account["tasks"]),
    ]
    assert whys and all(isinstance(w, dict) for w in whys)
    assert any(w for w in whys)  # the matched values, not empty objects
    same_task = {t["id"]: t["why"] for t in today["tasks"]}
    assert all(same_task[t["id"]] == t["why"] for t in tasks if t["id"] in same_task)

"""The draft queue through the CLI on the demo: outbox, approve, skip, edit, review; `why` in JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import first_draft, rows

WAITING = ("draft", "approved", "unknown")  # what `csm outbox` lists by default
STATUSES = ("draft", "approved", "sending", "sent", "failed", "skipped", "unknown", "withdrawn")


def by_status(demo: Path) -> dict[str, int]:
    return dict(rows(demo, "SELECT status, count(*) FROM outbox GROUP BY status"))


@pytest.fixture
def worked(demo: Path, invoke: Any) -> Path:
    """The demo after a run, with one draft approved and one whose send outcome is unknown."""
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    drafts = rows(demo, "SELECT id FROM outbox WHERE status = 'draft' ORDER BY id LIMIT 2")
    first, second = (r[0] for r in drafts)
    assert invoke("-w", str(demo), "approve", str(first)).exit_code == 0
    rows(demo, "UPDATE outbox SET status = 'unknown' WHERE id = ?", second)
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
    (approved, when), *_ = rows(worked, "SELECT id, updated_at FROM outbox WHERE status = 'approved'")
    again = invoke("-w", str(worked), "approve", str(approved))
    assert again.exit_code == 0
    assert again.stdout == f"#{approved} is already approved.\n"
    assert rows(worked, "SELECT status, updated_at FROM outbox WHERE id = ?", approved) == [
        ("approved", when)
    ]

    (draft,) = rows(worked, "SELECT min(id) FROM outbox WHERE status = 'draft'")[0]
    mixed = invoke("-w", str(worked), "approve", str(approved), str(draft))
    assert mixed.exit_code == 0
    assert mixed.stdout.splitlines() == [
        f"#{approved} is already approved.",
        "Approved 1 draft. Next: `csm send --dry-run`, then `csm send`.",
    ]
    assert rows(worked, "SELECT status FROM outbox WHERE id = ?", draft) == [("approved",)]


@pytest.mark.parametrize("status", ["sent", "skipped"])
def test_approving_a_sent_or_skipped_draft_stays_an_error(worked: Path, invoke: Any, status: str) -> None:
    (done,) = rows(worked, "SELECT min(id) FROM outbox WHERE status = ?", status)[0]
    (draft,) = rows(worked, "SELECT min(id) FROM outbox WHERE status = 'draft'")[0]
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

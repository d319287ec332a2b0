"""The queue drafts a run's matches a piece at a time, in one write: the outbox and the tasks
come out as one piece makes them, a template failing on one account costs only its email, and
a run that fails in a later piece leaves nothing of the earlier ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import rows

from csm.engine import drafting

# Every column but the run's own clock time (created_at, updated_at: the same run a second later).
_OUTBOX = (
    "SELECT id, dedupe_key, playbook, step, account_id, owner, to_addrs, cc, reply_to, subject, body,"
    " template, why, priority, status, reason, cc_internal, touch_budget FROM outbox ORDER BY id"
)
_TASKS = (
    "SELECT id, dedupe_key, playbook, step, account_id, owner, assignee, type, title, due_date,"
    " priority, status, note, why FROM tasks ORDER BY id"
)
# Accounts whose contacts leave, so their emails are skipped rows (with a task each).
_NOBODY = ("A1073", "A1288", "A1021", "A1308")


@pytest.fixture
def book(demo: Path) -> Path:
    """The demo before its first run of the day, with emails nobody may receive and a touch
    budget of one email a week, so a run adds drafts, skipped rows, tasks and deferrals."""
    marks = ", ".join("?" * len(_NOBODY))
    rows(demo, f"DELETE FROM contacts WHERE account_id IN ({marks})", *_NOBODY)
    settings = demo / "csm.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("max_emails = 2", "max_emails = 1"), encoding="utf-8")
    return demo


def _run(invoke: Callable[..., Any], ws: Path, monkeypatch: pytest.MonkeyPatch, at_a_time: int) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(drafting, "MATCHES_AT_A_TIME", at_a_time)
        result = invoke("-w", str(ws), "run", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("at_a_time", [1, 7])
def test_a_run_drafted_in_pieces_stores_what_one_piece_stores(
    book: Path, tmp_path: Path, copy_workspace, invoke, monkeypatch: pytest.MonkeyPatch, at_a_time: int
) -> None:
    whole = copy_workspace(book, tmp_path / "whole")
    one = _run(invoke, whole, monkeypatch, 100_000)
    pieces = _run(invoke, book, monkeypatch, at_a_time)
    assert pieces == one  # what the CSM is shown: drafts, tasks, skipped rows, deferrals, by id
    assert rows(book, _OUTBOX) == rows(whole, _OUTBOX)
    assert rows(book, _TASKS) == rows(whole, _TASKS)
    matches = "SELECT * FROM matches ORDER BY playbook, step, account_id"
    assert rows(book, matches) == rows(whole, matches)
    # The run made each kind, over many pieces, and its skipped rows come after its every draft.
    drafts = [q["id"] for q in one["added"] if q["kind"] == "draft"]
    skipped = [q["id"] for q in one["skipped"]]
    assert len(drafts) > 5 * at_a_time and len(skipped) >= 3 and one["deferred"]
    assert max(drafts) < min(skipped)
    assert {q["account_id"] for q in one["skipped"]} <= set(_NOBODY)


def test_a_template_failing_on_one_account_mid_run_costs_only_its_email(
    book: Path, tmp_path: Path, copy_workspace, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its body renders empty for one account (a TemplateError), in a piece after others were stored."""
    whole = copy_workspace(book, tmp_path / "whole")
    _run(invoke, whole, monkeypatch, 100_000)
    step = ("nurture", "first-dashboard", "A1059")
    theirs = "SELECT dedupe_key FROM {} WHERE playbook = ? AND step = ? AND account_id = ?"
    others = "SELECT dedupe_key FROM {} WHERE NOT (playbook = ? AND step = ? AND account_id = ?) ORDER BY id"
    assert rows(whole, theirs.format("outbox"), *step)
    template = book / "templates" / "nurture" / "first-dashboard.md.j2"
    front, _, body = template.read_text(encoding="utf-8").partition("\n---\n")
    condition = f"{{% if account.id != '{step[2]}' %}}"
    template.write_text(f"{front}\n---\n{condition}{body}{{% endif %}}\n", encoding="utf-8")
    pieces = _run(invoke, book, monkeypatch, 2)
    assert [(d["account"], d["reason"]) for d in pieces["not_drafted"]] == [
        (step[2], "the body renders empty")
    ]
    for table in ("outbox", "tasks"):  # nor its task: the next run tries both again
        assert rows(book, theirs.format(table), *step) == []
        assert rows(book, others.format(table), *step) == rows(whole, others.format(table), *step)


def test_a_run_failing_in_a_later_piece_leaves_nothing_of_the_earlier_ones(
    book: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = ("outbox", "tasks", "matches", "timeline")
    before = {t: rows(book, f"SELECT * FROM {t}") for t in tables}
    calls: list[str] = []
    real = drafting.draft

    def fails_late(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[5].account_id)  # the match
        if len(calls) == 30:
            raise RuntimeError("the disk went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(drafting, "draft", fails_late)
    monkeypatch.setattr(drafting, "MATCHES_AT_A_TIME", 4)
    with pytest.raises(RuntimeError, match="the disk went away"):
        invoke("-w", str(book), "run")
    assert len(calls) == 30  # pieces were stored before it: their rows are gone with the rest
    assert {t: rows(book, f"SELECT * FROM {t}") for t in tables} == before

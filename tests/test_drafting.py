"""Drafting: a step match becomes a rendered draft (or a skip and a task), stored once per key."""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csm.data.store import transaction
from csm.engine import drafting
from csm.engine.context import context
from csm.engine.drafting import Draft, QueueReport, Unaddressed, queue
from csm.engine.matching import Match, StepResult, account_rows, evaluate
from csm.engine.recipients import NO_RECIPIENT, Recipient, account_contacts
from csm.runtime import Runtime
from tests.conftest import open_workspace

TODAY = dt.date(2026, 11, 23)

PLAYBOOK = """\
playbook: care
title: Care
steps:
  - id: call
    title: Check in
    when: status = 'active'
    email: {template: at-risk/check-in.md.j2, to: [champion]}
    task: {title: Call them, due_in: 3d}
"""


@pytest.fixture
def rt(workspace: Path) -> Iterator[Runtime]:
    """Two active accounts: Acme has a champion, Beta has nobody in that role."""
    with open_workspace(workspace, TODAY, {"care.yaml": PLAYBOOK}) as rt:
        with transaction(rt.conn):
            rt.conn.execute(
                "INSERT INTO accounts (id, name, owner, status, start_date, renewal_date) VALUES "
                "  ('A1', 'Acme', 'dana@northwind-cs.example', 'active', '2025-01-01', '2027-06-01'), "
                "  ('A2', 'Beta', 'dana@northwind-cs.example', 'active', '2025-01-01', '2027-06-01')"
            )
            rt.conn.execute(
                "INSERT INTO contacts (account_id, email, name, role, is_primary) VALUES "
                "  ('A1', 'kim@acme.example', 'Kim Park', 'champion', 1), "
                "  ('A2', 'lee@beta.example', 'Lee', 'admin', 1)"
            )
        yield rt


def _results(rt: Runtime) -> list[StepResult]:
    return evaluate(rt.conn, rt.playbooks(["care"]), rt.fields, rt.params, rt.today)


def _queue(rt: Runtime) -> QueueReport:
    return queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, _results(rt), rt.today, rt.now())


def _account(rt: Runtime, account_id: str) -> dict[str, Any]:
    return account_rows(rt.conn, rt.fields, rt.params, [account_id])[account_id]


def _draft_for(rt: Runtime, account_id: str) -> Draft | Unaddressed:
    [result] = _results(rt)
    match = next(m for m in result.matches if m.account_id == account_id)
    account = _account(rt, account_id)
    contacts = account_contacts(rt.conn, [account_id]).get(account_id, [])
    return drafting.draft(rt.ws, rt.templates, contacts, result.playbook, result.step, match, account, TODAY)


def test_a_draft_goes_to_the_role_holder_rendered(rt: Runtime) -> None:
    made = _draft_for(rt, "A1")
    assert isinstance(made, Draft)
    assert (made.dedupe_key, made.playbook, made.step, made.account_id) == (
        "care:call:A1:once",
        "care",
        "call",
        "A1",
    )
    assert made.to == (Recipient("Kim Park", "kim@acme.example", "champion", ""),)
    assert made.subject == "Acme: can I get 20 minutes of your honest feedback?"
    assert made.body.startswith("Hi Kim,\n")
    assert "Dana Reyes" in made.body  # the signature the template includes


def test_nobody_in_the_role_is_unaddressed_with_why_and_a_task(rt: Runtime) -> None:
    made = _draft_for(rt, "A2")
    assert isinstance(made, Unaddressed)
    assert "champion" in made.reason
    assert "Check in" in made.task_title


def test_the_context_names_the_contact_and_the_csm_with_a_default_signature(rt: Runtime) -> None:
    [result] = _results(rt)
    contact = Recipient("Kim Park", "kim@acme.example", "champion", "")
    account = {"id": "A1", "name": "Acme", "owner": "dana@northwind-cs.example"}
    seen = context(rt.ws, account, contact, result.playbook, result.step, TODAY)
    assert seen["account"] is account
    assert seen["contact"]["first_name"] == "Kim"
    assert seen["csm"]["first_name"] == "Dana"
    assert seen["csm"]["signature"].startswith("Dana Reyes\n")
    assert (seen["playbook"], seen["step"], seen["today"]) == (
        {"id": "care", "title": "Care"},
        {"id": "call", "title": "Check in"},
        TODAY,
    )


def test_queue_stores_drafts_skips_and_tasks_once(rt: Runtime) -> None:
    report = _queue(rt)
    added = [(q.kind, q.account_id, q.summary) for q in report.added]
    assert added == [
        ("draft", "A1", "Acme: can I get 20 minutes of your honest feedback?"),
        ("task", "A1", "Call them"),
        ("task", "A2", report.added[2].summary),
        ("task", "A2", "Call them"),
    ]
    [skipped] = report.skipped
    assert (skipped.kind, skipped.account_id) == ("skipped", "A2")
    rows = rt.conn.execute("SELECT id, dedupe_key, status, to_addrs FROM outbox ORDER BY id").fetchall()
    assert [(r["dedupe_key"], r["status"]) for r in rows] == [
        ("care:call:A1:once", "draft"),
        ("care:call:A2:once" + NO_RECIPIENT, "skipped"),
    ]
    assert json.loads(rows[0]["to_addrs"]) == [["Kim Park", "kim@acme.example"]]
    assert [q.id for q in report.added if q.kind == "draft"] == [rows[0]["id"]]
    tasks = rt.conn.execute("SELECT dedupe_key, status, due_date FROM tasks ORDER BY id").fetchall()
    assert [tuple(t) for t in tasks] == [
        ("care:call:A1:once", "open", "2026-11-26"),
        ("care:call:A2:once" + NO_RECIPIENT, "open", "2026-11-23"),
        ("care:call:A2:once", "open", "2026-11-26"),
    ]

    again = _queue(rt)
    assert (again.added, again.skipped, again.not_drafted) == ([], [], [])
    assert rt.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 2


def test_once_someone_holds_the_role_the_email_is_drafted_and_its_task_closes(rt: Runtime) -> None:
    _queue(rt)
    with transaction(rt.conn):
        rt.conn.execute("UPDATE contacts SET role = 'champion' WHERE account_id = 'A2'")
    report = _queue(rt)
    assert [(q.kind, q.account_id) for q in report.added] == [("draft", "A2")]
    note = rt.conn.execute(
        "SELECT status, note FROM tasks WHERE dedupe_key = ?", ("care:call:A2:once" + NO_RECIPIENT,)
    ).fetchone()
    assert tuple(note) == ("closed", "drafted: a contact holds the role now")


def test_a_template_that_fails_drafts_nothing_and_adds_no_task(rt: Runtime) -> None:
    (rt.ws.templates_dir / "at-risk" / "check-in.md.j2").write_text(
        '---\nsubject: "{{ account.nope }}"\n---\nHi\n', encoding="utf-8"
    )
    report = _queue(rt)
    assert [(key, account) for key, account, _ in report.not_drafted] == [("care:call:A1:once", "A1")]
    assert "nope" in report.not_drafted[0][2]
    assert rt.conn.execute("SELECT count(*) FROM tasks WHERE account_id = 'A1'").fetchone()[0] == 0


def test_matches_are_recorded_for_the_report(rt: Runtime) -> None:
    _queue(rt)
    rows = rt.conn.execute("SELECT account_id, first_matched, held_out FROM matches ORDER BY account_id")
    assert [tuple(r) for r in rows] == [("A1", "2026-11-23", 0), ("A2", "2026-11-23", 0)]


def test_a_preview_match_with_no_values_drafts_the_same_email(rt: Runtime) -> None:
    """`csm preview` drafts for a match it makes up; the email is the one a run would store."""
    [result] = _results(rt)
    made = _draft_for(rt, "A1")
    account = _account(rt, "A1")
    contacts = account_contacts(rt.conn, ["A1"])["A1"]
    match = Match("A1", "Acme", "dana@northwind-cs.example", {}, "preview")
    again = drafting.draft(rt.ws, rt.templates, contacts, result.playbook, result.step, match, account, TODAY)
    assert isinstance(made, Draft) and isinstance(again, Draft)
    assert (again.subject, again.body, again.to) == (made.subject, made.body, made.to)


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=10), _VALUES, max_size=5))
def test_a_why_is_encoded_as_json_dumps_encodes_it(why: dict[str, Any]) -> None:
    """Drafting keeps one encoder for every why: byte for byte what json.dumps(default=str) makes."""
    assert drafting._why_json(why) == json.dumps(why, default=str)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=3))
def test_the_to_addresses_are_the_json_of_their_name_and_email_pairs(pairs: list[tuple[str, str]]) -> None:
    """The To column built from the encoder's quoting is json.dumps of the [name, email] pairs."""
    people = tuple(Recipient(name, email, "champion", "") for name, email in pairs)
    assert drafting._pairs_json(people) == json.dumps([list(pair) for pair in pairs])


def test_account_rows_read_only_the_fields_named_with_the_id_and_owner(rt: Runtime) -> None:
    derived = next(name for name, f in rt.fields.items() if f.derived)
    full = account_rows(rt.conn, rt.fields, rt.params, ["A1", "A2"])
    cut = account_rows(rt.conn, rt.fields, rt.params, ["A1", "A2"], {"name", derived, "no_such_field"})
    assert {account: set(row) for account, row in cut.items()} == {
        "A1": {"id", "owner", "name", derived},
        "A2": {"id", "owner", "name", derived},
    }
    assert cut == {account: {k: full[account][k] for k in cut[account]} for account in full}


COPYING = """\
playbook: copying
title: Copying
steps:
  - id: note
    when: status = 'active'
    email: {template: at-risk/check-in.md.j2, to: [champion], cc_internal: [account_executive]}
"""


def test_a_column_only_cc_internal_names_is_read_for_the_copy(rt: Runtime) -> None:
    (rt.ws.playbooks_dir / "copying.yaml").write_text(COPYING, encoding="utf-8")
    with transaction(rt.conn):
        rt.conn.execute("UPDATE accounts SET account_executive = 'ae@northwind-cs.example' WHERE id = 'A1'")
    [result] = evaluate(rt.conn, rt.playbooks(["copying"]), rt.fields, rt.params, rt.today)
    assert rt.templates.account_fields("at-risk/check-in.md.j2") is not None  # so not every column is read
    queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, [result], rt.today, rt.now())
    [(copies,)] = rt.conn.execute("SELECT cc_internal FROM outbox WHERE account_id = 'A1'").fetchall()
    assert json.loads(copies) == ["ae@northwind-cs.example"]


def test_queueing_pauses_the_cyclic_collector(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    drafted = drafting.draft

    def watched(*args: Any, **kwargs: Any) -> Draft | Unaddressed:
        seen.append(gc.isenabled())
        return drafted(*args, **kwargs)

    monkeypatch.setattr(drafting, "draft", watched)
    assert gc.isenabled()
    _queue(rt)
    assert seen == [False, False]  # A1 drafted, A2 unaddressed
    assert gc.isenabled()


def test_drafting_a_book_leaves_no_cycles_behind(demo: Path) -> None:
    """The collector is paused while drafting, safe only while drafting makes no cycles: each
    object it makes must go by its reference count (a cycle a draft left would pile up)."""
    with open_workspace(demo, TODAY) as rt:
        results = evaluate(rt.conn, rt.checked_playbooks(), rt.fields, rt.params, rt.today)
        gc.collect()
        gc.disable()  # as queue() pauses it, and so that nothing is collected unseen
        try:
            report = queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, results, rt.today, rt.now())
            cycles = gc.collect()
        finally:
            gc.enable()
    assert len(report.added) > 50
    assert cycles == 0

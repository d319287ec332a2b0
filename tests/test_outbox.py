"""The outbox's table of moves: every allowed move works, every other one changes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import connect, db_dump, writers_of

from csm.data import store
from csm.data.store import transaction
from csm.errors import StateError
from csm.mail import outbox

NOW = "2026-11-23T09:00:00+00:00"
LATER = "2026-11-23T10:00:00+00:00"


def _row(key: str) -> outbox.NewRow:
    return outbox.NewRow(
        **{
            "dedupe_key": key,
            "playbook": "renewal",
            "step": "heads-up",
            "account_id": "A1",
            "owner": "dana@northwind-cs.example",
            "to_addrs": json.dumps([["Kim", "kim@acme.example"]]),
            "cc": "[]",
            "reply_to": None,
            "subject": "Your renewal",
            "body": "Hello Kim\n",
            "template": "renewal/heads-up.md.j2",
            "why": "{}",
            "priority": "normal",
            "reason": None,
        }
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "csm.db"
    conn = store.connect(path, create=True)
    conn.close()
    yield path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    conn = store.connect(db)
    yield conn
    conn.close()


def _draft(conn: sqlite3.Connection, status: str) -> int:
    """A draft put straight into ``status`` (the setup a test needs, not a move)."""
    with transaction(conn):
        (draft_id,) = outbox.add(conn, {"k": _row("k")}, "draft", NOW).values()
        conn.execute("UPDATE outbox SET status = ? WHERE id = ?", (status, draft_id))
    return draft_id


def _status(conn: sqlite3.Connection, draft_id: int) -> str:
    return outbox.get(conn, draft_id)["status"]


def _in_write(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(conn: sqlite3.Connection, *args: Any) -> Any:
        with transaction(conn):
            return fn(conn, *args)

    return run


# Each action by its named transition: (conn, draft id, target) -> the transition's answer.
NAMED: dict[str, Callable[[sqlite3.Connection, int, str], Any]] = {
    "approve": lambda c, i, to: outbox.approve(c, [i], LATER),
    "edit": lambda c, i, to: outbox.edit(c, i, "New subject", "New body", LATER),
    "skip": lambda c, i, to: outbox.skip(c, i, "spoke to them", LATER),
    "withdraw": lambda c, i, to: _in_write(outbox.withdraw)(c, "renewal", "heads-up", "A1", LATER),
    "fail": lambda c, i, to: outbox.fail(c, i, "bad header", LATER),
    "claim": lambda c, i, to: _in_write(outbox.claim)(c, i, "host:123", LATER),
    "finish": lambda c, i, to: _in_write(outbox.finish)(c, i, to, None, LATER, "<m@acme.example>"),
    "recover": lambda c, i, to: _in_write(outbox.recover)(c, i, "gone", LATER),
    "resolve": lambda c, i, to: outbox.resolve(c, i, sent=to == "sent", now=LATER),
    "defer": lambda c, i, to: _in_write(outbox.defer)(c, i, "budget spent", LATER),
    "undefer": lambda c, i, to: _in_write(outbox.undefer_each)(c, [i], LATER),
}
ALLOWED = [
    (action, old, new)
    for action, move in outbox.MOVES.items()
    for old in move.sources
    for new in move.targets
]
REFUSED = [
    (action, old, new)
    for action, move in outbox.MOVES.items()
    for old in outbox.STATUSES
    if old not in move.sources
    for new in move.targets
]


def test_the_table_speaks_of_known_statuses_only() -> None:
    named = set(outbox.BORN)
    for move in outbox.MOVES.values():
        named |= {*move.sources, *move.targets}
    assert named == set(outbox.STATUSES)
    assert set(NAMED) == set(outbox.MOVES)


@pytest.mark.parametrize(("action", "old", "new"), ALLOWED)
def test_each_allowed_move_works_through_its_named_transition(
    conn: sqlite3.Connection, action: str, old: str, new: str
) -> None:
    draft_id = _draft(conn, old)
    NAMED[action](conn, draft_id, new)
    after = outbox.get(conn, draft_id)
    assert after["status"] == new
    assert after["updated_at"] == LATER


@pytest.mark.parametrize(("action", "old", "new"), REFUSED)
def test_each_move_the_table_does_not_allow_is_refused_and_changes_nothing(
    db: Path, conn: sqlite3.Connection, action: str, old: str, new: str
) -> None:
    """The guarded move raises; of the named transitions, those a person calls raise too, and
    those the sender races with answer False (or 0)."""
    draft_id = _draft(conn, old)
    before = db_dump(db)
    refused = rf"draft #{draft_id} is {old}; only .* drafts can be"
    with pytest.raises(StateError, match=refused), transaction(conn):
        outbox.move(conn, draft_id, action, new, LATER)
    if action == "approve" and old == "approved":
        assert NAMED[action](conn, draft_id, new) == outbox.Approval([], [draft_id])
    elif action in ("approve", "edit", "skip", "resolve"):
        with pytest.raises(StateError):
            NAMED[action](conn, draft_id, new)
    else:
        assert not NAMED[action](conn, draft_id, new)
    assert db_dump(db) == before


def test_a_target_the_action_does_not_have_is_a_bug(conn: sqlite3.Connection) -> None:
    draft_id = _draft(conn, "draft")
    with pytest.raises(ValueError, match="not sent"), transaction(conn):
        outbox.move(conn, draft_id, "approve", "sent", LATER)
    assert _status(conn, draft_id) == "draft"


def test_a_move_needs_the_callers_write_transaction(conn: sqlite3.Connection) -> None:
    draft_id = _draft(conn, "approved")
    with pytest.raises(RuntimeError, match="write transaction"):
        outbox.claim(conn, draft_id, "host:1", LATER)
    assert _status(conn, draft_id) == "approved"


def test_a_claim_names_the_claimant_and_counts_the_attempt(conn: sqlite3.Connection) -> None:
    draft_id = _draft(conn, "approved")
    assert _in_write(outbox.claim)(conn, draft_id, "host:42", LATER)
    row = outbox.get(conn, draft_id)
    assert (row["claimed_by"], row["claimed_at"], row["attempts"]) == ("host:42", LATER, 1)


def test_a_sent_draft_keeps_its_message_id_and_time_and_only_a_sent_one(conn: sqlite3.Connection) -> None:
    sent = _draft(conn, "sending")
    assert _in_write(outbox.finish)(conn, sent, "sent", None, LATER, "<m@acme.example>")
    row = outbox.get(conn, sent)
    assert (row["message_id"], row["sent_at"]) == ("<m@acme.example>", LATER)
    with transaction(conn):
        conn.execute("DELETE FROM outbox")
    failed = _draft(conn, "sending")
    assert _in_write(outbox.finish)(conn, failed, "failed", "550 no such user", LATER, "<m@acme.example>")
    row = outbox.get(conn, failed)
    assert (row["message_id"], row["sent_at"], row["reason"]) == (None, None, "550 no such user")


def test_withdraw_moves_only_the_steps_unsent_drafts_and_counts_them(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        ids = outbox.add(conn, {k: _row(k) for k in ("a", "b", "c")}, "draft", NOW)
        conn.execute("UPDATE outbox SET status = 'sent' WHERE dedupe_key = 'b'")
        conn.execute("UPDATE outbox SET account_id = 'A2' WHERE dedupe_key = 'c'")
    assert _in_write(outbox.withdraw)(conn, "renewal", "heads-up", "A1", LATER) == 1
    statuses = {k: _status(conn, i) for k, i in ids.items()}
    assert statuses == {"a": "withdrawn", "b": "sent", "c": "draft"}
    assert outbox.get(conn, ids["a"])["reason"] == "until met"


def test_rows_are_born_draft_or_skipped_and_a_key_only_once(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        first = outbox.add(conn, {"a": _row("a")}, "draft", NOW)
        again = outbox.add(conn, {"a": _row("a"), "b": _row("b")}, "skipped", NOW)
    assert list(first) == ["a"]
    assert list(again) == ["b"]
    assert [_status(conn, first["a"]), _status(conn, again["b"])] == ["draft", "skipped"]
    with pytest.raises(ValueError, match="born draft or skipped"), transaction(conn):
        outbox.add(conn, {"c": _row("c")}, "sent", NOW)


def test_a_batch_stores_each_rows_own_values_where_only_some_rows_leave_a_default(workspace: Path) -> None:
    """A column every row of a batch leaves at its default is not bound: the table's default is
    stored. One row setting it is enough for the batch to bind it, every row with its own value."""
    set_apart = {
        "cc": '["pat@acme.example"]',
        "cc_internal": '["lee@northwind-cs.example"]',
        "reply_to": "kim@acme.example",
        "priority": "high",
        "touch_budget": "2/7",
        "reason": "noted",
    }
    plain = {f"plain{i}": _row(f"plain{i}") for i in range(3)}
    each = {
        f"sets-{name}": _row(f"sets-{name}")._replace(**{name: value}) for name, value in set_apart.items()
    }
    columns = ", ".join(set_apart)
    with connect(workspace) as conn:
        with transaction(conn):
            outbox.add(conn, plain, "draft", NOW)  # every optional column left to the table
            outbox.add(conn, {**plain, **each}, "skipped", NOW)  # the keys of the first batch stay
        stored = {
            key: (status, *values)
            for key, status, *values in conn.execute(f"SELECT dedupe_key, status, {columns} FROM outbox")
        }
    default = tuple(outbox.NewRow._field_defaults[name] for name in set_apart)
    assert {key: stored[key] for key in plain} == {key: ("draft", *default) for key in plain}
    for name, value in set_apart.items():
        expected = tuple(
            value if other == name else outbox.NewRow._field_defaults[other] for other in set_apart
        )
        assert stored[f"sets-{name}"] == ("skipped", *expected)
    assert len(stored) == len(plain) + len(each)


def test_a_move_made_by_another_connection_meanwhile_wins(db: Path, conn: sqlite3.Connection) -> None:
    """The guard is in the UPDATE itself: a status read before the other write does not count."""
    draft_id = _draft(conn, "approved")
    assert _status(conn, draft_id) == "approved"  # what this process saw
    other = store.connect(db)
    try:
        assert _in_write(outbox.claim)(other, draft_id, "other:1", NOW)
    finally:
        other.close()
    assert not _in_write(outbox.claim)(conn, draft_id, "this:2", LATER)
    row = outbox.get(conn, draft_id)
    assert (row["claimed_by"], row["attempts"]) == ("other:1", 1)


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from csm.data import store
    from csm.errors import StateError
    from csm.mail import outbox

    db, action, draft_id, start, name = sys.argv[1:]
    draft_id, start = int(draft_id), Path(start)
    now = "2026-11-23T10:00:00+00:00"
    conn = store.connect(Path(db))
    while not start.exists():
        time.sleep(0.001)
    try:
        if action == "claim":
            with store.transaction(conn):
                won = outbox.claim(conn, draft_id, name, now)
        else:
            outbox.skip(conn, draft_id, name, now)
            won = True
    except StateError:
        won = False
    print("won" if won else "lost")
    """
)


@pytest.mark.parametrize(
    ("action", "old", "new", "column"),
    [("claim", "approved", "sending", "claimed_by"), ("skip", "draft", "skipped", "reason")],
)
def test_processes_racing_the_same_move_exactly_one_wins(
    db: Path, conn: sqlite3.Connection, tmp_path: Path, action: str, old: str, new: str, column: str
) -> None:
    draft_id = _draft(conn, old)
    start = tmp_path / "start"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(db), action, str(draft_id), str(start), f"racer:{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    start.touch()
    answers = [racer.communicate(timeout=60) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), answers
    said = [out.strip() for out, _ in answers]
    assert sorted(said) == ["lost", "lost", "lost", "won"]
    row = outbox.get(conn, draft_id)
    assert row["status"] == new
    assert row[column] == f"racer:{said.index('won')}"  # the winner's move, made once


def test_only_this_module_writes_a_drafts_row() -> None:
    """Every INSERT and UPDATE of the outbox lives in csm/mail/outbox.py (the guard in csm/data/lifecycle)."""
    assert writers_of("outbox") == {"mail/outbox.py"}

"""A playbook's steps read over its audience once (csm/engine/audience.py) find what each step's own
query finds: snoozes, cooldown, once_per, a follow-up, `for:` days, until and the holdout, both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import open_workspace

from csm.data.store import transaction
from csm.engine.matching import StepResult, evaluate, held_out, step_rows
from csm.language.compiler import compile_condition
from csm.language.fields import standard_fields
from csm.runtime import Runtime

TODAY = dt.date(2026, 11, 23)
PLAYBOOK = """\
playbook: mix
title: Every kind of step
audience: status = 'active' and seats_licensed >= 10 and count(ticket where open) < 3
holdout: 25%
steps:
  - id: roll
    when: seats_used < 5 and count(ticket where open) = 0
    once_per: renewal_date
    task: { title: Roll out, due_in: 3d }
  - id: hello
    when: days_since_start >= 30
    cooldown: 60d
    email: { template: silent-account/hello.md.j2, to: [champion] }
  - id: call
    after: hello
    wait: 5 days
    unless: replied
    task: { title: "No reply: call", due_in: 1d }
  - id: low
    when: usage.logins < 40
    for: 3d
    until: usage.logins >= 60
    once_per: month
    task: { title: Usage low, due_in: 3d }
"""
# id: seats licensed, used, status, start date
ACCOUNTS = {
    "A01": (20, 2, "active", "2025-01-01"),  # roll, hello, low (3 low days)
    "A02": (20, 2, "churned", "2025-01-01"),  # not in the audience
    "A03": (5, 2, "active", "2025-01-01"),  # not in the audience: too few seats
    "A04": (20, 2, "active", "2025-01-01"),  # snoozed for every playbook
    "A05": (20, 2, "active", "2025-01-01"),  # snoozed for this playbook
    "A06": (20, 2, "active", "2025-01-01"),  # snoozed for another playbook only: still matches
    "A07": (20, 8, "active", "2026-11-10"),  # started 13 days ago: no hello; two low days only
    "A08": (20, 8, "active", "2025-01-01"),  # hello within the cooldown; its hello went out: call
    "A09": (20, 2, "active", "2025-01-01"),  # an open ticket: no roll; the hello went out, replied
    "A10": (20, 2, "active", "2025-01-01"),  # three open tickets: out of the audience
    **{f"B{n:02d}": (30, 1, "active", "2024-06-01") for n in range(12)},  # enough for the holdout
}


def _fill(rt: Runtime) -> None:
    with transaction(rt.conn):
        rt.conn.executemany(
            "INSERT INTO accounts (id, name, owner, seats_licensed, seats_used, status, start_date,"
            " renewal_date) VALUES (?, ?, 'dana@northwind-cs.example', ?, ?, ?, ?, '2027-03-01')",
            [(i, f"Co {i}", *row) for i, row in ACCOUNTS.items()],
        )
        rt.conn.executemany(
            "INSERT INTO contacts (account_id, email, name, role, is_primary)"
            " VALUES (?, ?, 'Kim', 'champion', 1)",
            [(i, f"kim@{i.lower()}.example") for i in ACCOUNTS],
        )
        rt.conn.executemany(
            "INSERT INTO snoozes (account_id, playbook, until, reason, created_at)"
            " VALUES (?, ?, '2026-12-31', 'away', '2026-11-01')",
            [("A04", None), ("A05", "mix"), ("A06", "other")],
        )
        rt.conn.executemany(
            "INSERT INTO events (id, account_id, kind, occurred_at, attributes)"
            " VALUES (?, ?, 'ticket', ?, '{}')",
            [("E1", "A09", "2026-11-20"), *((f"E{n}", "A10", "2026-11-20") for n in range(2, 5))],
        )
        low = {"A01": 3, "A07": 2}  # the last days below 40 (20), the others 80
        rt.conn.executemany(
            "INSERT INTO usage (account_id, metric, date, value) VALUES (?, 'logins', ?, ?)",
            [
                (i, (TODAY - dt.timedelta(days=n)).isoformat(), 20 if n < low.get(i, 0) else 80)
                for i in ACCOUNTS
                for n in range(5)
            ],
        )
        sent = "2026-11-16T10:00:00+00:00"  # a week ago: the call's five days are over
        rt.conn.executemany(
            "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, subject, body,"
            " template, status, sent_at, created_at, updated_at)"
            " VALUES (?, 'mix', 'hello', ?, '[]', 'Hi', 'Hi', 't', 'sent', ?, ?, ?)",
            [(f"mix:hello:{i}:once", i, sent, sent, sent) for i in ("A08", "A09")],
        )
        rt.conn.execute(
            "INSERT INTO replies (message_key, account_id, address, at, subject, matched_by, recorded_at)"
            " VALUES ('m1', 'A09', 'kim@a09.example', '2026-11-17T09:00:00+00:00', 'Re: Hi', 'sender',"
            " '2026-11-17T09:05:00+00:00')"
        )


def _step_by_step(rt: Runtime, result: StepResult) -> tuple[list[tuple[str, str]], list[str]]:
    """What the step's own query matches (firing), touched then held out by the holdout."""
    rows = step_rows(rt.conn, result.playbook, result.step, rt.fields, rt.params, rt.today).fetchall()
    share = result.playbook.holdout
    kept = [(r[0], str(r[3])) for r in rows if not held_out(result.playbook.id, r[0], share)]
    return kept, [r[0] for r in rows if held_out(result.playbook.id, r[0], share)]


def test_steps_read_together_find_what_each_steps_own_query_finds(workspace: Path) -> None:
    with open_workspace(workspace, TODAY, {"mix.yaml": PLAYBOOK}) as rt:
        _fill(rt)
        playbooks = rt.playbooks(["mix"])
        results = evaluate(rt.conn, playbooks, rt.fields, rt.params, rt.today)
        found = {}
        for result in results:
            touched, kept_out = _step_by_step(rt, result)
            assert [(m.account_id, m.once_value) for m in result.matches] == touched, result.step.id
            assert [m.account_id for m in result.held_out] == kept_out, result.step.id
            assert (result.match_count, result.held_out_count) == (len(touched), len(kept_out))
            found[result.step.id] = sorted(a for a, _ in touched) + sorted(kept_out)
        everyone = ["A01", "A06", *(f"B{n:02d}" for n in range(12))]  # the audience, not snoozed
        assert sorted(found["roll"]) == everyone  # A07 and A08 use 8 seats, A09 has a ticket open
        assert sorted(found["hello"]) == everyone  # A07 too new, A08 and A09 cooling down
        assert found["call"] == ["A08"]  # A09 replied
        assert found["low"] == ["A01"]  # A07 was low two days, not three
        assert 0 < sum(r.held_out_count for r in results) < sum(len(found[s]) for s in found)
        settled = evaluate(rt.conn, playbooks, rt.fields, rt.params, rt.today, settle=True)
        assert [r.match_count + r.held_out_count for r in settled] == [len(found[r.step.id]) for r in results]


def test_a_condition_hands_over_its_top_level_terms_nested_ands_flattened_plain_ones_first() -> None:
    fields = standard_fields()
    nested = compile_condition(
        "days_since_touch > 30 and (nps < 7 and (plan = 'pro' and seats_used between 1 and 5))", fields
    )
    assert nested.terms[:3] == (
        '((a."nps") < :c1)',
        '((a."plan") = :c2)',
        '((a."seats_used") BETWEEN :c3 AND :c4)',  # BETWEEN's AND is no term of its own
    )
    assert len(nested.terms) == 4 and "SELECT" in nested.terms[3]  # the subquery last
    for whole in (
        "nps < 7 and plan = 'pro' or seats_used > 10",
        "any(contact where role = 'a' and title = 'b')",
    ):
        compiled = compile_condition(whole, fields)
        assert compiled.terms == (compiled.sql,)  # no AND at the top: the condition is its one term

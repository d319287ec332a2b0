"""The touch budget's plan against the greedy it replaced, on random outboxes, on each backend.

:func:`csm.mail.budget.plan` ranks only the drafts at a contested address in Python; the
reference below (the plan as it was: every waiting draft and every email gone to one of
their addresses read and ranked) must come to the same verdicts, in the same order, with
the same reasons.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

from csm.data.backend import dialect_of
from csm.data.store import transaction
from csm.mail import budget
from csm.mail.overlaps import addresses
from csm.workspace import TouchBudget

TODAY = dt.date(2026, 11, 23)

# The reference: csm/mail/budget.py's plan before the database counted for it.

_SELECT = (
    "SELECT o.id, o.status, o.account_id, a.name AS account_name, o.to_addrs, o.cc,"
    " o.subject, o.priority, o.touch_budget, o.reason, o.created_at,"
    " coalesce(o.sent_at, o.updated_at) AS out_at"
    " FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id WHERE "
)
(_ID, _STATUS, _ACCOUNT, _ACCOUNT_NAME, _TO, _CC, _SUBJECT, _PRIORITY, _BUDGET, _REASON, _CREATED, _OUT) = (
    range(12)
)


class _Email(NamedTuple):
    id: int
    status: str
    subject: str
    out_day: str
    addresses: frozenset[str]


def _email(row: Sequence[Any]) -> _Email:
    status = row[_STATUS]
    out_day = row[_OUT][:10] if status in budget.GONE else ""
    return _Email(row[_ID], status, row[_SUBJECT], out_day, frozenset(addresses(row[_TO], row[_CC])))


@dataclass
class _Plan:
    keep: list[int] = field(default_factory=list)
    defer: dict[int, str] = field(default_factory=dict)
    before: dict[int, str] = field(default_factory=dict)


class _ByAddress:
    def __init__(self, emails: Iterable[_Email] = ()) -> None:
        self._by: dict[str, list[_Email]] = {}
        for email in emails:
            self.add(email)

    def add(self, email: _Email) -> None:
        for address in email.addresses:
            self._by.setdefault(address, []).append(email)

    def holding(self, address: str, start: str, besides: int) -> list[_Email]:
        return [
            e for e in self._by.get(address, ()) if e.id != besides and (not e.out_day or e.out_day >= start)
        ]


def _full(email: _Email, limit: TouchBudget, counting: _ByAddress) -> tuple[str, list[_Email]] | None:
    if limit.off:
        return None
    start = (TODAY - dt.timedelta(days=limit.per_days - 1)).isoformat()
    for address in sorted(email.addresses):
        holding = counting.holding(address, start, email.id)
        if len(holding) >= limit.max_emails:
            return address, holding
    return None


def _held(email: _Email) -> str:
    if email.out_day:
        return f"“{email.subject}” (sent {email.out_day})"
    return f"“{email.subject}” ({email.status} #{email.id})"


def _who(conn: Any, draft: Sequence[Any], address: str) -> str:
    email = dialect_of(conn).nocase("email")
    rows = conn.execute(
        f"SELECT account_id, email, name, role, is_primary FROM contacts WHERE {email} = ?", (address,)
    ).fetchall()
    row = next((r for r in rows if r[0] == draft[_ACCOUNT] and r[1].lower() == address), None)
    if row is None:
        return address
    role = (row[3] or ("primary contact" if row[4] else "contact")).replace("_", " ")
    return f"{draft[_ACCOUNT_NAME] or ''}'s {role} {row[2] or address}".rstrip()


def reference_plan(conn: Any, default: TouchBudget) -> _Plan:
    cursor = conn.cursor()
    cursor.row_factory = None
    overrides = cursor.execute(
        "SELECT DISTINCT touch_budget FROM outbox WHERE touch_budget IS NOT NULL"
    ).fetchall()
    longest = max([default.per_days, *(int(text.split("/")[1]) for (text,) in overrides)])
    rows = cursor.execute(_SELECT + "o.status IN ('draft', 'approved', 'deferred')").fetchall()
    emails = {row[_ID]: _email(row) for row in rows}
    contenders = [r for r in rows if r[_STATUS] in budget.CONTENDERS]
    wanted = {a for row in contenders for a in emails[row[_ID]].addresses}
    since = (TODAY - dt.timedelta(days=longest)).isoformat()
    gone = [
        _email(r)
        for r in cursor.execute(_SELECT + budget._GONE_SINCE, {"since": since}).fetchall()
        if not wanted.isdisjoint(addresses(r[_TO], r[_CC]))
    ]
    counting = _ByAddress(sorted([*gone, *(e for e in emails.values() if e.status in budget.HELD)]))
    contenders.sort(key=lambda r: (budget.RANK.get(r[_PRIORITY], 2), r[_CREATED], r[_ID]))
    result = _Plan()
    for row in contenders:
        email, limit = emails[row[_ID]], budget.budget_of(row[_BUDGET], default)
        full = _full(email, limit, counting)
        if full is None:
            result.keep.append(email.id)
            counting.add(email)
            continue
        address, holding = full
        held = ", ".join(_held(e) for e in holding[:-1])
        held = f"{held} and {_held(holding[-1])}" if held else _held(holding[-1])
        result.defer[email.id] = (
            f"deferred: {_who(conn, row, address)} already has {held} within {limit.per_days} days ({limit})"
        )
    result.before = {
        r[_ID]: r[_STATUS] for r in contenders if r[_ID] in result.defer or r[_STATUS] == "deferred"
    }
    return result


# Random outboxes: a few people at two accounts, their addresses in every spelling the outbox
# may hold them, mail of every status and day, drafts of every priority and budget.

PEOPLE = [
    ("Ann Archer", "ann@acme.example", "A1", "champion"),
    ("Bob Brown", "bob@acme.example", "A1", None),
    ("Zoë Zed", "zoë@globex.example", "A2", "billing_admin"),
    ("Cy Cole", "cy@globex.example", "A2", "champion"),
]
SPELLINGS = {
    "ann@acme.example": ["ann@acme.example", "ANN@Acme.example", " ann@acme.example "],
    "bob@acme.example": ["bob@acme.example", "Bob@acme.example"],
    "zoë@globex.example": ["zoë@globex.example", "ZOË@globex.example"],
    "cy@globex.example": ["cy@globex.example", "CY@GLOBEX.EXAMPLE"],
}
STATUSES = ["draft", "draft", "deferred", "approved", "sent", "sent", "sent", "sending", "unknown", "skipped"]
PRIORITIES = ["urgent", "high", "normal", "normal", "low", "someday"]
BUDGETS = [None, None, None, "1/3", "3/10", "0/7", "2/2"]
DEFAULTS = [TouchBudget(2, 7), TouchBudget(1, 1), TouchBudget(1, 30), TouchBudget(0, 7), TouchBudget(3, 5)]


def _stamp(rng: random.Random) -> str:
    day = TODAY - dt.timedelta(days=rng.randrange(0, 14))
    spelled = rng.choice(["{}T{:02d}:00:00+00:00", "{} {:02d}:30", "{}T{:02d}:00:00.5+00:00"])
    return spelled.format(day.isoformat(), rng.randrange(0, 24))


def _recipients(rng: random.Random) -> tuple[str, str]:
    chosen = rng.sample(PEOPLE, rng.choice([1, 1, 1, 2]))
    to = []
    for name, address, _, _ in chosen:
        spelled = rng.choice(SPELLINGS[address]).strip()
        to.append([rng.choice([name, "", None, address]), spelled])
    cc: list[str] = []
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        name, address, _, _ = rng.choice(PEOPLE)
        spelled = rng.choice(SPELLINGS[address])
        cc.append(rng.choice([spelled, f"{name} <{spelled.strip()}>", ""]))
    return json.dumps(to, ensure_ascii=rng.random() < 0.5), json.dumps(cc, ensure_ascii=rng.random() < 0.5)


def _fill(conn: Any, rng: random.Random, count: int) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM outbox")
        for i in range(count):
            status = rng.choice(STATUSES)
            to_addrs, cc = _recipients(rng)
            conn.execute(
                "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, cc, subject, body,"
                " template, why, priority, status, reason, touch_budget, created_at, updated_at, sent_at)"
                " VALUES (?, 'p', 's', ?, ?, ?, ?, 'b', 't', '{}', ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"k{i}",
                    rng.choice(["A1", "A2", "A3"]),
                    to_addrs,
                    cc,
                    f"Subject {i}",
                    rng.choice(PRIORITIES),
                    status,
                    f"deferred: earlier {i % 3}" if status == "deferred" and rng.random() < 0.8 else None,
                    rng.choice(BUDGETS),
                    _stamp(rng),
                    _stamp(rng),
                    _stamp(rng) if status == "sent" or rng.random() < 0.3 else None,
                ),
            )


@pytest.fixture
def people(db: Any) -> Any:
    with transaction(db):
        db.execute("INSERT INTO accounts (id, name) VALUES ('A1', 'Acme'), ('A2', 'Globex')")
        for name, address, account, role in PEOPLE:
            db.execute(
                "INSERT INTO contacts (account_id, email, name, role, is_primary) VALUES (?, ?, ?, ?, ?)",
                (account, address.capitalize(), name, role, int(role == "champion")),
            )
    return db


@pytest.mark.parametrize("seed", range(6))
def test_the_plan_is_the_greedy_it_replaced(people: Any, seed: int) -> None:
    rng = random.Random(seed)
    verdicts = {"kept": 0, "deferred": 0}
    for _ in range(25):
        _fill(people, rng, rng.randrange(1, 40))
        default = rng.choice(DEFAULTS)
        expected = reference_plan(people, default)
        found = budget.plan(people, default, TODAY)
        assert (found.keep, found.defer, found.before) == (expected.keep, expected.defer, expected.before)
        verdicts["kept"] += len(found.keep)
        verdicts["deferred"] += len(found.defer)
    assert min(verdicts.values()) > 20, verdicts  # both verdicts, often


@pytest.mark.parametrize("seed", range(3))
def test_rebalance_stores_the_plan_a_few_drafts_at_a_time(
    people: Any, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each draft without room deferred with the plan's reason (one deferred for that reason
    already left as it was), each with room drafted again, the rest untouched; twice over each
    outbox, so the second finds most drafts deferred already."""
    monkeypatch.setattr(budget, "_CHUNK", 2)
    rng = random.Random(seed)
    moves = {"deferred": 0, "left": 0, "drafted again": 0}
    read = "SELECT id, status, reason, updated_at FROM outbox"
    for _ in range(15):
        _fill(people, rng, rng.randrange(1, 40))
        default = rng.choice(DEFAULTS)
        for now in ("2026-11-23T09:00:00+00:00", "2026-11-23T10:00:00+00:00"):
            expected = reference_plan(people, default)
            before = {r[0]: tuple(r[1:]) for r in people.execute(read).fetchall()}
            with transaction(people):
                assert budget.rebalance(people, default, TODAY, now) == set(expected.defer)
            wanted = dict(before)
            for i, why in expected.defer.items():
                same = before[i][:2] == ("deferred", why)
                wanted[i] = before[i] if same else ("deferred", why, now)
                moves["left" if same else "deferred"] += 1
            for i in expected.keep:
                if before[i][0] == "deferred":
                    wanted[i] = ("draft", None, now)
                    moves["drafted again"] += 1
            assert {r[0]: tuple(r[1:]) for r in people.execute(read).fetchall()} == wanted
    assert min(moves.values()) > 0, moves


def _statuses(conn: Any) -> dict[int, tuple[str, str | None]]:
    return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, status, reason FROM outbox")}


@pytest.mark.parametrize("seed", range(4))
def test_rebalance_moves_the_drafts_the_plan_names(people: Any, seed: int) -> None:
    """rebalance reads less than plan (no listing at all when nothing can be contested, only
    the contested and deferred drafts otherwise): it must still defer exactly what plan defers."""
    rng = random.Random(seed)
    first_runs = {"none deferred": 0, "some deferred": 0}
    for _ in range(40):
        # A first run of the day's outbox (only drafts and approved ones) half the time.
        first = rng.random() < 0.5
        _fill(people, rng, rng.randrange(1, 5) if first else rng.randrange(1, 12))
        if first:
            people.execute("UPDATE outbox SET status = 'draft', reason = NULL WHERE status <> 'approved'")
        default = rng.choice(DEFAULTS)
        expected = budget.plan(people, default, TODAY)
        before = _statuses(people)
        with transaction(people):
            moved = budget.rebalance(people, default, TODAY, "2026-11-23T08:00:00+00:00")
        after = _statuses(people)
        assert moved == set(expected.defer)
        assert {i for i, (status, _) in after.items() if status == "deferred"} == (
            {i for i, (status, _) in before.items() if status == "deferred"} - set(expected.keep)
        ) | set(expected.defer)
        assert {i: after[i][1] for i in expected.defer} == expected.defer
        if first:
            first_runs["some deferred" if expected.defer else "none deferred"] += 1
    assert min(first_runs.values()) > 3, first_runs  # both sides of the shortcut, often


def test_rebalance_reads_an_address_as_python_does(people: Any) -> None:
    """Two drafts to one person, her address spelled in capitals the database does not lower:
    counted apart by SQL, they are one address to the budget, so one of them waits."""
    with transaction(people):
        for i, spelled in enumerate(["zoë@globex.example", "ZOË@globex.example"]):
            people.execute(
                "INSERT INTO outbox (dedupe_key, playbook, step, account_id, to_addrs, subject, body,"
                " template, status, created_at, updated_at) VALUES (?, 'p', 's', 'A2', ?, ?, 'b', 't',"
                " 'draft', ?, ?)",
                (f"k{i}", json.dumps([["Zoë Zed", spelled]]), f"Subject {i}", TODAY, TODAY),
            )
        moved = budget.rebalance(people, TouchBudget(1, 7), TODAY, "2026-11-23T08:00:00+00:00")
    assert len(moved) == 1
    assert [status for status, _ in _statuses(people).values()].count("deferred") == 1

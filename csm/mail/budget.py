"""The touch budget: at most N emails to one contact in D days, across all playbooks.

Every email to a contact counts against that contact's budget: those sent
(or being sent, or of unknown fate) within the last D days, and every draft
still waiting (``draft``, ``approved``). csm.toml sets the budget
(``[touch_budget]``, by default 2 emails per 7 days); a playbook may set its
own (``touch_budget:``), kept on each of its drafts, which then judges that
draft (``max_emails: 0`` exempts it, though it still counts for the others).

:func:`plan` decides which waiting drafts keep their place. Sent mail and
approved drafts (a person said yes) hold theirs; the drafts still to review
and those deferred before are then ranked, and each takes its place while
every one of its recipients has room:

1. priority: urgent, high, normal, low;
2. among equals, the draft made first (it has waited longest);
3. then the lower id.

A draft that finds no room is ``deferred`` (a move in :mod:`csm.mail.outbox`),
never lost: the next run drafts it again once its contacts have room. The
reason names who is full and what holds them; :func:`plan` is the one place
it is computed (``csm today``, ``csm run`` and ``csm explain`` read it).
Sending checks again (:func:`spent_at_send`, from the copies each send
records): an approved draft whose contact was mailed meanwhile waits,
deferred, rather than going over.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from csm.data.backend import dialect_of
from csm.mail import outbox
from csm.mail.overlaps import addresses
from csm.workspace import TouchBudget

RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
GONE = ("sent", "sending", "unknown")  # went out, or may have
HELD = ("approved",)  # a person said yes: keeps its place
CONTENDERS = ("draft", "deferred")
_COLUMNS = (
    "SELECT o.id, o.status, o.account_id, a.name AS account_name, o.to_addrs, o.cc,"
    " o.subject, o.priority, o.touch_budget, o.reason, o.created_at,"
    " coalesce(o.sent_at, o.updated_at) AS out_at"
)
# The columns by position: a row is read by index, a plain tuple where it can be (a plan reads
# every waiting draft, and looking a column up by name was most of its cost).
(_ID, _STATUS, _ACCOUNT, _ACCOUNT_NAME, _TO, _CC, _SUBJECT, _PRIORITY, _BUDGET, _REASON, _CREATED, _OUT) = (
    range(12)
)
_SELECT = _COLUMNS + " FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id WHERE "
_GONE_SINCE = "o.status IN ('sending', 'unknown') OR (o.status = 'sent' AND o.sent_at >= :since)"


def budget_of(text: str | None, default: TouchBudget) -> TouchBudget:
    """A draft's budget: its playbook's own (``"3/7"``), else csm.toml's."""
    if not text:
        return default
    max_emails, per_days = text.split("/")
    return TouchBudget(int(max_emails), int(per_days))


class _Email(NamedTuple):
    id: int
    status: str
    subject: str
    out_day: str  # the day it went out (GONE), else ""
    addresses: frozenset[str]


def _email(row: Sequence[Any]) -> _Email:
    status = row[_STATUS]
    return _Email(
        row[_ID],
        status,
        row[_SUBJECT],
        row[_OUT][:10] if status in GONE else "",
        frozenset(_addresses(row[_TO], row[_CC])),
    )


@dataclass
class Plan:
    """Which waiting drafts keep their place and which wait, with why."""

    keep: list[int] = field(default_factory=list)  # drafts (to review) with room
    defer: dict[int, str] = field(default_factory=dict)  # draft id -> why it waits
    before: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (status, reason) found

    def reason(self, draft_id: int) -> str | None:
        return self.defer.get(draft_id)


def _window_start(today: dt.date, budget: TouchBudget) -> str:
    """The first day of a ``per_days`` window ending today."""
    return (today - dt.timedelta(days=budget.per_days - 1)).isoformat()


def plan(conn: sqlite3.Connection, default: TouchBudget, today: dt.date) -> Plan:
    """Rank every waiting draft against its contacts' budgets (see the module docstring)."""
    longest = max([default.per_days, *_override_days(conn)])
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(_SELECT + "o.status IN ('draft', 'approved', 'deferred')").fetchall()
    emails = {row[_ID]: _email(row) for row in rows}
    contenders = [r for r in rows if r[_STATUS] in CONTENDERS]
    wanted = {a for row in contenders for a in emails[row[_ID]].addresses}
    gone = _gone_to(conn, wanted, (today - dt.timedelta(days=longest)).isoformat())
    counting = _ByAddress(sorted([*gone, *(e for e in emails.values() if e.status in HELD)], key=_by_id))
    contenders.sort(key=lambda r: (RANK.get(r[_PRIORITY], 2), r[_CREATED], r[_ID]))
    result = Plan(before={r[_ID]: (r[_STATUS], r[_REASON]) for r in contenders})
    waiting: list[_Waiting] = []
    budgets = {text: budget_of(text, default) for text in {r[_BUDGET] for r in contenders}}
    for row in contenders:
        email, budget = emails[row[_ID]], budgets[row[_BUDGET]]
        full = _full(email, budget, today, counting)
        if full is None:
            result.keep.append(email.id)
            counting.add(email)
        else:
            waiting.append((row, budget, *full))
    result.defer = _reasons(conn, waiting)
    return result


def _may_reach(wanted: set[str], to_addrs: str, cc: str) -> bool:
    """False only when no address the outbox's JSON names is ``wanted``: without a backslash
    (an escape) every JSON string is its text between quotes, so no parse is needed. To
    addresses count as stored (lowercased, not stripped, as :func:`_addresses` reads them),
    so the To JSON is lowercased and split whole; most mail has no cc."""
    if "\\" in to_addrs or "\\" in cc or "<" in cc:
        return True
    if not wanted.isdisjoint(to_addrs.lower().split('"')[1::2]):
        return True
    return cc != "[]" and not wanted.isdisjoint(s.strip().lower() for s in cc.split('"')[1::2])


def _addresses(to_addrs: str, cc: str) -> set[str]:
    """:func:`csm.mail.overlaps.addresses`, without parsing the JSON when it is plain: no
    escape, no ``Name <address>`` cc and no null name, so its strings alternate name, address
    in To and are addresses in Cc."""
    if "\\" in to_addrs or "\\" in cc or "<" in cc or "null" in to_addrs:
        return addresses(to_addrs, cc)
    found = {s.lower() for s in to_addrs.split('"')[1::2][1::2]}
    found.update(s.strip().lower() for s in cc.split('"')[1::2])
    return found - {""}


def _by_id(email: _Email) -> int:
    return email.id


def _gone_to(conn: sqlite3.Connection, wanted: set[str], since: str) -> list[_Email]:
    """The mail gone out since ``since`` (or on its way) to any of the ``wanted`` addresses.

    Only a waiting draft's recipients are ever judged, so only mail to them counts: the
    recipients of every email sent in the window are read as plain tuples, and the full
    row is fetched for the few that share one (a morning after a big send has 90,000).
    """
    if not wanted:
        return []
    cursor = conn.cursor()
    cursor.row_factory = None
    ids = [
        draft_id
        for draft_id, to_addrs, cc in cursor.execute(
            "SELECT o.id, o.to_addrs, o.cc FROM outbox o WHERE " + _GONE_SINCE, {"since": since}
        )
        if _may_reach(wanted, to_addrs, cc) and not wanted.isdisjoint(addresses(to_addrs, cc))
    ]
    found: list[_Email] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        found.extend(_email(r) for r in conn.execute(_SELECT + f"o.id IN ({marks})", chunk))
    return found


def _override_days(conn: sqlite3.Connection) -> list[int]:
    rows = conn.execute("SELECT DISTINCT touch_budget FROM outbox WHERE touch_budget IS NOT NULL")
    return [int(r[0].split("/")[1]) for r in rows]


class _ByAddress:
    """The emails that count against each address, so a draft looks only at its own recipients'."""

    def __init__(self, emails: Iterable[_Email] = ()) -> None:
        self._by: dict[str, list[_Email]] = {}
        for email in emails:
            self.add(email)

    def add(self, email: _Email) -> None:
        for address in email.addresses:
            self._by.setdefault(address, []).append(email)

    def names_any(self, addresses: frozenset[str]) -> bool:
        """Whether any email counted so far goes to one of ``addresses``."""
        return not self._by.keys().isdisjoint(addresses)

    def holding(self, address: str, start: str, besides: int) -> list[_Email]:
        """The emails to ``address`` waiting, or gone out on or after ``start`` (not ``besides``)."""
        return [
            e for e in self._by.get(address, ()) if e.id != besides and (not e.out_day or e.out_day >= start)
        ]


def _full(
    email: _Email, budget: TouchBudget, today: dt.date, counting: _ByAddress
) -> tuple[str, list[_Email]] | None:
    """The first recipient of ``email`` whose budget is spent, and the emails spending it; None: room."""
    if budget.off or not counting.names_any(email.addresses):  # a budget holds one email at least
        return None
    start = _window_start(today, budget)
    for address in sorted(email.addresses):
        holding = counting.holding(address, start, email.id)
        if len(holding) >= budget.max_emails:
            return address, holding
    return None


# A draft without room: its row, its budget, the address that is full and the emails filling it.
_Waiting = tuple[Any, TouchBudget, str, list[_Email]]


def _who(conn: sqlite3.Connection, waiting: list[_Waiting]) -> dict[tuple[str, str], str]:
    """``Acme's champion Jane Doe`` for each full address at its draft's account, by (account,
    address): the contacts read for all of them at once, through the case-blind email index."""
    wanted = sorted({address for _, _, address, _ in waiting})
    email = dialect_of(conn).nocase("email")
    contacts: dict[tuple[str, str], Any] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT account_id, email, name, role, is_primary FROM contacts WHERE {email} IN ({marks})"
        for row in conn.execute(sql, chunk):
            contacts.setdefault((row["account_id"], row["email"].lower()), row)
    found = {}
    for draft, _, address, _ in waiting:
        account = draft[_ACCOUNT]
        row = contacts.get((account, address))
        if row is None:
            found[account, address] = address
            continue
        role = (row["role"] or ("primary contact" if row["is_primary"] else "contact")).replace("_", " ")
        found[account, address] = f"{draft[_ACCOUNT_NAME] or ''}'s {role} {row['name'] or address}".rstrip()
    return found


def _held(email: _Email) -> str:
    if email.out_day:
        return f"“{email.subject}” (sent {email.out_day})"
    return f"“{email.subject}” ({email.status} #{email.id})"


def _reasons(conn: sqlite3.Connection, waiting: list[_Waiting]) -> dict[int, str]:
    """Why each draft without room waits, by id: who is full and what holds them."""
    who = _who(conn, waiting)
    reasons = {}
    for row, budget, address, holding in waiting:
        held = ", ".join(_held(e) for e in holding[:-1])
        held = f"{held} and {_held(holding[-1])}" if held else _held(holding[-1])
        reasons[row[_ID]] = (
            f"deferred: {who[row[_ACCOUNT], address]} already has {held}"
            f" within {budget.per_days} days ({budget})"
        )
    return reasons


def rebalance(conn: sqlite3.Connection, default: TouchBudget, today: dt.date, now: str) -> Plan:
    """Apply :func:`plan`: defer the drafts without room, draft again those with room (caller's write)."""
    result = plan(conn, default, today)
    deferring = {i: why for i, why in result.defer.items() if result.before.get(i) != ("deferred", why)}
    outbox.defer_each(conn, deferring, now)
    outbox.undefer_each(conn, [i for i in result.keep if result.before[i][0] == "deferred"], now)
    return result


def spent_at_send(
    conn: sqlite3.Connection, draft: dict[str, Any], default: TouchBudget, today: dt.date
) -> str | None:
    """Why an approved draft must wait now: its contacts' budget spent by mail gone out meanwhile."""
    budget = budget_of(draft["touch_budget"], default)
    if budget.off:
        return None
    me = conn.execute(_SELECT + "o.id = :id", {"id": draft["id"]}).fetchone()
    email = _email(me)
    if not email.addresses:
        return None
    # The copies each send records (csm.mail.deliveries), by address: no scan of the sent mail.
    # The drafts those copies belong to come first (CROSS JOIN keeps SQLite to that order):
    # left to choose, it walks outbox_status over every email sent in the window, which
    # grows with the book.
    marks = ", ".join(f":a{i}" for i in range(len(email.addresses)))
    address = dialect_of(conn).nocase("d.address")
    to_them = (
        _COLUMNS + f" FROM (SELECT DISTINCT d.draft_id FROM deliveries d WHERE {address} IN ({marks})) AS t"
        " CROSS JOIN outbox o LEFT JOIN accounts a ON a.id = o.account_id"
        f" WHERE o.id = t.draft_id AND o.id != :id AND ({_GONE_SINCE})"
    )
    params = {"id": draft["id"], "since": _window_start(today, budget)}
    params.update({f"a{i}": address.lower() for i, address in enumerate(sorted(email.addresses))})
    gone = _ByAddress(_email(r) for r in conn.execute(to_them, params))
    full = _full(email, budget, today, gone)
    return None if full is None else _reasons(conn, [(me, budget, *full)])[draft["id"]]

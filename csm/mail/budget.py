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

How :func:`plan` works it out without reading every waiting draft: the
database lists each address's emails that could count against it (gone out
within the longest window, approved, waiting: the outbox's To and Cc JSON read
by its own JSON functions) and how many there are. A draft each of whose
addresses has fewer other emails than its budget allows has room whatever
comes first, so it keeps its place without its email being read. Only where an address has as many
as some draft's budget allows (a "contested" address) is the greedy above run
in Python, over the drafts writing to one and the mail gone to one; a draft's
other addresses can never be full, so they are not looked at.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from csm.data.backend import Dialect, dialect_of
from csm.mail import outbox
from csm.mail.overlaps import addresses
from csm.workspace import TouchBudget

RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
GONE = ("sent", "sending", "unknown")  # went out, or may have
HELD = ("approved",)  # a person said yes: keeps its place
CONTENDERS = ("draft", "deferred")
_GONE_SINCE = "o.status IN ('sending', 'unknown') OR (o.status = 'sent' AND o.sent_at >= :since)"
_CHUNK = 500


def budget_of(text: str | None, default: TouchBudget) -> TouchBudget:
    """A draft's budget: its playbook's own (``"3/7"``), else csm.toml's."""
    if not text:
        return default
    max_emails, per_days = text.split("/")
    return TouchBudget(int(max_emails), int(per_days))


class _Counted(NamedTuple):
    """An email counting against its recipients: what the window needs of it."""

    id: int
    out_day: str  # the day it went out (GONE), else ""


@dataclass
class Plan:
    """Which waiting drafts keep their place and which wait, with why."""

    keep: list[int] = field(default_factory=list)  # drafts (to review) with room, in rank order
    defer: dict[int, str] = field(default_factory=dict)  # draft id -> why it waits
    # id -> the status found, for each draft deferred now or deferred before
    before: dict[int, str] = field(default_factory=dict)

    def reason(self, draft_id: int) -> str | None:
        return self.defer.get(draft_id)


def _window_start(today: dt.date, budget: TouchBudget) -> str:
    """The first day of a ``per_days`` window ending today."""
    return (today - dt.timedelta(days=budget.per_days - 1)).isoformat()


def plan(conn: sqlite3.Connection, default: TouchBudget, today: dt.date) -> Plan:
    """Rank every waiting draft against its contacts' budgets (see the module docstring)."""
    result, waiting = _ranked(conn, default, today, every=True)
    result.defer = _reasons(conn, waiting)
    return result


def _ranked(
    conn: sqlite3.Connection, default: TouchBudget, today: dt.date, *, every: bool
) -> tuple[Plan, list[_Waiting]]:
    """The plan but for the reasons, and the drafts without room (their reasons to be read).
    Unless ``every``, its ``keep`` names only the drafts that could have lacked room (those at a
    contested address, those deferred before): every other draft has room."""
    budgets = {text: budget_of(text, default) for (text,) in _contender_budgets(conn)}
    if not budgets:
        return Plan(), []
    longest = max(b.per_days for b in (default, *budgets.values()))
    since = (today - dt.timedelta(days=longest)).isoformat()
    if not every and _uncontested(conn, budgets.values(), since):
        return Plan(), []
    _touch_tables(conn)
    try:
        _list_touches(conn, budgets, default, since)
        return _rank(conn, budgets, today, _counting(conn), every=every)
    finally:
        _clear_touches(conn)


def _contender_budgets(conn: sqlite3.Connection) -> sqlite3.Cursor:
    return conn.execute("SELECT DISTINCT touch_budget FROM outbox WHERE status IN ('draft', 'deferred')")


def _uncontested(conn: sqlite3.Connection, budgets: Iterable[TouchBudget], since: str) -> bool:
    """Whether no waiting draft can lack room, told without listing the touches: no draft was
    deferred (one may have room again), no mail went out since ``since``, and no address has more
    waiting emails than the smallest budget of any draft (the odd entries of _ENTRIES, read in
    Python, never pass). A shortcut for the usual first run of a book: False when unsure."""
    caps = [b.max_emails for b in budgets if b.max_emails > 0]
    name = dialect_of(conn).name
    waiting = _ENTRIES[name].format(odd=_ODD[name], columns="0 AS kind", where=_WAITING)
    odd = "CASE WHEN r.odd OR r.v IS NULL THEN 1 ELSE 0 END"
    checks = [("SELECT 1 FROM outbox WHERE status = 'deferred' LIMIT 1", {})]
    if caps:
        checks.append((f"SELECT 1 FROM outbox o WHERE {_GONE_SINCE} LIMIT 1", {"since": since}))
        checks.append(
            (
                f"SELECT 1 FROM ({waiting}) r GROUP BY {_ADDRESS}"
                f" HAVING count(*) > :cap OR max({odd}) = 1 LIMIT 1",
                {"cap": min(caps)},
            )
        )
    return not any(conn.execute(sql, params).fetchone() for sql, params in checks)


# Each address's emails that could count against it: ``kind`` 1 a draft to rank (``cap``: its
# budget's max_emails), 0 one that holds its place (gone out, approved). The rows at contested
# addresses are copied to csm_contested. An address of '' marks an email whose JSON the database
# cannot read as Python does (see _ODD): its addresses are read in Python.
_TOUCHES = "csm_touches"
_CONTESTED = "csm_contested"


def _touch_tables(conn: sqlite3.Connection) -> None:
    d = dialect_of(conn)
    conn.execute(
        d.ddl(
            f"CREATE TEMP TABLE IF NOT EXISTS {_TOUCHES} (address TEXT NOT NULL, id INTEGER NOT NULL,"
            " kind INTEGER NOT NULL, cap INTEGER, PRIMARY KEY (address, id)) WITHOUT ROWID"
        )
    )
    conn.execute(
        d.ddl(
            f"CREATE TEMP TABLE IF NOT EXISTS {_CONTESTED} (id INTEGER NOT NULL, address TEXT NOT NULL,"
            " kind INTEGER NOT NULL, PRIMARY KEY (id, address)) WITHOUT ROWID"
        )
    )


def _clear_touches(conn: sqlite3.Connection) -> None:
    conn.execute(f"DELETE FROM {_TOUCHES}")
    conn.execute(f"DELETE FROM {_CONTESTED}")


# Every To and Cc entry of the outbox rows ``{where}`` picks, with ``{columns}`` of each row:
# ``r.v`` the To pair's address or the Cc entry, ``r.cc`` 1 for a Cc entry, ``r.odd`` whether the
# row's JSON is one the database would not read as csm.mail.overlaps.addresses does: any
# character but ASCII (Python lowercases more than SQL), an escape (a control character Python
# strips) or a named Cc ("Name <address>"). A plain JSON string is its text between the quotes.
_ENTRIES = {
    "sqlite": (
        "SELECT o.id, json_extract(j.value, '$[1]') AS v, 0 AS cc, {odd} AS odd, {columns}"
        " FROM outbox o, json_each(o.to_addrs) j WHERE {where}"
        " UNION ALL SELECT o.id, j.value, 1, {odd}, {columns} FROM outbox o, json_each(o.cc) j"
        " WHERE o.cc <> '[]' AND ({where})"
    ),
    "postgresql": (
        "SELECT o.id, j.value ->> 1 AS v, 0 AS cc, {odd} AS odd, {columns}"
        " FROM outbox o, jsonb_array_elements(o.to_addrs::jsonb) j WHERE {where}"
        " UNION ALL SELECT o.id, j.value, 1, {odd}, {columns} FROM outbox o,"
        " jsonb_array_elements_text(o.cc::jsonb) AS j(value) WHERE o.cc <> '[]' AND ({where})"
    ),
}
_ODD = {
    "sqlite": (
        "(length(CAST(o.to_addrs AS BLOB)) <> length(o.to_addrs) OR instr(o.to_addrs, '\\') > 0"
        " OR (o.cc <> '[]' AND (length(CAST(o.cc AS BLOB)) <> length(o.cc) OR instr(o.cc, '\\') > 0"
        " OR instr(o.cc, '<') > 0)))"
    ),
    "postgresql": (
        "(octet_length(o.to_addrs) <> length(o.to_addrs) OR strpos(o.to_addrs, '\\') > 0"
        " OR (o.cc <> '[]' AND (octet_length(o.cc) <> length(o.cc) OR strpos(o.cc, '\\') > 0"
        " OR strpos(o.cc, '<') > 0)))"
    ),
}
_ADDRESS = "CASE WHEN r.cc = 1 THEN lower(trim(r.v)) ELSE lower(r.v) END"
_RANKED = "o.status IN ('draft', 'deferred')"
_WAITING = "o.status IN ('draft', 'approved', 'deferred')"


def _insert_touches(conn: sqlite3.Connection, where: str, columns: str, wanted: str, params: Any) -> None:
    """The addresses of the outbox rows ``where`` picks, those ``wanted`` passes, into csm_touches
    (``columns``: each row's kind and cap); an odd entry marks its email for Python."""
    name = dialect_of(conn).name
    entries = _ENTRIES[name].format(odd=_ODD[name], columns=columns, where=where)
    odd = "(r.odd OR r.v IS NULL)"
    conn.execute(
        f"INSERT INTO {_TOUCHES} (address, id, kind, cap)"
        f" SELECT CASE WHEN {odd} THEN '' ELSE {_ADDRESS} END, r.id, r.kind, r.cap FROM ({entries}) r"
        f" WHERE {odd} OR ({_ADDRESS} <> '' AND {wanted}) ON CONFLICT DO NOTHING",
        params,
    )
    marked = conn.execute(
        f"SELECT t.id, t.kind, t.cap, o.to_addrs, o.cc FROM {_TOUCHES} t JOIN outbox o ON o.id = t.id"
        " WHERE t.address = ''"
    ).fetchall()
    if marked:
        conn.execute(f"DELETE FROM {_TOUCHES} WHERE address = ''")
        conn.executemany(
            f"INSERT INTO {_TOUCHES} (address, id, kind, cap) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(a, row[0], row[1], row[2]) for row in marked for a in sorted(addresses(row[3], row[4]))],
        )


def _list_touches(
    conn: sqlite3.Connection, budgets: Mapping[str | None, TouchBudget], default: TouchBudget, since: str
) -> None:
    """Fill csm_touches (the waiting drafts, then the mail gone to their addresses since ``since``)
    and csm_contested (every row at an address with more emails than some draft there may add to)."""
    overrides = [text for text in budgets if text is not None]
    caps = "".join(f" WHEN :b{i} THEN {budgets[text].max_emails}" for i, text in enumerate(overrides))
    cap = f"CASE o.touch_budget{caps} ELSE {default.max_emails} END" if caps else str(default.max_emails)
    waiting = (
        f"CASE WHEN o.status = 'approved' THEN 0 ELSE 1 END AS kind,"
        f" CASE WHEN o.status = 'approved' THEN NULL ELSE {cap} END AS cap"
    )
    params = {f"b{i}": text for i, text in enumerate(overrides)}
    _insert_touches(conn, _WAITING, waiting, "TRUE", params)
    ranked = f"{_ADDRESS} IN (SELECT c.address FROM {_TOUCHES} c WHERE c.kind = 1)"
    gone = "0 AS kind, CAST(NULL AS INTEGER) AS cap"
    _insert_touches(conn, _GONE_SINCE, gone, ranked, {"since": since})
    conn.execute(
        f"INSERT INTO {_CONTESTED} (id, address, kind) SELECT t.id, t.address, t.kind FROM {_TOUCHES} t"
        f" WHERE t.address IN (SELECT c.address FROM {_TOUCHES} c GROUP BY c.address"
        " HAVING count(*) > min(CASE WHEN c.kind = 1 AND c.cap > 0 THEN c.cap END))"
    )


def _counting(conn: sqlite3.Connection) -> dict[str, list[_Counted]]:
    """The mail holding its place at each contested address (gone out, approved), by id."""
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(
        f"SELECT h.id, h.address, o.status, coalesce(o.sent_at, o.updated_at) FROM {_CONTESTED} h"
        " JOIN outbox o ON o.id = h.id WHERE h.kind = 0 ORDER BY h.id, h.address"
    )
    counting: dict[str, list[_Counted]] = {}
    days: dict[str, str] = {}  # one string a day, shared by all the mail gone out that day
    email = _Counted(0, "")
    for draft_id, address, status, out_at in rows:
        if draft_id != email.id:
            day = out_at[:10] if status in GONE else ""
            email = _Counted(draft_id, days.setdefault(day, day))
        counting.setdefault(address, []).append(email)
    return counting


# A draft without room: its id, its budget, the address that is full and the emails filling it.
_Waiting = tuple[int, TouchBudget, str, list[_Counted]]


def _rank(
    conn: sqlite3.Connection,
    budgets: Mapping[str | None, TouchBudget],
    today: dt.date,
    counting: dict[str, list[_Counted]],
    *,
    every: bool,
) -> tuple[Plan, list[_Waiting]]:
    """The greedy of the module docstring over the drafts to rank, in rank order, each with its
    contested addresses (a draft with none has room, and changes no other draft's: unless
    ``every``, only those at a contested address and those deferred before are read)."""
    d = dialect_of(conn)
    cursor = conn.cursor()
    cursor.row_factory = None
    which = "" if every else f" AND (o.status = 'deferred' OR o.id IN (SELECT c.id FROM {_CONTESTED} c))"
    rows = cursor.execute(
        f"SELECT o.id, o.status, o.touch_budget, h.address FROM outbox o"
        f" LEFT JOIN {_CONTESTED} h ON h.id = o.id WHERE {_RANKED}{which}"
        f" ORDER BY {_rank_order(d)}, h.address"
    )
    result = Plan()
    waiting: list[_Waiting] = []
    starts = {text: _window_start(today, budget) for text, budget in budgets.items()}
    statuses = {s: s for s in CONTENDERS}  # one string each, not one a draft
    for (draft_id, status, text), group in itertools.groupby(rows, key=lambda r: r[:3]):
        contested = [r[3] for r in group if r[3] is not None]
        status = statuses[status]
        budget = budgets[text]
        full = None if budget.off else _full(draft_id, contested, budget, starts[text], counting)
        if full is None:
            result.keep.append(draft_id)
            me = _Counted(draft_id, "")
            for address in contested:
                counting.setdefault(address, []).append(me)
            if status == "deferred":
                result.before[draft_id] = status
        else:
            waiting.append((draft_id, budget, *full))
            result.before[draft_id] = status
    return result, waiting


def _rank_order(d: Dialect) -> str:
    """The contenders' order (see the module docstring): priority, the draft made first, its id."""
    priority = " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in RANK.items() if rank != 2)
    return f"CASE o.priority {priority} ELSE 2 END, {d.str_order('o.created_at')}, o.id"


def _full(
    draft_id: int,
    names: Iterable[str],
    budget: TouchBudget,
    start: str,
    counting: Mapping[str, list[_Counted]],
) -> tuple[str, list[_Counted]] | None:
    """The first of ``names`` (sorted) whose budget is spent, and the emails spending it on or
    after ``start`` (a budget of at least one); None: room."""
    for address in names:
        holding = [
            e for e in counting.get(address, ()) if e.id != draft_id and (not e.out_day or e.out_day >= start)
        ]
        if len(holding) >= budget.max_emails:
            return address, holding
    return None


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _by_ids(conn: sqlite3.Connection, select: str, ids: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """The rows of ``select`` (its ``{marks}`` the ids), queried in chunks, as plain tuples."""
    cursor = conn.cursor()
    cursor.row_factory = None
    for chunk in _chunks(ids):
        yield from cursor.execute(select.format(marks=", ".join("?" * len(chunk))), list(chunk)).fetchall()


def _who(conn: sqlite3.Connection, full: Sequence[tuple[str, str | None, str]]) -> dict[tuple[str, str], str]:
    """``Acme's champion Jane Doe`` for each (account, its name, full address), by (account,
    address): the contacts read for all of them at once, through the case-blind email index."""
    email = dialect_of(conn).nocase("email")
    sql = "SELECT account_id, email, name, role, is_primary FROM contacts WHERE " + email + " IN ({marks})"
    contacts: dict[tuple[str, str], Any] = {}
    for row in _by_ids(conn, sql, sorted({address for _, _, address in full})):
        contacts.setdefault((row[0], row[1].lower()), row)
    found = {}
    for account, account_name, address in full:
        row = contacts.get((account, address))
        if row is None:
            found[account, address] = address
            continue
        role = (row[3] or ("primary contact" if row[4] else "contact")).replace("_", " ")
        found[account, address] = f"{account_name or ''}'s {role} {row[2] or address}".rstrip()
    return found


def _reasons(conn: sqlite3.Connection, waiting: Sequence[_Waiting]) -> dict[int, str]:
    """Why each draft without room waits, by id: who is full and what holds them (read a few
    hundred drafts at a time)."""
    reasons = {}
    for chunk in _chunks(waiting):
        drafts = {
            row[0]: row[1:]
            for row in _by_ids(
                conn,
                "SELECT o.id, o.account_id, a.name FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id"
                " WHERE o.id IN ({marks})",
                [w[0] for w in chunk],
            )
        }
        held_ids = sorted({e.id for w in chunk for e in w[3]})
        held = {
            r[0]: r[1:]
            for r in _by_ids(conn, "SELECT id, status, subject FROM outbox WHERE id IN ({marks})", held_ids)
        }
        who = _who(conn, [(*drafts[draft_id], address) for draft_id, _, address, _ in chunk])

        for draft_id, budget, address, holding in chunk:
            text = ", ".join(_named(e, held) for e in holding[:-1])
            last = _named(holding[-1], held)
            text = f"{text} and {last}" if text else last
            reasons[draft_id] = (
                f"deferred: {who[drafts[draft_id][0], address]} already has {text}"
                f" within {budget.per_days} days ({budget})"
            )
    return reasons


def _named(email: _Counted, held: Mapping[int, Sequence[str]]) -> str:
    """An email holding a contact's budget, as a reason names it (``held``: status and subject by id)."""
    status, subject = held[email.id]
    if email.out_day:
        return f"“{subject}” (sent {email.out_day})"
    return f"“{subject}” ({status} #{email.id})"


def rebalance(conn: sqlite3.Connection, default: TouchBudget, today: dt.date, now: str) -> set[int]:
    """Apply :func:`plan`: defer the drafts without room, draft again those with room (caller's
    write); the drafts deferred, each with its reason in the outbox.

    Only the drafts that could lack room are ranked (none at all when nothing can be
    contested). The reasons are read and stored a few hundred drafts at a time: a book's first
    run may defer tens of thousands. A draft deferred already for the same reason is left as it is.
    """
    result, waiting = _ranked(conn, default, today, every=False)
    for chunk in _chunks(waiting):
        outbox.defer_each(conn, _reasons(conn, chunk), now)
    outbox.undefer_each(conn, [i for i in result.keep if i in result.before], now)
    return {w[0] for w in waiting}


def spent_at_send(
    conn: sqlite3.Connection, draft: dict[str, Any], default: TouchBudget, today: dt.date
) -> str | None:
    """Why an approved draft must wait now: its contacts' budget spent by mail gone out meanwhile."""
    budget = budget_of(draft["touch_budget"], default)
    if budget.off:
        return None
    to_addrs, cc = conn.execute(
        "SELECT to_addrs, cc FROM outbox WHERE id = :id", {"id": draft["id"]}
    ).fetchone()
    mine = sorted(addresses(to_addrs, cc))
    if not mine:
        return None
    # The copies each send records (csm.mail.deliveries), by address: no scan of the sent mail.
    # The drafts those copies belong to come first (CROSS JOIN keeps SQLite to that order):
    # left to choose, it walks outbox_status over every email sent in the window, which
    # grows with the book.
    marks = ", ".join(f":a{i}" for i in range(len(mine)))
    address = dialect_of(conn).nocase("d.address")
    to_them = (
        "SELECT o.id, o.status, o.to_addrs, o.cc, coalesce(o.sent_at, o.updated_at)"
        f" FROM (SELECT DISTINCT d.draft_id FROM deliveries d WHERE {address} IN ({marks})) AS t"
        f" CROSS JOIN outbox o WHERE o.id = t.draft_id AND o.id != :id AND ({_GONE_SINCE})"
    )
    params = {"id": draft["id"], "since": _window_start(today, budget)}
    params.update({f"a{i}": address for i, address in enumerate(mine)})
    gone: dict[str, list[_Counted]] = {}
    cursor = conn.cursor()
    cursor.row_factory = None
    for draft_id, status, their_to, their_cc, out_at in cursor.execute(to_them, params):
        email = _Counted(draft_id, out_at[:10] if status in GONE else "")
        for their in addresses(their_to, their_cc):
            gone.setdefault(their, []).append(email)
    full = _full(draft["id"], mine, budget, _window_start(today, budget), gone)
    return None if full is None else _reasons(conn, [(draft["id"], budget, *full)])[draft["id"]]

"""Evaluating playbooks: which accounts match which step today, and why.

Each step is one SQL query: the playbook's audience and the step's `when`
compiled to SQL, minus snoozed accounts. Only the fields a condition names are
computed, so a derived field costs nothing unless a playbook uses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from csm.data.freshness import Stale, kinds_read
from csm.engine import sequences
from csm.language.fields import FieldSet
from csm.language.playbooks import PERIODS, Playbook, Step

_CHUNK = 500
_TODAY = re.compile(r":today\b")


def dedupe_key(playbook_id: str, step_id: str, account_id: str, once_value: object) -> str:
    """What makes a draft or task unique: (playbook, step, account, once_per value)."""
    return f"{playbook_id}:{step_id}:{account_id}:{once_value}"


class Match(NamedTuple):
    """One account a step matched. A tuple, not a dataclass: a run may build a million."""

    account_id: str
    account_name: str
    owner: str | None
    values: dict[str, Any]  # the fields the step's condition names, as they are today
    once_value: str

    def dedupe_key(self, playbook: Playbook, step: Step) -> str:
        return dedupe_key(playbook.id, step.id, self.account_id, self.once_value)


@dataclass(frozen=True)
class StepResult:
    playbook: Playbook
    step: Step
    matches: tuple[Match, ...]  # to be touched: drafts and tasks (the first `keep` of them)
    held_out: tuple[Match, ...] = ()  # matched, set aside by the playbook's holdout (likewise)
    exits: tuple[str, ...] = ()  # accounts meeting `until` with open tasks or unsent drafts
    match_count: int = 0  # every match to be touched, kept or not
    held_out_count: int = 0
    stale: tuple[Stale, ...] = ()
    # Matched, and everything they call for is drafted and tasked already (``settled``):
    # their accounts only, no values, so a morning holds and computes only what is new.
    settled: tuple[str, ...] = ()  # the step reads stale data: it did not fire (see csm.data.freshness)


def held_out(playbook_id: str, account_id: str, share: float) -> bool:
    """Whether the holdout sets this account aside: a stable sha256, never Python's hash()."""
    digest = hashlib.sha256(f"{playbook_id}\0{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def shifted(sql: str, days_ago: int, fields: FieldSet) -> str:
    """A condition's SQL evaluated as of ``days_ago`` days before :today."""
    shift = fields.dialect.add_days(":today", -days_ago)
    return _TODAY.sub(lambda _: shift, sql)


def period_value(period: str, today: dt.date) -> str:
    if period == "week":
        year, week, _ = today.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return today.strftime("%Y-%m")
    if period == "quarter":
        return f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    return str(today.year)


def _once_sql(step: Step, fields: FieldSet, today: dt.date) -> tuple[str, dict[str, Any]]:
    if step.once_per is None:
        return ":once_value", {"once_value": "once"}
    if step.once_per in PERIODS:
        return ":once_value", {"once_value": period_value(step.once_per, today)}
    return f"coalesce(({fields.sql(step.once_per)}), '')", {}


# The accounts a step fired for within its cooldown: a draft (in any state) or a task it made.
_COOLING = (
    "a.id NOT IN (SELECT o.account_id FROM outbox o WHERE o.playbook = :playbook_id AND o.step = :step_id"
    " AND o.created_at >= :cooled_since UNION ALL SELECT t.account_id FROM tasks t"
    " WHERE t.playbook = :playbook_id AND t.step = :step_id AND t.created_at >= :cooled_since)"
)


def step_reads(playbook: Playbook, step: Step) -> frozenset[str]:
    """The kinds of data a step's audience, condition and exit read."""
    conditions = (playbook.audience, step.when, step.until)
    return kinds_read(" ".join(c.sql for c in conditions if c is not None))


def step_query(
    playbook: Playbook,
    step: Step,
    fields: FieldSet,
    today: dt.date,
    *,
    owner: str | None = None,
    account_id: str | None = None,
    firing: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The one SQL query that finds this step's matching accounts: id, name, owner, once value
    (and, for a follow-up, the day the email it follows went out).

    The condition's fields are not selected: :func:`step_values` computes them for
    the matches kept, so a dry run showing 20 of 80,000 matches computes 20.
    ``firing``: evaluating to fire, so the step's ``cooldown`` applies (not when
    sending re-checks a draft the step made).
    """
    once_sql, params = _once_sql(step, fields, today)
    source = "accounts a"
    if step.follow is not None:  # a follow-up: the email it follows went out, and the wait is over
        join, follow_where, follow_params, once_suffix = sequences.query_parts(fields.dialect, step)
        source += join
        once_sql = f"({once_sql}){once_suffix}, p.sent_on"  # and when the email it follows went out
        params.update(follow_params)
    # Cheap filters first: SQLite evaluates AND terms in order, so the audience
    # (usually plain columns) spares the step's costlier derived fields most rows.
    where = []
    if playbook.audience is not None:
        where.append(f"({playbook.audience.sql})")
        params.update(playbook.audience.params)
    where.append(
        "a.id NOT IN (SELECT z.account_id FROM snoozes z"
        " WHERE (z.playbook IS NULL OR z.playbook = :playbook_id) AND z.until > :today)"
    )
    where.append(f"({step.when.sql})")
    if step.follow is not None:
        where.extend(follow_where)
    if step.until is not None:  # an account that meets the exit does not enter
        where.append(f"NOT coalesce(({step.until.sql}), FALSE)")
        params.update(step.until.params)
    # `for: Nd`: the condition also held on each of the N-1 days before today.
    where.extend(f"({shifted(step.when.sql, k, fields)})" for k in range(1, step.for_days))
    params.update(step.when.params)
    params["playbook_id"] = playbook.id
    if firing and step.cooldown_days:
        where.append(_COOLING)
        params["step_id"] = step.id
        params["cooled_since"] = (today - dt.timedelta(days=step.cooldown_days - 1)).isoformat()
    if owner is not None:
        where.append("a.owner = :owner")
        params["owner"] = owner
    if account_id is not None:
        where.append("a.id = :account_id")
        params["account_id"] = account_id
    sql = (
        f"SELECT a.id, a.name, a.owner, {once_sql} FROM {source} WHERE "
        + " AND ".join(where)
        + " ORDER BY a.id"
    )
    return sql, params


def evaluate(
    conn: sqlite3.Connection,
    playbooks: Iterable[Playbook],
    fields: FieldSet,
    base_params: dict[str, Any],
    today: dt.date,
    *,
    owner: str | None = None,
    account_id: str | None = None,
    keep: int | None = None,
    stale: Mapping[str, Sequence[Stale]] | None = None,
    settled: Callable[[Step, str], bool] | None = None,
) -> list[StepResult]:
    """Every step of every playbook with the accounts it matches today.

    ``keep``: hold only the first N matches (and held-out ones) of each step and
    count the rest, so showing a million matches needs no memory for them.
    ``stale``: the stale kinds of data (see :func:`csm.data.freshness.stale_data`):
    a step reading one matches nothing and says why.
    ``settled(step, dedupe key)``: a match it holds true for is left out of the step's
    matches, its account listed in ``settled`` (a run: nothing to draft or task for it).
    """
    results = []
    for playbook in playbooks:
        for step in playbook.steps:
            stale_kinds = stale_reads(playbook, step, stale or {})
            if stale_kinds:
                results.append(StepResult(playbook, step, (), stale=stale_kinds))
                continue
            groups: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
            counts = [0, 0]
            share = playbook.holdout
            done: list[str] = []
            for row in step_rows(conn, playbook, step, fields, base_params, today, owner, account_id):
                held = share > 0 and held_out(playbook.id, row[0], share)
                counts[held] += 1
                if (
                    not held
                    and settled is not None
                    and settled(step, dedupe_key(playbook.id, step.id, row[0], row[3]))
                ):
                    done.append(row[0])
                elif keep is None or counts[held] <= keep:
                    groups[held].append(row)
            values = step_values(
                conn, fields, step, base_params, [row[0] for group in groups for row in group]
            )
            if step.follow is not None:  # its why: the email it follows, and when it went out
                for r in (row for group in groups for row in group):
                    values[r[0]] = {**values[r[0]], "after": sequences.why(step, r[4])}
            touched, kept_out = (
                tuple(Match(r[0], r[1], r[2], values[r[0]], str(r[3])) for r in group) for group in groups
            )
            exits = _exits(conn, playbook, step, base_params, owner, account_id)
            results.append(
                StepResult(
                    playbook, step, touched, kept_out, exits, counts[0], counts[1], settled=tuple(done)
                )
            )
    return results


def stale_reads(playbook: Playbook, step: Step, stale: Mapping[str, Sequence[Stale]]) -> tuple[Stale, ...]:
    """The stale data the step reads: a run holds it back (nothing matches) while there is any."""
    if not stale:
        return ()
    return tuple(dict.fromkeys(s for kind in sorted(step_reads(playbook, step)) for s in stale.get(kind, ())))


def step_rows(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    fields: FieldSet,
    base_params: dict[str, Any],
    today: dt.date,
    owner: str | None = None,
    account_id: str | None = None,
) -> sqlite3.Cursor:
    """The step query's rows: (id, name, owner, once_per value) of each account it matches."""
    sql, params = step_query(playbook, step, fields, today, owner=owner, account_id=account_id, firing=True)
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: a sqlite3.Row per match costs more than the match
    return cursor.execute(sql, {**base_params, **params})


def step_values(
    conn: sqlite3.Connection, fields: FieldSet, step: Step, base_params: dict[str, Any], ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The fields the step's condition names, and what its collections hold, today, for each account."""
    names = list(dict.fromkeys(step.when.fields))
    sqls = [fields.sql(name) for name in names]
    for label, sql in step.when.values:
        names.append(label)
        sqls.append(sql)
    columns = "".join(f", ({sql})" for sql in sqls)
    params = {**base_params, **step.when.params} if step.when.values else base_params
    return {
        row[0]: dict(zip(names, row[1:], strict=True))
        for row in _by_id(conn, f"SELECT a.id{columns} FROM accounts a", params, ids, tuples=True)
    }


def _by_id(
    conn: sqlite3.Connection, select: str, base_params: dict[str, Any], ids: Sequence[str], *, tuples: bool
) -> Iterator[Any]:
    """The rows of ``select`` (over accounts ``a``) for these account ids, queried in chunks."""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join(f":id{i}" for i in range(len(chunk)))
        cursor = conn.cursor()
        if tuples:
            cursor.row_factory = None
        yield from cursor.execute(
            f"{select} WHERE a.id IN ({marks})", {**base_params, **{f"id{i}": v for i, v in enumerate(chunk)}}
        )


def _exits(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    base_params: dict[str, Any],
    owner: str | None,
    account_id: str | None,
) -> tuple[str, ...]:
    if step.until is None:
        return ()
    sql = (
        "SELECT a.id FROM accounts a WHERE a.id IN ("
        " SELECT t.account_id FROM tasks t WHERE t.playbook = :playbook_id AND t.step = :step_id"
        " AND t.status IN ('open', 'snoozed') UNION SELECT o.account_id FROM outbox o"
        " WHERE o.playbook = :playbook_id AND o.step = :step_id"
        " AND o.status IN ('draft', 'approved', 'deferred'))"
        f" AND ({step.until.sql})"
        + (" AND a.owner = :owner" if owner is not None else "")
        + (" AND a.id = :account_id" if account_id is not None else "")
        + " ORDER BY a.id"
    )
    params = {
        **base_params,
        **step.until.params,
        "playbook_id": playbook.id,
        "step_id": step.id,
        "owner": owner,
        "account_id": account_id,
    }
    return tuple(row[0] for row in conn.execute(sql, params))


def account_rows(
    conn: sqlite3.Connection,
    fields: FieldSet,
    base_params: dict[str, Any],
    ids: Sequence[str],
    derived_names: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Accounts by id, fetched in chunks: every column, and the derived fields named (None: all)."""
    derived = [f for f in fields.values() if f.derived and (derived_names is None or f.name in derived_names)]
    columns = ", ".join(f'({fields.sql(f.name)}) AS "{f.name}"' for f in derived)
    select = f"SELECT a.*{', ' if columns else ''}{columns} FROM accounts a"
    return {row["id"]: dict(row) for row in _by_id(conn, select, base_params, ids, tuples=False)}


def held_back(results: list[StepResult]) -> list[str]:
    """The steps stale data kept from firing, as ``playbook › step``."""
    return [f"{r.playbook.id} › {r.step.id}" for r in results if r.stale]


def once_value(
    conn: sqlite3.Connection,
    step: Step,
    fields: FieldSet,
    base_params: dict[str, Any],
    today: dt.date,
    account_id: str,
) -> str:
    """The step's once_per value for one account today: the last part of its dedupe key."""
    sql, params = _once_sql(step, fields, today)
    row = conn.execute(
        f"SELECT {sql} FROM accounts a WHERE a.id = :account_id",
        {**base_params, **params, "account_id": account_id},
    ).fetchone()
    return str(row[0])

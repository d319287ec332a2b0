"""Evaluating playbooks: which accounts match which step today, and why.

Each step is one SQL query: the playbook's audience and the step's `when`
compiled to SQL, minus snoozed accounts (:func:`step_query`). Only the fields a
condition names are computed, so a derived field costs nothing unless a playbook
uses it. :func:`evaluate` reads a playbook's audience once for all its steps
(:mod:`csm.engine.audience`) and each step's query from there: the same matches.

A step's matches go from its query straight into a TEMP table (``csm_matched``):
a run reads back only the matches with something left to draft or task (whether
each is drafted and tasked already is a column of the query), and records every
match from there (:func:`record_matches`). So Python holds what is new, not the
hundred thousand matches a book's morning finds again (a playbook with a holdout
reads each of its matches once, to hash it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from csm.data.backend import dialect_of
from csm.data.freshness import Stale, kinds_read
from csm.engine import sequences
from csm.engine.audience import TABLE as _AUDIENCE
from csm.engine.audience import audience_terms, condition_terms, flag_steps
from csm.engine.recipients import NO_RECIPIENT
from csm.language.fields import FieldSet
from csm.language.playbooks import PERIODS, Playbook, Step


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
    """One step's evaluation: the accounts it matched and those it held out."""

    playbook: Playbook
    step: Step
    matches: tuple[Match, ...]  # to be touched: drafts and tasks (the first `keep` of them)
    held_out: tuple[Match, ...] = ()  # matched, set aside by the playbook's holdout (likewise)
    exits: tuple[str, ...] = ()  # accounts meeting `until` with open tasks or unsent drafts
    match_count: int = 0  # every match to be touched, kept or not
    held_out_count: int = 0
    stale: tuple[Stale, ...] = ()  # the step reads stale data: it did not fire (see csm.data.freshness)
    # A settling run's: the accounts among ``matches`` whose draft, and whose task, exist already
    # (a step without an email counts as drafted, one without a task as tasked).
    drafted: frozenset[str] = frozenset()
    tasked: frozenset[str] = frozenset()
    # A settling run's: every match of the step, touched, settled or held out, as the rows
    # (first, last] of csm_matched (otherwise (0, 0): ``matches`` and ``held_out`` are all of them).
    matched: tuple[int, int] = (0, 0)


def held_out(playbook_id: str, account_id: str, share: float) -> bool:
    """Whether the holdout sets this account aside: a stable sha256, never Python's hash()."""
    digest = hashlib.sha256(f"{playbook_id}\0{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


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


def _settled_sql(step: Step, fields: FieldSet, once: str) -> tuple[str, str]:
    """Whether a match's draft and its task exist already, as 1 or 0 (:class:`csm.engine.drafting.Existing`
    in SQL): each a lookup of the dedupe key ``:key_prefix`` + account + once value.

    The key is spelled as Python spells it (``str()`` of the once value): a text value is itself,
    and SQLite's text of a number can differ from Python's, so there ``csm_text`` (Python's ``str``)
    spells any once value a field gives. (On PostgreSQL a field's once value is text: ``coalesce``
    with ``''`` makes it so.)
    """
    if fields.dialect.sqlite and step.once_per is not None and step.once_per not in PERIODS:
        once = f"csm_text({once})"
    key = f"CAST(:key_prefix AS TEXT) || a.id || ':' || {once}"
    drafted = (
        f"EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = {key} AND o.playbook = :playbook_id)"
        f" OR EXISTS (SELECT 1 FROM tasks t WHERE t.dedupe_key = {key} || :no_recipient"
        " AND t.playbook = :playbook_id AND t.status = 'done')"  # the CSM did it: never drafted after
    )
    tasked = f"EXISTS (SELECT 1 FROM tasks t WHERE t.dedupe_key = {key} AND t.playbook = :playbook_id)"
    return tuple(  # type: ignore[return-value]
        f"CASE WHEN {sql} THEN 1 ELSE 0 END" if wanted else "1"
        for sql, wanted in ((drafted, step.email is not None), (tasked, step.task is not None))
    )


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
    recording: bool = False,
    settle: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The one SQL query that finds this step's matching accounts: id, name, owner, once value
    (and, for a follow-up, the day the email it follows went out).

    The condition's fields are not selected: :func:`step_values` computes them for
    the matches kept, so a dry run showing 20 of 80,000 matches computes 20.
    ``firing``: evaluating to fire, so the step's ``cooldown`` applies (not when
    sending re-checks a draft the step made). ``recording``: the columns of
    ``csm_matched`` (the day the email followed went out, NULL for a step that
    follows none; whether the match is drafted and tasked already if ``settle``, else NULL).
    """
    where, params = audience_terms(playbook, owner, account_id)
    terms, step_params = condition_terms(step, fields)
    return _matches_query(
        playbook,
        step,
        fields,
        today,
        "accounts a",
        where + terms,
        {**params, **step_params},
        firing=firing,
        recording=recording,
        settle=settle,
    )


def _matches_query(
    playbook: Playbook,
    step: Step,
    fields: FieldSet,
    today: dt.date,
    source: str,
    where: list[str],
    params: dict[str, Any],
    *,
    firing: bool,
    recording: bool,
    settle: bool,
) -> tuple[str, dict[str, Any]]:
    """The step's query over ``source`` (accounts ``a``, with whatever else it joins) filtered by
    ``where``: what :func:`step_query` selects, with the step's follow-up and cooldown added."""
    once_sql, once_params = _once_sql(step, fields, today)
    params = {**params, **once_params, "playbook_id": playbook.id}
    where = list(where)
    sent_on = "NULL"
    if step.follow is not None:  # a follow-up: the email it follows went out, and the wait is over
        join, follow_where, follow_params, once_suffix = sequences.query_parts(fields.dialect, step)
        source += join
        once_sql = f"({once_sql}){once_suffix}"
        sent_on = "p.sent_on"  # when the email it follows went out
        params.update(follow_params)
        where.extend(follow_where)
    columns = f"{once_sql}, {sent_on}" if recording or step.follow is not None else once_sql
    if recording:
        flags = _settled_sql(step, fields, once_sql) if settle else ("NULL", "NULL")
        columns += f", {flags[0]}, {flags[1]}"
        if settle:
            params.update(key_prefix=f"{playbook.id}:{step.id}:", no_recipient=NO_RECIPIENT)
    if firing and step.cooldown_days:
        where.append(_COOLING)
        params["step_id"] = step.id
        params["cooled_since"] = (today - dt.timedelta(days=step.cooldown_days - 1)).isoformat()
    sql = (
        f"SELECT a.id, {'' if recording else 'a.name, a.owner, '}{columns} FROM {source} WHERE "
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
    settle: bool = False,
) -> list[StepResult]:
    """Every step of every playbook with the accounts it matches today.

    ``keep``: hold only the first N matches (and held-out ones) of each step and
    count the rest, so showing a million matches needs no memory for them.
    ``stale``: the stale kinds of data (see :func:`csm.data.freshness.stale_data`):
    a step reading one matches nothing and says why.
    ``settle`` (a run): a match whose draft and task exist already is left out of the
    step's matches (nothing to draft or task for it); it is still counted and recorded.
    """
    _matched_table(conn)
    results = []
    for playbook in playbooks:
        stale_kinds = {step.id: stale_reads(playbook, step, stale or {}) for step in playbook.steps}
        live = [step for step in playbook.steps if not stale_kinds[step.id]]
        matched = {}
        for bit, step in flag_steps(conn, playbook, live, fields, base_params, owner, account_id):
            matched[step.id] = _insert_matched(conn, playbook, step, fields, base_params, today, bit, settle)
        for step in playbook.steps:
            if stale_kinds[step.id]:
                results.append(StepResult(playbook, step, (), stale=stale_kinds[step.id]))
                continue
            result = _step_result(conn, playbook, step, fields, base_params, matched[step.id], keep, settle)
            exits = _exits(conn, playbook, step, base_params, owner, account_id)
            results.append(replace(result, exits=exits))
    return results


def _step_result(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    fields: FieldSet,
    base_params: dict[str, Any],
    matched: tuple[int, int],
    keep: int | None,
    settle: bool,
) -> StepResult:
    """The step's matches from its rows of csm_matched (see :func:`evaluate`).

    Without a holdout only the matches kept are read back; with one, each is hashed
    (:func:`held_out`) and the held-out ones are marked for :func:`record_matches`.
    A settling run's rows stay until recorded; any other evaluation holds all it
    keeps, and its rows go at once.
    """
    first, last = matched
    share = playbook.holdout
    groups: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
    counts = [last - first, 0]
    held_ids: list[tuple[int]] = []
    for row in _matched_rows(conn, first, last, settle and share == 0, keep if share == 0 else None):
        held = share > 0 and held_out(playbook.id, row[0], share)
        if held:
            counts[0] -= 1
            counts[1] += 1
            held_ids.append((row[5],))
        elif settle and row[3] and row[4]:
            continue  # drafted and tasked already
        if keep is None or len(groups[held]) < keep:
            groups[held].append(row)
    if settle:
        conn.executemany(f"UPDATE {_MATCHED} SET held_out = 1 WHERE id = ?", held_ids)
    else:
        _forget(conn, first, last)
        matched = (0, 0)
    kept = step_values(conn, fields, step, base_params, [row[0] for group in groups for row in group])
    if step.follow is not None:  # its why: the email it follows, and when it went out
        for r in (row for group in groups for row in group):
            name, owner, values = kept[r[0]]
            kept[r[0]] = name, owner, {**values, "after": sequences.why(step, r[2])}
    touched, kept_out = (tuple(Match(r[0], *kept[r[0]], str(r[1])) for r in group) for group in groups)
    drafted, tasked = (frozenset(r[0] for r in groups[0] if settle and r[k]) for k in (3, 4))
    return StepResult(
        playbook,
        step,
        touched,
        kept_out,
        match_count=counts[0],
        held_out_count=counts[1],
        drafted=drafted,
        tasked=tasked,
        matched=matched,
    )


_MATCHED = "csm_matched"  # TEMP: each evaluated step's matches, until recorded (record_matches)
# Only what tells a match apart: a name and owner for every match made the TEMP table seven
# times as costly to fill (it spills); the matches kept read theirs with their values.
_MATCHED_COLUMNS = "account_id, once, sent_on, drafted, tasked"


def _matched_table(conn: sqlite3.Connection) -> None:
    d = dialect_of(conn)
    if d.sqlite:  # the key's spelling of a once value, as Python's str() (see _settled_sql)
        conn.create_function("csm_text", 1, str, deterministic=True)
    # ``once`` keeps the value's own type on SQLite (no affinity): its str() is the key's part.
    conn.execute(
        d.ddl(
            f"CREATE TEMP TABLE IF NOT EXISTS {_MATCHED} (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL,"
            f" once{'' if d.sqlite else ' TEXT'},"
            " sent_on TEXT, drafted INTEGER, tasked INTEGER, held_out INTEGER NOT NULL DEFAULT 0)"
        )
    )


def _last_matched(conn: sqlite3.Connection) -> int:
    return int(conn.execute(f"SELECT coalesce(max(id), 0) FROM {_MATCHED}").fetchone()[0])


def _insert_matched(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    fields: FieldSet,
    base_params: dict[str, Any],
    today: dt.date,
    bit: int,
    settle: bool,
) -> tuple[int, int]:
    """The step's matches into csm_matched, in its order: their row ids (first, last].

    The accounts of csm_audience with the step's bit (:func:`csm.engine.audience.flag_steps`), less those its
    follow-up or cooldown keeps out: what :func:`step_query` finds, firing."""
    # CROSS JOIN: SQLite walks csm_audience and looks each account up, never the other way round.
    sql, params = _matches_query(
        playbook,
        step,
        fields,
        today,
        f"{_AUDIENCE} f CROSS JOIN accounts a",
        ["a.id = f.account_id", f"(f.flags & {bit}) <> 0"],
        {},
        firing=True,
        recording=True,
        settle=settle,
    )
    inserted = conn.execute(f"INSERT INTO {_MATCHED} ({_MATCHED_COLUMNS}) {sql}", {**base_params, **params})
    # Counted back from the last id, not from the largest before: on PostgreSQL the ids of rows
    # already forgotten are not given again, so that largest is no bound once the table is empty.
    last = _last_matched(conn)
    return last - inserted.rowcount, last


def _matched_rows(
    conn: sqlite3.Connection, first: int, last: int, unsettled: bool, limit: int | None
) -> sqlite3.Cursor:
    """A step's rows of csm_matched in its order (``unsettled``: those not drafted and tasked already)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(
        f"SELECT {_MATCHED_COLUMNS}, id FROM {_MATCHED} WHERE id > :first AND id <= :last"
        + (" AND NOT (drafted = 1 AND tasked = 1)" if unsettled else "")
        + " ORDER BY id"
        + ("" if limit is None else f" LIMIT {int(limit)}"),
        {"first": first, "last": last},
    )


_MATCH_KEPT = (
    " ON CONFLICT (playbook, step, account_id) DO UPDATE SET last_matched = CASE"
    " WHEN excluded.last_matched > matches.last_matched THEN excluded.last_matched"
    " ELSE matches.last_matched END"
)


def record_matches(conn: sqlite3.Connection, results: Iterable[StepResult], today: dt.date) -> None:
    """Remember each step's matches, touched, settled or held out, for the report (caller's transaction).

    A settling run's are in csm_matched already; any other result's are its own ``matches``
    and ``held_out``, put there first. A key's first row wins, as inserted one by one (a second
    changes nothing); on PostgreSQL, where one upsert may not touch a row twice, by DISTINCT ON.
    """
    day = today.isoformat()
    d = dialect_of(conn)
    pick = "" if d.sqlite else "DISTINCT ON (account_id) "
    order = "id" if d.sqlite else "account_id, id"
    for r in results:
        first, last = r.matched if r.matched[1] > r.matched[0] else _insert_held(conn, r)
        conn.execute(
            "INSERT INTO matches (playbook, step, account_id, first_matched, last_matched, held_out)"
            f" SELECT {pick}CAST(:playbook AS TEXT), CAST(:step AS TEXT), account_id, CAST(:day AS TEXT),"
            f" CAST(:day AS TEXT), held_out FROM {_MATCHED} WHERE id > :first AND id <= :last"
            f" ORDER BY {order}" + _MATCH_KEPT,
            {"first": first, "last": last, "playbook": r.playbook.id, "step": r.step.id, "day": day},
        )
        _forget(conn, first, last)


def _insert_held(conn: sqlite3.Connection, result: StepResult) -> tuple[int, int]:
    """The matches a result holds, touched then held out, into csm_matched: their row ids (first, last]."""
    _matched_table(conn)
    rows = [(m.account_id, 0) for m in result.matches] + [(m.account_id, 1) for m in result.held_out]
    first = _last_matched(conn)
    if dialect_of(conn).sqlite:
        conn.executemany(f"INSERT INTO {_MATCHED} (account_id, held_out) VALUES (?, ?)", rows)
    else:  # a statement a row is a round trip a row
        conn.copy_in(_MATCHED, ("account_id", "held_out"), rows)
    return first, _last_matched(conn)


def _forget(conn: sqlite3.Connection, first: int, last: int) -> None:
    conn.execute(f"DELETE FROM {_MATCHED} WHERE id > :first AND id <= :last", {"first": first, "last": last})


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
) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    """Each account's name and owner, and the fields the step's condition names and what its
    collections hold, today."""
    names = list(dict.fromkeys(step.when.fields))
    sqls = [fields.sql(name) for name in names]
    for label, sql in step.when.values:
        names.append(label)
        sqls.append(sql)
    columns = "".join(f", ({sql})" for sql in sqls)
    params = {**base_params, **step.when.params} if step.when.values else base_params
    select = f"SELECT a.id, a.name, a.owner{columns} FROM accounts a"
    return {
        row[0]: (row[1], row[2], dict(zip(names, row[3:], strict=True)))
        for row in _by_id(conn, select, params, ids, tuples=True)
    }


def _by_id(
    conn: sqlite3.Connection, select: str, base_params: dict[str, Any], ids: Sequence[str], *, tuples: bool
) -> Iterator[Any]:
    """The rows of ``select`` (over accounts ``a``) for these account ids, the ids in one parameter."""
    cursor = conn.cursor()
    if tuples:
        cursor.row_factory = None
    where = f"a.id IN ({dialect_of(conn).texts_in(':account_ids')})"
    return cursor.execute(f"{select} WHERE {where}", {**base_params, "account_ids": json.dumps(list(ids))})


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
    read: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Accounts by id, fetched in chunks: every column and derived field, or (``read``: the fields
    the caller reads, None: any) the id, the owner and those fields only."""
    derived = [f for f in fields.values() if f.derived and (read is None or f.name in read)]
    if read is None:
        columns = "".join(f', ({fields.sql(f.name)}) AS "{f.name}"' for f in derived)
        select = f"SELECT a.*{columns} FROM accounts a"
        return {row["id"]: dict(row) for row in _by_id(conn, select, base_params, ids, tuples=False)}
    # A dict per account is most of the cost: only the fields read, from plain tuples (a column
    # first where a derived field has its name, as sqlite3.Row's dict above keeps it).
    table = dialect_of(conn).column_types(conn, "accounts")
    names = ["id", "owner", *(c for c in table if c in read and c not in ("id", "owner"))]
    sqls = [f'a."{name}"' for name in names]
    for f in derived:
        if f.name not in table:
            names.append(f.name)
            sqls.append(f"({fields.sql(f.name)})")
    select = f"SELECT {', '.join(sqls)} FROM accounts a"
    return {
        row[0]: dict(zip(names, row, strict=True))
        for row in _by_id(conn, select, base_params, ids, tuples=True)
    }


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

"""A playbook's audience read once for all its steps: one pass over the accounts.

Each step's query used to scan the accounts, test the playbook's audience and the
snoozes, then its own condition: a playbook of nine steps read them nine times.
:func:`flag_steps` reads them once, into a TEMP table (``csm_audience``) of the
accounts the playbook's steps may match, with a bit a step: whether the account
meets the step's own condition (``when``, its ``for:`` days, not its ``until``).
Each step's query then reads its accounts from there
(:func:`csm.engine.matching.evaluate`).

The order conditions are tried in is kept as a step's own query had it. SQLite tries
a WHERE's terms without a correlated subquery first (the compiler orders a
condition's terms so too); one query for several steps must not test the audience's
costly terms (a ticket within 7 days) for an account whose cheap step terms (seats
nearly full) rule out every step. So the audience's terms are split: the plain ones
first, then (when every step has plain terms) whether any step's plain terms hold,
then the audience's costly terms, then each step's bit.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from csm.data.backend import dialect_of
from csm.language.compiler import subqueries
from csm.language.fields import FieldSet
from csm.language.playbooks import Playbook, Step

_TODAY = re.compile(r":today\b")
TABLE = "csm_audience"  # TEMP: the accounts a playbook's steps may match, a bit a step
_BITS = 62  # the steps one row holds: bits of a 64-bit signed integer, the sign left alone


def shifted(sql: str, days_ago: int, fields: FieldSet) -> str:
    """A condition's SQL evaluated as of ``days_ago`` days before :today."""
    shift = fields.dialect.add_days(":today", -days_ago)
    return _TODAY.sub(lambda _: shift, sql)


def audience_terms(
    playbook: Playbook, owner: str | None, account_id: str | None
) -> tuple[list[str], dict[str, Any]]:
    """The WHERE terms (over accounts ``a``) of the accounts a playbook's steps may match: its
    audience, not snoozed for it, and the owner or the one account asked for."""
    # Cheap filters first: SQLite evaluates AND terms in order, so the audience
    # (usually plain columns) spares the steps' costlier derived fields most rows.
    where, params = _beside_audience(owner, account_id)
    params["playbook_id"] = playbook.id
    if playbook.audience is not None:
        where.insert(0, f"({playbook.audience.sql})")
        params.update(playbook.audience.params)
    return where, params


def _beside_audience(owner: str | None, account_id: str | None) -> tuple[list[str], dict[str, Any]]:
    """The terms of :func:`audience_terms` but the audience's own: not snoozed, the owner, the account."""
    params: dict[str, Any] = {}
    where = [
        "a.id NOT IN (SELECT z.account_id FROM snoozes z"
        " WHERE (z.playbook IS NULL OR z.playbook = :playbook_id) AND z.until > :today)"
    ]
    if owner is not None:
        where.append("a.owner = :owner")
        params["owner"] = owner
    if account_id is not None:
        where.append("a.id = :account_id")
        params["account_id"] = account_id
    return where, params


def condition_terms(step: Step, fields: FieldSet) -> tuple[list[str], dict[str, Any]]:
    """The WHERE terms (over accounts ``a``) of what a step asks of an account itself: its `when`'s
    terms, held on each of its `for:` days, and not its `until`. Their parameters are the step's own."""
    where = list(step.when.terms)
    params = dict(step.when.params)
    if step.until is not None:  # an account that meets the exit does not enter
        where.append(f"NOT coalesce(({step.until.sql}), FALSE)")
        params.update(step.until.params)
    # `for: Nd`: the condition also held on each of the N-1 days before today.
    where.extend(shifted(term, k, fields) for k in range(1, step.for_days) for term in step.when.terms)
    return where, params


def flag_steps(
    conn: sqlite3.Connection,
    playbook: Playbook,
    steps: Sequence[Step],
    fields: FieldSet,
    base_params: dict[str, Any],
    owner: str | None,
    account_id: str | None,
) -> Iterator[tuple[int, Step]]:
    """Each step with its bit, once its group's accounts are in csm_audience (see the module's
    doc): read one step's accounts before asking for the next step's bit."""
    d = dialect_of(conn)
    conn.execute(
        d.ddl(
            f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} (account_id TEXT PRIMARY KEY, flags INTEGER NOT NULL)"
            " WITHOUT ROWID"
        )
    )
    for start in range(0, len(steps), _BITS):
        group = steps[start : start + _BITS]
        sql, params = _flags_query(playbook, group, fields, owner, account_id)
        # TRUNCATE on PostgreSQL: a DELETE a playbook would leave its dead rows to every later scan.
        conn.execute(f"DELETE FROM {TABLE}" if d.sqlite else f"TRUNCATE {TABLE}")
        conn.execute(f"INSERT INTO {TABLE} (account_id, flags) {sql}", {**base_params, **params})
        yield from ((1 << index, step) for index, step in enumerate(group))


def _flags_query(
    playbook: Playbook, steps: Sequence[Step], fields: FieldSet, owner: str | None, account_id: str | None
) -> tuple[str, dict[str, Any]]:
    others, params = _beside_audience(owner, account_id)
    params["playbook_id"] = playbook.id
    audience = playbook.audience
    if audience is not None:
        params.update(audience.params)
    cheap, costly = _split(list(audience.terms) if audience is not None else [])
    steps_cheap, flags = [], []
    for index, step in enumerate(steps):
        terms, step_params = condition_terms(step, fields)
        params.update(step_params)
        plain, rest = _split(terms)
        steps_cheap.append(plain)
        flags.append(f"CASE WHEN {' AND '.join(plain + rest)} THEN {1 << index} ELSE 0 END")
    where = cheap + others
    if all(steps_cheap):  # no account that fails every step's plain terms reads the costly ones
        where.append("(" + " OR ".join(f"({' AND '.join(plain)})" for plain in steps_cheap) + ")")
    where += costly
    return f"SELECT a.id, {' + '.join(flags)} FROM accounts a WHERE {' AND '.join(where)}", params


def _split(terms: list[str]) -> tuple[list[str], list[str]]:
    """Terms without a subquery, then those with one, each in the order given."""
    return [t for t in terms if not subqueries(t)], [t for t in terms if subqueries(t)]

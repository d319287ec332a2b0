"""`csm explain`: why a step matched an account or not, clause by clause, and why it would not draft.

The verdict is the run's own: :func:`csm.engine.matching.step_query` for this
one account. Each sub-condition of ``audience:`` and ``when:`` is compiled on
its own by :func:`csm.language.compiler.compile_part` (the compiler's own code
path) and all of them are evaluated in one SQL query over the account's row, so
what explain says a clause is, is what the run's SQL computes. The tree is
walked generically: a new kind of node explains itself as soon as it compiles.
Why a matching step still would not draft comes from
:data:`csm.engine.reasons.CHECKS`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from csm.engine import reasons
from csm.engine.matching import step_query
from csm.errors import NotFound, did_you_mean
from csm.language import parser
from csm.language.compiler import Part, compile_part
from csm.language.fields import FieldSet
from csm.language.followups import ALWAYS_SQL
from csm.language.playbooks import Playbook, Step

# Nodes whose meaning is their parts, taken apart; any other node is shown whole.
_STRUCTURAL = (
    parser.Unary,
    parser.Compare,
    parser.Arith,
    parser.Logical,
    parser.In,
    parser.Between,
    parser.IsNull,
)


@dataclass(frozen=True)
class Clause:
    """A condition or one of its sub-conditions, as it stands for the account today."""

    source: str
    value: bool | None  # None: unknown, because a value it reads is empty
    reads: dict[str, Any]  # the fields (and other values) it reads, by source text
    parts: tuple[Clause, ...] = ()

    @property
    def empty(self) -> tuple[str, ...]:
        """The values it reads that are empty: why it is unknown."""
        return tuple(name for name, value in self.reads.items() if value is None)


@dataclass(frozen=True)
class StepVerdict:
    playbook: str
    step: str
    title: str
    matched: bool  # what `csm run` finds: the step's own query for this account
    audience: Clause | None
    when: Clause
    reasons: tuple[reasons.Reason, ...]  # why it would not draft (or what to know) though it matches

    @property
    def would_act(self) -> bool:
        """A run today adds this step's draft or task for the account."""
        return self.matched and not any(r.blocking for r in self.reasons)


@dataclass(frozen=True)
class Explanation:
    account_id: str
    account_name: str
    today: dt.date
    steps: tuple[StepVerdict, ...]


def explain(
    conn: sqlite3.Connection,
    playbooks: list[Playbook],
    fields: FieldSet,
    params: dict[str, Any],
    today: dt.date,
    account_id: str,
    step_id: str | None = None,
    *,
    context: Context | None = None,
) -> Explanation:
    """Every step of ``playbooks`` (only ``step_id`` when given) explained for one account."""
    row = conn.execute("SELECT id, name FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise NotFound(f"no account '{account_id}'", hint="`csm account ID` takes an id from your import.")
    steps = []
    for playbook in playbooks:
        for step in _steps(playbook, step_id):
            steps.append(
                _verdict(conn, playbook, step, fields, params, today, row[0], row[1], context or Context())
            )
    return Explanation(row[0], row[1], today, tuple(steps))


def _steps(playbook: Playbook, step_id: str | None) -> tuple[Step, ...]:
    if step_id is None:
        return playbook.steps
    step = playbook.step(step_id)
    if step is None:
        names = [s.id for s in playbook.steps]
        raise NotFound(
            f"no step '{step_id}' in {playbook.id}{did_you_mean(step_id, names)}",
            hint=f"Its steps: {', '.join(names)}.",
        )
    return (step,)


def _verdict(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    fields: FieldSet,
    params: dict[str, Any],
    today: dt.date,
    account_id: str,
    account_name: str,
    context: Context,
) -> StepVerdict:
    sql, query_params = step_query(playbook, step, fields, today, account_id=account_id, firing=True)
    matched = conn.execute(sql, {**params, **query_params}).fetchone() is not None
    audience = (
        clause(conn, playbook.audience.source, fields, params, account_id) if playbook.audience else None
    )
    if (
        step.follow is not None and step.when.sql == ALWAYS_SQL
    ):  # a follow-up's keys alone: the step query decides
        when = Clause(step.when.source, matched, {})
    else:
        when = clause(conn, step.when.source, fields, params, account_id)
    found: tuple[reasons.Reason, ...] = ()
    if when.value and (audience is None or audience.value):
        situation = reasons.Situation(
            conn, playbook, step, account_id, account_name, fields, params, today, context.stale
        )
        found = tuple(reasons.found(situation))
    if step.follow is not None:
        found = (*found, _sequence(conn, playbook, step, account_id, today, context))
    return StepVerdict(playbook.id, step.id, step.title, matched, audience, when, found)


@dataclass(frozen=True)
class Context:
    """What the run knows besides the database: stale data, and the calendar a sequence waits by."""

    stale: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    timezone: str = "UTC"
    holidays: tuple[dt.date, ...] = ()


def _sequence(
    conn: sqlite3.Connection,
    playbook: Playbook,
    step: Step,
    account_id: str,
    today: dt.date,
    context: Context,
) -> reasons.Reason:
    """Where the account stands in the sequence this follow-up step belongs to."""
    from csm.engine import sequences

    stands = sequences.position(
        conn, playbook, account_id, today, timezone=context.timezone, holidays=context.holidays
    )
    here = next(p for p in stands if p.step == step.id)
    return reasons.Reason("sequence", here.detail, blocking=here.state != "due", details=here.as_json())


# -- clauses -------------------------------------------------------------------------


def clause(
    conn: sqlite3.Connection, source: str, fields: FieldSet, params: dict[str, Any], account_id: str
) -> Clause:
    """The condition ``source`` and each of its sub-conditions, valued for one account in one query."""
    parts = _Parts(source, fields)
    shape = parts.shape(parser.parse(source))
    columns = ", ".join(f"({p.sql})" for p in parts.compiled)
    bound = {name: value for p in parts.compiled for name, value in p.params.items()}
    row = conn.execute(
        f"SELECT {columns} FROM accounts a WHERE a.id = :account_id",
        {**params, **bound, "account_id": account_id},
    ).fetchone()
    return _build(shape, tuple(row), parts.compiled)


@dataclass(frozen=True)
class _Shape:
    """Where a clause's value and its reads sit among the query's columns."""

    index: int
    reads: tuple[int, ...]
    parts: tuple[_Shape, ...]


class _Parts:
    """Each node of one condition compiled once: a column of the query."""

    def __init__(self, source: str, fields: FieldSet) -> None:
        self.source = source
        self.fields = fields
        self.compiled: list[Part] = []
        self.index: dict[int, int] = {}  # id(node) -> its column

    def add(self, node: parser.Node) -> int:
        if id(node) not in self.index:
            prefix = f"x{len(self.compiled)}_"
            self.compiled.append(compile_part(node, self.source, self.fields, prefix=prefix))
            self.index[id(node)] = len(self.compiled) - 1
        return self.index[id(node)]

    def type(self, node: parser.Node) -> str:
        return self.compiled[self.add(node)].type

    def shape(self, node: parser.Node) -> _Shape:
        index = self.add(node)
        reads = tuple(dict.fromkeys(self.add(n) for n in self.reads(node, top=True)))
        children = _children(node) if isinstance(node, _STRUCTURAL) else ()
        parts = tuple(self.shape(child) for child in children if self.is_condition(child))
        return _Shape(index, reads, parts)

    def is_condition(self, node: parser.Node) -> bool:
        return not isinstance(node, parser.Literal) and self.type(node) == "bool"

    def reads(self, node: parser.Node, *, top: bool) -> Iterator[parser.Node]:
        """The fields a clause reads, and any value whose parts explain does not take apart.

        Only the nodes above are taken apart: a function or a collection (whose
        ``where`` reads a contact's or an event's row, not the account's) is shown
        whole, a value read, or a clause of its own.
        """
        if isinstance(node, parser.FieldRef):
            yield node
        elif isinstance(node, _STRUCTURAL):
            for child in _children(node):
                yield from self.reads(child, top=False)
        elif not (isinstance(node, parser.Literal) or top or self.type(node) == "bool"):
            yield node


def _build(shape: _Shape, row: tuple[Any, ...], parts: list[Part]) -> Clause:
    value = row[shape.index]
    # A true/false read as a bool, whether the database holds it as 0/1 (SQLite) or a boolean.
    reads = {parts[i].source: _truth(row[i]) if parts[i].type == "bool" else row[i] for i in shape.reads}
    children = tuple(_build(s, row, parts) for s in shape.parts)
    return Clause(parts[shape.index].source, None if value is None else bool(value), reads, children)


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _children(node: parser.Node) -> Iterator[parser.Node]:
    """The node's sub-nodes, whatever kind of node it is."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, parser.Node):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, parser.Node))
